import { isReplySuppressed, nextWindow } from '../../../shared/messaging/replyGuard';

const at = (seconds: number) => new Date(Date.parse('2026-12-01T12:00:00.000Z') + seconds * 1000);

describe('nextWindow', () => {
    it('starts a window at the first message and counts within it', () => {
        const first = nextWindow(undefined, at(0), 60_000);
        expect(first).toEqual({ start: at(0).toISOString(), count: 1 });
        expect(nextWindow(first, at(59.999), 60_000)).toEqual({ start: at(0).toISOString(), count: 2 });
    });
    it('starts a new window when the old one has ended, or starts in the future (a clock gone back)', () => {
        const current = { start: at(0).toISOString(), count: 7 };
        expect(nextWindow(current, at(60), 60_000)).toEqual({ start: at(60).toISOString(), count: 1 });
        expect(nextWindow(current, at(-1), 60_000)).toEqual({ start: at(-1).toISOString(), count: 1 });
        expect(nextWindow({ start: 'garbage', count: 3 }, at(1), 60_000)).toEqual({
            start: at(1).toISOString(),
            count: 1,
        });
    });
    it('never counts past a 32-bit integer', () => {
        expect(nextWindow({ start: at(0).toISOString(), count: 0x7fffffff }, at(1), 60_000).count).toBe(
            0x7fffffff,
        );
    });
});

describe('isReplySuppressed', () => {
    it('holds back only messages over the limit', () => {
        expect(isReplySuppressed(10, 10)).toBe(false);
        expect(isReplySuppressed(11, 10)).toBe(true);
    });
});
