import { copyFileSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, startAzurite, type Azurite } from '../../local/azurite';
import { startAppProcess, type AppProcess } from '../../local/host/appProcess';
import { SANDBOX_NUMBER } from '../../local/sandbox/resources';
import {
    generateTestCredentials,
    startTwilioSandbox,
    type TestCredentials,
    type TwilioSandbox,
} from '../../local/sandbox/sandbox';
import { REPO_ROOT } from './childProcess';

/**
 * The app on the local host, as npm start runs it: its functions from source in a child process, on
 * Azurite and the Twilio sandbox (callbacks without delay), with the sandbox's credentials and URL as the
 * Twilio settings and the host's own origin as `PUBLIC_BASE_URL`. For tests that place calls or send
 * requests into the whole app (test/local/).
 */

const REGISTER = path.join(REPO_ROOT, 'test', 'support', 'register.js');

/** What {@link startLocalApp} started; `stop` stops it all and removes the app's directory. */
export interface LocalApp {
    azurite: Azurite;
    sandbox: TwilioSandbox;
    app: AppProcess;
    /** The sandbox's account, which the app is configured with. */
    credentials: TestCredentials;
    stop(): Promise<void>;
}

/**
 * Starts Azurite, the sandbox and the local host running `functions` (file names in functions/, without
 * `.ts`), in a fresh directory named after `prefix`, with `env` added to the app's settings.
 */
export async function startLocalApp(options: {
    prefix: string;
    functions: readonly string[];
    env?: Readonly<Record<string, string>>;
}): Promise<LocalApp> {
    const credentials = generateTestCredentials();
    const azurite = await startAzurite({ ports: 'free' });
    const sandbox = await startTwilioSandbox({ ...credentials, callbackDelayMs: 0 });
    const appDir = mkdtempSync(path.join(tmpdir(), options.prefix));
    symlinkSync(path.join(REPO_ROOT, 'functions'), path.join(appDir, 'functions'), 'dir');
    symlinkSync(path.join(REPO_ROOT, 'node_modules'), path.join(appDir, 'node_modules'), 'dir');
    copyFileSync(path.join(REPO_ROOT, 'host.json'), path.join(appDir, 'host.json'));
    writeFileSync(
        path.join(appDir, 'package.json'),
        JSON.stringify({ main: `functions/{${options.functions.join(',')}}.ts` }),
    );
    const port = await freePort();
    const app = await startAppProcess({
        appDir,
        port,
        env: {
            PATH: process.env.PATH,
            LOCAL_SETTINGS_FILE: path.join(REPO_ROOT, 'local.settings.json.example'),
            AzureWebJobsStorage: azurite.connectionString,
            TWILIO_ACCOUNT_SID: credentials.accountSid,
            TWILIO_AUTH_TOKEN: credentials.authToken,
            TWILIO_API_URL: sandbox.url,
            TWILIO_FROM_NUMBER: SANDBOX_NUMBER,
            PUBLIC_BASE_URL: `http://localhost:${String(port)}`,
            KEY_VAULT_URL: '',
            ...options.env,
        },
        stdio: 'pipe',
        entry: path.join(REPO_ROOT, 'local', 'host', 'main.ts'),
        execArgv: ['-r', REGISTER],
    });
    return {
        azurite,
        sandbox,
        app,
        credentials,
        stop: async () => {
            await app.stop();
            await sandbox.close();
            await azurite.stop();
            rmSync(appDir, { recursive: true, force: true });
        },
    };
}
