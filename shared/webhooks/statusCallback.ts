/**
 * Twilio status callbacks and inbound messages, recorded in the ledger.
 *
 * A status callback can only change the record of the send that produced it. Twilio signs whatever
 * callback URL a send named, so the `id` in the URL proves nothing by itself: a callback fills in or
 * updates the record under that id only when the record is waiting for exactly this send (it holds this
 * SID, or it has no SID yet, holds a send claim, and its recipient and sender are the callback's). Any
 * other callback is kept under its own SID, where an operator can see it, and no record is created under
 * an id that has none.
 */

import type { Ledger, LedgerRecord } from '../ledger/contract';
import { newRecord } from '../ledger/rules';
import { applyStatus } from '../ledger/status';

const ID = /^[A-Za-z0-9._~:-]{1,200}$/;
const SID = /^[A-Z]{2}[0-9a-fA-F]{32}$/;
// Twilio's statuses are lower-case words joined by dashes (`no-answer`) or underscores
// (`partially_delivered`).
const STATUS = /^[a-z][a-z_-]{0,31}$/;

export type StatusCallbackResult =
    | {
          /**
           * `updated` / `unchanged`: the record the callback belongs to, its status (or SID) moved or not (a
           * callback that only adds to the history is `unchanged`); `recorded-unknown`: a new record
           * under the SID; `unmatched`: the URL named a record this send does not belong to, so the
           * callback went to the SID's record instead.
           */
          kind: 'updated' | 'unchanged' | 'recorded-unknown' | 'unmatched';
          id: string;
          sid: string;
          status: string;
      }
    | { kind: 'invalid'; message: string };

interface Callback {
    sid: string;
    status: string;
    type: 'sms' | 'call';
    to: string | null;
    from: string | null;
    messagingServiceSid: string | null;
    errorCode: string | undefined;
    at: string;
}

/**
 * Applies one message or call status callback. `id` is ours, from the callback URL; the record under it
 * is only touched when this send is the one it is waiting for (see the module comment). Updates are
 * idempotent and never move a status backwards (see messageStatus.ts).
 */
export async function recordStatusCallback(
    ledger: Ledger,
    form: URLSearchParams,
    id: string | null,
    now: () => Date = () => new Date(),
): Promise<StatusCallbackResult> {
    const callSid = form.get('CallSid');
    const isCall = callSid !== null && form.get('CallStatus') !== null;
    const sid = isCall ? callSid : (form.get('MessageSid') ?? form.get('SmsSid'));
    const status = isCall ? form.get('CallStatus') : (form.get('MessageStatus') ?? form.get('SmsStatus'));
    if (sid === null || status === null || !SID.test(sid) || !STATUS.test(status)) {
        return {
            kind: 'invalid',
            message: 'expected MessageSid and MessageStatus, or CallSid and CallStatus',
        };
    }
    const callback: Callback = {
        sid,
        status,
        type: isCall ? 'call' : 'sms',
        to: form.get('To'),
        from: form.get('From'),
        messagingServiceSid: form.get('MessagingServiceSid'),
        errorCode: form.get('ErrorCode') ?? undefined,
        at: now().toISOString(),
    };

    if (id !== null && ID.test(id) && id !== sid) {
        let kind = 'unmatched' as 'updated' | 'unchanged' | 'unmatched'; // set by mutate
        await ledger.update(id, (current) => {
            kind = 'unmatched';
            if (current === undefined || !isWaitingFor(current, callback)) return undefined;
            const next = applyStatus(current, statusEvent(callback));
            kind = moved(current, next) ? 'updated' : 'unchanged';
            return next;
        });
        if (kind !== 'unmatched') return { kind, id, sid, status };
        const stray = await recordUnderSid(ledger, form, callback);
        return { kind: 'unmatched', id: sid, sid, status: stray.status };
    }
    const result = await recordUnderSid(ledger, form, callback);
    return { kind: result.kind, id: sid, sid, status };
}

/**
 * Whether a callback moved the record (its status, or its SID filled in); one that only adds to the
 * history (a late `sent` after `delivered`, a second final status) did not, so it is reported unchanged.
 */
function moved(current: LedgerRecord, next: LedgerRecord | undefined): boolean {
    return next !== undefined && (next.status !== current.status || next.sid !== current.sid);
}

/**
 * Whether `record` is waiting for this send: it holds the callback's SID; or it holds none yet, has a
 * send claim (live, or kept after an attempt whose outcome is unknown) or was dead-lettered after an
 * attempt, and its recipient and sender are the callback's. A queued record that was never claimed
 * cannot have produced a callback.
 */
function isWaitingFor(record: LedgerRecord, callback: Callback): boolean {
    if (record.direction !== 'outbound' || record.type !== callback.type) return false;
    if (record.sid !== undefined) return record.sid === callback.sid;
    // A dead-lettered record's last attempt may have reached Twilio before we gave up on it.
    const attempted =
        record.claim !== undefined || (record.status === 'dead-lettered' && record.attempts > 0);
    if (!attempted || record.to === undefined || record.to !== callback.to) return false;
    const agrees = (ours: string | undefined, theirs: string | null) =>
        ours === undefined || theirs === null || ours === theirs;
    return (
        agrees(record.from, callback.from) && agrees(record.messagingServiceSid, callback.messagingServiceSid)
    );
}

function statusEvent(callback: Callback) {
    return {
        status: callback.status,
        at: callback.at,
        source: 'twilio' as const,
        sid: callback.sid,
        ...(callback.errorCode === undefined
            ? {}
            : { errorCode: callback.errorCode, errorMessage: `Twilio error ${callback.errorCode}` }),
    };
}

/** The callback in the record keyed by its SID, created when there is none. */
async function recordUnderSid(
    ledger: Ledger,
    form: URLSearchParams,
    callback: Callback,
): Promise<{ kind: 'updated' | 'unchanged' | 'recorded-unknown'; status: string }> {
    const { sid, at } = callback;
    let kind: 'updated' | 'unchanged' | 'recorded-unknown' = 'unchanged';
    const stored = await ledger.update(sid, (current) => {
        kind = 'unchanged';
        const base: LedgerRecord =
            current ??
            newRecord(
                {
                    id: sid,
                    direction: form.get('Direction')?.startsWith('inbound') === true ? 'inbound' : 'outbound',
                    type: callback.type,
                    status: 'unknown',
                    to: callback.to ?? undefined,
                    from: callback.from ?? undefined,
                    sid,
                },
                at,
            );
        const next = applyStatus({ ...base, sid: base.sid ?? sid }, statusEvent(callback));
        if (current === undefined) {
            kind = 'recorded-unknown';
            return next ?? base;
        }
        if (moved(current, next)) kind = 'updated';
        return next;
    });
    return { kind, status: stored?.status ?? callback.status };
}
