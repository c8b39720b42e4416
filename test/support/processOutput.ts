import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

/**
 * Collects a child process's output lines (stdout and stderr) and lets a test wait for a line. The wait
 * has a generous bound so a broken build fails with the output instead of hanging; it asserts nothing
 * about speed.
 */
export class ProcessOutput {
    readonly lines: string[] = [];
    private readonly waiters = new Set<() => void>();
    private exited = false;

    constructor(child: ChildProcess) {
        for (const stream of [child.stdout, child.stderr]) {
            if (stream === null) continue;
            createInterface({ input: stream }).on('line', (line) => {
                this.lines.push(line);
                for (const notify of [...this.waiters]) notify();
            });
        }
        child.once('exit', () => {
            this.exited = true;
            for (const notify of [...this.waiters]) notify();
        });
    }

    /** All lines matching `predicate` so far. */
    matching(predicate: (line: string) => boolean): string[] {
        return this.lines.filter(predicate);
    }

    /** Resolves once `count` lines match `predicate`; rejects if the process exits or the bound passes. */
    waitFor(predicate: (line: string) => boolean, count = 1, boundMs = 30_000): Promise<string[]> {
        return new Promise((resolve, reject) => {
            const check = () => {
                const found = this.matching(predicate);
                if (found.length >= count) {
                    done();
                    resolve(found);
                } else if (this.exited) {
                    done();
                    reject(new Error(`The process exited first. Output:\n${this.lines.join('\n')}`));
                }
            };
            const timer = setTimeout(() => {
                done();
                reject(
                    new Error(
                        `No matching output within ${String(boundMs)} ms. Output:\n${this.lines.join('\n')}`,
                    ),
                );
            }, boundMs);
            const done = () => {
                clearTimeout(timer);
                this.waiters.delete(check);
            };
            this.waiters.add(check);
            check();
        });
    }
}
