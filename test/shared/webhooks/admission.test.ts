import { createAdmission, type Release } from '../../../shared/webhooks/admission';

describe('admission of large webhooks: one turn at a time, a bounded line', () => {
    it('gives turns in arrival order, each only once the previous one has ended', async () => {
        const admission = createAdmission(3);
        const order: string[] = [];
        const first = await admission.acquire();
        const waiters = ['b', 'c', 'd'].map((name) =>
            admission.acquire().then((release) => {
                order.push(name);
                return release;
            }),
        );
        await Promise.resolve();
        expect(order).toEqual([]);
        expect(admission.waiting).toBe(3);

        first?.();
        const b = await waiters[0];
        expect(order).toEqual(['b']);
        b?.();
        // Releasing twice hands over one turn, not two.
        b?.();
        const c = await waiters[1];
        await Promise.resolve();
        expect(order).toEqual(['b', 'c']);
        c?.();
        (await waiters[2])?.();
        expect(order).toEqual(['b', 'c', 'd']);
        expect(admission.waiting).toBe(0);
        // Free again: the next caller gets its turn at once.
        expect(await admission.acquire()).toBeInstanceOf(Function);
    });

    it('refuses a caller at once when the line is full, and admits again once it has room', async () => {
        const admission = createAdmission(2);
        const held = (await admission.acquire()) as Release;
        const line = [admission.acquire(), admission.acquire()];
        expect(await admission.acquire()).toBeUndefined();
        held();
        const next = (await line[0]) as Release;
        expect(admission.waiting).toBe(1);
        const again = admission.acquire();
        expect(admission.waiting).toBe(2);
        next();
        ((await line[1]) as Release)();
        expect(await again).toBeInstanceOf(Function);
    });
});
