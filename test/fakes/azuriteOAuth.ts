/**
 * Azurite (from this project's `node_modules`) over HTTPS with its OAuth check on (`--oauth basic`), so it
 * takes bearer tokens the way Azure Storage does: only over https, only with a storage audience, within
 * their lifetime. Basic mode does not check a token's signature, which is what lets the storage gateway
 * (storageGateway.ts) hand it a token of its own making once it has checked the app's real one.
 */

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePorts, stopChild } from '../../local/azurite';

export interface OAuthAzurite {
    readonly queuePort: number;
    readonly tablePort: number;
    readonly blobPort: number;
    /** Azurite's output so far, for a failure message. */
    readonly output: readonly string[];
    stop(): Promise<void>;
}

/**
 * Starts Azurite's queue, table and blob services on free ports of 127.0.0.1, serving `cert` / `key` (a
 * certificate for `localhost`), in memory.
 */
export async function startOAuthAzurite(tls: { cert: string; key: string }): Promise<OAuthAzurite> {
    const dir = mkdtempSync(path.join(tmpdir(), 'twilio-func-azurite-tls-'));
    const certFile = path.join(dir, 'cert.pem');
    const keyFile = path.join(dir, 'key.pem');
    writeFileSync(certFile, tls.cert);
    writeFileSync(keyFile, tls.key);
    const [queuePort = 0, tablePort = 0, blobPort = 0] = await freePorts(3);
    const main = path.join(path.dirname(require.resolve('azurite/package.json')), 'dist', 'src');
    const output: string[] = [];
    const services = [
        { script: 'queue/main.js', args: ['--queueHost', '127.0.0.1', '--queuePort', String(queuePort)] },
        { script: 'table/main.js', args: ['--tableHost', '127.0.0.1', '--tablePort', String(tablePort)] },
        { script: 'blob/main.js', args: ['--blobHost', '127.0.0.1', '--blobPort', String(blobPort)] },
    ];
    const children = services.map(({ script, args }) =>
        spawn(
            process.execPath,
            [
                path.join(main, script),
                ...args,
                '--oauth', 'basic',
                '--cert', certFile,
                '--key', keyFile,
                '--inMemoryPersistence',
                '--skipApiVersionCheck',
                '--disableTelemetry',
            ], // prettier-ignore
            { stdio: ['ignore', 'pipe', 'pipe'] },
        ),
    );
    const stop = async () => {
        await Promise.all(children.map(stopChild));
        rmSync(dir, { recursive: true, force: true });
    };
    try {
        await Promise.all(
            children.map(
                (child) =>
                    new Promise<void>((resolve, reject) => {
                        const onData = (chunk: Buffer) => {
                            const text = chunk.toString('utf8');
                            output.push(...text.split(/\r?\n/).filter((line) => line !== ''));
                            if (/successfully (listens|started)/.test(text)) resolve();
                        };
                        child.stdout.on('data', onData);
                        child.stderr.on('data', onData);
                        child.once('exit', (code) => {
                            reject(new Error(`Azurite exited (${String(code)}):\n${output.join('\n')}`));
                        });
                    }),
            ),
        );
    } catch (error) {
        await stop();
        throw error;
    }
    return { queuePort, tablePort, blobPort, output, stop };
}
