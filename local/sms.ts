/**
 * `npm run sms -- --from +15551230000 --body "hello" [--to +15005550006] [--url http://localhost:7071/api/sms]
 * [--media https://…/cat.jpg]…`: sends the app a signed inbound-message webhook, as Twilio would when a
 * text arrives, and prints the TwiML it answered.
 *
 * The webhook is `--url`, else `/api/sms` of the app `npm start` runs (its URL is in `.azurite/app.json`,
 * whatever port it listens on), else `http://localhost:<PORT, LocalHttpPort or 7071>/api/sms`.
 *
 * The auth token to sign with is `TWILIO_AUTH_TOKEN` from `local.settings.json` (an environment variable
 * of the same name wins, as with Core Tools); when that is empty, the Twilio sandbox's credentials that
 * `npm start` wrote to `.azurite/sandbox.json`. Signatures are computed for `PUBLIC_BASE_URL` when one is
 * set (the app validates against it), else for the URL posted to.
 *
 * Exit status: 0 when the app answered 2xx, 1 when it answered an error or could not be reached (or no
 * token is configured), 2 for a usage error.
 */

import { parseArgs } from 'node:util';
import { describeRequestError, messageOf } from './sandbox/callbacks';
import { simulateInboundSms } from './sandbox/inbound';
import { isMessageRecipient, SANDBOX_NUMBER } from './sandbox/resources';
import { readSandboxState, SANDBOX_STATE_FILE } from './sandbox/state';
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

export interface SmsCliIo {
    /** Where to look for the app (its `local.settings.json` and `.azurite/`). */
    cwd: string;
    env: Readonly<Record<string, string | undefined>>;
    stdout: (text: string) => void;
    stderr: (text: string) => void;
    fetch: typeof fetch;
}

const USAGE = `Usage: npm run sms -- --from <number> --body <text> [--to <number>] [--url <webhook>] [--media <url>]...

Sends the app a signed Twilio inbound-message webhook and prints the TwiML reply.

  --from   the sender, E.164 (e.g. +15551230000)
  --body   the message text
  --to     your Twilio number (default ${SANDBOX_NUMBER})
  --url    the app's messaging webhook (default: /api/sms of the app npm start runs, from ${APP_STATE_FILE};
           without npm start, http://localhost:<PORT, LocalHttpPort or 7071>/api/sms)
  --media  a media URL, as for an MMS; repeat for several
`;

/** Runs the CLI with `argv` (the arguments after the script) and resolves to its exit status. */
export async function main(argv: readonly string[], io: SmsCliIo): Promise<number> {
    let values: { from?: string; body?: string; to?: string; url?: string; media?: string[]; help?: boolean };
    try {
        ({ values } = parseArgs({
            args: [...argv],
            options: {
                from: { type: 'string' },
                body: { type: 'string' },
                to: { type: 'string' },
                url: { type: 'string' },
                media: { type: 'string', multiple: true },
                help: { type: 'boolean', short: 'h' },
            },
            strict: true,
            allowPositionals: false,
        }));
    } catch (error) {
        io.stderr(`${messageOf(error)}\n\n${USAGE}`);
        return 2;
    }
    if (values.help === true) {
        io.stdout(USAGE);
        return 0;
    }
    const usageError = (message: string) => {
        io.stderr(`${message}\n\n${USAGE}`);
        return 2;
    };
    const { from, body } = values;
    const to = values.to ?? SANDBOX_NUMBER;
    if (from === undefined) return usageError('--from is required');
    if (body === undefined) return usageError('--body is required');
    if (!isMessageRecipient(from))
        return usageError(`--from ${from} is not an E.164 number (e.g. +15551230000)`);
    if (!isMessageRecipient(to)) return usageError(`--to ${to} is not an E.164 number (e.g. +15005550006)`);
    const mediaUrls = values.media ?? [];
    for (const media of mediaUrls) {
        if (!/^https?:\/\//i.test(media)) return usageError(`--media ${media} is not an http(s) URL`);
    }

    let target: Target;
    try {
        target = resolveTarget(io, values.url);
    } catch (error) {
        io.stderr(`${messageOf(error)}\n`);
        return 1;
    }

    let result;
    try {
        result = await simulateInboundSms({
            appUrl: target.url,
            signatureUrl: target.signatureUrl,
            from,
            to,
            body,
            mediaUrls,
            accountSid: target.accountSid,
            authToken: target.authToken,
            fetch: io.fetch,
        });
    } catch (error) {
        io.stderr(
            `Could not reach ${target.url} (${describeRequestError(error)}). Is the app running? Start it with npm start.\n`,
        );
        return 1;
    }

    io.stderr(
        `POST ${target.url} (${result.messageSid}, signed with ${target.source}): HTTP ${String(result.status)}\n`,
    );
    if (result.status >= 200 && result.status < 300) {
        io.stdout(result.twiml.endsWith('\n') ? result.twiml : `${result.twiml}\n`);
        return 0;
    }
    const detail = result.twiml.trim().slice(0, 500);
    io.stderr(`The app answered HTTP ${String(result.status)}${detail === '' ? '' : `: ${detail}`}\n`);
    if (result.status === 403) {
        io.stderr(
            `The app rejected the signature: it must validate with the same auth token (${target.source}) and for ${target.signatureUrl ?? target.url}.\n`,
        );
    }
    return 1;
}

interface Target {
    url: string;
    signatureUrl: string | undefined;
    accountSid: string;
    authToken: string;
    /** Where the token came from, for messages. */
    source: string;
}

/** The webhook URL and the credentials to sign with, from the settings or the sandbox state. */
function resolveTarget(io: SmsCliIo, url: string | undefined): Target {
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
        `${runningAppUrl(stateDir) ?? `http://localhost:${io.env.PORT ?? String(local.httpPort ?? 7071)}`}/api/sms`;
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

if (require.main === module) {
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
