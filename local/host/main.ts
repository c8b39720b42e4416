/**
 * `node dist/local/host/main.js [--app DIR] [--port N]`: runs the app with the local host alone, with the
 * settings of `local.settings.json` and the environment (the environment wins). `npm start` is the usual way
 * in; this is what it runs when Core Tools is missing, and what the end-to-end tests start.
 */

import { parseArgs } from 'node:util';
import { consoleLogger } from '../log';
import { effectiveSettings, findAppDir, readLocalSettings } from '../settings';
import { describeFunctions, startLocalHost, type LocalHost } from './host';

/** Applies the settings to `process.env`, starts the host and prints its functions. */
export async function runLocalHost(appDir: string, port: number | undefined): Promise<LocalHost> {
    const file = readLocalSettings(appDir);
    const settings = effectiveSettings(file.values, process.env);
    Object.assign(process.env, settings);
    const host = await startLocalHost({
        appDir,
        port: port ?? file.httpPort ?? 7071,
        settings: process.env,
        log: consoleLogger,
    });
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
    const host = await runLocalHost(appDir, values.port === undefined ? undefined : Number(values.port));
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
