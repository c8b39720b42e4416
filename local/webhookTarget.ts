/**
 * What the commands that play Twilio (`npm run sms`, `npm run webhook`, `npm run call`) share: their
 * command line (usage, `--help`, usage errors), where the running app is and which auth token it validates
 * webhooks with, and the Twilio sandbox `npm start` runs.
 */

import { parseArgs, type ParseArgsConfig } from 'node:util';
import { messageOf } from './sandbox/callbacks';
import { readSandboxState, SANDBOX_STATE_FILE, type SandboxState } from './sandbox/state';
import {
    APP_STATE_FILE,
    effectiveSettings,
    findAppDir,
    isProcessAlive,
    localPaths,
    readAppState,
    readLocalSettings,
    SETTINGS_FILE,
} from './settings';

/** What a command needs of its process, so tests can give it a directory, an environment and a fetch. */
export interface WebhookCliIo {
    /** Where to look for the app (its `local.settings.json` and `.azurite/`). */
    cwd: string;
    env: Readonly<Record<string, string | undefined>>;
    stdout: (text: string) => void;
    stderr: (text: string) => void;
    fetch: typeof fetch;
}

/**
 * A command line parsed by `config`, with the command's usage error (the message, then `usage`, on stderr;
 * exit status 2); or the exit status when it is done already: 2 for arguments `config` refuses, 0 for
 * `--help` (`usage` printed). `config` declares `help` (`-h`) among its options.
 */
export function parseCommandLine<const T extends ParseArgsConfig>(
    argv: readonly string[],
    io: WebhookCliIo,
    usage: string,
    config: T,
):
    | { kind: 'run'; parsed: ReturnType<typeof parseArgs<T>>; usageError: (message: string) => number }
    | { kind: 'exit'; exitCode: number } {
    const usageError = (message: string) => {
        io.stderr(`${message}\n\n${usage}`);
        return 2;
    };
    let parsed: ReturnType<typeof parseArgs<T>>;
    try {
        parsed = parseArgs<T>({ ...config, args: [...argv] });
    } catch (error) {
        return { kind: 'exit', exitCode: usageError(messageOf(error)) };
    }
    if ((parsed.values as { help?: unknown }).help === true) {
        io.stdout(usage);
        return { kind: 'exit', exitCode: 0 };
    }
    return { kind: 'run', parsed, usageError };
}

/** The Twilio sandbox `npm start` runs (its URL and credentials), or undefined when it is not running. */
export function runningSandbox(io: WebhookCliIo): SandboxState | undefined {
    return readSandboxState(localPaths(findAppDir(io.cwd), io.env).stateDir);
}

/** The `Authorization` header of a request to the sandbox's REST API, with its account's credentials. */
export function sandboxAuthorization(sandbox: { accountSid: string; authToken: string }): string {
    return `Basic ${Buffer.from(`${sandbox.accountSid}:${sandbox.authToken}`).toString('base64')}`;
}

/** Where a simulated Twilio webhook goes, and how it is signed. */
export interface WebhookTarget {
    url: string;
    signatureUrl: string | undefined;
    accountSid: string;
    authToken: string;
    /** Where the token came from, for messages. */
    source: string;
}

/**
 * The webhook URL (`url`, else `route` of the app `npm start` runs, else of `localhost:<PORT,
 * LocalHttpPort or 7071>`) and the credentials to sign with: the Twilio sandbox's while `npm start` runs
 * the app on it, else `TWILIO_AUTH_TOKEN` from the settings (an environment variable wins).
 *
 * @throws Error with a message for the user when there is no token, the URL is not http(s), or the app
 *   state file was left by an `npm start` that is gone.
 */
export function resolveWebhookTarget(
    io: WebhookCliIo,
    route: string,
    url: string | undefined,
): WebhookTarget {
    const appDir = findAppDir(io.cwd);
    const { settingsFile, stateDir } = localPaths(appDir, io.env);
    const local = readLocalSettings(settingsFile);
    const settings = effectiveSettings(local.values, io.env);
    const fromSettings = (name: string) => {
        const value = settings[name]?.trim() ?? '';
        return value === '' ? undefined : value;
    };

    let accountSid = fromSettings('TWILIO_ACCOUNT_SID');
    let authToken = fromSettings('TWILIO_AUTH_TOKEN');
    let publicBaseUrl = fromSettings('PUBLIC_BASE_URL');
    let source = `TWILIO_AUTH_TOKEN from ${SETTINGS_FILE}`;
    // While npm start runs the app on the sandbox, the app validates with the sandbox's token, whatever
    // the settings file says (npm start removes the state file when it uses a real account).
    const state = readSandboxState(stateDir);
    if (state !== undefined) {
        accountSid = state.accountSid;
        authToken = state.authToken;
        publicBaseUrl = state.appUrl ?? publicBaseUrl;
        source = `the Twilio sandbox's token from ${SANDBOX_STATE_FILE}`;
    } else if (authToken === undefined) {
        throw new Error(
            `No auth token to sign the webhook with: TWILIO_AUTH_TOKEN is empty in ${SETTINGS_FILE} and no ` +
                `Twilio sandbox is running (${SANDBOX_STATE_FILE} is missing). Start the app with npm start, ` +
                `or set TWILIO_AUTH_TOKEN to the token the app validates with.`,
        );
    }

    const webhook =
        url ??
        `${runningAppUrl(stateDir) ?? `http://localhost:${io.env.PORT ?? String(local.httpPort ?? 7071)}`}/api/${route}`;
    let parsed: URL;
    try {
        parsed = new URL(webhook);
    } catch {
        throw new Error(`--url ${webhook} is not a URL`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
        throw new Error(`--url ${webhook} is not an http(s) URL`);
    }
    return {
        url: webhook,
        signatureUrl:
            publicBaseUrl === undefined
                ? undefined
                : publicBaseUrl.replace(/\/+$/, '') + pathAndQuery(webhook),
        accountSid: accountSid ?? `AC${'0'.repeat(32)}`,
        authToken,
        source,
    };
}

/**
 * The base URL of the app `npm start` runs, from its state file; `undefined` when `npm start` is not running.
 *
 * @throws Error when the file was left by an `npm start` that is no longer running (it was killed).
 */
function runningAppUrl(stateDir: string): string | undefined {
    const state = readAppState(stateDir);
    if (state === undefined) return undefined;
    if (!isProcessAlive(state.pid)) {
        throw new Error(
            `${APP_STATE_FILE} says the app runs at ${state.url}, but the npm start that wrote it (pid ${String(state.pid)}) ` +
                `is no longer running. Start the app with npm start (which rewrites the file), or pass --url.`,
        );
    }
    return state.url.replace(/\/+$/, '');
}

/** The path and query of `url` exactly as written (as the app rebuilds its signed URL). */
function pathAndQuery(url: string): string {
    const schemeEnd = url.indexOf('://');
    const pathStart = url.indexOf('/', schemeEnd + 3);
    if (pathStart !== -1) return url.slice(pathStart);
    const queryStart = url.indexOf('?', schemeEnd + 3);
    return queryStart === -1 ? '/' : `/${url.slice(queryStart)}`;
}

/**
 * Runs a command's `main` as a script: this process's arguments, directory, environment and `fetch`,
 * its resolved status as the exit code, an unexpected error printed with exit code 1.
 */
export function runCli(main: (argv: readonly string[], io: WebhookCliIo) => Promise<number>): void {
    main(process.argv.slice(2), {
        cwd: process.cwd(),
        env: process.env,
        stdout: (text) => process.stdout.write(text),
        stderr: (text) => process.stderr.write(text),
        fetch: globalThis.fetch,
    })
        .then((code) => {
            process.exitCode = code;
        })
        .catch((error: unknown) => {
            process.stderr.write(
                `${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
            );
            process.exitCode = 1;
        });
}
