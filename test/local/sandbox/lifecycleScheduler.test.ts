import { createLifecycleScheduler, SandboxClosedError } from '../../../local/sandbox/lifecycleScheduler';
import { DELAY_MS, fakeClock, settle } from './fakes';

function scheduler() {
    const clock = fakeClock();
    const logs: string[] = [];
    const lifecycles = createLifecycleScheduler({
        delayMs: DELAY_MS,
        log: (line) => logs.push(line),
        wait: clock.wait,
    });
    /** Ends the pauses waiting now and lets the lifecycles run to their next one. */
    const tick = async () => {
        clock.release();
        await settle();
    };
    return { clock, logs, lifecycles, tick };
}

/** A lifecycle of `count` steps named `name1`, `name2`, …, pausing before each step after the first. */
function steps(
    lifecycles: ReturnType<typeof scheduler>['lifecycles'],
    name: string,
    count: number,
    seen: string[],
) {
    return async () => {
        for (let index = 1; index <= count; index += 1) {
            if (index > 1) await lifecycles.pause();
            seen.push(`${name}${String(index)}`);
        }
    };
}

describe('lifecycle scheduler', () => {
    it('runs a lifecycle up to its first pause at once, then one step per pause, for the configured delay', async () => {
        const { clock, lifecycles, tick } = scheduler();
        const seen: string[] = [];
        lifecycles.start('message SMab12…', steps(lifecycles, 'a', 3, seen));

        expect(seen).toEqual(['a1']);
        expect(clock.pending()).toEqual([DELAY_MS]);
        await tick();
        expect(seen).toEqual(['a1', 'a2']);
        await tick();
        expect(seen).toEqual(['a1', 'a2', 'a3']);
        expect(clock.pending()).toEqual([]);
        await lifecycles.idle();
    });

    it('moves every lifecycle one step per pause, each in its own order', async () => {
        const { clock, lifecycles, tick } = scheduler();
        const seen: string[] = [];
        lifecycles.start('message A', steps(lifecycles, 'a', 3, seen));
        lifecycles.start('call B', steps(lifecycles, 'b', 2, seen));

        expect(seen).toEqual(['a1', 'b1']);
        expect(clock.pending()).toEqual([DELAY_MS, DELAY_MS]);
        await tick();
        expect(seen).toEqual(['a1', 'b1', 'a2', 'b2']);
        // B has ended; only A still waits.
        expect(clock.pending()).toEqual([DELAY_MS]);
        await tick();
        expect(seen).toEqual(['a1', 'b1', 'a2', 'b2', 'a3']);
    });

    it('is idle only once every lifecycle has ended, including one started by another', async () => {
        const { lifecycles, tick } = scheduler();
        const seen: string[] = [];
        lifecycles.start('message A', async () => {
            await steps(lifecycles, 'a', 2, seen)();
            // An inbound message's replies start their lifecycles while it runs.
            lifecycles.start('message B', steps(lifecycles, 'b', 2, seen));
        });
        let idle = false;
        void lifecycles.idle().then(() => {
            idle = true;
        });

        await tick();
        expect(seen).toEqual(['a1', 'a2', 'b1']);
        expect(idle).toBe(false);
        await tick();
        expect(seen).toEqual(['a1', 'a2', 'b1', 'b2']);
        await settle();
        expect(idle).toBe(true);
    });

    it('is idle at once with nothing running', async () => {
        const { lifecycles } = scheduler();
        await expect(lifecycles.idle()).resolves.toBeUndefined();
    });

    it('cancels every lifecycle at its pending pause, silently, and aborts the signal their requests use', async () => {
        const { clock, logs, lifecycles, tick } = scheduler();
        const seen: string[] = [];
        lifecycles.start('message A', steps(lifecycles, 'a', 3, seen));
        lifecycles.start('call B', steps(lifecycles, 'b', 3, seen));
        expect(lifecycles.signal.aborted).toBe(false);

        lifecycles.cancelAll();
        await lifecycles.idle();
        await tick();

        expect(seen).toEqual(['a1', 'b1']);
        expect(clock.pending()).toEqual([]);
        expect(lifecycles.signal.aborted).toBe(true);
        expect(logs).toEqual([]);
    });

    it('refuses to pause once cancelled: a lifecycle started after closing stops at its first pause', async () => {
        const { lifecycles } = scheduler();
        lifecycles.cancelAll();
        await expect(lifecycles.pause()).rejects.toBeInstanceOf(SandboxClosedError);

        const seen: string[] = [];
        lifecycles.start('message late', steps(lifecycles, 'late', 2, seen));
        await lifecycles.idle();
        expect(seen).toEqual(['late1']);
    });

    it('logs a lifecycle that fails, by what it was, and keeps the others going', async () => {
        const { logs, lifecycles, tick } = scheduler();
        const seen: string[] = [];
        lifecycles.start('call CAab12…', async () => {
            await lifecycles.pause();
            throw new Error('the TwiML could not be read');
        });
        lifecycles.start('message B', steps(lifecycles, 'b', 3, seen));

        await tick();
        expect(logs).toEqual(['sandbox: call CAab12… stopped: the TwiML could not be read']);
        await tick();
        await lifecycles.idle();
        expect(seen).toEqual(['b1', 'b2', 'b3']);
    });

    it('does not log what fails because the sandbox is closing (an aborted request)', async () => {
        const { logs, lifecycles } = scheduler();
        lifecycles.start('message A', async () => {
            await new Promise((_, reject) => {
                lifecycles.signal.addEventListener('abort', () => {
                    reject(new Error('This operation was aborted'));
                });
            });
        });
        lifecycles.cancelAll();
        await lifecycles.idle();
        expect(logs).toEqual([]);
    });
});
