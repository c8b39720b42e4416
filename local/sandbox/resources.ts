/**
 * The sandbox's stored messages and calls, and their rendering as Twilio's 2010-04-01 JSON resources
 * (snake_case fields, RFC 2822 dates, counts as strings — exactly the shapes the `twilio` SDK parses).
 */

import { randomBytes } from 'node:crypto';
import type { CallScript } from './callScript';
import type { TranscriptStep } from './callTranscript';

export const API_VERSION = '2010-04-01';

/** The number the sandbox sends from when a Messaging Service picks the sender (Twilio's test "From"). */
export const SANDBOX_NUMBER = '+15005550006';

export type MessageStatus =
    'accepted' | 'queued' | 'sending' | 'sent' | 'delivered' | 'undelivered' | 'failed' | 'received';

export type MessageDirection = 'outbound-api' | 'outbound-reply' | 'inbound';

/**
 * A Call resource's REST `status` (the 2010-04-01 API's `call_enum_status`). `initiated` is not one: it is
 * a status-callback event, sent while the resource still says `queued` (see {@link CallCallbackStatus}).
 */
export type CallStatus =
    'queued' | 'ringing' | 'in-progress' | 'completed' | 'busy' | 'no-answer' | 'canceled' | 'failed';

/** The `CallStatus` a call's status callback carries: the REST values, and the `initiated` event. */
export type CallCallbackStatus = CallStatus | 'initiated';

export interface StatusChange<S extends string> {
    readonly status: S;
    readonly at: Date;
}

/**
 * One request the sandbox made on behalf of a resource: a status callback, or a request answered with
 * TwiML (a call's `Url`, the app's messaging webhook for an inbound message).
 */
export interface CallbackAttempt {
    readonly kind: 'status-callback' | 'twiml';
    readonly url: string;
    readonly method: 'GET' | 'POST';
    /** The `MessageStatus` / `CallStatus` the request carried. */
    readonly status: string;
    readonly at: Date;
    /** The HTTP status answered, or `null` when no answer came (see `error`). */
    readonly httpStatus: number | null;
    readonly error: string | null;
}

export interface SandboxMessage {
    readonly sid: string;
    readonly accountSid: string;
    readonly direction: MessageDirection;
    readonly to: string;
    from: string | null;
    readonly body: string;
    readonly mediaUrls: readonly string[];
    readonly messagingServiceSid: string | null;
    status: MessageStatus;
    numSegments: number;
    readonly dateCreated: Date;
    dateUpdated: Date;
    dateSent: Date | null;
    errorCode: number | null;
    errorMessage: string | null;
    readonly statusCallback: string | null;
    readonly history: StatusChange<MessageStatus>[];
    readonly callbacks: CallbackAttempt[];
}

/**
 * `outbound-api` for a call placed through the API, `inbound` for one to the account's number
 * (inboundCalls.ts), `outbound-dial` for a leg a `<Dial>` placed (its `parentCallSid` is the caller's).
 */
export type CallDirection = 'outbound-api' | 'inbound' | 'outbound-dial';

export interface SandboxCall {
    readonly sid: string;
    readonly accountSid: string;
    readonly direction: CallDirection;
    /** The call whose `<Dial>` placed this one; `null` otherwise. */
    readonly parentCallSid: string | null;
    readonly to: string;
    readonly from: string;
    status: CallStatus;
    /** The TwiML URL and the method it is fetched with; `null` with inline `Twiml`. */
    readonly url: string | null;
    readonly method: 'GET' | 'POST';
    /** The TwiML the call ran: inline `Twiml`, or what `url` answered. */
    twiml: string | null;
    readonly statusCallback: string | null;
    readonly statusCallbackMethod: 'GET' | 'POST';
    /** `initiated`, `ringing`, `answered`, `completed`: the events reported to `statusCallback`. */
    readonly statusCallbackEvents: readonly string[];
    readonly timeout: number;
    readonly record: boolean;
    readonly machineDetection: string | null;
    answeredBy: string | null;
    readonly dateCreated: Date;
    dateUpdated: Date;
    startTime: Date | null;
    endTime: Date | null;
    /** Seconds, set when the call ends. */
    duration: number | null;
    /** A debugger error (11200, 12100, 12300) when the call failed. */
    errorCode: number | null;
    errorMessage: string | null;
    readonly history: StatusChange<CallStatus>[];
    readonly callbacks: CallbackAttempt[];
    /** What the caller (and each callee) does, for the call simulator (callScript.ts). */
    readonly script: CallScript;
    /** What the call simulator did, step by step (callTranscript.ts). */
    readonly transcript: TranscriptStep[];
    /** The conference room the call is in, while it is in one (`<Dial><Conference>`). */
    conference: string | null;
}

/** `prefix` + 32 lowercase hex characters, like every Twilio SID. */
export function newSid(prefix: string): string {
    return `${prefix}${randomBytes(16).toString('hex')}`;
}

/** Twilio's RFC 2822 form: `Thu, 30 Jul 2015 20:12:31 +0000`. */
export function rfc2822(date: Date): string {
    return date.toUTCString().replace(/GMT$/, '+0000');
}

function rfc2822OrNull(date: Date | null): string | null {
    return date === null ? null : rfc2822(date);
}

const E164 = /^\+[1-9]\d{7,14}$/;

/** `+` and 8–15 digits, no leading zero. */
export function isE164(value: string): boolean {
    return E164.test(value);
}

/** A message recipient: an E.164 number, optionally on a channel (`whatsapp:+1…`). */
export function isMessageRecipient(value: string): boolean {
    return isE164(value.replace(/^whatsapp:/, ''));
}

/** A message sender: E.164 (optionally `whatsapp:`), a short code, or an alphanumeric sender ID. */
export function isMessageSender(value: string): boolean {
    return (
        isMessageRecipient(value) ||
        /^\d{5,6}$/.test(value) ||
        /^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$/.test(value)
    );
}

/** A call party: an E.164 number, a Twilio Client identity or a SIP URI. */
export function isCallParty(value: string, allowSip: boolean): boolean {
    return (
        isE164(value) || /^client:[\w.@-]{1,256}$/.test(value) || (allowSip && /^sip:\S+@\S+$/.test(value))
    );
}

/** An absolute `http:` or `https:` URL. */
export function isHttpUrl(value: string): boolean {
    try {
        const url = new URL(value);
        return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
    } catch {
        return false;
    }
}

// GSM 03.38 basic character set; the extension characters take two septets.
const GSM_BASIC = new Set(
    '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà',
);
const GSM_EXTENDED = new Set('\f^{}\\[~]|€');

/** SMS segments for `body`: GSM-7 (160, or 153 per part) or else UCS-2 (70, or 67 per part). */
export function segmentCount(body: string): number {
    let septets = 0;
    for (const char of body) {
        if (GSM_BASIC.has(char)) septets += 1;
        else if (GSM_EXTENDED.has(char)) septets += 2;
        else {
            const units = body.length;
            return units <= 70 ? 1 : Math.ceil(units / 67);
        }
    }
    return septets <= 160 ? 1 : Math.ceil(septets / 153);
}

/**
 * The `…Country` webhook parameter for a number, as far as the sandbox can tell (`+1` → `US`, `+44` →
 * `GB`, otherwise empty, as Twilio sends when it does not know). City, state and zip are always empty.
 */
export function countryOf(number: string): string {
    const digits = number.replace(/^whatsapp:/, '');
    if (digits.startsWith('+1')) return 'US';
    if (digits.startsWith('+44')) return 'GB';
    return '';
}

/** `(555) 123-4567` for a North American number, as Twilio's `to_formatted`; anything else as it is. */
export function formatted(value: string): string {
    const match = /^\+1(\d{3})(\d{3})(\d{4})$/.exec(value);
    return match === null ? value : `(${match[1] ?? ''}) ${match[2] ?? ''}-${match[3] ?? ''}`;
}

export function messageUri(accountSid: string, sid: string): string {
    return `/${API_VERSION}/Accounts/${accountSid}/Messages/${sid}.json`;
}

export function callUri(accountSid: string, sid: string): string {
    return `/${API_VERSION}/Accounts/${accountSid}/Calls/${sid}.json`;
}

/** The Message resource as Twilio's API returns it. */
export function messageResource(message: SandboxMessage): Record<string, unknown> {
    const base = `/${API_VERSION}/Accounts/${message.accountSid}/Messages/${message.sid}`;
    return {
        account_sid: message.accountSid,
        api_version: API_VERSION,
        body: message.body,
        date_created: rfc2822(message.dateCreated),
        date_sent: rfc2822OrNull(message.dateSent),
        date_updated: rfc2822(message.dateUpdated),
        direction: message.direction,
        error_code: message.errorCode,
        error_message: message.errorMessage,
        from: message.from,
        messaging_service_sid: message.messagingServiceSid,
        num_media: String(message.mediaUrls.length),
        num_segments: String(message.numSegments),
        price: null,
        price_unit: 'USD',
        sid: message.sid,
        status: message.status,
        subresource_uris: { media: `${base}/Media.json`, feedback: `${base}/Feedback.json` },
        to: message.to,
        uri: `${base}.json`,
    };
}

/** The Call resource as Twilio's API returns it. */
export function callResource(call: SandboxCall): Record<string, unknown> {
    const base = `/${API_VERSION}/Accounts/${call.accountSid}/Calls/${call.sid}`;
    const sub = (name: string) => `${base}/${name}.json`;
    return {
        account_sid: call.accountSid,
        annotation: null,
        answered_by: call.answeredBy,
        api_version: API_VERSION,
        caller_name: null,
        date_created: rfc2822(call.dateCreated),
        date_updated: rfc2822(call.dateUpdated),
        direction: call.direction,
        duration: call.duration === null ? null : String(call.duration),
        end_time: rfc2822OrNull(call.endTime),
        forwarded_from: null,
        from: call.from,
        from_formatted: formatted(call.from),
        group_sid: null,
        parent_call_sid: call.parentCallSid,
        phone_number_sid: null,
        price: null,
        price_unit: 'USD',
        queue_time: '0',
        sid: call.sid,
        start_time: rfc2822OrNull(call.startTime),
        status: call.status,
        subresource_uris: {
            events: sub('Events'),
            notifications: sub('Notifications'),
            recordings: sub('Recordings'),
            streams: sub('Streams'),
            payments: sub('Payments'),
            siprec: sub('Siprec'),
            transcriptions: sub('Transcriptions'),
            user_defined_messages: sub('UserDefinedMessages'),
            user_defined_message_subscriptions: sub('UserDefinedMessageSubscriptions'),
        },
        to: call.to,
        to_formatted: formatted(call.to),
        trunk_sid: null,
        uri: `${base}.json`,
    };
}
