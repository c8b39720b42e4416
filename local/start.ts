/**
 * `npm start`: runs the whole app locally on embedded defaults. Starts Azurite from `node_modules` (when
 * the app's storage is the development storage), the Twilio sandbox (when no Twilio account is
 * configured), then the app: with `func start` when Azure Functions Core Tools is installed, otherwise with
 * this project's local host. Ctrl-C stops everything it started.
 */

import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdirSync } from 'node:fs';
import path from 'node:path';
import { startAzurite, stopChild, type Azurite } from './azurite';
import { runLocalHost } from './host/main';
import type { LocalHost } from './host/host';
import { consoleLogger } from './log';
import { generateTestCredentials, startTwilioSandbox, type TwilioSandbox } from './sandbox/sandbox';
import { SANDBOX_NUMBER } from './sandbox/resources';
import { clearSandboxState, writeSandboxState } from './sandbox/state';
import {
    effectiveSettings,
    ensureLocalSettings,
    findAppDir,
    localPaths,
    readLocalSettings,
    SETTINGS_FILE,
} from './settings';

const DEV_STORAGE = 'UseDevelopmentStorage=true';

/** Everything `npm start` started, in the order to stop it. */
interface Started {
    app?: { kind: 'func'; child: ChildProcess } | { kind: 'local'; host: LocalHost };
    sandbox?: { server: TwilioSandbox; stateDir: string };
    azurite?: Azurite;
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

async function start(started: Started): Promise<void> {
    const appDir = findAppDir(__dirname);
    const { settingsFile, stateDir } = localPaths(appDir, process.env);
    if (ensureLocalSettings(appDir, settingsFile)) {
        console.log(
            `Created ${settingsFile} from ${SETTINGS_FILE}.example (it is git-ignored; edit it freely).`,
        );
    }
    const file = readLocalSettings(settingsFile);
    const settings = effectiveSettings(file.values, process.env);
    const port = Number(process.env.PORT ?? file.httpPort ?? 7071);
    mkdirSync(stateDir, { recursive: true });

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
        // Core Tools reads local.settings.json itself; what npm start changed travels as environment
        // variables, which Core Tools lets win over the file.
        const child = spawn(func, ['start', '--port', String(port)], {
            cwd: appDir,
            env: { ...process.env, ...settings },
            stdio: 'inherit',
        });
        started.app = { kind: 'func', child };
        child.once('exit', (code) => {
            if (!stopping) void shutdown(started, code ?? 1);
        });
        return;
    }
    console.log("Azure Functions Core Tools not found: running the app with the project's local host.");
    started.app = { kind: 'local', host: await runLocalHost(appDir, port, settings) };
    console.log('Press Ctrl+C to stop.');
}

let stopping = false;

async function shutdown(started: Started, exitCode: number): Promise<never> {
    stopping = true;
    const app = started.app;
    try {
        if (app?.kind === 'local') await app.host.stop();
        if (app?.kind === 'func') await stopChild(app.child);
        if (started.sandbox !== undefined) {
            await started.sandbox.server.close();
            clearSandboxState(started.sandbox.stateDir);
        }
        await started.azurite?.stop();
    } catch (error) {
        console.error('Error while stopping:', error);
        exitCode = exitCode === 0 ? 1 : exitCode;
    }
    console.log('Stopped.');
    process.exit(exitCode);
}

if (require.main === module) {
    const started: Started = {};
    const stop = () => {
        if (!stopping) void shutdown(started, 0);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    start(started).catch((error: unknown) => {
        consoleLogger('error', error instanceof Error ? (error.stack ?? error.message) : String(error));
        if (error instanceof Error && error.cause !== undefined) console.error('Caused by:', error.cause);
        void shutdown(started, 1);
    });
}
