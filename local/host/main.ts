/**
 * `node dist/local/host/main.js [--app DIR] [--port N]`: runs the app with the local host alone, with the
 * settings of `local.settings.json` (`LOCAL_SETTINGS_FILE` when set) and the environment (the environment
 * wins). `npm start` is the usual way in: when Core Tools is missing it runs this in a child process of its
 * own (see appProcess.ts) and learns over IPC when it listens; the end-to-end tests start it too.
 */

import { parseArgs } from 'node:util';
import { PortInUseError } from '../azurite';
import { consoleLogger } from '../log';
import { effectiveSettings, findAppDir, localPaths, readLocalSettings } from '../settings';
import type { HostMessage } from './appProcess';
import { describeFunctions, startLocalHost, type LocalHost } from './host';

/** Applies `settings` to `process.env` (where the app reads them), starts the host and prints its functions. */
export async function runLocalHost(
    appDir: string,
    port: number,
    settings: Readonly<Record<string, string>>,
): Promise<LocalHost> {
    Object.assign(process.env, settings);
    const host = await startLocalHost({ appDir, port, settings: process.env, log: consoleLogger });
    console.log(
        `\nFunctions:\n\n${describeFunctions(host)
            .map((l) => `\t${l}`)
            .join('\n')}\n`,
    );
    console.log(
        'Function keys are not enforced by the local host (as with Core Tools): authLevel "function" routes are open locally.',
    );
    console.log(`Local host listening on ${host.url}`);
    return host;
}

/** Tells the parent (`npm start`, over IPC) how the start went, once sent; nothing when run on its own. */
function tellParent(message: HostMessage): Promise<void> {
    return new Promise((resolve) => {
        if (process.send === undefined) resolve();
        else process.send(message, () => resolve());
    });
}

async function main(): Promise<void> {
    const { values } = parseArgs({ options: { app: { type: 'string' }, port: { type: 'string' } } });
    const appDir = findAppDir(values.app ?? process.cwd());
    const file = readLocalSettings(localPaths(appDir, process.env).settingsFile);
    const port = values.port === undefined ? (file.httpPort ?? 7071) : Number(values.port);
    const host = await runLocalHost(appDir, port, effectiveSettings(file.values, process.env));
    let stopping = false;
    const stop = () => {
        if (stopping) return;
        stopping = true;
        host.stop().then(
            () => process.exit(0),
            (error: unknown) => {
                console.error(error);
                process.exit(1);
            },
        );
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    // A parent that goes away (npm start killed) must not leave the app running on its port.
    process.on('disconnect', stop);
    await tellParent({ type: 'listening', url: host.url });
}

if (require.main === module) {
    main().catch((error: unknown) => {
        if (error instanceof PortInUseError) {
            if (process.send === undefined) {
                console.error(
                    `Port ${String(error.port)} is already in use: pick another with --port (e.g. --port ${String(error.port + 1)}).`,
                );
            }
            void tellParent({ type: 'port-in-use', port: error.port }).then(() => process.exit(1));
            return;
        }
        console.error(error instanceof Error ? (error.stack ?? error.message) : error);
        if (error instanceof Error && error.cause !== undefined) console.error('Caused by:', error.cause);
        const message = error instanceof Error ? error.message : String(error);
        void tellParent({ type: 'failed', message }).then(() => process.exit(1));
    });
}
