/**
 * `npm start [-- --inspect[=[host:]port]] [--watch]`: runs the whole app locally on embedded defaults.
 * Starts Azurite from `node_modules` (when the app's storage is the development storage), the Twilio sandbox
 * (when no Twilio account is configured), then the app: with `func start` when Azure Functions Core Tools is
 * installed, otherwise with this project's local host in a process of its own. Node options for the app
 * (`--inspect`, and `languageWorkers__node__arguments` as with Core Tools) reach that process only. While it
 * runs, `.azurite/app.json` says where the app listens. `--watch` (`npm run dev`) also runs `tsc --watch`
 * and reloads the functions after each successful build. Ctrl-C stops everything it started.
 */

import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdirSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { freePort, isPortFree, PortInUseError, startAzurite, stopChild, type Azurite } from './azurite';
import { HostStartError, startAppProcess, type AppProcess } from './host/appProcess';
import { DEFAULT_INBOUND_MEDIA_QUEUE } from '../shared/platform/config';
import { consoleLogger } from './log';
import { rateLimitFromEnv } from './sandbox/rateLimit';
import { generateTestCredentials, startTwilioSandbox, type TwilioSandbox } from './sandbox/sandbox';
import { SANDBOX_NUMBER } from './sandbox/resources';
import { clearSandboxState, writeSandboxState } from './sandbox/state';
import {
    clearAppState,
    effectiveSettings,
    ensureLocalSettings,
    findAppDir,
    localPaths,
    readLocalSettings,
    SETTINGS_FILE,
    splitNodeArguments,
    writeAppState,
} from './settings';

const DEV_STORAGE = 'UseDevelopmentStorage=true';
/** The Core Tools setting whose value is passed to the Node.js worker as Node options. */
export const WORKER_ARGUMENTS = 'languageWorkers__node__arguments';
const DEFAULT_INSPECTOR_PORT = 9229;

/** Everything `npm start` started, in the order to stop it. */
interface Started {
    build?: ChildProcess;
    app?: { kind: 'func'; child: ChildProcess } | { kind: 'local'; process: AppProcess };
    stateDir?: string;
    sandbox?: { server: TwilioSandbox; stateDir: string };
    azurite?: Azurite;
}

export interface StartOptions {
    /** `--inspect…` options given to `npm start`, for the app's process. */
    inspect: string[];
    /** `--watch` (`npm run dev`): rebuild on change and reload the functions. */
    watch: boolean;
}

const USAGE = `Usage: npm start [-- --inspect[=[host:]port] | --inspect-brk[=[host:]port]] [--watch]

  --inspect      open the Node.js inspector in the app's process (default 127.0.0.1:${String(DEFAULT_INSPECTOR_PORT)})
  --inspect-brk  the same, waiting for a debugger before the app loads
  --watch        rebuild on change (tsc --watch) and reload the functions; npm run dev does this
`;

/**
 * The options of `npm start` from its arguments.
 *
 * @throws Error naming an argument it does not know.
 */
export function parseStartArgs(argv: readonly string[]): StartOptions {
    const options: StartOptions = { inspect: [], watch: false };
    for (const arg of argv) {
        if (/^--inspect(-brk)?(=.+)?$/.test(arg)) options.inspect.push(arg);
        else if (arg === '--watch') options.watch = true;
        else throw new Error(`Unknown argument ${arg}`);
    }
    return options;
}

/**
 * The Node options for the app's process: `languageWorkers__node__arguments` (from the settings or the
 * environment, as Core Tools reads it), then `npm start`'s own `--inspect…`, which wins when both name one.
 */
export function appNodeArgs(
    settings: Readonly<Record<string, string | undefined>>,
    env: Readonly<Record<string, string | undefined>>,
    inspect: readonly string[],
): string[] {
    const configured = splitNodeArguments(settings[WORKER_ARGUMENTS] ?? env[WORKER_ARGUMENTS] ?? '');
    return [...configured, ...inspect];
}

/** The address an `--inspect…` option opens (Node's defaults: 127.0.0.1, port 9229), or none for others. */
export function inspectorAddress(arg: string): { host: string; port: number } | undefined {
    const match = /^--inspect(?:-brk|-wait)?(?:=(.*))?$/.exec(arg);
    if (match === null) return undefined;
    const value = match[1] ?? '';
    const hostAndPort = /^(?:\[?([^\]]*)\]?:)?(\d+)$/.exec(value);
    if (hostAndPort !== null) {
        return { host: hostAndPort[1] ?? '127.0.0.1', port: Number(hostAndPort[2]) };
    }
    return { host: value === '' ? '127.0.0.1' : value, port: DEFAULT_INSPECTOR_PORT };
}

/**
 * Fails before anything starts when the app's port or an inspector port is taken, so a clash costs one line
 * and leaves nothing running (Node itself would only warn and run without the inspector).
 */
async function checkPorts(port: number, nodeArgs: readonly string[], fromSettings: boolean): Promise<void> {
    if (port !== 0 && !(await isPortFree(port, 'localhost'))) throw new PortInUseError(port, 'the app');
    for (const arg of nodeArgs) {
        const inspector = inspectorAddress(arg);
        if (inspector === undefined || inspector.port === 0) continue;
        if (!(await isPortFree(inspector.port, inspector.host))) {
            const other = `--inspect=${String(inspector.port + 1)}`;
            throw new PortInUseError(
                inspector.port,
                "the app's inspector",
                undefined,
                fromSettings
                    ? `pick another in ${WORKER_ARGUMENTS} (e.g. ${other}) or with npm start -- ${other}`
                    : `pick another with npm start -- ${other}`,
            );
        }
    }
}

/** The path of an executable named `name` on `PATH`, if any. */
export function findOnPath(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
    const extensions = process.platform === 'win32' ? (env.PATHEXT ?? '.EXE;.CMD').split(';') : [''];
    for (const dir of (env.PATH ?? '').split(path.delimiter)) {
        if (dir === '') continue;
        for (const extension of extensions) {
            const candidate = path.join(dir, name + extension);
            try {
                accessSync(candidate, constants.X_OK);
                return candidate;
            } catch {
                // not here
            }
        }
    }
    return undefined;
}

async function start(started: Started, options: StartOptions): Promise<void> {
    const appDir = findAppDir(__dirname);
    const { settingsFile, stateDir } = localPaths(appDir, process.env);
    if (ensureLocalSettings(appDir, settingsFile)) {
        console.log(
            `Created ${settingsFile} from ${SETTINGS_FILE}.example (it is git-ignored; edit it freely).`,
        );
    }
    const file = readLocalSettings(settingsFile);
    const settings = effectiveSettings(file.values, process.env);
    // The media copy's trigger names this setting; a local.settings.json made before it has none.
    if ((settings.INBOUND_MEDIA_QUEUE ?? '') === '')
        settings.INBOUND_MEDIA_QUEUE = DEFAULT_INBOUND_MEDIA_QUEUE;
    let port = Number(process.env.PORT ?? file.httpPort ?? 7071);
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
        throw new Error(`PORT ${String(process.env.PORT ?? file.httpPort)} is not a port number`);
    }
    const nodeArgs = appNodeArgs(settings, process.env, options.inspect);
    await checkPorts(port, nodeArgs, options.inspect.length === 0);
    // The sandbox and PUBLIC_BASE_URL need the real port before the app listens.
    if (port === 0) port = await freePort();
    mkdirSync(stateDir, { recursive: true });
    started.stateDir = stateDir;
    const build = options.watch ? startBuildWatcher(appDir, started) : undefined;

    const storage = settings.AzureWebJobsStorage ?? '';
    if (storage === '' || storage === DEV_STORAGE) {
        started.azurite = await startAzurite({ ports: 'default', location: path.join(stateDir, 'data') });
        const { blob, queue, table } = started.azurite.ports;
        console.log(
            `Azurite (from node_modules) on 127.0.0.1: blob ${blob}, queue ${queue}, table ${table}; data in ${path.join(stateDir, 'data')}`,
        );
        if (blob !== 10000 || queue !== 10001 || table !== 10002) {
            console.log(
                'The default Azurite ports are taken, so AzureWebJobsStorage points at these ports instead.',
            );
        }
        settings.AzureWebJobsStorage = started.azurite.connectionString;
    } else {
        console.log('AzureWebJobsStorage points at a storage account: Azurite not started.');
    }

    if ((settings.TWILIO_ACCOUNT_SID ?? '') === '') {
        const credentials = generateTestCredentials();
        const sandbox = await startTwilioSandbox({
            ...credentials,
            port: 0,
            log: (line) => console.log(line),
            // SANDBOX_RATE_LIMIT_EVERY=n: every n-th create answers 429 (docs/sandbox.md).
            rateLimit: rateLimitFromEnv(process.env),
        });
        started.sandbox = { server: sandbox, stateDir };
        settings.TWILIO_ACCOUNT_SID = credentials.accountSid;
        settings.TWILIO_AUTH_TOKEN = credentials.authToken;
        settings.TWILIO_API_URL = sandbox.url;
        settings.KEY_VAULT_URL = '';
        // The sandbox's own number, so a send that names no sender works out of the box.
        if (
            (settings.TWILIO_FROM_NUMBER ?? '') === '' &&
            (settings.TWILIO_MESSAGING_SERVICE_SID ?? '') === ''
        ) {
            settings.TWILIO_FROM_NUMBER = SANDBOX_NUMBER;
        }
        if ((settings.PUBLIC_BASE_URL ?? '') === '')
            settings.PUBLIC_BASE_URL = `http://localhost:${String(port)}`;
        writeSandboxState(stateDir, {
            ...credentials,
            url: sandbox.url,
            appUrl: settings.PUBLIC_BASE_URL,
        });
        console.log(
            `No TWILIO_ACCOUNT_SID configured: using the Twilio sandbox at ${sandbox.url} (test account ${credentials.accountSid}).`,
        );
        console.log(
            `  Messages it received: ${sandbox.url}/sandbox/messages; calls: ${sandbox.url}/sandbox/calls`,
        );
        console.log('  Set TWILIO_ACCOUNT_SID and a token in local.settings.json to talk to Twilio instead.');
    } else {
        clearSandboxState(stateDir);
        console.log('Using the Twilio account configured in local.settings.json.');
    }

    const func = process.env.FUNC_CLI ?? findOnPath('func');
    if (func !== undefined && process.env.LOCAL_HOST !== '1') {
        console.log(`Azure Functions Core Tools found (${func}): running "func start".`);
        if (build !== undefined) {
            await build.firstBuild;
            console.log('Core Tools restarts the worker itself when dist/ changes.');
        }
        // Core Tools reads local.settings.json itself; what npm start changed travels as environment
        // variables, which Core Tools lets win over the file.
        const child = spawn(func, ['start', '--port', String(port)], {
            cwd: appDir,
            env: {
                ...process.env,
                ...settings,
                ...(nodeArgs.length === 0 ? {} : { [WORKER_ARGUMENTS]: nodeArgs.join(' ') }),
            },
            stdio: 'inherit',
        });
        started.app = { kind: 'func', child };
        child.once('exit', (code) => {
            if (!stopping) void shutdown(started, code ?? 1);
        });
        writeAppState(stateDir, {
            url: `http://localhost:${String(port)}`,
            pid: process.pid,
            appPid: child.pid,
        });
        return;
    }
    console.log("Azure Functions Core Tools not found: running the app with the project's local host.");
    if (nodeArgs.length > 0) console.log(`Node options for the app's process: ${nodeArgs.join(' ')}`);
    if (build !== undefined) await build.firstBuild;
    const app = await startAppProcess({
        appDir,
        port,
        env: { ...process.env, ...settings },
        nodeArgs,
    });
    started.app = { kind: 'local', process: app };
    const recordApp = () => {
        writeAppState(stateDir, { url: app.url, pid: process.pid, appPid: app.child.pid });
    };
    recordApp();
    app.onUnexpectedExit((code) => {
        if (stopping) return;
        if (build === undefined) {
            void shutdown(started, code ?? 1);
            return;
        }
        console.error(
            `The app's process exited (code ${String(code)}): it starts again after the next successful build (or type rs and Enter).`,
        );
    });
    if (build !== undefined) {
        build.onBuilt(async () => {
            await app.reload();
            recordApp();
        });
        console.log(
            'Watching for changes: saving a file rebuilds and reloads the functions; rs + Enter reloads now.',
        );
    }
    console.log('Press Ctrl+C to stop.');
}

interface BuildWatcher {
    /** Settles when tsc has finished its first build (successful or not). */
    readonly firstBuild: Promise<void>;
    /** Runs `reload` after each later successful build (and on `rs`), one at a time. */
    onBuilt(reload: () => Promise<void>): void;
}

/**
 * `tsc --watch` for `npm run dev`. A reload waits for tsc to report the whole build ("Found 0 errors"), so
 * the app never loads a half-written dist/; a failed build leaves the last good one running.
 */
function startBuildWatcher(appDir: string, started: Started): BuildWatcher {
    const tsc = require.resolve('typescript/bin/tsc', { paths: [appDir] });
    const child = spawn(
        process.execPath,
        [tsc, '-p', 'tsconfig.build.json', '--watch', '--preserveWatchOutput'],
        { cwd: appDir, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    started.build = child;
    let reload: (() => Promise<void>) | undefined;
    let running: Promise<void> = Promise.resolve();
    let first: (() => void) | undefined;
    const firstBuild = new Promise<void>((resolve) => {
        first = resolve;
    });
    const schedule = (why: string) => {
        const next = reload;
        if (next === undefined) return;
        console.log(`${why}: reloading the functions (Azurite and the sandbox keep running).`);
        running = running.then(next).catch((error: unknown) => {
            // The host printed why it could not start; the next build tries again.
            if (!(error instanceof HostStartError)) consoleLogger('error', String(error));
            console.error(
                'The functions did not reload: fix the error and save again (or type rs and Enter).',
            );
        });
    };
    createInterface({ input: child.stdout }).on('line', (line) => {
        console.log(line);
        const done = /Found (\d+) errors?\b.*Watching for file changes/.exec(line);
        if (done === null) return;
        if (first !== undefined) {
            first();
            first = undefined;
        } else if (done[1] === '0') schedule('Build succeeded');
        else console.error('Build failed: the functions keep running the last successful build.');
    });
    child.once('exit', (code) => {
        if (!stopping) {
            console.error(`tsc --watch exited (code ${String(code)}).`);
            void shutdown(started, code ?? 1);
        }
    });
    createInterface({ input: process.stdin }).on('line', (line) => {
        if (line.trim() === 'rs') schedule('rs');
    });
    return {
        firstBuild,
        onBuilt(next) {
            reload = next;
        },
    };
}

let stopping = false;

async function shutdown(started: Started, exitCode: number): Promise<never> {
    stopping = true;
    const app = started.app;
    const anything = [started.build, app, started.sandbox, started.azurite].some((p) => p !== undefined);
    try {
        if (started.build !== undefined) await stopChild(started.build);
        if (app?.kind === 'local') await app.process.stop();
        if (app?.kind === 'func') await stopChild(app.child);
        if (started.stateDir !== undefined) clearAppState(started.stateDir);
        if (started.sandbox !== undefined) {
            await started.sandbox.server.close();
            clearSandboxState(started.sandbox.stateDir);
        }
        await started.azurite?.stop();
    } catch (error) {
        console.error('Error while stopping:', error);
        exitCode = exitCode === 0 ? 1 : exitCode;
    }
    if (anything) console.log('Stopped.');
    process.exit(exitCode);
}

if (require.main === module) {
    const started: Started = {};
    const stop = () => {
        if (!stopping) void shutdown(started, 0);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    let options: StartOptions;
    try {
        options = parseStartArgs(process.argv.slice(2));
    } catch (error) {
        console.error(`${(error as Error).message}\n\n${USAGE}`);
        process.exit(2);
    }
    start(started, options).catch((error: unknown) => {
        if (error instanceof PortInUseError) {
            // One line: the port, whose it is and what to do. A stack trace would say nothing more.
            console.error(error.message);
        } else if (!(error instanceof HostStartError)) {
            consoleLogger('error', error instanceof Error ? (error.stack ?? error.message) : String(error));
            if (error instanceof Error && error.cause !== undefined) console.error('Caused by:', error.cause);
        }
        void shutdown(started, 1);
    });
}
