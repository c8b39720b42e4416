/**
 * The outbound pipeline's transitions (shared/outbound/transitions.ts), without storage: each from a
 * record in a given state to the next record or "no change".
 */

import type { LedgerRecord } from '../../../shared/ledger/contract';
import { newRecord } from '../../../shared/ledger/rules';
import { applyStatus } from '../../../shared/ledger/status';
import type { OutboundSummary } from '../../../shared/outbound/message';
import {
    abandonedClaim,
    claim,
    CONFLICTING_COPY,
    deadLetter,
    deadLetterAfterLastAttempt,
    DELAY_PREFIX,
    delayMarkerOf,
    delayRetry,
    noteConflictingCopy,
    rearmDelay,
    permanentFailure,
    poisonDeadLetter,
    recordSid,
    rejected,
    releaseClaim,
    transientFailure,
    type ClaimInput,
} from '../../../shared/outbound/transitions';

const T0 = new Date('2024-05-04T10:00:00.000Z');
const LATER = new Date('2024-05-04T10:00:30.000Z');
const AFTER_LEASE = new Date('2024-05-04T10:05:00.000Z');
const SID = `SM${'a'.repeat(32)}`;
const OTHER_SID = `SM${'b'.repeat(32)}`;
const SUMMARY: OutboundSummary = {
    type: 'sms',
    to: '+15551230001',
    from: '+15559870001',
    bodyLength: 5,
    mediaCount: 0,
};

function queued(overrides: Partial<LedgerRecord> = {}): LedgerRecord {
    return {
        ...newRecord(
            { ...SUMMARY, id: 'm1', direction: 'outbound', status: 'queued', fingerprint: 'fp1' },
            T0,
        ),
        ...overrides,
    };
}

function input(overrides: Partial<ClaimInput> = {}): ClaimInput {
    return {
        id: 'm1',
        summary: SUMMARY,
        fingerprint: 'fp1',
        token: 'tok',
        now: T0,
        leaseMs: 60_000,
        ...overrides,
    };
}

/** The record as a claim with `token` at `at` leaves it. */
function claimedBy(token: string, at = T0, leaseMs = 60_000): LedgerRecord {
    return queued({
        status: 'sending',
        attempts: 1,
        claim: { token, at: at.toISOString(), leaseUntil: new Date(at.getTime() + leaseMs).toISOString() },
    });
}

describe('claim', () => {
    it('creates a missing record as this request, claimed: sending, one attempt, a lease from now', () => {
        const { next, result } = claim(undefined, input());
        expect(result).toEqual({
            kind: 'claimed',
            earlierClaimAt: undefined,
            firstAttemptAt: T0.toISOString(),
        });
        expect(next).toEqual({
            id: 'm1',
            direction: 'outbound',
            type: 'sms',
            to: '+15551230001',
            from: '+15559870001',
            bodyLength: 5,
            mediaCount: 0,
            fingerprint: 'fp1',
            status: 'sending',
            history: [],
            attempts: 1,
            claim: { token: 'tok', at: T0.toISOString(), leaseUntil: '2024-05-04T10:01:00.000Z' },
            createdAt: T0.toISOString(),
            updatedAt: T0.toISOString(),
        });
    });

    it('claims a queued or accepting record, keeping what it holds and counting the attempt', () => {
        for (const status of ['queued', 'accepting']) {
            const { next, result } = claim(
                queued({ status, attempts: 2, createdAt: '2024-05-01T00:00:00.000Z' }),
                input(),
            );
            expect(result.kind).toBe('claimed');
            expect(next).toMatchObject({
                status: 'sending',
                attempts: 3,
                createdAt: '2024-05-01T00:00:00.000Z',
            });
            expect(next?.claim?.token).toBe('tok');
        }
    });

    it('gives a record from before fingerprints this request’s fingerprint', () => {
        const { next } = claim(queued({ fingerprint: undefined }), input());
        expect(next?.fingerprint).toBe('fp1');
    });

    it('leaves a record with a SID alone: already sent', () => {
        const current = queued({ sid: SID, status: 'sent' });
        expect(claim(current, input())).toEqual({
            next: undefined,
            result: { kind: 'already-sent', sid: SID, status: 'sent' },
        });
    });

    it('leaves a final record alone: already final', () => {
        for (const status of ['failed', 'rejected', 'dead-lettered', 'delivered', 'canceled']) {
            expect(claim(queued({ status }), input())).toEqual({
                next: undefined,
                result: { kind: 'already-final', status },
            });
        }
        expect(claim(queued({ type: 'call', status: 'completed' }), input()).result.kind).toBe(
            'already-final',
        );
    });

    it('does not take a live claim of another invocation: held', () => {
        expect(claim(claimedBy('other'), input({ now: LATER }))).toEqual({
            next: undefined,
            result: { kind: 'held' },
        });
    });

    it('takes over an expired claim, and says when the earlier attempt claimed it', () => {
        const { next, result } = claim(claimedBy('other'), input({ now: AFTER_LEASE }));
        expect(result).toEqual({
            kind: 'claimed',
            earlierClaimAt: T0.toISOString(),
            firstAttemptAt: AFTER_LEASE.toISOString(),
        });
        expect(next?.claim).toEqual({
            token: 'tok',
            at: AFTER_LEASE.toISOString(),
            leaseUntil: '2024-05-04T10:06:00.000Z',
        });
        expect(next?.attempts).toBe(2);
    });

    it('takes over a claim whose lease ended exactly now', () => {
        const current = claimedBy('other', T0, 30_000);
        expect(claim(current, input({ now: LATER })).result).toEqual({
            kind: 'claimed',
            earlierClaimAt: T0.toISOString(),
            firstAttemptAt: LATER.toISOString(),
        });
    });

    it('never claims a record made for another request: one conflicting-copy note, then no change', () => {
        const current = queued({ fingerprint: 'fp-other', sid: SID, status: 'sent' });
        const first = claim(current, input());
        expect(first.result).toEqual({ kind: 'conflict' });
        expect(first.next).toMatchObject({ status: 'sent', sid: SID, fingerprint: 'fp-other' });
        expect(first.next?.claim).toBeUndefined();
        expect(first.next?.history.map((e) => e.status)).toEqual([CONFLICTING_COPY]);
        expect(first.next?.history[0]?.detail).toMatch(/fingerprint differs/);
        const again = claim(first.next, input({ now: LATER }));
        expect(again).toEqual({ next: undefined, result: { kind: 'conflict' } });
    });
});

describe('noteConflictingCopy', () => {
    it('adds the note once, under the record’s SID, without moving the status', () => {
        const noted = noteConflictingCopy(queued({ sid: SID, status: 'delivered' }), T0);
        expect(noted?.status).toBe('delivered');
        expect(noted?.history).toEqual([
            expect.objectContaining({
                status: CONFLICTING_COPY,
                sid: SID,
                source: 'app',
                at: T0.toISOString(),
            }),
        ]);
        expect(noted && noteConflictingCopy(noted, LATER)).toBeUndefined();
    });
});

describe('recordSid', () => {
    const send = { sid: SID, status: 'queued', from: '+15559870009' };

    it('records the SID and Twilio’s status, releases this claim and clears the last error', () => {
        const current = { ...claimedBy('tok'), errorMessage: 'timeout' };
        const next = recordSid(current, { token: 'tok', send, now: LATER });
        expect(next).toMatchObject({ sid: SID, status: 'queued', from: '+15559870001' });
        expect(next?.claim).toBeUndefined();
        expect(next?.errorMessage).toBeUndefined();
        expect(next?.history).toEqual([
            { status: 'queued', at: LATER.toISOString(), source: 'twilio', sid: SID },
        ]);
    });

    it('keeps the error of a final status a callback recorded before Twilio’s answer arrived', () => {
        const current = {
            ...claimedBy('tok'),
            sid: SID,
            status: 'undelivered',
            errorCode: '30003',
            errorMessage: 'Unreachable destination handset',
        };
        const next = recordSid(current, { token: 'tok', send, now: LATER });
        expect(next).toMatchObject({ status: 'undelivered', errorCode: '30003' });
        expect(next?.errorMessage).toBe('Unreachable destination handset');
        expect(next?.claim).toBeUndefined();
    });

    it('takes the sender Twilio used only when the record names none', () => {
        const current = { ...claimedBy('tok'), from: undefined };
        expect(recordSid(current, { token: 'tok', send, now: LATER })?.from).toBe('+15559870009');
        for (const from of [null, '']) {
            expect(
                recordSid(current, { token: 'tok', send: { ...send, from }, now: LATER })?.from,
            ).toBeUndefined();
        }
    });

    it('keeps a foreign claim (another invocation’s token)', () => {
        const current = claimedBy('other');
        expect(recordSid(current, { token: 'tok', send, now: LATER })?.claim?.token).toBe('other');
    });

    it('changes nothing when the record is gone or holds another SID', () => {
        expect(recordSid(undefined, { token: 'tok', send, now: LATER })).toBeUndefined();
        const other = { ...claimedBy('tok'), sid: OTHER_SID, status: 'sent' };
        expect(recordSid(other, { token: 'tok', send, now: LATER })).toBeUndefined();
    });

    it('with the SID already there and its status a step behind: the status stays, the claim goes', () => {
        const current = applyStatus(claimedBy('tok'), {
            status: 'delivered',
            at: T0.toISOString(),
            source: 'twilio',
            sid: SID,
        });
        const next =
            current && recordSid(current, { token: 'tok', send: { ...send, status: 'sent' }, now: LATER });
        expect(next?.status).toBe('delivered');
        expect(next?.claim).toBeUndefined();
        // The same status again adds nothing, but the write still stamps the release.
        const again =
            next && recordSid(next, { token: 'tok', send: { ...send, status: 'sent' }, now: AFTER_LEASE });
        expect(again?.history).toEqual(next?.history);
        expect(again?.updatedAt).toBe(AFTER_LEASE.toISOString());
    });

    it('after a dead letter, Twilio’s status for the send wins', () => {
        const dead = deadLetter(claimedBy('tok'), 'gave up', T0);
        const next = recordSid(dead, { token: 'tok', send: { ...send, status: 'sent' }, now: LATER });
        expect(next).toMatchObject({ sid: SID, status: 'sent' });
        expect(next?.history.map((e) => e.status)).toEqual(['dead-lettered', 'sent']);
    });
});

describe('permanentFailure', () => {
    it('records failed with Twilio’s code and message, and releases this claim', () => {
        const next = permanentFailure(claimedBy('tok'), {
            token: 'tok',
            now: LATER,
            code: '21211',
            message: 'Invalid To',
        });
        expect(next).toMatchObject({ status: 'failed', errorCode: '21211', errorMessage: 'Invalid To' });
        expect(next?.claim).toBeUndefined();
        expect(next?.history).toEqual([{ status: 'failed', at: LATER.toISOString(), source: 'app' }]);
    });

    it('keeps a foreign claim, and changes nothing for a record that is gone', () => {
        const next = permanentFailure(claimedBy('other'), {
            token: 'tok',
            now: LATER,
            code: undefined,
            message: 'x',
        });
        expect(next?.status).toBe('failed');
        expect(next?.claim?.token).toBe('other');
        expect(
            permanentFailure(undefined, { token: 'tok', now: LATER, code: '1', message: 'x' }),
        ).toBeUndefined();
    });

    it('does not move a final status, but still releases this claim', () => {
        const current = { ...claimedBy('tok'), status: 'delivered' };
        const next = permanentFailure(current, { token: 'tok', now: LATER, code: '30003', message: 'x' });
        expect(next?.status).toBe('delivered');
        expect(next?.claim).toBeUndefined();
    });
});

describe('transientFailure', () => {
    it('nothing was created: keeps the error, drops this claim, leaves the status', () => {
        const next = transientFailure(claimedBy('tok'), {
            token: 'tok',
            now: LATER,
            reason: 'HTTP 503',
            mayHaveBeenCreated: false,
        });
        expect(next).toMatchObject({
            status: 'sending',
            errorMessage: 'HTTP 503',
            updatedAt: LATER.toISOString(),
        });
        expect(next?.claim).toBeUndefined();
    });

    it('Twilio may have created it: keeps the claim with its lease ended now, so the next attempt looks first', () => {
        const next = transientFailure(claimedBy('tok'), {
            token: 'tok',
            now: LATER,
            reason: 'timeout',
            mayHaveBeenCreated: true,
        });
        expect(next?.claim).toEqual({ token: 'tok', at: T0.toISOString(), leaseUntil: LATER.toISOString() });
        expect(next && claim(next, input({ token: 'next', now: LATER })).result).toEqual({
            kind: 'claimed',
            earlierClaimAt: T0.toISOString(),
            firstAttemptAt: LATER.toISOString(),
        });
    });

    it('changes nothing unless this invocation holds the claim', () => {
        for (const current of [undefined, queued(), claimedBy('other')]) {
            expect(
                transientFailure(current, {
                    token: 'tok',
                    now: LATER,
                    reason: 'x',
                    mayHaveBeenCreated: true,
                }),
            ).toBeUndefined();
        }
    });
});

describe('rejected', () => {
    it('records an invalid copy as rejected, with what looks right of it', () => {
        const next = rejected(undefined, {
            id: 'bad',
            value: { type: 'call', to: '+15551230001', body: 42 },
            errors: 'url: required',
            now: T0,
        });
        expect(next).toEqual({
            id: 'bad',
            direction: 'outbound',
            type: 'call',
            to: '+15551230001',
            mediaCount: 0,
            status: 'rejected',
            history: [{ status: 'rejected', at: T0.toISOString(), source: 'app' }],
            attempts: 1,
            errorCode: 'validation',
            errorMessage: 'url: required',
            createdAt: T0.toISOString(),
            updatedAt: T0.toISOString(),
        });
    });

    it('defaults to an SMS without a recipient when the value says nothing usable', () => {
        for (const value of [undefined, null, 'text', { type: 'fax', to: 7 }]) {
            const next = rejected(undefined, { id: 'bad', value, errors: 'e', now: T0 });
            expect(next?.type).toBe('sms');
            expect(next).not.toHaveProperty('to');
        }
    });

    it('never overwrites a record under the same id', () => {
        expect(rejected(queued(), { id: 'm1', value: {}, errors: 'e', now: T0 })).toBeUndefined();
    });
});

describe('deadLetterAfterLastAttempt', () => {
    const reason = 'HTTP 503';

    it('dead-letters a record without a SID, dropping an expired claim', () => {
        const next = deadLetterAfterLastAttempt(claimedBy('tok'), { now: AFTER_LEASE, reason });
        expect(next).toMatchObject({ status: 'dead-lettered', errorMessage: reason });
        expect(next?.claim).toBeUndefined();
        expect(next?.history).toEqual([
            { status: 'dead-lettered', at: AFTER_LEASE.toISOString(), source: 'app' },
        ]);
    });

    it('leaves it to a live claim of another invocation', () => {
        expect(deadLetterAfterLastAttempt(claimedBy('other'), { now: LATER, reason })).toBeUndefined();
    });

    it('changes nothing for a record that is gone, has a SID, or is final', () => {
        for (const current of [
            undefined,
            queued({ sid: SID, status: 'sent' }),
            queued({ status: 'failed' }),
            queued({ status: 'dead-lettered' }),
        ]) {
            expect(deadLetterAfterLastAttempt(current, { now: LATER, reason })).toBeUndefined();
        }
    });

    it('dead-letters a record that was never claimed', () => {
        expect(deadLetterAfterLastAttempt(queued(), { now: LATER, reason })?.status).toBe('dead-lettered');
    });
});

describe('deadLetter', () => {
    it('then Twilio’s status for the record’s SID supersedes it', () => {
        const dead = deadLetter({ ...claimedBy('tok'), sid: SID }, 'gave up', T0);
        expect(dead.status).toBe('dead-lettered');
        const reported = applyStatus(dead, {
            status: 'delivered',
            at: LATER.toISOString(),
            source: 'twilio',
        });
        expect(reported?.status).toBe('delivered');
    });

    it('keeps a final status, but still drops the claim and records the reason', () => {
        const dead = deadLetter({ ...claimedBy('tok'), status: 'delivered' }, 'gave up', T0);
        expect(dead).toMatchObject({ status: 'delivered', errorMessage: 'gave up' });
        expect(dead.claim).toBeUndefined();
    });
});

describe('poisonDeadLetter', () => {
    const base = {
        id: 'm1',
        summary: SUMMARY,
        poisonMessageId: 'pm-1',
        problem: 'a valid message',
        now: LATER,
    };

    it('creates a missing record from the message, dead-lettered with a reason naming the poison message', () => {
        const { next, kind } = poisonDeadLetter(undefined, base);
        expect(kind).toBe('dead-lettered');
        expect(next).toMatchObject({ id: 'm1', type: 'sms', to: '+15551230001', status: 'dead-lettered' });
        expect(next?.errorMessage).toBe(
            'moved to the poison queue (poison message pm-1) without a recorded error: a valid message',
        );
    });

    it('without a summary (an invalid message), creates an SMS record with what it knows', () => {
        const { next } = poisonDeadLetter(undefined, { ...base, summary: undefined, problem: 'not JSON' });
        expect(next).toMatchObject({ type: 'sms', mediaCount: 0, status: 'dead-lettered' });
        expect(next).not.toHaveProperty('to');
        expect(next?.errorMessage).toMatch(/not JSON$/);
    });

    it('keeps the last recorded error and drops a claim', () => {
        const current = { ...claimedBy('tok'), errorMessage: 'timeout' };
        const { next } = poisonDeadLetter(current, base);
        expect(next).toMatchObject({ status: 'dead-lettered', errorMessage: 'timeout' });
        expect(next?.claim).toBeUndefined();
    });

    it('changes nothing for a record with a SID, or one dead-lettered already', () => {
        expect(poisonDeadLetter(queued({ sid: SID, status: 'sent' }), base)).toEqual({
            next: undefined,
            kind: 'already-sent',
        });
        expect(poisonDeadLetter(queued({ status: 'dead-lettered' }), base)).toEqual({
            next: undefined,
            kind: 'already-dead-lettered',
        });
    });

    it('a dead letter Twilio has since superseded (no SID here) is already final', () => {
        const superseded = { ...deadLetter(queued(), 'gave up', T0), status: 'undelivered' };
        expect(poisonDeadLetter(superseded, base)).toEqual({ next: undefined, kind: 'already-final' });
    });

    it('notes the dead letter on an otherwise final record without moving its status', () => {
        const { next, kind } = poisonDeadLetter(
            queued({ status: 'failed', errorMessage: 'Invalid To' }),
            base,
        );
        expect(kind).toBe('dead-lettered');
        expect(next).toMatchObject({ status: 'failed', errorMessage: 'Invalid To' });
        expect(next?.history.map((e) => e.status)).toEqual(['dead-lettered']);
    });
});

describe('abandonedClaim and releaseClaim', () => {
    it('an abandoned claim is any claim on a record without a SID', () => {
        expect(abandonedClaim(claimedBy('tok'))?.token).toBe('tok');
        expect(abandonedClaim({ ...claimedBy('tok'), sid: SID })).toBeUndefined();
        expect(abandonedClaim(queued())).toBeUndefined();
        expect(abandonedClaim(undefined)).toBeUndefined();
    });

    it('releases only the claim the token names', () => {
        expect(releaseClaim(claimedBy('tok'), 'tok').claim).toBeUndefined();
        const foreign = claimedBy('other');
        expect(releaseClaim(foreign, 'tok')).toBe(foreign);
    });
});

describe('delayed retries', () => {
    const UNTIL = '2024-05-04T10:02:00.000Z';
    const marker = { token: 'copy-1', until: UNTIL, firstAttemptAt: T0.toISOString() };
    /** The record as `delayRetry` leaves it after the claim of `tok` met a 429. */
    const delayed = (): LedgerRecord => {
        const next = delayRetry(claimedBy('tok'), { token: 'tok', marker, reason: 'HTTP 429', now: LATER });
        if (next === undefined) throw new Error('not delayed');
        return next;
    };

    it('delayRetry replaces this claim with a marker naming the enqueued copy, its time and first attempt', () => {
        const next = delayed();
        expect(next.claim).toEqual({
            token: `${DELAY_PREFIX}copy-1`,
            at: T0.toISOString(),
            leaseUntil: UNTIL,
        });
        expect(next).toMatchObject({ status: 'sending', errorMessage: 'HTTP 429', attempts: 1 });
        expect(delayMarkerOf(next)).toEqual(marker);
        expect(delayMarkerOf(claimedBy('tok'))).toBeUndefined();
    });

    it('delayRetry changes nothing unless this invocation holds the claim', () => {
        expect(
            delayRetry(claimedBy('other'), { token: 'tok', marker, reason: 'x', now: LATER }),
        ).toBeUndefined();
        expect(delayRetry(undefined, { token: 'tok', marker, reason: 'x', now: LATER })).toBeUndefined();
    });

    it('a copy the marker does not name is superseded, before and after the marker’s time', () => {
        for (const now of [LATER, AFTER_LEASE]) {
            for (const copyToken of [undefined, 'copy-0']) {
                expect(claim(delayed(), input({ now, copyToken }))).toEqual({
                    next: undefined,
                    result: { kind: 'superseded' },
                });
            }
        }
    });

    it('the copy the marker names is early before its time (beyond the tolerance): re-armed, not sent', () => {
        const early = new Date(Date.parse(UNTIL) - 3_000);
        expect(claim(delayed(), input({ now: early, copyToken: 'copy-1' }))).toEqual({
            next: undefined,
            result: { kind: 'early', marker },
        });
    });

    it('the copy the marker names claims at its time, without a look-up, keeping the first attempt', () => {
        for (const now of [new Date(Date.parse(UNTIL) - 1_000), AFTER_LEASE]) {
            const { next, result } = claim(delayed(), input({ now, token: 'tok2', copyToken: 'copy-1' }));
            expect(result).toEqual({
                kind: 'claimed',
                earlierClaimAt: undefined,
                firstAttemptAt: T0.toISOString(),
            });
            expect(next?.claim?.token).toBe('tok2');
            expect(next?.attempts).toBe(2);
            expect(delayMarkerOf(next)).toBeUndefined();
        }
    });

    it('a marker is not an abandoned claim: nothing was created', () => {
        expect(abandonedClaim(delayed())).toBeUndefined();
        expect(abandonedClaim(claimedBy('tok'))?.token).toBe('tok');
    });

    it('rearmDelay moves the marker to the fresh copy, same time; only from the copy it names', () => {
        const next = rearmDelay(delayed(), { token: 'copy-1', nextToken: 'copy-2', now: LATER });
        expect(delayMarkerOf(next)).toEqual({ ...marker, token: 'copy-2' });
        expect(rearmDelay(delayed(), { token: 'copy-0', nextToken: 'copy-2', now: LATER })).toBeUndefined();
        expect(
            rearmDelay(claimedBy('tok'), { token: 'tok', nextToken: 'copy-2', now: LATER }),
        ).toBeUndefined();
    });

    it('a claim taken after the marker holds others off as any claim does', () => {
        const taken = claim(delayed(), input({ now: AFTER_LEASE, token: 'tok2', copyToken: 'copy-1' })).next;
        expect(claim(taken, input({ now: AFTER_LEASE, copyToken: 'copy-1' })).result).toEqual({
            kind: 'held',
        });
    });
});
