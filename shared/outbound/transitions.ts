/**
 * The outbound pipeline's state changes, as pure functions: each takes the current ledger record (and
 * what the step knows: the time, the claim token, Twilio's answer) and returns the next record, or
 * `undefined` for "no change" — exactly what a `Ledger.update` mutator returns, so the pipeline
 * (shared/outbound/pipeline.ts) and the poison path (shared/outbound/poison.ts) only sequence them with
 * storage and Twilio. No I/O, no clock, no randomness: test/shared/outbound/transitions.test.ts covers
 * them without Azurite.
 *
 * The record's lifecycle, as far as sending goes:
 *
 *     (none) / accepting / queued ──claim──▶ sending (claim held)
 *     sending ──recordSid──▶ Twilio's status (SID kept, claim released)
 *     sending ──permanentFailure──▶ failed (claim released)
 *     sending ──transientFailure──▶ unchanged status, claim dropped — or kept with its lease ended when
 *                                   Twilio may have created the message (the next attempt looks first)
 *     anything not final, without a SID ──deadLetter──▶ dead-lettered (Twilio's word on its SID still wins)
 *     (none) ──rejected──▶ rejected (an invalid queue copy)
 *     another request under the id ──claim──▶ unchanged but for one `conflicting-copy` note
 *     sending ──delayRetry──▶ unchanged status, the claim replaced by a delay marker (Twilio pushed back:
 *                             a copy of the message waits on the queue until the marker's time)
 *     delay marker ──claim (the copy it names, at its time)──▶ sending (claim held)
 *     delay marker ──rearmDelay (the copy it names, early)──▶ the marker naming a fresh copy, same time
 *
 * A delay marker is a {@link SendClaim} (the ledger's contract has no other place for it) whose token
 * is {@link DELAY_PREFIX} and the token of the queue copy it names, whose `at` is the message's first
 * attempt (its age counts from there) and whose `leaseUntil` is when the next try is due. The pipeline
 * enqueues the named copy *before* it writes the marker, so a marker always names a copy that exists on
 * the queue (or is being processed): any other copy of the id — the one that was re-enqueued but whose
 * acknowledgement a crash lost, a producer's duplicate, an older delayed copy — is superseded and
 * dropped, and there is never a second copy that may send.
 *
 * Status ordering itself (never backwards, deduplicated events) is shared/ledger/status.ts.
 */

import type { LedgerRecord, SendClaim } from '../ledger/contract';
import { newRecord } from '../ledger/rules';
import { applyStatus, isTerminal } from '../ledger/status';
import type { OutboundSummary } from './message';

/** The history status that notes a refused queue copy of another request under a record's id. */
export const CONFLICTING_COPY = 'conflicting-copy';

/** What a claim attempt found, beside the record it writes. */
export type ClaimResult =
    /**
     * This invocation holds the claim; `earlierClaimAt` when it took over one whose outcome is unknown;
     * `firstAttemptAt` is when the message was first tried (this claim's time, unless it was delayed).
     */
    | { kind: 'claimed'; earlierClaimAt: string | undefined; firstAttemptAt: string }
    /** The record was made for another request (another fingerprint): nothing is sent. */
    | { kind: 'conflict' }
    /** A send already has a SID. */
    | { kind: 'already-sent'; sid: string; status: string }
    /** The record is final (failed, rejected, dead-lettered, delivered, …). */
    | { kind: 'already-final'; status: string }
    /** Another invocation holds a live claim. */
    | { kind: 'held' }
    /** A delay marker names another queue copy of the message: this one is superseded (drop it). */
    | { kind: 'superseded' }
    /** The copy the delay marker names, arrived before its time: put it back for the rest of the wait. */
    | { kind: 'early'; marker: DelayMarker };

/** The token prefix that makes a {@link SendClaim} a delay marker. */
export const DELAY_PREFIX = 'delayed:';
/**
 * How early the copy a marker names may arrive and still be taken as on time: the queue's clock (which
 * made it visible) and ours differ slightly.
 */
export const DELAY_TOLERANCE_MS = 2_000;

/** A delayed retry recorded in the ledger: which queue copy may try next, from when, and since when. */
export interface DelayMarker {
    /** The token the queue copy carries (shared/outbound/pipeline.ts `RETRY_TOKEN_FIELD`). */
    token: string;
    /** ISO 8601: the next try is due. */
    until: string;
    /** ISO 8601: the message's first attempt; its age limit counts from here. */
    firstAttemptAt: string;
}

/** The record's delay marker, if its claim is one. */
export function delayMarkerOf(record: LedgerRecord | undefined): DelayMarker | undefined {
    const held = record?.claim;
    if (held === undefined || !held.token.startsWith(DELAY_PREFIX)) return undefined;
    return { token: held.token.slice(DELAY_PREFIX.length), until: held.leaseUntil, firstAttemptAt: held.at };
}

function markerClaim(marker: DelayMarker): SendClaim {
    return { token: `${DELAY_PREFIX}${marker.token}`, at: marker.firstAttemptAt, leaseUntil: marker.until };
}

export interface ClaimInput {
    id: string;
    /** What the record is created with when there is none (shared/outbound/message.ts `summarize`). */
    summary: OutboundSummary;
    /** The request's fingerprint (shared/outbound/message.ts `requestFingerprint`). */
    fingerprint: string;
    /** This invocation's claim token. */
    token: string;
    now: Date;
    leaseMs: number;
    /** The delay token the queue copy carries, when it was re-enqueued for a delayed retry. */
    copyToken?: string | undefined;
    /**
     * The number the create will name as its sender, when it names one (the message's `from`, else the
     * default number when no Messaging Service applies): a record the claim creates holds it from the
     * start, so Twilio's answer does not change `from` and the ledger's day index entry, which holds
     * `from` for `list`, is written once instead of rewritten (a read and a replace) with the SID.
     */
    sender?: string | undefined;
}

/**
 * Claims the record for one send: only when it has no SID, is not final, and holds no live claim (an
 * expired claim is taken over, and reported, since that attempt's outcome is unknown). A record made
 * for another request is never claimed; it gets one `conflicting-copy` note instead. A missing record is
 * created `queued` (with the create's `sender` when the message names none) and claimed. A delay
 * marker is claimed only by the copy it names (`copyToken`), from its time on (`early` before it); every
 * other copy is `superseded`.
 */
export function claim(
    current: LedgerRecord | undefined,
    input: ClaimInput,
): { next: LedgerRecord | undefined; result: ClaimResult } {
    const { now, token, fingerprint } = input;
    if (current?.fingerprint !== undefined && current.fingerprint !== fingerprint) {
        return { next: noteConflictingCopy(current, now), result: { kind: 'conflict' } };
    }
    let earlierClaimAt: string | undefined;
    let firstAttemptAt = now.toISOString();
    if (current !== undefined) {
        if (current.sid !== undefined) {
            return {
                next: undefined,
                result: { kind: 'already-sent', sid: current.sid, status: current.status },
            };
        }
        if (isTerminal(current.type, current.status)) {
            return { next: undefined, result: { kind: 'already-final', status: current.status } };
        }
        const marker = delayMarkerOf(current);
        if (marker !== undefined) {
            // Nothing was created by the attempt that wrote the marker: no look-up is needed.
            if (marker.token !== input.copyToken) return { next: undefined, result: { kind: 'superseded' } };
            if (Date.parse(marker.until) - DELAY_TOLERANCE_MS > now.getTime()) {
                return { next: undefined, result: { kind: 'early', marker } };
            }
            firstAttemptAt = marker.firstAttemptAt;
        } else if (current.claim !== undefined) {
            if (isLive(current.claim, now)) return { next: undefined, result: { kind: 'held' } };
            earlierClaimAt = current.claim.at;
        }
    }
    const base =
        current ??
        newRecord(
            {
                ...input.summary,
                ...(input.summary.from === undefined && input.sender !== undefined
                    ? { from: input.sender }
                    : {}),
                id: input.id,
                fingerprint,
                direction: 'outbound',
                status: 'queued',
            },
            now,
        );
    const next: LedgerRecord = {
        ...base,
        // A record from before fingerprints were kept takes this request's.
        fingerprint: base.fingerprint ?? fingerprint,
        status: 'sending',
        attempts: base.attempts + 1,
        claim: {
            token,
            at: now.toISOString(),
            leaseUntil: new Date(now.getTime() + input.leaseMs).toISOString(),
        },
        updatedAt: now.toISOString(),
    };
    return { next, result: { kind: 'claimed', earlierClaimAt, firstAttemptAt } };
}

/**
 * The record with a note that a queue copy of another request under its id was refused (once: the note
 * is deduplicated like any status event); undefined when it is already noted.
 */
export function noteConflictingCopy(record: LedgerRecord, now: Date): LedgerRecord | undefined {
    return applyStatus(record, {
        status: CONFLICTING_COPY,
        at: now.toISOString(),
        source: 'app',
        detail: 'a queue copy of another request under this id was not sent (its fingerprint differs)',
    });
}

/** The send Twilio answered (or that was found at Twilio): its SID, status and sender. */
export interface TwilioSend {
    sid: string;
    status: string;
    from: string | null;
}

/**
 * Records Twilio's SID and status for a send, and the sender Twilio used when the message named none; the
 * claim `token` held is released and the last error cleared. Undefined (no change) when the record is
 * gone, or already holds another SID: a status callback carrying our id got there first with the same
 * send, and what it recorded stays.
 */
export function recordSid(
    current: LedgerRecord | undefined,
    input: { token: string; send: TwilioSend; now: Date },
): LedgerRecord | undefined {
    const { sid, status } = input.send;
    if (current === undefined) return undefined;
    if (current.sid !== undefined && current.sid !== sid) return undefined;
    const sender = input.send.from === null || input.send.from === '' ? undefined : input.send.from;
    const from = current.from ?? sender;
    // An earlier attempt's transient error is history once Twilio took the message; but a status
    // callback can outrun Twilio's answer, and the final status it recorded keeps its error.
    const keepError = isTerminal(current.type, current.status);
    const withSid = releaseClaim(
        {
            ...current,
            sid,
            ...(from === undefined ? {} : { from }),
            ...(keepError ? {} : { errorMessage: undefined }),
        },
        input.token,
    );
    const at = input.now.toISOString();
    return applyStatus(withSid, { status, at, source: 'twilio', sid }) ?? { ...withSid, updatedAt: at };
}

/**
 * Twilio refused the send for good: `failed` with Twilio's code and message, and the claim `token` held
 * released. A record that is gone stays gone.
 */
export function permanentFailure(
    current: LedgerRecord | undefined,
    input: { token: string; now: Date; code: string | undefined; message: string },
): LedgerRecord | undefined {
    if (current === undefined) return undefined;
    const failed = applyStatus(current, {
        status: 'failed',
        at: input.now.toISOString(),
        source: 'app',
        errorCode: input.code,
        errorMessage: input.message,
    });
    // Written even when the status did not move, so the claim is released in any case.
    return releaseClaim({ ...(failed ?? current) }, input.token);
}

/**
 * The send may succeed on a retry: the error is kept (`reason`), and the claim `token` held is dropped,
 * so the next attempt may claim at once — or, when Twilio may have created the message
 * (`mayHaveBeenCreated`: the request timed out after it was sent), kept with its lease ended now, so the
 * next attempt looks the message up at Twilio before sending. No change unless this invocation holds the
 * claim.
 */
export function transientFailure(
    current: LedgerRecord | undefined,
    input: { token: string; now: Date; reason: string; mayHaveBeenCreated: boolean },
): LedgerRecord | undefined {
    if (current?.claim?.token !== input.token) return undefined;
    const at = input.now.toISOString();
    return {
        ...current,
        errorMessage: input.reason,
        claim: input.mayHaveBeenCreated ? { ...current.claim, leaseUntil: at } : undefined,
        updatedAt: at,
    };
}

/**
 * Twilio pushed back (rate limit, full sender queue): the claim `token` held is replaced by a delay
 * marker naming the queue copy that is already enqueued for the next try (`marker`), and the error kept
 * (`reason`). No change unless this invocation holds the claim (the copy it enqueued is then superseded
 * by whoever took the claim over, or finds the send done).
 */
export function delayRetry(
    current: LedgerRecord | undefined,
    input: { token: string; marker: DelayMarker; reason: string; now: Date },
): LedgerRecord | undefined {
    if (current?.claim?.token !== input.token) return undefined;
    return {
        ...current,
        errorMessage: input.reason,
        claim: markerClaim(input.marker),
        updatedAt: input.now.toISOString(),
    };
}

/**
 * The copy the delay marker names arrived early and a fresh copy (`nextToken`) is enqueued for the rest
 * of the wait: the marker names that one, with the same time. No change unless the marker still names
 * `token`.
 */
export function rearmDelay(
    current: LedgerRecord | undefined,
    input: { token: string; nextToken: string; now: Date },
): LedgerRecord | undefined {
    const marker = delayMarkerOf(current);
    if (current === undefined || marker?.token !== input.token) return undefined;
    return {
        ...current,
        claim: markerClaim({ ...marker, token: input.nextToken }),
        updatedAt: input.now.toISOString(),
    };
}

/**
 * An invalid queue copy, recorded as `rejected` with the field errors (`errors`), under an id no record
 * holds yet: an invalid copy never overwrites a message that was accepted under the same id. `value` is
 * what was decoded, if anything: its `type` and `to` are kept when they look right.
 */
export function rejected(
    current: LedgerRecord | undefined,
    input: { id: string; value: unknown; errors: string; now: Date },
): LedgerRecord | undefined {
    if (current !== undefined) return undefined;
    const partial =
        typeof input.value === 'object' && input.value !== null
            ? (input.value as Record<string, unknown>)
            : {};
    const record = newRecord(
        {
            id: input.id,
            direction: 'outbound',
            type: partial.type === 'call' ? 'call' : 'sms',
            status: 'queued',
            to: typeof partial.to === 'string' ? partial.to : undefined,
            attempts: 1,
        },
        input.now,
    );
    const at = input.now.toISOString();
    return {
        ...(applyStatus(record, { status: 'rejected', at, source: 'app' }) ?? record),
        errorCode: 'validation',
        errorMessage: input.errors,
    };
}

/**
 * The last attempt failed: `dead-lettered` with its `reason`, unless the record is gone, already has a
 * SID or a final status, or another invocation holds a live claim (a duplicate copy sending right now,
 * whose outcome decides; the poison function looks again later).
 */
export function deadLetterAfterLastAttempt(
    current: LedgerRecord | undefined,
    input: { now: Date; reason: string },
): LedgerRecord | undefined {
    if (current === undefined || current.sid !== undefined || isTerminal(current.type, current.status)) {
        return undefined;
    }
    if (current.claim !== undefined && isLive(current.claim, input.now)) return undefined;
    return deadLetter(current, input.reason, input.now);
}

/**
 * `dead-lettered` (when the status can still move there), with the claim dropped and `reason` as the
 * error. Twilio's own status for the record's SID still supersedes it later (shared/ledger/status.ts).
 */
export function deadLetter(record: LedgerRecord, reason: string, now: Date): LedgerRecord {
    const at = now.toISOString();
    const moved = applyStatus(record, { status: 'dead-lettered', at, source: 'app' }) ?? record;
    return { ...moved, claim: undefined, errorMessage: reason, updatedAt: at };
}

/** What the poison function found for a poisoned message. */
export type PoisonKind = 'dead-lettered' | 'already-dead-lettered' | 'already-sent' | 'already-final';

/**
 * A message the host moved to the poison queue: `dead-lettered`, keeping the last error the outbound
 * function recorded (else one naming the poison message and `problem`). A record that is missing is
 * created, from `summary` when the message could be validated. No change when the record has a SID, is
 * dead-lettered already, or is final otherwise.
 */
export function poisonDeadLetter(
    current: LedgerRecord | undefined,
    input: {
        id: string;
        summary: OutboundSummary | undefined;
        poisonMessageId: string;
        problem: string;
        now: Date;
    },
): { next: LedgerRecord | undefined; kind: PoisonKind } {
    if (current?.sid !== undefined) return { next: undefined, kind: 'already-sent' };
    if (current?.status === 'dead-lettered') return { next: undefined, kind: 'already-dead-lettered' };
    const at = input.now.toISOString();
    const base =
        current ??
        newRecord(
            { id: input.id, direction: 'outbound', type: 'sms', ...input.summary, status: 'queued' },
            at,
        );
    const moved = applyStatus(base, { status: 'dead-lettered', at, source: 'app' });
    if (moved === undefined) return { next: undefined, kind: 'already-final' };
    const reason =
        current?.errorMessage ??
        `moved to the poison queue (poison message ${input.poisonMessageId}) without a recorded error: ${input.problem}`;
    return {
        next: { ...moved, claim: undefined, errorMessage: reason, updatedAt: at },
        kind: 'dead-lettered',
    };
}

/**
 * The claim of an attempt whose outcome is unknown — a claim on a record without a SID, live or not — or
 * undefined. Such an attempt may have reached Twilio: look there before sending again or giving up.
 */
export function abandonedClaim(record: LedgerRecord | undefined): SendClaim | undefined {
    // A delay marker is written after Twilio refused the send: nothing to look for.
    if (delayMarkerOf(record) !== undefined) return undefined;
    return record?.sid === undefined ? record?.claim : undefined;
}

/** The record without the claim `token` names; unchanged when the claim is someone else's (or none). */
export function releaseClaim(record: LedgerRecord, token: string): LedgerRecord {
    return record.claim?.token === token ? { ...record, claim: undefined } : record;
}

function isLive(claim: SendClaim, now: Date): boolean {
    return Date.parse(claim.leaseUntil) > now.getTime();
}
