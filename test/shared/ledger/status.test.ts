import type { LedgerRecord, MessageKind, StatusEvent } from '../../../shared/ledger/contract';
import { applyStatus, isTerminal, statusRank, type StatusUpdate } from '../../../shared/ledger/status';

const SID = 'SM0123456789abcdef0123456789abcdef';
const OTHER_SID = 'SMfedcba9876543210fedcba9876543210';
const CALL_SID = 'CA0123456789abcdef0123456789abcdef';

/** Minute `n` after a fixed start, as ISO text. */
const t = (n: number) => new Date(Date.UTC(2024, 4, 1, 12, n)).toISOString();

function record(overrides: Partial<LedgerRecord> = {}): LedgerRecord {
    return {
        id: 'msg-1',
        direction: 'outbound',
        type: 'sms',
        to: '+15551230001',
        mediaCount: 0,
        status: 'queued',
        history: [{ status: 'queued', at: t(0), source: 'app' }],
        attempts: 0,
        createdAt: t(0),
        updatedAt: t(0),
        ...overrides,
    };
}

const twilio = (status: string, minute: number, extra: Partial<StatusUpdate> = {}): StatusUpdate => ({
    status,
    at: t(minute),
    source: 'twilio',
    sid: SID,
    ...extra,
});

/** Applies events in order, keeping the record when an event changes nothing. */
function applyAll(start: LedgerRecord, events: StatusUpdate[]): LedgerRecord {
    return events.reduce((current, event) => applyStatus(current, event) ?? current, start);
}

const statuses = (r: LedgerRecord) => r.history.map((e) => e.status);

describe('statusRank', () => {
    it('orders the message lifecycle: ours, then Twilio’s, then final, then read', () => {
        const ranks = [
            statusRank('sms', 'queued', 'app'),
            statusRank('sms', 'sending', 'app'),
            statusRank('sms', 'accepted'),
            statusRank('sms', 'scheduled'),
            statusRank('sms', 'queued'),
            statusRank('sms', 'sending'),
            statusRank('sms', 'sent'),
            statusRank('sms', 'delivered'),
            statusRank('sms', 'read'),
        ];
        expect(ranks).toEqual([10, 20, 30, 40, 50, 60, 70, 100, 110]);
    });

    it('ranks every final message status alike, and receiving below received', () => {
        for (const status of [
            'delivered',
            'undelivered',
            'failed',
            'canceled',
            'received',
            'rejected',
            'dead-lettered',
        ]) {
            expect([status, statusRank('sms', status)]).toEqual([status, 100]);
        }
        expect(statusRank('sms', 'receiving')).toBe(30);
    });

    it('orders the call lifecycle', () => {
        expect(
            ['queued', 'initiated', 'ringing', 'in-progress', 'completed'].map((s) => statusRank('call', s)),
        ).toEqual([30, 40, 50, 60, 100]);
        for (const status of ['busy', 'no-answer', 'failed', 'canceled', 'rejected', 'dead-lettered']) {
            expect([status, statusRank('call', status)]).toEqual([status, 100]);
        }
        expect(statusRank('call', 'queued', 'app')).toBe(10);
        expect(statusRank('call', 'sending', 'app')).toBe(20);
    });

    it('treats the source as Twilio by default and ignores it for statuses that are not ours', () => {
        expect(statusRank('sms', 'queued')).toBe(statusRank('sms', 'queued', 'twilio'));
        expect(statusRank('sms', 'sent', 'app')).toBe(70);
        expect(statusRank('sms', 'failed', 'app')).toBe(100);
    });

    it('gives 0 to unknown statuses, statuses of the other kind, and Object.prototype names', () => {
        for (const [type, status] of [
            ['sms', 'bogus'],
            ['sms', ''],
            ['sms', 'Delivered'],
            ['sms', 'ringing'],
            ['call', 'delivered'],
            ['call', 'sent'],
            ['sms', 'constructor'],
            ['sms', '__proto__'],
            ['call', 'toString'],
        ] as [MessageKind, string][]) {
            expect([type, status, statusRank(type, status)]).toEqual([type, status, 0]);
            expect(isTerminal(type, status)).toBe(false);
        }
    });
});

describe('isTerminal', () => {
    it('is true exactly for final statuses', () => {
        const sms = [
            'queued',
            'sending',
            'accepted',
            'scheduled',
            'sent',
            'receiving',
            'delivered',
            'undelivered',
            'failed',
            'canceled',
            'read',
            'received',
            'rejected',
            'dead-lettered',
        ];
        expect(sms.filter((s) => isTerminal('sms', s))).toEqual([
            'delivered',
            'undelivered',
            'failed',
            'canceled',
            'read',
            'received',
            'rejected',
            'dead-lettered',
        ]);
        const calls = [
            'queued',
            'initiated',
            'ringing',
            'in-progress',
            'completed',
            'busy',
            'no-answer',
            'failed',
            'canceled',
            'rejected',
            'dead-lettered',
        ];
        expect(calls.filter((s) => isTerminal('call', s))).toEqual([
            'completed',
            'busy',
            'no-answer',
            'failed',
            'canceled',
            'rejected',
            'dead-lettered',
        ]);
    });
});

describe('applyStatus: in order', () => {
    it('follows an outbound message from our queue to delivered, taking the SID on the way', () => {
        // The pipeline claims the message by setting `sending` itself (no history entry), then records
        // Twilio's answer and callbacks.
        const claimed = record({ status: 'sending', attempts: 1 });
        const final = applyAll(claimed, [
            twilio('queued', 1),
            twilio('sending', 2),
            twilio('sent', 3),
            twilio('delivered', 4),
        ]);
        expect(final).toEqual({
            ...claimed,
            sid: SID,
            status: 'delivered',
            history: [
                { status: 'queued', at: t(0), source: 'app' },
                { status: 'queued', at: t(1), source: 'twilio', sid: SID },
                { status: 'sending', at: t(2), source: 'twilio', sid: SID },
                { status: 'sent', at: t(3), source: 'twilio', sid: SID },
                { status: 'delivered', at: t(4), source: 'twilio', sid: SID },
            ],
        });
    });

    it('moves through accepted and scheduled (Messaging Services) to canceled', () => {
        const final = applyAll(record(), [
            { status: 'sending', at: t(1), source: 'app' },
            twilio('accepted', 2),
            twilio('scheduled', 3),
            twilio('canceled', 4),
        ]);
        expect(final.status).toBe('canceled');
        expect(statuses(final)).toEqual(['queued', 'sending', 'accepted', 'scheduled', 'canceled']);
    });

    it('moves a record from our own sending to Twilio’s queued, but not our queued after Twilio’s sending', () => {
        const sending = applyStatus(record(), { status: 'sending', at: t(1), source: 'app' });
        expect(sending?.status).toBe('sending');
        const queued = applyStatus(sending ?? record(), twilio('queued', 2));
        expect(queued?.status).toBe('queued');

        const atTwilio = applyAll(record(), [twilio('sending', 1)]);
        expect(atTwilio.status).toBe('sending');
        const late = applyStatus(atTwilio, { status: 'queued', at: t(2), source: 'app', sid: SID });
        expect(late?.status).toBe('sending');
    });

    it('follows an inbound message from receiving to received', () => {
        const inbound = record({ direction: 'inbound', status: 'receiving', history: [], sid: SID });
        const received = applyStatus(inbound, twilio('received', 1));
        expect(received?.status).toBe('received');
        expect(isTerminal('sms', received?.status ?? '')).toBe(true);
    });

    it('moves read above delivered', () => {
        const final = applyAll(record(), [twilio('sent', 1), twilio('delivered', 2), twilio('read', 3)]);
        expect(final.status).toBe('read');
        expect(statuses(final)).toEqual(['queued', 'sent', 'delivered', 'read']);
    });

    it('returns a new record and leaves the given one as it was', () => {
        const before = record();
        const copy = structuredClone(before);
        const after = applyStatus(before, twilio('sent', 1));
        expect(after).not.toBe(before);
        expect(after?.history).not.toBe(before.history);
        expect(before).toEqual(copy);
    });
});

describe('applyStatus: out of order', () => {
    it('keeps delivered when sent arrives after it, and files sent in history by time', () => {
        const delivered = applyAll(record({ sid: SID }), [twilio('delivered', 5)]);
        const late = applyStatus(delivered, twilio('sent', 3));
        expect(late).toEqual({
            ...delivered,
            history: [
                { status: 'queued', at: t(0), source: 'app' },
                { status: 'sent', at: t(3), source: 'twilio', sid: SID },
                { status: 'delivered', at: t(5), source: 'twilio', sid: SID },
            ],
        });
    });

    it('records a late sent once: a second late sent changes nothing', () => {
        const late = applyAll(record({ sid: SID }), [twilio('delivered', 5), twilio('sent', 3)]);
        expect(applyStatus(late, twilio('sent', 4))).toBeUndefined();
        expect(statuses(late).filter((s) => s === 'sent')).toHaveLength(1);
    });

    it('skips intermediate statuses that arrive after a later one', () => {
        const final = applyAll(record(), [twilio('sent', 3), twilio('queued', 1), twilio('sending', 2)]);
        expect(final.status).toBe('sent');
        expect(statuses(final)).toEqual(['queued', 'queued', 'sending', 'sent']);
    });

    it('appends an event whose time cannot be parsed', () => {
        const next = applyAll(record(), [
            twilio('sent', 3),
            { status: 'delivered', at: 'later', source: 'twilio' },
        ]);
        expect(next.history.map((e) => e.at)).toEqual([t(0), t(3), 'later']);
        expect(next.status).toBe('delivered');
    });

    it('files an event between the ones around its time', () => {
        const start = record({
            history: [
                { status: 'queued', at: t(0), source: 'app' },
                { status: 'sent', at: t(5), source: 'twilio', sid: SID },
            ],
            status: 'sent',
            sid: SID,
        });
        const next = applyStatus(start, twilio('sending', 2));
        expect(next?.history.map((e) => e.status)).toEqual(['queued', 'sending', 'sent']);
        expect(next?.status).toBe('sent');
    });
});

describe('applyStatus: duplicates', () => {
    it('returns undefined for the same status and SID twice', () => {
        const sent = applyAll(record(), [twilio('sent', 1)]);
        expect(applyStatus(sent, twilio('sent', 2))).toBeUndefined();
        expect(applyStatus(sent, { status: 'sent', at: t(2), source: 'twilio' })).toBeUndefined(); // SID from the record
        expect(applyStatus(sent, { status: 'sent', at: t(2), source: 'app', sid: SID })).toBeUndefined();
    });

    it('returns undefined for a duplicate final status, error and all', () => {
        const failed = applyAll(record(), [twilio('failed', 1, { errorCode: '30008' })]);
        expect(applyStatus(failed, twilio('failed', 2, { errorCode: '30001' }))).toBeUndefined();
        expect(failed.errorCode).toBe('30008');
    });

    it('keeps our queued (no SID yet) and Twilio’s queued (with a SID) apart', () => {
        const next = applyStatus(record(), twilio('queued', 1));
        expect(next?.history).toEqual([
            { status: 'queued', at: t(0), source: 'app' },
            { status: 'queued', at: t(1), source: 'twilio', sid: SID },
        ]);
        expect(applyStatus(record(), { status: 'queued', at: t(1), source: 'app' })).toBeUndefined();
    });
});

describe('applyStatus: final statuses are sticky', () => {
    it('lets a Twilio failed after sent win, with its error', () => {
        const next = applyAll(record(), [
            twilio('sent', 1),
            twilio('failed', 2, { errorCode: '30008', errorMessage: 'Unknown error' }),
        ]);
        expect(next).toMatchObject({ status: 'failed', errorCode: '30008', errorMessage: 'Unknown error' });
    });

    it('keeps the first of two final statuses (delivered, then undelivered) and records both', () => {
        const next = applyAll(record(), [
            twilio('delivered', 1),
            twilio('undelivered', 2, { errorCode: '30007', errorMessage: 'Filtered' }),
        ]);
        expect(next.status).toBe('delivered');
        expect(next.errorCode).toBeUndefined();
        expect(next.errorMessage).toBeUndefined();
        expect(statuses(next)).toEqual(['queued', 'delivered', 'undelivered']);
    });

    it('keeps undelivered when delivered follows it', () => {
        const next = applyAll(record(), [
            twilio('undelivered', 1, { errorCode: '30003' }),
            twilio('delivered', 2),
        ]);
        expect(next).toMatchObject({ status: 'undelivered', errorCode: '30003' });
    });

    it('never goes from final back to any earlier status', () => {
        for (const final of ['delivered', 'undelivered', 'failed', 'canceled']) {
            const done = applyAll(record(), [twilio(final, 10)]);
            for (const earlier of ['accepted', 'scheduled', 'queued', 'sending', 'sent']) {
                expect([final, earlier, applyStatus(done, twilio(earlier, 11))?.status]).toEqual([
                    final,
                    earlier,
                    final,
                ]);
            }
        }
    });

    it("lets Twilio's own statuses replace our dead-lettered (the last attempt did reach Twilio)", () => {
        const done = applyAll(record(), [
            { status: 'dead-lettered', at: t(1), source: 'app', errorMessage: 'why' },
        ]);
        const later = applyAll(done, [twilio('sent', 2), twilio('delivered', 3)]);
        expect(later.status).toBe('delivered');
        expect(statuses(later)).toEqual(['queued', 'dead-lettered', 'sent', 'delivered']);
    });

    it('keeps our own final statuses (rejected, failed) against later Twilio ones', () => {
        for (const own of ['rejected', 'failed']) {
            const done = applyAll(record(), [{ status: own, at: t(1), source: 'app', errorMessage: 'why' }]);
            expect(done).toMatchObject({ status: own, errorMessage: 'why' });
            const later = applyAll(done, [twilio('sent', 2), twilio('delivered', 3)]);
            expect(later.status).toBe(own);
            expect(statuses(later)).toEqual(['queued', own, 'sent', 'delivered']);
        }
    });

    it('moves a sent message to dead-lettered (final beats non-final)', () => {
        const next = applyAll(record(), [
            twilio('sent', 1),
            { status: 'dead-lettered', at: t(2), source: 'app' },
        ]);
        expect(next.status).toBe('dead-lettered');
    });
});

describe('applyStatus: unknown statuses', () => {
    it('records an unknown status in history without changing the current one', () => {
        const sent = applyAll(record(), [twilio('sent', 1)]);
        const next = applyStatus(sent, twilio('transcoding', 2));
        expect(next).toEqual({
            ...sent,
            history: [...sent.history, { status: 'transcoding', at: t(2), source: 'twilio', sid: SID }],
        });
        expect(applyStatus(next ?? sent, twilio('transcoding', 3))).toBeUndefined();
    });

    it("takes Twilio's underscore status partially_delivered as final, like delivered", () => {
        const sent = applyAll(record(), [twilio('sent', 1)]);
        const partial = applyStatus(sent, twilio('partially_delivered', 2));
        expect(partial?.status).toBe('partially_delivered');
        expect(isTerminal('sms', 'partially_delivered')).toBe(true);
        // A late delivered has the same final rank: kept in the history, the status stays.
        expect(applyStatus(partial ?? sent, twilio('delivered', 3))?.status).toBe('partially_delivered');
    });

    it('moves a record whose current status is unknown to any known status', () => {
        const unknown = record({ status: 'unknown', history: [], sid: SID });
        expect(applyStatus(unknown, twilio('sent', 1))?.status).toBe('sent');
    });
});

describe('applyStatus: SIDs and errors', () => {
    it('notes an event about another SID in history only', () => {
        const sent = applyAll(record(), [twilio('sent', 1)]);
        const next = applyStatus(sent, twilio('failed', 2, { sid: OTHER_SID, errorCode: '30008' }));
        expect(next).toEqual({
            ...sent,
            history: [...sent.history, { status: 'failed', at: t(2), source: 'twilio', sid: OTHER_SID }],
        });
    });

    it('takes the SID of the first event that has one, even when the status does not move', () => {
        const delivered = record({ status: 'delivered', history: [] });
        expect(applyStatus(delivered, twilio('sent', 1))).toMatchObject({ status: 'delivered', sid: SID });
    });

    it('replaces both error fields when a moving event carries an error, and keeps them otherwise', () => {
        const withError = record({ errorCode: '20429', errorMessage: 'Too many requests' });
        expect(applyStatus(withError, twilio('sent', 1))).toMatchObject({
            errorCode: '20429',
            errorMessage: 'Too many requests',
        });
        const failed = applyStatus(withError, twilio('failed', 1, { errorCode: '30008' }));
        expect(failed?.errorCode).toBe('30008');
        expect(failed?.errorMessage).toBeUndefined();
    });
});

describe('applyStatus: calls', () => {
    const call = (overrides: Partial<LedgerRecord> = {}) =>
        record({ id: 'call-1', type: 'call', sid: CALL_SID, ...overrides });
    const event = (status: string, minute: number): StatusUpdate => ({
        status,
        at: t(minute),
        source: 'twilio',
        sid: CALL_SID,
    });

    it('follows queued, initiated, ringing, in-progress, completed', () => {
        const final = applyAll(call({ status: 'sending' }), [
            event('queued', 1),
            event('initiated', 2),
            event('ringing', 3),
            event('in-progress', 4),
            event('completed', 5),
        ]);
        expect(final.status).toBe('completed');
        expect(statuses(final)).toEqual([
            'queued',
            'queued',
            'initiated',
            'ringing',
            'in-progress',
            'completed',
        ]);
    });

    it('ignores a late ringing after completed and keeps the first final status', () => {
        const completed = applyAll(call(), [event('completed', 5)]);
        expect(applyStatus(completed, event('ringing', 3))?.status).toBe('completed');
        expect(applyStatus(completed, event('busy', 6))?.status).toBe('completed');
        expect(applyStatus(completed, event('completed', 7))).toBeUndefined();
    });

    it('ends on busy, no-answer, failed or canceled from ringing', () => {
        for (const final of ['busy', 'no-answer', 'failed', 'canceled']) {
            expect(applyAll(call(), [event('ringing', 1), event(final, 2)]).status).toBe(final);
        }
    });

    it('treats message statuses as unknown for a call', () => {
        const ringing = applyAll(call(), [event('ringing', 1)]);
        expect(applyStatus(ringing, event('delivered', 2))?.status).toBe('ringing');
    });
});

describe('applyStatus: history entries', () => {
    it('stores only status, time, source and SID', () => {
        const next = applyStatus(record(), twilio('failed', 1, { errorCode: '30008', errorMessage: 'x' }));
        const last: StatusEvent | undefined = next?.history.at(-1);
        expect(last).toEqual({ status: 'failed', at: t(1), source: 'twilio', sid: SID });
    });
});
