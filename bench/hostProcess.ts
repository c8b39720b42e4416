/**
 * The project's local host (`node dist/local/host/main.js`, what `npm run start:host` runs) in a child
 * process of its own, on a port chosen here so that PUBLIC_BASE_URL can name it.
 */

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../local/azurite';
import { childEnv, onLines, ROOT, stopProcess } from './util';

const READY = 'Local host listening on';

export interface HostProcess {
    readonly child: ChildProcess;
    readonly port: number;
    /** `http://localhost:<port>`: where the host serves, and what PUBLIC_BASE_URL is set to. */
    readonly url: string;
    /** The last lines of output, for error messages. */
    tail(): string;
    stop(): Promise<void>;
}

export interface HostOptions {
    /** The app's folder (package.json, host.json); default the repository. */
    appDir?: string;
    /** App settings, given as the environment (they win over a developer's local.settings.json). */
    settings: (url: string) => Record<string, string>;
    /**
     * Receives every output line. Without it the output goes to a temporary file instead of a pipe, so that
     * reading it costs this process nothing while it generates load.
     */
    onLine?: (line: string, pid: number | undefined) => void;
}

export async function startHostProcess(options: HostOptions): Promise<HostProcess> {
    const port = await freePort();
    const url = `http://localhost:${String(port)}`;
    const appDir = options.appDir ?? ROOT;
    // BENCH_CPU_PROF=<folder>: a V8 CPU profile of each host process, written there when it stops (open
    // the .cpuprofile in Chrome DevTools or VS Code). It slows the host: not for figures, for finding them.
    const profileDir = process.env.BENCH_CPU_PROF;
    const args = [
        ...(profileDir === undefined || profileDir === ''
            ? []
            : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`]),
        path.join(ROOT, 'dist', 'local', 'host', 'main.js'),
        '--app',
        appDir,
        '--port',
        String(port),
    ];
    const env = childEnv({ ...options.settings(url), PUBLIC_BASE_URL: url });
    const recent: string[] = [];
    let ready = false;
    let child: ChildProcess;
    let logFile: string | undefined;
    if (options.onLine !== undefined) {
        const onLine = options.onLine;
        child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
        onLines(child, (line) => {
            recent.push(line);
            if (recent.length > 100) recent.shift();
            if (line.startsWith(READY)) ready = true;
            onLine(line, child.pid);
        });
    } else {
        logFile = path.join(tmpdir(), `bench-host-${String(process.pid)}-${String(port)}.log`);
        const fd = openSync(logFile, 'w');
        child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', fd, fd] });
        closeSync(fd);
    }
    const fileTail = () => {
        try {
            return readFileSync(logFile ?? '', 'utf8')
                .split('\n')
                .slice(-100)
                .join('\n');
        } catch {
            return '';
        }
    };
    const tail = () => (logFile === undefined ? recent.join('\n') : fileTail());

    const deadline = Date.now() + 30_000;
    while (!ready) {
        if (logFile !== undefined && fileTail().includes(READY)) ready = true;
        else if (child.exitCode !== null) throw new Error(`The local host exited:\n${tail()}`);
        else if (Date.now() > deadline) {
            await stopProcess(child);
            throw new Error(`The local host did not start within 30 s:\n${tail()}`);
        } else await sleep(50);
    }
    return {
        child,
        port,
        url,
        tail,
        async stop() {
            await stopProcess(child);
            if (logFile !== undefined) rmSync(logFile, { force: true });
        },
    };
}

/**
 * The settings of a local host that serves the webhooks only, signed with `token`: storage for the
 * host's queues and the ledger (a queue and table named after `name`, so runs do not share them), no
 * Twilio account and no Key Vault.
 */
export function webhookHostSettings(
    storageConnectionString: string,
    token: string,
    name: string,
): () => Record<string, string> {
    const tag = randomBytes(4).toString('hex');
    return () => ({
        AzureWebJobsStorage: storageConnectionString,
        TWILIO_AUTH_TOKEN: token,
        TWILIO_ACCOUNT_SID: '',
        KEY_VAULT_URL: '',
        TWILIO_WEBHOOK_VALIDATION: 'on',
        OUTBOUND_QUEUE: `bench-${name}-${tag}`,
        INBOUND_MEDIA_QUEUE: `bench-${name}-media-${tag}`,
        LEDGER_TABLE: `Bench${name.charAt(0).toUpperCase()}${name.slice(1)}${tag}`,
    });
}
