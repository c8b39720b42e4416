/**
 * Twilio's back-pressure (shared/outbound/sendErrors.ts): which errors are back-pressure, how long the
 * next try waits, and how `Retry-After` is read.
 */

import {
    backPressureDelayMs,
    backPressureOf,
    DEFAULT_BACKOFF,
    parseRetryAfter,
    type SendErrorClass,
} from '../../../shared/outbound/sendErrors';

const transient = (status: number | undefined, code?: string): SendErrorClass => ({
    kind: 'transient',
    reason: 'x',
    mayHaveBeenCreated: false,
    ...(status === undefined ? {} : { status }),
    ...(code === undefined ? {} : { code }),
});

describe('backPressureOf', () => {
    it('429 (20429) is a rate limit; 21611 and 30001 are a full queue', () => {
        expect(backPressureOf(transient(429, '20429'))).toBe('rate-limit');
        expect(backPressureOf(transient(429))).toBe('rate-limit');
        expect(backPressureOf(transient(400, '21611'))).toBe('queue-full');
        expect(backPressureOf(transient(400, '30001'))).toBe('queue-full');
    });

    it('other transient errors, and permanent ones, are not back-pressure', () => {
        expect(backPressureOf(transient(503, '20503'))).toBeUndefined();
        expect(backPressureOf(transient(500))).toBeUndefined();
        expect(backPressureOf(transient(undefined, 'ECONNRESET'))).toBeUndefined();
        expect(
            backPressureOf({ kind: 'permanent', status: 400, code: '21211', message: 'x' }),
        ).toBeUndefined();
    });
});

describe('backPressureDelayMs', () => {
    it('a rate limit waits Retry-After, else the default; capped, at least a second', () => {
        expect(backPressureDelayMs('rate-limit', { retryAfterMs: 120_000, attempts: 3 })).toBe(120_000);
        expect(backPressureDelayMs('rate-limit', { retryAfterMs: undefined, attempts: 1 })).toBe(60_000);
        expect(backPressureDelayMs('rate-limit', { retryAfterMs: 0, attempts: 1 })).toBe(1_000);
        expect(backPressureDelayMs('rate-limit', { retryAfterMs: 86_400_000, attempts: 1 })).toBe(
            DEFAULT_BACKOFF.maxMs,
        );
    });

    it('a full queue waits minutes, doubling with each attempt, up to the cap', () => {
        const waits = [1, 2, 3, 4, 5, 50].map((attempts) =>
            backPressureDelayMs('queue-full', { retryAfterMs: 5_000, attempts }),
        );
        expect(waits).toEqual([300_000, 600_000, 1_200_000, 1_800_000, 1_800_000, 1_800_000]);
    });
});

describe('parseRetryAfter', () => {
    const now = new Date('2024-05-04T10:00:00.000Z');
    it('reads delay-seconds and HTTP dates', () => {
        expect(parseRetryAfter('120', now)).toBe(120_000);
        expect(parseRetryAfter(' 7 ', now)).toBe(7_000);
        expect(parseRetryAfter('Sat, 04 May 2024 10:01:30 GMT', now)).toBe(90_000);
        expect(parseRetryAfter('Sat, 04 May 2024 09:00:00 GMT', now)).toBe(0);
    });

    it('is undefined when absent or unreadable', () => {
        expect(parseRetryAfter(undefined, now)).toBeUndefined();
        expect(parseRetryAfter('soon', now)).toBeUndefined();
        expect(parseRetryAfter('-5', now)).toBeUndefined();
    });
});
