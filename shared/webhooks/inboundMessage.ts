/**
 * Inbound messages from Twilio's Messaging webhook, recorded in the ledger.
 */

import type { Ledger } from '../ledger/contract';
import { newRecord } from '../ledger/rules';

/**
 * Whether a request to the Messaging webhook is a message status callback rather than an inbound message
 * (a send whose status callback pointed at `/api/sms`): it carries `MessageStatus`, or an `SmsStatus`
 * other than the `received` / `receiving` of an inbound message.
 */
export function isMessageStatusCallback(form: URLSearchParams): boolean {
    const smsStatus = form.get('SmsStatus');
    return (
        form.has('MessageStatus') ||
        (smsStatus !== null && smsStatus !== 'received' && smsStatus !== 'receiving')
    );
}

/**
 * Records an inbound message, deduplicated on its MessageSid (Twilio may retry a webhook). Only the body's
 * length is kept unless `storeBody` is on. A status callback posted to the Messaging webhook is not an
 * inbound message and records nothing (`not-inbound`).
 */
export async function recordInboundMessage(
    ledger: Ledger,
    form: URLSearchParams,
    now: () => Date = () => new Date(),
): Promise<'created' | 'exists' | 'invalid' | 'not-inbound'> {
    if (isMessageStatusCallback(form)) return 'not-inbound';
    const sid = form.get('MessageSid') ?? form.get('SmsMessageSid');
    if (sid === null || !/^(SM|MM)[0-9a-fA-F]{32}$/.test(sid)) return 'invalid';
    const body = form.get('Body') ?? '';
    const mediaCount = Number(form.get('NumMedia') ?? '0');
    return ledger.create(
        newRecord(
            {
                id: sid,
                direction: 'inbound',
                type: 'sms',
                status: 'received',
                source: 'twilio',
                to: form.get('To') ?? undefined,
                from: form.get('From') ?? undefined,
                bodyLength: body.length,
                body,
                mediaCount: Number.isInteger(mediaCount) && mediaCount >= 0 ? mediaCount : 0,
                sid,
            },
            now(),
        ),
    );
}
