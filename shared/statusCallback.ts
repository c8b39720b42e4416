/**
 * Twilio status callbacks and inbound messages, recorded in the ledger.
 */

import type { Ledger, LedgerRecord } from './ledger';
import { applyStatus } from './messageStatus';

const ID = /^[A-Za-z0-9._~:-]{1,200}$/;

export type StatusCallbackResult =
    | { kind: 'updated' | 'unchanged' | 'recorded-unknown'; id: string; sid: string; status: string }
    | { kind: 'invalid'; message: string };

/**
 * Applies one message or call status callback. `id` is ours, from the callback URL; without it (or when
 * it is unknown) the SID is the record's id, so a callback for a message we did not send is recorded, not
 * dropped. Updates are idempotent and never move a status backwards (see messageStatus.ts).
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
    if (
        sid === null ||
        status === null ||
        !/^[A-Z]{2}[0-9a-fA-F]{32}$/.test(sid) ||
        !/^[a-z-]{1,32}$/.test(status)
    ) {
        return {
            kind: 'invalid',
            message: 'expected MessageSid and MessageStatus, or CallSid and CallStatus',
        };
    }
    const key = id !== null && ID.test(id) ? id : sid;
    const at = now().toISOString();
    const errorCode = form.get('ErrorCode') ?? undefined;
    let kind: 'updated' | 'unchanged' | 'recorded-unknown' = 'unchanged';
    await ledger.update(key, (current) => {
        const base: LedgerRecord = current ?? {
            id: key,
            direction: form.get('Direction')?.startsWith('inbound') === true ? 'inbound' : 'outbound',
            type: isCall ? 'call' : 'sms',
            ...(form.get('To') === null ? {} : { to: form.get('To') ?? undefined }),
            ...(form.get('From') === null ? {} : { from: form.get('From') ?? undefined }),
            mediaCount: 0,
            sid,
            status: 'unknown',
            history: [],
            attempts: 0,
            createdAt: at,
            updatedAt: at,
        };
        // A callback whose SID differs from the record's (our id names another send) only adds to the
        // history; applyStatus keeps the record's status for it.
        const next = applyStatus(
            { ...base, sid: base.sid ?? sid },
            {
                status,
                at,
                source: 'twilio',
                sid,
                ...(errorCode === undefined ? {} : { errorCode, errorMessage: `Twilio error ${errorCode}` }),
            },
        );
        if (current === undefined) {
            kind = 'recorded-unknown';
            return next ?? base;
        }
        if (next !== undefined) kind = 'updated';
        return next ?? (current.sid === undefined ? { ...current, sid, updatedAt: at } : undefined);
    });
    return { kind, id: key, sid, status };
}

/**
 * Records an inbound message, deduplicated on its MessageSid (Twilio may retry a webhook). Only the body's
 * length is kept unless `storeBody` is on.
 */
export async function recordInboundMessage(
    ledger: Ledger,
    form: URLSearchParams,
    now: () => Date = () => new Date(),
): Promise<'created' | 'exists' | 'invalid'> {
    const sid = form.get('MessageSid') ?? form.get('SmsMessageSid');
    if (sid === null || !/^(SM|MM)[0-9a-fA-F]{32}$/.test(sid)) return 'invalid';
    const at = now().toISOString();
    const body = form.get('Body') ?? '';
    const mediaCount = Number(form.get('NumMedia') ?? '0');
    return ledger.create({
        id: sid,
        direction: 'inbound',
        type: 'sms',
        ...(form.get('To') === null ? {} : { to: form.get('To') ?? '' }),
        ...(form.get('From') === null ? {} : { from: form.get('From') ?? '' }),
        bodyLength: body.length,
        body,
        mediaCount: Number.isInteger(mediaCount) && mediaCount >= 0 ? mediaCount : 0,
        sid,
        status: 'received',
        history: [{ status: 'received', at, source: 'twilio' }],
        attempts: 0,
        createdAt: at,
        updatedAt: at,
    });
}
