/**
 * `node dist/local/host/main.js [--app DIR] [--port N]`: runs the app with the local host alone, with the
 * settings of `local.settings.json` and the environment (the environment wins). `npm start` is the usual way
 * in; this is what it runs when Core Tools is missing, and what the end-to-end tests start.
 */

import { parseArgs } from 'node:util';
import { consoleLogger } from '../log';
import path from 'node:path';
import { effectiveSettings, findAppDir, readLocalSettings, SETTINGS_FILE } from '../settings';
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

async function main(): Promise<void> {
    const { values } = parseArgs({ options: { app: { type: 'string' }, port: { type: 'string' } } });
    const appDir = findAppDir(values.app ?? process.cwd());
    const file = readLocalSettings(path.join(appDir, SETTINGS_FILE));
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
}

if (require.main === module) {
    main().catch((error: unknown) => {
        console.error(error instanceof Error ? (error.stack ?? error.message) : error);
        if (error instanceof Error && error.cause !== undefined) console.error('Caused by:', error.cause);
        process.exit(1);
    });
}
