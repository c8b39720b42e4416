/**
 * Azurite (the Azure Storage emulator) started from this project's `node_modules`, so local runs and
 * tests need nothing installed by hand.
 */

import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';

/** The emulator's well-known development account (public, documented, not a secret). */
export const DEV_ACCOUNT = 'devstoreaccount1';
export const DEV_ACCOUNT_KEY =
    'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
export const DEFAULT_PORTS = { blob: 10000, queue: 10001, table: 10002 } as const;

export interface AzuritePorts {
    blob: number;
    queue: number;
    table: number;
}

export interface Azurite {
    readonly ports: AzuritePorts;
    /** An explicit connection string for these ports (`UseDevelopmentStorage=true` only fits the defaults). */
    readonly connectionString: string;
    stop(): Promise<void>;
}

/** The connection string for an Azurite on `ports` at 127.0.0.1. */
export function azuriteConnectionString(ports: AzuritePorts): string {
    const endpoint = (port: number) => `http://127.0.0.1:${String(port)}/${DEV_ACCOUNT}`;
    return [
        'DefaultEndpointsProtocol=http',
        `AccountName=${DEV_ACCOUNT}`,
        `AccountKey=${DEV_ACCOUNT_KEY}`,
        `BlobEndpoint=${endpoint(ports.blob)}`,
        `QueueEndpoint=${endpoint(ports.queue)}`,
        `TableEndpoint=${endpoint(ports.table)}`,
    ].join(';');
}

/** Whether a TCP port on `host` (default 127.0.0.1) can be listened on now. */
export function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
    return new Promise((resolve) => {
        const server = createServer();
        server.once('error', () => resolve(false));
        server.listen(port, host, () => server.close(() => resolve(true)));
    });
}

/**
 * A port something else already listens on. Its message is the one line `npm start` prints: the port, whose
 * it is, and how to pick another (`hint`).
 */
export class PortInUseError extends Error {
    constructor(
        readonly port: number,
        readonly owner: string,
        cause?: unknown,
        hint = `pick another with PORT=<port> npm start (e.g. PORT=${String(port + 1)} npm start)`,
    ) {
        super(`Port ${String(port)} (${owner}) is already in use: ${hint}.`, { cause });
        this.name = 'PortInUseError';
    }
}

/** A port the OS reports free right now. */
export function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const server = createServer();
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => {
            const address = server.address();
            const port = typeof address === 'object' && address !== null ? address.port : 0;
            server.close(() => resolve(port));
        });
    });
}

export interface StartAzuriteOptions {
    /** `'default'` uses 10000-10002 when all are free, free ports otherwise; `'free'` always picks free ports. */
    ports: 'default' | 'free';
    /** Where to keep data; in memory when omitted. */
    location?: string;
    /** Receives Azurite's own output lines. */
    log?: (line: string) => void;
}

/** Starts Azurite (blob, queue and table) and resolves once all three services are listening. */
export async function startAzurite(options: StartAzuriteOptions): Promise<Azurite> {
    const ports = await choosePorts(options.ports);
    const main = path.join(
        path.dirname(require.resolve('azurite/package.json')),
        'dist',
        'src',
        'azurite.js',
    );
    const args = [
        main,
        '--blobHost', '127.0.0.1', '--blobPort', String(ports.blob),
        '--queueHost', '127.0.0.1', '--queuePort', String(ports.queue),
        '--tableHost', '127.0.0.1', '--tablePort', String(ports.table),
        '--skipApiVersionCheck',
        '--disableTelemetry',
        '--silent',
        ...(options.location === undefined ? ['--inMemoryPersistence'] : ['--location', options.location]),
    ]; // prettier-ignore
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const output: string[] = [];
    const onLine = (chunk: Buffer) => {
        for (const line of chunk.toString('utf8').split(/\r?\n/)) {
            if (line.trim() === '') continue;
            output.push(line);
            options.log?.(line);
        }
    };
    child.stdout.on('data', onLine);
    child.stderr.on('data', onLine);

    try {
        await waitUntilListening(child, output, 3);
    } catch (error) {
        child.kill('SIGKILL');
        // The ports were free when chosen; another process took one before Azurite bound it.
        const taken = /EADDRINUSE[^\n]*?:(\d+)\b/.exec(output.join('\n'));
        if (taken !== null) {
            throw new PortInUseError(
                Number(taken[1]),
                'Azurite',
                error,
                'another process took it while npm start was starting Azurite; run npm start again',
            );
        }
        throw error;
    }
    return { ports, connectionString: azuriteConnectionString(ports), stop: () => stopChild(child) };
}

async function choosePorts(mode: 'default' | 'free'): Promise<AzuritePorts> {
    if (mode === 'default') {
        const free = await Promise.all(Object.values(DEFAULT_PORTS).map((port) => isPortFree(port)));
        if (free.every(Boolean)) return { ...DEFAULT_PORTS };
    }
    const [blob = 0, queue = 0, table = 0] = await freePorts(3);
    return { blob, queue, table };
}

/**
 * `count` distinct ports the OS reports free right now: all are held open until every one is chosen, since
 * asking one at a time can be answered with the same port twice (seen: blob and queue on one port).
 */
export async function freePorts(count: number): Promise<number[]> {
    const servers = Array.from({ length: count }, () => createServer());
    try {
        return await Promise.all(
            servers.map(
                (server) =>
                    new Promise<number>((resolve, reject) => {
                        server.once('error', reject);
                        server.listen(0, '127.0.0.1', () => {
                            const address = server.address();
                            resolve(typeof address === 'object' && address !== null ? address.port : 0);
                        });
                    }),
            ),
        );
    } finally {
        await Promise.all(
            servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))),
        );
    }
}

function waitUntilListening(child: ChildProcess, output: string[], services: number): Promise<void> {
    return new Promise((resolve, reject) => {
        const check = () => {
            if (output.filter((line) => line.includes('successfully listening')).length >= services) {
                cleanup();
                resolve();
            }
        };
        const onExit = (code: number | null) => {
            cleanup();
            reject(
                new Error(`Azurite exited (code ${String(code)}) before listening:\n${output.join('\n')}`),
            );
        };
        const cleanup = () => {
            child.stdout?.off('data', check);
            child.off('exit', onExit);
        };
        child.stdout?.on('data', check);
        child.once('exit', onExit);
        check();
    });
}

/** Stops a child process: SIGTERM, then SIGKILL if it has not exited within 5 s. */
export function stopChild(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        child.once('exit', () => {
            clearTimeout(timer);
            resolve();
        });
        child.kill('SIGTERM');
    });
}
