/**
 * The scheduler of lifecycles: each message or call the sandbox accepts moves through its statuses in
 * a background task (messageLifecycle.ts, callLifecycle.ts) that pauses before each step, as Twilio
 * takes its time. The scheduler runs those tasks, knows when all of them are done (`idle()`, which the
 * tests and `close()` wait on), and cancels them when the sandbox closes: every pending pause and every
 * in-flight callback request is aborted through one signal, and a lifecycle stopped that way ends
 * silently instead of logging an error.
 *
 * A new kind of lifecycle (the call simulator walking a call's TwiML, a retried callback) starts here
 * with `start` and paces itself with `pause`; nothing else about it needs to be known here.
 */

import { setTimeout as sleep } from 'node:timers/promises';
import { messageOf } from './callbacks';

/** Thrown out of a lifecycle step once the sandbox is closing: the lifecycle stops there, unlogged. */
export class SandboxClosedError extends Error {
    override readonly name = 'SandboxClosedError';
}

/** Waits `ms`, rejecting when `signal` aborts. Tests pass a fake clock. */
export type Wait = (ms: number, signal: AbortSignal) => Promise<void>;

export interface LifecycleSchedulerOptions {
    /** The pause before each step. */
    delayMs: number;
    log: (line: string) => void;
    wait?: Wait;
}

export interface LifecycleScheduler {
    /** Aborted when the sandbox closes: pass it to every request a lifecycle makes. */
    readonly signal: AbortSignal;
    /**
     * Runs `lifecycle` in the background. A failure is logged as `sandbox: <what> stopped: <reason>`,
     * unless the sandbox is closing; it never rejects anything.
     */
    start(what: string, lifecycle: () => Promise<void>): void;
    /** The pause before a step. @throws SandboxClosedError once the sandbox is closing. */
    pause(): Promise<void>;
    /** Resolves once every lifecycle has ended, including those started while waiting. */
    idle(): Promise<void>;
    /** Cancels every lifecycle (pending pauses and requests); `idle()` then resolves promptly. */
    cancelAll(): void;
}

const realWait: Wait = (ms, signal) => sleep(ms, undefined, { signal });

/** A scheduler with no lifecycle running yet. */
export function createLifecycleScheduler(options: LifecycleSchedulerOptions): LifecycleScheduler {
    const wait = options.wait ?? realWait;
    const tasks = new Set<Promise<void>>();
    const shutdown = new AbortController();

    return {
        signal: shutdown.signal,
        start(what, lifecycle) {
            const task: Promise<void> = lifecycle()
                .catch((error: unknown) => {
                    if (error instanceof SandboxClosedError || shutdown.signal.aborted) return;
                    options.log(`sandbox: ${what} stopped: ${messageOf(error)}`);
                })
                .finally(() => tasks.delete(task));
            tasks.add(task);
        },
        async pause() {
            try {
                await wait(options.delayMs, shutdown.signal);
            } catch {
                throw new SandboxClosedError();
            }
        },
        async idle() {
            while (tasks.size > 0) await Promise.allSettled([...tasks]);
        },
        cancelAll() {
            shutdown.abort();
        },
    };
}
