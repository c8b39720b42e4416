/**
 * Runs a TypeScript file of this repo in a child Node process (through `register.js`, no build) and talks
 * to it in JSON lines: one command per line on its stdin, one answer per line on its stdout.
 *
 * A child process is how a test gets a clean process environment: settings that libraries read at start
 * (`NODE_EXTRA_CA_CERTS`) or at module load (`HTTPS_PROXY`, `NO_PROXY`) cannot be changed inside jest.
 */

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

export const REPO_ROOT = resolve(__dirname, '..', '..');
const REGISTER = join(REPO_ROOT, 'test', 'support', 'register.js');

/**
 * Starts `node -r test/support/register.js <script> ...args` with exactly `env` (plus `PATH`, and
 * `SystemRoot` on Windows), using the Node binary running the tests so that a run under another Node
 * version tests that version.
 */
export function spawnTypeScript(
    script: string,
    env: Record<string, string>,
    args: readonly string[] = [],
): ChildProcessWithoutNullStreams {
    const base: Record<string, string> = {};
    for (const name of ['PATH', 'SystemRoot']) {
        const value = process.env[name];
        if (value !== undefined) base[name] = value;
    }
    return spawn(process.execPath, ['-r', REGISTER, resolve(REPO_ROOT, script), ...args], {
        cwd: REPO_ROOT,
        env: { ...base, ...env },
        stdio: 'pipe',
    });
}

/** A child process driven by JSON-line commands; answers are matched to commands by their `id`. */
export class JsonLineChild {
    private readonly child: ChildProcessWithoutNullStreams;
    private readonly pending = new Map<
        number,
        { resolve: (answer: unknown) => void; reject: (e: Error) => void }
    >();
    private readonly exited: Promise<number | null>;
    private nextId = 1;
    private stderrText = '';
    private exitCode: number | null | undefined;

    constructor(child: ChildProcessWithoutNullStreams) {
        this.child = child;
        child.stderr.setEncoding('utf8');
        child.stderr.on('data', (chunk: string) => {
            this.stderrText += chunk;
        });
        createInterface({ input: child.stdout }).on('line', (line) => {
            this.onLine(line);
        });
        this.exited = new Promise((resolveExit) => {
            child.on('exit', (code) => {
                this.exitCode = code;
                for (const { reject } of this.pending.values()) {
                    reject(
                        new Error(
                            `The child exited (code ${String(code)}) before answering.${this.stderrForError()}`,
                        ),
                    );
                }
                this.pending.clear();
                resolveExit(code);
            });
        });
    }

    /** Everything the child wrote to stderr so far. */
    get stderr(): string {
        return this.stderrText;
    }

    /** Whether the child is still running. */
    get running(): boolean {
        return this.exitCode === undefined;
    }

    /** Sends `command` (with an `id` added) and resolves to the child's answer, minus the `id`. */
    send<T>(command: Record<string, unknown>): Promise<T> {
        const id = this.nextId++;
        return new Promise<T>((resolveAnswer, reject) => {
            if (!this.running) {
                reject(new Error(`The child has already exited.${this.stderrForError()}`));
                return;
            }
            this.pending.set(id, { resolve: (answer) => resolveAnswer(answer as T), reject });
            this.child.stdin.write(`${JSON.stringify({ ...command, id })}\n`);
        });
    }

    /** Closes the child's stdin, which tells it to exit, and resolves to its exit code. */
    async end(): Promise<number | null> {
        this.child.stdin.end();
        return this.exited;
    }

    /** Kills the child if it is still running (cleanup after a failed test). */
    async kill(): Promise<void> {
        if (this.running) this.child.kill();
        await this.exited;
    }

    private onLine(line: string): void {
        let message: unknown;
        try {
            message = JSON.parse(line);
        } catch {
            // Not an answer (a stray console.log); keep it with stderr for the failure message.
            this.stderrText += `[stdout] ${line}\n`;
            return;
        }
        if (typeof message !== 'object' || message === null || !('id' in message)) return;
        const { id, ...answer } = message;
        if (typeof id !== 'number') return;
        const waiter = this.pending.get(id);
        if (waiter === undefined) return;
        this.pending.delete(id);
        waiter.resolve(answer);
    }

    private stderrForError(): string {
        return this.stderrText === '' ? '' : `\n--- child stderr ---\n${this.stderrText}`;
    }
}
