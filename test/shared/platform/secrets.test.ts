import { SecretUnavailableError } from '../../../shared/platform/errors';
import {
    createSecretProvider,
    createStaticSecretProvider,
    DEFAULT_MIN_REFRESH_INTERVAL_MS,
    type SecretProviderOptions,
} from '../../../shared/platform/secrets';

interface PendingRead {
    resolve(value: string): void;
    reject(error: unknown): void;
}

/**
 * A provider over a `read` whose calls the test settles by hand, on a clock the test moves by hand: the
 * cache is observed through how many reads it starts.
 */
function setup(options: Partial<SecretProviderOptions> = {}) {
    let time = 0;
    const reads: PendingRead[] = [];
    const staleErrors: unknown[] = [];
    const provider = createSecretProvider({
        read: () =>
            new Promise<string>((resolve, reject) => {
                reads.push({ resolve, reject });
            }),
        ttlMs: 1_000,
        now: () => time,
        onStaleValueServed: (error) => staleErrors.push(error),
        ...options,
    });
    /**
     * Calls `call` and checks, before awaiting it, that it started no read: a cache that is broken then
     * fails the test at once instead of leaving it waiting on a read that nobody settles.
     */
    const withoutRead = async <T>(call: () => Promise<T>): Promise<T> => {
        const before = reads.length;
        const result = call();
        await settle();
        expect(reads).toHaveLength(before);
        return result;
    };
    return {
        provider,
        reads,
        withoutRead,
        staleErrors,
        /** Sets the clock to `ms`. */
        at: (ms: number) => {
            time = ms;
        },
        /** The read number `n` (1-based) started so far. */
        read: (n: number): PendingRead => {
            const pending = reads[n - 1];
            if (pending === undefined) throw new Error(`read ${n} was not started (${reads.length} were)`);
            return pending;
        },
    };
}

/** Lets promise callbacks run, so that reads the provider is about to start have started. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('createSecretProvider', () => {
    it('gives concurrent callers one shared read', async () => {
        const { provider, reads, read, withoutRead } = setup();
        const calls = Array.from({ length: 200 }, () => provider.get());
        await settle();
        expect(reads).toHaveLength(1);

        read(1).resolve('v1');
        expect(await Promise.all(calls)).toEqual(Array.from({ length: 200 }, () => 'v1'));
        expect(await withoutRead(() => provider.get())).toBe('v1');
    });

    it('reads again once the TTL, counted from when the read finished, has passed', async () => {
        const { provider, reads, read, at, withoutRead } = setup({ ttlMs: 1_000 });
        const first = provider.get();
        await settle();
        at(300);
        read(1).resolve('v1');
        expect(await first).toBe('v1');

        at(1_299);
        expect(await withoutRead(() => provider.get())).toBe('v1');

        at(1_300);
        const afterTtl = [provider.get(), provider.get()];
        await settle();
        expect(reads).toHaveLength(2);
        read(2).resolve('v2');
        expect(await Promise.all(afterTtl)).toEqual(['v2', 'v2']);
        expect(await withoutRead(() => provider.get())).toBe('v2');
    });

    it('does not cache a failed read: every waiting caller gets the error, the next call reads again', async () => {
        const { provider, reads, read, staleErrors } = setup();
        const failure = new SecretUnavailableError('vault unreachable');
        const calls = Array.from({ length: 10 }, () => provider.get());
        await settle();
        expect(reads).toHaveLength(1);
        read(1).reject(failure);
        const outcomes = await Promise.allSettled(calls);
        expect(outcomes).toEqual(Array.from({ length: 10 }, () => ({ status: 'rejected', reason: failure })));

        const retry = provider.get();
        await settle();
        expect(reads).toHaveLength(2);
        read(2).resolve('v1');
        expect(await retry).toBe('v1');
        expect(staleErrors).toEqual([]);
    });

    it('does not cache a read that throws instead of rejecting', async () => {
        let calls = 0;
        const provider = createSecretProvider({
            read: () => {
                calls += 1;
                if (calls === 1) throw new Error('thrown synchronously');
                return Promise.resolve(`v${calls}`);
            },
            ttlMs: 1_000,
            now: () => 0,
        });
        await expect(provider.get()).rejects.toThrow('thrown synchronously');
        expect(await provider.get()).toBe('v2');
        expect(calls).toBe(2);
    });

    it('after a failed re-read, serves the previous value until retryAfterFailureMs, then reads again', async () => {
        const { provider, reads, read, at, staleErrors, withoutRead } = setup({
            ttlMs: 1_000,
            retryAfterFailureMs: 200,
        });
        const first = provider.get();
        await settle();
        read(1).resolve('v1');
        expect(await first).toBe('v1');

        at(1_000);
        const stale = provider.get();
        await settle();
        const failure = new Error('503');
        read(2).reject(failure);
        expect(await stale).toBe('v1');
        expect(staleErrors).toEqual([failure]);

        at(1_199);
        expect(await withoutRead(() => provider.get())).toBe('v1');

        at(1_200);
        const recovered = provider.get();
        await settle();
        expect(reads).toHaveLength(3);
        read(3).resolve('v2');
        expect(await recovered).toBe('v2');
    });

    it('covers a re-read that throws synchronously with the previous value, and reads again later', async () => {
        let time = 0;
        let calls = 0;
        const provider = createSecretProvider({
            read: () => {
                calls += 1;
                if (calls === 2) throw new Error('thrown synchronously');
                return Promise.resolve(`v${calls}`);
            },
            ttlMs: 1_000,
            retryAfterFailureMs: 100,
            now: () => time,
        });
        expect(await provider.get()).toBe('v1');
        time = 1_000;
        expect(await provider.get()).toBe('v1');
        time = 1_100;
        expect(await provider.get()).toBe('v3');
        expect(calls).toBe(3);
    });

    it('rejects an empty value like a failed read: an error with nothing cached, the old value otherwise', async () => {
        const { provider, reads, read, at, staleErrors } = setup({ ttlMs: 1_000, retryAfterFailureMs: 100 });
        const empty = provider.get();
        await settle();
        read(1).resolve('');
        await expect(empty).rejects.toBeInstanceOf(SecretUnavailableError);

        const second = provider.get();
        await settle();
        expect(reads).toHaveLength(2);
        read(2).resolve('v1');
        expect(await second).toBe('v1');

        at(1_000);
        const emptyAgain = provider.get();
        await settle();
        read(3).resolve('');
        expect(await emptyAgain).toBe('v1');
        expect(staleErrors).toEqual([expect.any(SecretUnavailableError)]);
    });

    it('refresh() reads at most once per minimum refresh interval, however often it is called', async () => {
        expect(DEFAULT_MIN_REFRESH_INTERVAL_MS).toBe(60_000);
        const { provider, reads, read, at, withoutRead } = setup({ ttlMs: 3_600_000 });
        const first = provider.get();
        await settle();
        at(30_000);
        read(1).resolve('v1');
        expect(await first).toBe('v1');

        // One after another, then all at once, as a stream of forged webhook signatures would.
        for (let i = 0; i < 1_000; i++) {
            expect(await withoutRead(() => provider.refresh())).toBe('v1');
        }
        at(59_999);
        const burst = await withoutRead(() =>
            Promise.all(Array.from({ length: 1_000 }, () => provider.refresh())),
        );
        expect(new Set(burst)).toEqual(new Set(['v1']));

        // The interval runs from when the last read started (t=0), not from when it finished.
        at(60_000);
        const refreshes = Array.from({ length: 1_000 }, () => provider.refresh());
        await settle();
        expect(reads).toHaveLength(2);
        read(2).resolve('v2');
        expect(new Set(await Promise.all(refreshes))).toEqual(new Set(['v2']));
        expect(await withoutRead(() => provider.refresh())).toBe('v2');
        expect(await withoutRead(() => provider.get())).toBe('v2');
    });

    it('refresh() reads at once when nothing was read yet, and honours a custom interval', async () => {
        const { provider, reads, read, at, withoutRead } = setup({
            ttlMs: 3_600_000,
            minRefreshIntervalMs: 10,
        });
        const first = provider.refresh();
        await settle();
        expect(reads).toHaveLength(1);
        read(1).resolve('v1');
        expect(await first).toBe('v1');

        at(9);
        expect(await withoutRead(() => provider.refresh())).toBe('v1');
        at(10);
        const second = provider.refresh();
        await settle();
        expect(reads).toHaveLength(2);
        read(2).resolve('v2');
        expect(await second).toBe('v2');
    });

    it('refresh() whose read fails resolves to the value in force', async () => {
        const { provider, read, at, staleErrors } = setup({ ttlMs: 3_600_000 });
        const first = provider.get();
        await settle();
        read(1).resolve('v1');
        await first;

        at(60_000);
        const refreshed = provider.refresh();
        await settle();
        read(2).reject(new Error('vault down'));
        expect(await refreshed).toBe('v1');
        expect(staleErrors).toHaveLength(1);
    });
});

describe('createStaticSecretProvider', () => {
    it('always resolves to the value it was given, from get() and refresh()', async () => {
        const provider = createStaticSecretProvider('static-token');
        expect(await provider.get()).toBe('static-token');
        expect(await provider.refresh()).toBe('static-token');
        expect(await Promise.all([provider.get(), provider.refresh(), provider.get()])).toEqual([
            'static-token',
            'static-token',
            'static-token',
        ]);
    });
});
