/**
 * Plumbing shared by the benchmark's phases: the compiled app, bounded waits, child processes, signing.
 */

import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';

export const ROOT = path.resolve(__dirname, '..');

/**
 * A module of the compiled app (`dist/`, what `package.json` `main` points at and what Azure runs), typed
 * from its source.
 */
export function dist(relative: string): unknown {
    const file = path.join(ROOT, 'dist', `${relative}.js`);
    if (!existsSync(file)) throw new Error(`${file} is missing: run "npm run build" first`);
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the compiled app, loaded as Azure loads it
    return require(file) as unknown;
}

/** Rejects with `what` if `promise` has not settled within `ms`. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
            reject(new Error(`${what} did not finish within ${String(ms / 1000)} s`));
        }, ms);
    });
    try {
        return await Promise.race([promise, timeout]);
    } finally {
        clearTimeout(timer);
    }
}

/** Runs `fn` over `items` with at most `limit` at a time; results in input order. */
export async function mapLimit<T, R>(
    items: readonly T[],
    limit: number,
    fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
    const results = new Array<R>(items.length);
    let next = 0;
    const worker = async () => {
        while (next < items.length) {
            const index = next++;
            results[index] = await fn(items[index] as T, index);
        }
    };
    await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
    return results;
}

/** The environment a child gets: `PATH` (and `SystemRoot` on Windows) plus `env`, nothing else. */
export function childEnv(env: Record<string, string>): Record<string, string> {
    const base: Record<string, string> = {};
    for (const name of ['PATH', 'SystemRoot']) {
        const value = process.env[name];
        if (value !== undefined) base[name] = value;
    }
    return { ...base, ...env };
}

/** Runs `node <args>` to completion and resolves to its stdout; rejects on a non-zero exit or after `ms`. */
export function runNode(args: readonly string[], env: Record<string, string>, ms: number): Promise<string> {
    return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, args, { cwd: ROOT, env: childEnv(env), stdio: 'pipe' });
        let stdout = '';
        let stderr = '';
        child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
        child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
        const timer = setTimeout(() => {
            child.kill('SIGKILL');
            reject(new Error(`node ${args.join(' ')} did not finish within ${String(ms / 1000)} s`));
        }, ms);
        child.on('error', (error) => {
            clearTimeout(timer);
            reject(error);
        });
        child.on('exit', (code) => {
            clearTimeout(timer);
            if (code === 0) resolve(stdout);
            else reject(new Error(`node ${args.join(' ')} exited with ${String(code)}:\n${stderr}${stdout}`));
        });
    });
}

/** The last line of `text` that parses as a JSON object. */
export function lastJsonLine(text: string): unknown {
    const line = text
        .split(/\r?\n/)
        .reverse()
        .find((l) => l.startsWith('{'));
    if (line === undefined) throw new Error(`No JSON result in the output:\n${text}`);
    return JSON.parse(line) as unknown;
}

/** Calls `onLine` for every line a child writes to stdout or stderr. */
export function onLines(
    child: ChildProcess,
    onLine: (line: string, stream: 'stdout' | 'stderr') => void,
): void {
    if (child.stdout !== null) {
        createInterface({ input: child.stdout }).on('line', (line) => {
            onLine(line, 'stdout');
        });
    }
    if (child.stderr !== null) {
        createInterface({ input: child.stderr }).on('line', (line) => {
            onLine(line, 'stderr');
        });
    }
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the child has exited. */
export function stopProcess(child: ChildProcess, graceMs = 5_000): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        child.once('exit', () => {
            clearTimeout(timer);
            resolve();
        });
        child.kill('SIGTERM');
    });
}

/** Peak resident set size (`VmHWM`) of a live process, in MiB; `undefined` where `/proc` does not exist. */
export function peakRssMiB(pid: number | undefined): number | undefined {
    if (pid === undefined) return undefined;
    try {
        const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${String(pid)}/status`, 'utf8'));
        return match === null ? undefined : Number(match[1]) / 1024;
    } catch {
        return undefined;
    }
}

/**
 * CPU time (user + system) a live process has used, in seconds; `undefined` where `/proc` does not exist.
 * Linux reports it in clock ticks of 1/100 s.
 */
export function cpuSeconds(pid: number | undefined): number | undefined {
    if (pid === undefined) return undefined;
    try {
        const stat = readFileSync(`/proc/${String(pid)}/stat`, 'utf8');
        // Fields after the command name, which is in parentheses and may hold spaces: utime is the 12th.
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        return (Number(fields[11]) + Number(fields[12])) / 100;
    } catch {
        return undefined;
    }
}

/**
 * Twilio's request signature, as Twilio documents it: HMAC-SHA1 with the auth token over the URL followed
 * by each parameter name and value, names sorted; base64. What the benchmark's "Twilio" sends.
 */
export function twilioSignature(authToken: string, url: string, params: Record<string, string> = {}): string {
    let data = url;
    for (const key of Object.keys(params).sort()) data += key + (params[key] ?? '');
    return createHmac('sha1', authToken).update(data, 'utf8').digest('base64');
}

/** A Twilio-style random SID: two letters and 32 hex digits. */
export function sid(prefix: string, n: number): string {
    return `${prefix}${n.toString(16).padStart(32, '0')}`;
}
