/**
 * The fake clock the sandbox's unit tests pause on: a pause ends when released or aborted, and leaves
 * no listener behind on the lifecycle's signal either way (a signal outlives many pauses, and Node warns
 * with MaxListenersExceededWarning past 10 listeners).
 */

import { getEventListeners } from 'node:events';
import { fakeClock } from './fakes';

describe('fakeClock', () => {
    it('removes its abort listener when a pause is released, however many pauses share the signal', async () => {
        const clock = fakeClock();
        const controller = new AbortController();
        for (let i = 0; i < 25; i++) {
            const pause = clock.wait(100, controller.signal);
            expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
            clock.release();
            await pause;
        }
        expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
        expect(clock.pending()).toEqual([]);
    });

    it('rejects a pause on abort with the reason, forgets it, and leaves no listener', async () => {
        const clock = fakeClock();
        const controller = new AbortController();
        const pauses = [clock.wait(100, controller.signal), clock.wait(200, controller.signal)];
        expect(clock.pending()).toEqual([100, 200]);
        const reason = new Error('stopped');
        controller.abort(reason);
        for (const pause of pauses) await expect(pause).rejects.toBe(reason);
        expect(clock.pending()).toEqual([]);
        expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
        await expect(clock.wait(100, controller.signal)).rejects.toBe(reason);
    });
});
