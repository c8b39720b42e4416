/**
 * The Twilio sandbox: a local stand-in for the part of Twilio's REST API this app and its deployment use
 * (Messages, Calls, IncomingPhoneNumbers and Keys under `/2010-04-01/Accounts/{AccountSid}`) and for the
 * requests Twilio makes back (message status callbacks, the call's TwiML fetch and call status callbacks),
 * all signed with the sandbox's auth token. REST requests authenticate with the account's auth token or
 * with one of its API keys, in HTTP Basic auth as Twilio takes them.
 *
 * The real `twilio` SDK talks to it unchanged through the client factory's `TWILIO_API_URL` redirect.
 * `npm start` runs the app against it when no Twilio account is configured; tests use it as the fake
 * Twilio API. It listens on loopback only.
 *
 * Besides the API it serves `GET /sandbox/messages`, `/sandbox/calls`, `/sandbox/phone-numbers` and
 * `/sandbox/requests` (no auth): everything it received and did, newest first, with each resource's status
 * history and callbacks, and each number's updates.
 */

import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { maskPhone } from '../../shared/platform/redact';
import {
    describeRequestError,
    loggableUrl,
    messageOf,
    sendTwilioRequest,
    type TwilioParams,
    type TwilioRequestResult,
} from './callbacks';
import {
    basicAuthUser,
    createCredentialStore,
    newKeySecret,
    type ApiKeyType,
    type NewApiKey,
    type Principal,
} from './credentials';
import { ErrorCode, errors, TwilioApiError } from './errors';
import { simulateInboundSms, type InboundSmsResult } from './inbound';
import { dateFilter, listPage } from './listing';
import {
    API_VERSION,
    SANDBOX_NUMBER,
    callResource,
    countryOf,
    isCallParty,
    isE164,
    isHttpUrl,
    isMessageRecipient,
    isMessageSender,
    messageResource,
    newSid,
    rfc2822,
    segmentCount,
    type CallCallbackStatus,
    type CallStatus,
    type CallbackAttempt,
    type MessageStatus,
    type SandboxCall,
    type SandboxMessage,
} from './resources';
import {
    newPhoneNumber,
    PHONE_NUMBER_FILTERS,
    phoneNumberFilter,
    phoneNumberResource,
    updatePhoneNumber,
    type SandboxPhoneNumber,
} from './phoneNumbers';
import { parseTwiml } from './twiml';

export type { CallbackAttempt, CallStatus, MessageStatus, SandboxCall, SandboxMessage } from './resources';
export type { InboundSmsResult } from './inbound';
export type { ApiKeyType, NewApiKey } from './credentials';
export type { PhoneNumberUpdate, SandboxPhoneNumber } from './phoneNumbers';

export interface TwilioSandboxOptions {
    accountSid: string;
    authToken: string;
    /**
     * A Standard API key of the account (`SK` + 32 hex), accepted in Basic auth with `apiKeySecret` as
     * Twilio accepts it. More keys: {@link TwilioSandbox.createApiKey} or the Keys resource.
     */
    apiKeySid?: string | undefined;
    apiKeySecret?: string | undefined;
    /** The numbers the account owns (IncomingPhoneNumbers), E.164; default: the sandbox's number. */
    phoneNumbers?: readonly string[];
    /** 0 (the default) picks a free port. */
    port?: number;
    host?: '127.0.0.1';
    /** Pause before each lifecycle step (status change and its callback); default 200 ms, 0 in tests. */
    callbackDelayMs?: number;
    /** Called with one line per event; phone numbers are masked and message bodies never included. */
    log?: (line: string) => void;
    /** Used for every request the sandbox makes (callbacks, TwiML, inbound messages). */
    fetch?: typeof fetch;
}

/** A REST request the sandbox received. The password of its Basic auth is not kept. */
export interface ReceivedRequest {
    readonly at: Date;
    readonly method: string;
    /** Path and query, as received. */
    readonly path: string;
    readonly query: URLSearchParams;
    /** The form-encoded body (empty for GET). */
    readonly form: URLSearchParams;
    /** The Basic auth user name (the account SID or an API key SID), or `undefined` without Basic auth. */
    readonly username: string | undefined;
    readonly status: number;
    /** Twilio's error code when the answer was an error. */
    readonly errorCode: number | null;
}

export interface SandboxInboundSms {
    /** The app's Messaging webhook, e.g. `http://localhost:7071/api/sms`. */
    appUrl: string;
    from: string;
    /** Default: the sandbox's number, `+15005550006`. */
    to?: string;
    body: string;
    mediaUrls?: readonly string[];
    messagingServiceSid?: string;
    /** The URL to sign when the app checks signatures against another origin (its `PUBLIC_BASE_URL`). */
    signatureUrl?: string;
}

export interface TwilioSandbox {
    /** e.g. `http://127.0.0.1:53412`: pass it as the client factory's `apiUrl` / `TWILIO_API_URL`. */
    readonly url: string;
    readonly accountSid: string;
    readonly authToken: string;
    /** Every message, newest first (outbound from the API, inbound and replies from {@link receiveSms}). */
    readonly messages: readonly Readonly<SandboxMessage>[];
    /** Every call, newest first. */
    readonly calls: readonly Readonly<SandboxCall>[];
    /** The account's numbers, in the order they were provisioned. */
    readonly phoneNumbers: readonly Readonly<SandboxPhoneNumber>[];
    /** Adds an API key of the account (Standard unless `type` says `main`); the secret is returned only here. */
    createApiKey(options?: { friendlyName?: string; type?: ApiKeyType }): NewApiKey;
    /** Revokes an API key: requests with it are refused (401, 20003) from then on. */
    revokeApiKey(sid: string): boolean;
    /** The REST requests received, oldest first. */
    received(): readonly ReceivedRequest[];
    /**
     * An inbound message to the app, as Twilio delivers it: recorded as an `inbound` message, posted signed
     * to `appUrl`, and each `<Message>` of the TwiML answer recorded and sent as an `outbound-reply`.
     */
    receiveSms(message: SandboxInboundSms): Promise<InboundSmsResult>;
    /** Resolves once every scheduled status change and callback has run. */
    idle(): Promise<void>;
    /** Stops the server and abandons pending callbacks. */
    close(): Promise<void>;
}

const DEFAULT_CALLBACK_DELAY_MS = 200;
const MAX_BODY_BYTES = 1024 * 1024;
const MAX_MEDIA = 10;
const MAX_BODY_CHARS = 1600;
const CALL_EVENTS = ['initiated', 'ringing', 'answered', 'completed'] as const;
const MACHINE_DETECTION = ['Enable', 'DetectMessageEnd'];

export interface TestCredentials {
    accountSid: string;
    authToken: string;
    /** A Standard API key of the account, as Twilio recommends for REST calls in production. */
    apiKeySid: string;
    apiKeySecret: string;
}

/**
 * Credentials in Twilio's shape, random each time: `AC` + 32 hex, a 32-hex auth token, and an API key
 * (`SK` + 32 hex, a 32-character secret). Pass them whole to {@link startTwilioSandbox}.
 */
export function generateTestCredentials(): TestCredentials {
    return {
        accountSid: newSid('AC'),
        authToken: randomBytes(16).toString('hex'),
        apiKeySid: newSid('SK'),
        apiKeySecret: newKeySecret(),
    };
}

interface Answer {
    status: number;
    body?: unknown;
    headers?: Record<string, string>;
}

class SandboxClosedError extends Error {}

/** Starts the sandbox on loopback. */
export async function startTwilioSandbox(options: TwilioSandboxOptions): Promise<TwilioSandbox> {
    const { accountSid, authToken } = options;
    if (!/^AC[0-9a-fA-F]{32}$/.test(accountSid)) throw new Error('accountSid must be AC + 32 hex characters');
    if (authToken === '') throw new Error('authToken must not be empty');
    const delayMs = options.callbackDelayMs ?? DEFAULT_CALLBACK_DELAY_MS;
    const log = options.log ?? (() => undefined);
    const fetchImpl = options.fetch ?? globalThis.fetch;
    const credentials = createCredentialStore(accountSid, authToken);
    if ((options.apiKeySid === undefined) !== (options.apiKeySecret === undefined)) {
        throw new Error('apiKeySid and apiKeySecret go together');
    }

    const messages: SandboxMessage[] = [];
    const calls: SandboxCall[] = [];
    const phoneNumbers: SandboxPhoneNumber[] = [];
    /** Creation order of every SID ever stored: the key of newest-first order and page tokens. */
    const sequence = new Map<string, number>();
    const received: ReceivedRequest[] = [];
    const tasks = new Set<Promise<void>>();
    const shutdown = new AbortController();
    let closing: Promise<void> | undefined;

    const store = <T extends { sid: string }>(list: T[], item: T) => {
        sequence.set(item.sid, sequence.size);
        list.push(item);
    };
    const newestFirst = <T>(list: readonly T[]): T[] => [...list].reverse();
    const short = (sid: string) => `${sid.slice(0, 6)}…`;

    /** Adds a key, in the creation order its list pages by. */
    const addKey = (key: Parameters<typeof credentials.addKey>[0]) => {
        const created = credentials.addKey(key);
        sequence.set(created.key.sid, sequence.size);
        return created;
    };
    if (options.apiKeySid !== undefined) {
        addKey({ sid: options.apiKeySid, secret: options.apiKeySecret, friendlyName: 'sandbox' });
    }
    for (const number of options.phoneNumbers ?? [SANDBOX_NUMBER]) {
        if (!isE164(number)) throw new Error('phoneNumbers must be E.164 numbers');
        if (phoneNumbers.some((n) => n.phoneNumber === number))
            throw new Error('phoneNumbers repeats a number');
        store(phoneNumbers, newPhoneNumber(accountSid, number));
    }

    // ---- scheduling ---------------------------------------------------------------------------------

    const schedule = (what: string, run: () => Promise<void>) => {
        const task: Promise<void> = run()
            .catch((error: unknown) => {
                if (error instanceof SandboxClosedError || shutdown.signal.aborted) return;
                log(`sandbox: ${what} stopped: ${messageOf(error)}`);
            })
            .finally(() => tasks.delete(task));
        tasks.add(task);
    };
    const pause = async () => {
        try {
            await sleep(delayMs, undefined, { signal: shutdown.signal });
        } catch {
            throw new SandboxClosedError();
        }
    };

    /** Sends one signed request for a resource and records it; never rejects unless the sandbox closes. */
    const deliver = async (
        record: { sid: string; callbacks: CallbackAttempt[] },
        attempt: { kind: CallbackAttempt['kind']; url: string; method: 'GET' | 'POST'; status: string },
        params: TwilioParams,
    ): Promise<{ result: TwilioRequestResult } | { error: string }> => {
        const at = new Date();
        const label = attempt.kind === 'twiml' ? 'TwiML request' : `status callback ${attempt.status}`;
        const target = `${attempt.method} ${loggableUrl(attempt.url)}`;
        try {
            const result = await sendTwilioRequest({
                url: attempt.url,
                method: attempt.method,
                params,
                authToken,
                fetch: fetchImpl,
                signal: shutdown.signal,
            });
            record.callbacks.push({ ...attempt, at, httpStatus: result.status, error: null });
            log(`sandbox: ${short(record.sid)} ${label} → ${target}: HTTP ${result.status}`);
            return { result };
        } catch (error) {
            if (shutdown.signal.aborted) throw new SandboxClosedError();
            const reason = describeRequestError(error);
            record.callbacks.push({ ...attempt, at, httpStatus: null, error: reason });
            log(`sandbox: ${short(record.sid)} ${label} → ${target} failed: ${reason}`);
            return { error: reason };
        }
    };

    // ---- messages -------------------------------------------------------------------------------------

    const setMessageStatus = (message: SandboxMessage, status: MessageStatus) => {
        const now = new Date();
        message.status = status;
        message.dateUpdated = now;
        if (status === 'sent') message.dateSent = now;
        message.history.push({ status, at: now });
        log(`sandbox: ${short(message.sid)} ${status}`);
    };

    const messageStatusCallback = async (message: SandboxMessage) => {
        if (message.statusCallback === null) return;
        const params: Record<string, string> = {
            SmsSid: message.sid,
            SmsStatus: message.status,
            MessageStatus: message.status,
            To: message.to,
        };
        if (message.messagingServiceSid !== null) params.MessagingServiceSid = message.messagingServiceSid;
        Object.assign(params, {
            MessageSid: message.sid,
            AccountSid: message.accountSid,
            From: message.from ?? '',
            ApiVersion: API_VERSION,
        });
        await deliver(
            message,
            { kind: 'status-callback', url: message.statusCallback, method: 'POST', status: message.status },
            params,
        );
    };

    /** queued (after `accepted` when a Messaging Service picks the sender) → sent → delivered. */
    const runMessage = async (message: SandboxMessage) => {
        const stored = () => messages.includes(message);
        await pause();
        if (!stored()) return;
        if (message.status === 'accepted') {
            message.from = SANDBOX_NUMBER;
            message.numSegments = segmentCount(message.body);
            setMessageStatus(message, 'queued');
        }
        await messageStatusCallback(message);
        for (const status of ['sent', 'delivered'] as const) {
            await pause();
            if (!stored()) return;
            setMessageStatus(message, status);
            await messageStatusCallback(message);
        }
    };

    const createMessage = (form: URLSearchParams): SandboxMessage => {
        const to = nonEmpty(form.get('To'));
        const from = nonEmpty(form.get('From'));
        const messagingServiceSid = nonEmpty(form.get('MessagingServiceSid'));
        const body = form.get('Body') ?? '';
        const mediaUrls = form.getAll('MediaUrl').filter((url) => url !== '');
        const statusCallback = nonEmpty(form.get('StatusCallback'));

        if (to === null) throw errors.messageToMissing();
        if (!isMessageRecipient(to)) throw errors.invalidTo(to);
        if (from === null && messagingServiceSid === null) throw errors.messageFromMissing();
        if (messagingServiceSid !== null && !/^MG[0-9a-fA-F]{32}$/.test(messagingServiceSid)) {
            throw errors.messagingServiceSidInvalid(messagingServiceSid);
        }
        if (from !== null && !isMessageSender(from)) throw errors.messageFromInvalid(from);
        if (body === '' && mediaUrls.length === 0) throw errors.messageBodyMissing();
        if (body.length > MAX_BODY_CHARS) throw errors.messageBodyTooLong();
        if (mediaUrls.length > MAX_MEDIA) throw errors.tooManyMedia();
        const badMedia = mediaUrls.find((url) => !isHttpUrl(url));
        if (badMedia !== undefined) throw errors.mediaUrlInvalid(badMedia);
        if (statusCallback !== null && !isHttpUrl(statusCallback))
            throw errors.statusCallbackInvalid(statusCallback);

        const now = new Date();
        const viaService = from === null;
        const status: MessageStatus = viaService ? 'accepted' : 'queued';
        const message: SandboxMessage = {
            sid: newSid(mediaUrls.length > 0 ? 'MM' : 'SM'),
            accountSid,
            direction: 'outbound-api',
            to,
            from,
            body,
            mediaUrls,
            messagingServiceSid,
            status,
            // With a Messaging Service the sender, and so the encoding, is not known yet: Twilio says 0.
            numSegments: viaService ? 0 : segmentCount(body),
            dateCreated: now,
            dateUpdated: now,
            dateSent: null,
            errorCode: null,
            errorMessage: null,
            statusCallback,
            history: [{ status, at: now }],
            callbacks: [],
        };
        store(messages, message);
        const media = mediaUrls.length > 0 ? `, ${String(mediaUrls.length)} media` : '';
        log(
            `sandbox: ${short(message.sid)} ${status} → ${maskPhone(to)} (${String(body.length)} chars${media})`,
        );
        schedule(`message ${short(message.sid)}`, () => runMessage(message));
        return message;
    };

    const listMessages = (path: string, query: URLSearchParams) => {
        const to = query.get('To');
        const from = query.get('From');
        const sent = dateFilter(query, 'DateSent', { beforeInclusive: true });
        const items = newestFirst(messages).filter(
            (m) =>
                (to === null || m.to === to) &&
                (from === null || m.from === from) &&
                (sent === undefined || sent(m.dateSent)),
        );
        return listPage({
            key: 'messages',
            path,
            query,
            filterNames: ['To', 'From', 'DateSent', 'DateSent<', 'DateSent>'],
            items,
            sid: (m) => m.sid,
            sequenceOf: (sid) => sequence.get(sid),
            render: messageResource,
        });
    };

    // ---- calls ----------------------------------------------------------------------------------------

    const setCallStatus = (call: SandboxCall, status: CallStatus) => {
        const now = new Date();
        call.status = status;
        call.dateUpdated = now;
        call.history.push({ status, at: now });
        log(`sandbox: ${short(call.sid)} ${status}`);
    };

    /** The parameters of every request Twilio makes about a call. */
    const callParams = (call: SandboxCall): Record<string, string> => ({
        AccountSid: call.accountSid,
        ApiVersion: API_VERSION,
        CallSid: call.sid,
        CallStatus: call.status,
        Called: call.to,
        CalledCity: '',
        CalledCountry: countryOf(call.to),
        CalledState: '',
        CalledZip: '',
        Caller: call.from,
        CallerCity: '',
        CallerCountry: countryOf(call.from),
        CallerState: '',
        CallerZip: '',
        Direction: call.direction,
        From: call.from,
        FromCity: '',
        FromCountry: countryOf(call.from),
        FromState: '',
        FromZip: '',
        To: call.to,
        ToCity: '',
        ToCountry: countryOf(call.to),
        ToState: '',
        ToZip: '',
        ...(call.answeredBy === null ? {} : { AnsweredBy: call.answeredBy }),
    });

    const callStatusCallback = async (call: SandboxCall, event: (typeof CALL_EVENTS)[number]) => {
        if (call.statusCallback === null || !call.statusCallbackEvents.includes(event)) return;
        const sent = call.callbacks.filter((attempt) => attempt.kind === 'status-callback').length;
        // The callback says `initiated` while the REST resource still says `queued`.
        const status: CallCallbackStatus = event === 'initiated' ? 'initiated' : call.status;
        const params: Record<string, string> = {
            ...callParams(call),
            CallStatus: status,
            CallbackSource: 'call-progress-events',
            SequenceNumber: String(sent),
            Timestamp: rfc2822(new Date()),
        };
        if (event === 'completed') params.CallDuration = String(call.duration ?? 0);
        await deliver(
            call,
            {
                kind: 'status-callback',
                url: call.statusCallback,
                method: call.statusCallbackMethod,
                status,
            },
            params,
        );
    };

    /** The call's TwiML, fetched from its Url (or inline) and checked, or the debugger error it fails with. */
    const callTwiml = async (call: SandboxCall): Promise<{ code: number; message: string } | undefined> => {
        let document: string;
        if (call.url === null) {
            document = call.twiml ?? '';
        } else {
            const answer = await deliver(
                call,
                { kind: 'twiml', url: call.url, method: call.method, status: 'in-progress' },
                { ...callParams(call), CallStatus: 'in-progress' },
            );
            if ('error' in answer) {
                return {
                    code: ErrorCode.httpRetrievalFailure,
                    message: `HTTP retrieval failure: ${answer.error}`,
                };
            }
            const { status, contentType, body } = answer.result;
            if (status !== 200) {
                return {
                    code: ErrorCode.httpRetrievalFailure,
                    message: `HTTP retrieval failure: the TwiML URL answered HTTP ${String(status)}`,
                };
            }
            call.twiml = body;
            const type = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
            // Twilio reads text/plain aloud and plays audio; anything else it cannot use.
            if (type === 'text/plain' || type.startsWith('audio/')) return undefined;
            if (type !== '' && !type.endsWith('/xml') && !type.endsWith('+xml') && type !== 'text/html') {
                return { code: ErrorCode.invalidContentType, message: `Invalid Content-Type: ${type}` };
            }
            document = body;
        }
        const parsed = parseTwiml(document);
        if (!parsed.ok)
            return {
                code: ErrorCode.documentParseFailure,
                message: `Document parse failure: ${parsed.error}`,
            };
        return undefined;
    };

    /**
     * Dialled (the `initiated` event; the resource stays `queued`) → ringing → (TwiML fetched and checked
     * on answer) → in-progress → completed; a TwiML failure ends the call `failed` with the debugger error.
     * Status callbacks go out for the requested events (`initiated` reports `initiated`, `answered`
     * reports `in-progress`; `completed` reports whichever way the call ended).
     */
    const runCall = async (call: SandboxCall) => {
        await pause();
        call.startTime = new Date();
        call.dateUpdated = call.startTime;
        log(`sandbox: ${short(call.sid)} initiated`);
        await callStatusCallback(call, 'initiated');
        await pause();
        setCallStatus(call, 'ringing');
        await callStatusCallback(call, 'ringing');
        await pause();

        if (call.machineDetection !== null) call.answeredBy = 'human';
        const failure = await callTwiml(call);
        if (failure !== undefined) {
            call.errorCode = failure.code;
            call.errorMessage = failure.message;
            call.endTime = new Date();
            call.duration = 0;
            log(`sandbox: ${short(call.sid)} error ${String(failure.code)}: ${failure.message}`);
            setCallStatus(call, 'failed');
            await callStatusCallback(call, 'completed');
            return;
        }
        setCallStatus(call, 'in-progress');
        const answeredAt = Date.now();
        await callStatusCallback(call, 'answered');
        await pause();
        call.endTime = new Date();
        call.duration = Math.max(1, Math.round((call.endTime.getTime() - answeredAt) / 1000));
        setCallStatus(call, 'completed');
        await callStatusCallback(call, 'completed');
    };

    const createCall = (form: URLSearchParams): SandboxCall => {
        const to = nonEmpty(form.get('To'));
        const from = nonEmpty(form.get('From'));
        const url = nonEmpty(form.get('Url'));
        const twiml = nonEmpty(form.get('Twiml'));
        const statusCallback = nonEmpty(form.get('StatusCallback'));

        if (to === null) throw errors.callToMissing();
        if (!isCallParty(to, true)) throw errors.invalidTo(to);
        if (from === null) throw errors.callFromMissing();
        if (!isCallParty(from, false)) throw errors.callFromInvalid(from);
        if (nonEmpty(form.get('ApplicationSid')) !== null) throw errors.invalidApplicationSid();
        if (url === null && twiml === null) throw errors.callUrlMissing();
        if (url !== null && !isHttpUrl(url)) throw errors.callUrlInvalid(url);
        if (statusCallback !== null && !isHttpUrl(statusCallback))
            throw errors.statusCallbackInvalid(statusCallback);
        const method = httpMethod(form, 'Method');
        const statusCallbackMethod = httpMethod(form, 'StatusCallbackMethod');
        const events = form
            .getAll('StatusCallbackEvent')
            .flatMap((value) => value.split(/[\s,]+/))
            .filter((value) => value !== '');
        const unknown = events.find((event) => !(CALL_EVENTS as readonly string[]).includes(event));
        if (unknown !== undefined) throw errors.invalidParameter(`Invalid StatusCallbackEvent: ${unknown}`);
        const timeoutText = form.get('Timeout') ?? '60';
        const timeout = Number(timeoutText);
        if (!/^\d+$/.test(timeoutText) || timeout < 1 || timeout > 600) {
            throw errors.invalidParameter(`Invalid Timeout: ${timeoutText} (1–600 seconds)`);
        }
        const machineDetection = nonEmpty(form.get('MachineDetection'));
        if (machineDetection !== null && !MACHINE_DETECTION.includes(machineDetection)) {
            throw errors.invalidParameter(`Invalid MachineDetection: ${machineDetection}`);
        }

        const now = new Date();
        const call: SandboxCall = {
            sid: newSid('CA'),
            accountSid,
            direction: 'outbound-api',
            to,
            from,
            status: 'queued',
            // Twilio ignores Twiml when Url is given too.
            url,
            method,
            twiml: url === null ? twiml : null,
            statusCallback,
            statusCallbackMethod,
            // Without StatusCallbackEvent Twilio reports only `completed`.
            statusCallbackEvents: events.length > 0 ? [...new Set(events)] : ['completed'],
            timeout,
            record: (form.get('Record') ?? '').toLowerCase() === 'true',
            machineDetection,
            answeredBy: null,
            dateCreated: now,
            dateUpdated: now,
            startTime: null,
            endTime: null,
            duration: null,
            errorCode: null,
            errorMessage: null,
            history: [{ status: 'queued', at: now }],
            callbacks: [],
        };
        store(calls, call);
        const source = url === null ? 'inline TwiML' : `Url ${loggableUrl(url)}`;
        log(`sandbox: ${short(call.sid)} queued → ${maskPhone(to)} (${source})`);
        schedule(`call ${short(call.sid)}`, () => runCall(call));
        return call;
    };

    const listCalls = (path: string, query: URLSearchParams) => {
        const to = query.get('To');
        const from = query.get('From');
        const status = query.get('Status');
        const parent = query.get('ParentCallSid');
        const started = dateFilter(query, 'StartTime', { beforeInclusive: false });
        const ended = dateFilter(query, 'EndTime', { beforeInclusive: false });
        const items = newestFirst(calls).filter(
            (c) =>
                (to === null || c.to === to) &&
                (from === null || c.from === from) &&
                (status === null || c.status === status) &&
                parent === null &&
                (started === undefined || started(c.startTime)) &&
                (ended === undefined || ended(c.endTime)),
        );
        return listPage({
            key: 'calls',
            path,
            query,
            filterNames: [
                'To',
                'From',
                'ParentCallSid',
                'Status',
                'StartTime',
                'StartTime<',
                'StartTime>',
                'EndTime',
                'EndTime<',
                'EndTime>',
            ],
            items,
            sid: (c) => c.sid,
            sequenceOf: (sid) => sequence.get(sid),
            render: callResource,
        });
    };

    // ---- phone numbers and keys -----------------------------------------------------------------------

    // listPage pages newest first; inverting the creation order pages a list kept oldest first.
    const oldestFirstSequence = (sid: string) => {
        const seq = sequence.get(sid);
        return seq === undefined ? undefined : -seq;
    };

    const listPhoneNumbers = (path: string, query: URLSearchParams) =>
        listPage({
            key: 'incoming_phone_numbers',
            path,
            query,
            filterNames: PHONE_NUMBER_FILTERS,
            // In the order the numbers were provisioned, as the console shows them.
            items: phoneNumbers.filter(phoneNumberFilter(query)),
            sid: (n) => n.sid,
            sequenceOf: oldestFirstSequence,
            render: phoneNumberResource,
        });

    const phoneNumber = (method: string, path: string, sid: string, form: URLSearchParams): Answer => {
        const index = phoneNumbers.findIndex((n) => n.sid === sid);
        const number = phoneNumbers[index];
        if (number === undefined) throw errors.notFound(path);
        if (method === 'GET') return { status: 200, body: phoneNumberResource(number) };
        if (method === 'POST') {
            const { changed } = updatePhoneNumber(number, form);
            const what = changed.length === 0 ? 'nothing changed' : changed.join(', ');
            log(`sandbox: ${short(number.sid)} ${maskPhone(number.phoneNumber)} updated: ${what}`);
            return { status: 200, body: phoneNumberResource(number) };
        }
        phoneNumbers.splice(index, 1);
        log(`sandbox: ${short(number.sid)} ${maskPhone(number.phoneNumber)} released`);
        return { status: 204 };
    };

    const keyResource = (key: {
        sid: string;
        friendlyName: string;
        dateCreated: Date;
        dateUpdated: Date;
    }) => ({
        sid: key.sid,
        friendly_name: key.friendlyName,
        date_created: rfc2822(key.dateCreated),
        date_updated: rfc2822(key.dateUpdated),
    });

    const apiKeys = (
        method: string,
        path: string,
        sid: string | undefined,
        query: URLSearchParams,
        form: URLSearchParams,
    ): Answer => {
        if (sid === undefined) {
            if (method === 'POST') {
                // Keys made through the REST API are Standard keys; Main keys come only from the console.
                const { key, secret } = addKey({ friendlyName: form.get('FriendlyName') ?? '' });
                log(`sandbox: API key ${short(key.sid)} created`);
                return { status: 201, body: { ...keyResource(key), secret } };
            }
            return {
                status: 200,
                body: listPage({
                    key: 'keys',
                    path,
                    query,
                    filterNames: [],
                    items: credentials.keys(),
                    sid: (k) => k.sid,
                    sequenceOf: oldestFirstSequence,
                    render: keyResource,
                }),
            };
        }
        const key = credentials.keys().find((k) => k.sid === sid);
        if (key === undefined) throw errors.notFound(path);
        if (method === 'GET') return { status: 200, body: keyResource(key) };
        if (method === 'POST') {
            const friendlyName = form.get('FriendlyName');
            if (friendlyName !== null) key.friendlyName = friendlyName;
            key.dateUpdated = new Date();
            return { status: 200, body: keyResource(key) };
        }
        credentials.removeKey(sid);
        log(`sandbox: API key ${short(sid)} revoked`);
        return { status: 204 };
    };

    // ---- REST routing ---------------------------------------------------------------------------------

    const accountResource = () => {
        const base = `/${API_VERSION}/Accounts/${accountSid}`;
        const created = rfc2822(new Date(0));
        return {
            sid: accountSid,
            owner_account_sid: accountSid,
            friendly_name: 'Twilio sandbox',
            status: 'active',
            type: 'Full',
            date_created: created,
            date_updated: created,
            uri: `${base}.json`,
            subresource_uris: {
                messages: `${base}/Messages.json`,
                calls: `${base}/Calls.json`,
                incoming_phone_numbers: `${base}/IncomingPhoneNumbers.json`,
                keys: `${base}/Keys.json`,
            },
        };
    };

    const route = (
        principal: Principal,
        method: string,
        path: string,
        query: URLSearchParams,
        form: URLSearchParams,
    ): Answer => {
        const match =
            /^\/2010-04-01\/Accounts\/([^/]+?)(?:\/(Messages|Calls|IncomingPhoneNumbers|Keys)(?:\/([^/]+?))?)?\.json$/.exec(
                path,
            );
        if (match === null) throw errors.notFound(path);
        const [, pathAccount, collection, sid] = match;
        // A key belongs to one account: the path must name that account, as with the auth token.
        if (pathAccount !== accountSid) throw errors.authenticate();
        // Standard keys reach everything but the Account and the Keys (Twilio's rule).
        const standardKey = principal.kind === 'key' && principal.key.type === 'standard';
        if (standardKey && (collection === undefined || collection === 'Keys')) throw errors.authenticate();
        if (!allowed(path).split(', ').includes(method)) throw errors.methodNotAllowed();
        if (collection === undefined) return { status: 200, body: accountResource() };
        if (collection === 'Keys') return apiKeys(method, path, sid, query, form);
        if (collection === 'IncomingPhoneNumbers') {
            if (sid === undefined) return { status: 200, body: listPhoneNumbers(path, query) };
            return phoneNumber(method, path, sid, form);
        }
        const isMessages = collection === 'Messages';
        if (sid === undefined) {
            if (method === 'GET') {
                return { status: 200, body: isMessages ? listMessages(path, query) : listCalls(path, query) };
            }
            return {
                status: 201,
                body: isMessages ? messageResource(createMessage(form)) : callResource(createCall(form)),
            };
        }
        const list: (SandboxMessage | SandboxCall)[] = isMessages ? messages : calls;
        const index = list.findIndex((item) => item.sid === sid);
        const found = list[index];
        if (found === undefined) throw errors.notFound(path);
        if (method === 'GET') {
            return {
                status: 200,
                body: isMessages
                    ? messageResource(found as SandboxMessage)
                    : callResource(found as SandboxCall),
            };
        }
        list.splice(index, 1);
        log(`sandbox: ${short(found.sid)} deleted`);
        return { status: 204 };
    };

    const sandboxView = (method: string, path: string): Answer => {
        if (method !== 'GET') return { status: 405, body: { message: 'Method not allowed' } };
        if (path === '/sandbox/messages') {
            return { status: 200, body: { messages: newestFirst(messages).map(messageView) } };
        }
        if (path === '/sandbox/calls')
            return { status: 200, body: { calls: newestFirst(calls).map(callView) } };
        if (path === '/sandbox/phone-numbers') {
            return {
                status: 200,
                body: {
                    phone_numbers: phoneNumbers.map((n) => ({
                        ...phoneNumberResource(n),
                        updates: n.updates,
                    })),
                },
            };
        }
        if (path === '/sandbox/requests') {
            return {
                status: 200,
                body: {
                    requests: newestFirst(received).map((r) => ({
                        ...r,
                        query: Object.fromEntries(r.query),
                        form: Object.fromEntries(r.form),
                    })),
                },
            };
        }
        return { status: 404, body: { message: `No sandbox view at ${path}` } };
    };

    const handle = async (req: IncomingMessage, res: ServerResponse) => {
        const method = req.method ?? 'GET';
        const rawPath = req.url ?? '/';
        const queryStart = rawPath.indexOf('?');
        const path = queryStart === -1 ? rawPath : rawPath.slice(0, queryStart);
        const query = new URLSearchParams(queryStart === -1 ? '' : rawPath.slice(queryStart + 1));

        const chunks: Buffer[] = [];
        let size = 0;
        for await (const chunk of req) {
            size += (chunk as Buffer).length;
            if (size > MAX_BODY_BYTES) {
                send(res, { status: 413, body: { message: 'Request body too large' } });
                return;
            }
            chunks.push(chunk as Buffer);
        }
        const contentType = (req.headers['content-type'] ?? '').toLowerCase();
        const form = contentType.startsWith('application/x-www-form-urlencoded')
            ? new URLSearchParams(Buffer.concat(chunks).toString('utf8'))
            : new URLSearchParams();

        if (path === '/sandbox' || path.startsWith('/sandbox/')) {
            send(res, sandboxView(method, path));
            return;
        }

        let answer: Answer;
        try {
            const principal = credentials.authenticate(req.headers.authorization);
            if (principal === undefined) throw errors.authenticate();
            answer = route(principal, method, path, query, form);
        } catch (error) {
            if (!(error instanceof TwilioApiError)) throw error;
            answer = { status: error.status, body: error.toJSON() };
            if (error.status === 405) answer.headers = { Allow: allowed(path) };
            // The code only: Twilio's messages quote the request's values (numbers, URLs).
            const shown = path.replace(/(?<![\dA-Za-z])\+?\d{7,}(?![\dA-Za-z])/g, (digits) =>
                maskPhone(digits),
            );
            log(`sandbox: ${method} ${shown} → ${String(error.status)}, error ${String(error.code)}`);
        }
        const errorCode = answer.status >= 400 ? ((answer.body as { code?: number }).code ?? null) : null;
        received.push({
            at: new Date(),
            method,
            path: rawPath,
            query,
            form,
            username: basicAuthUser(req.headers.authorization),
            status: answer.status,
            errorCode,
        });
        send(res, answer);
    };

    const server = createServer((req, res) => {
        handle(req, res).catch((error: unknown) => {
            log(`sandbox: internal error: ${messageOf(error)}`);
            if (!res.headersSent) {
                send(res, {
                    status: 500,
                    body: { code: 20500, message: 'Internal Server Error', more_info: '', status: 500 },
                });
            }
        });
    });
    await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
            server.off('error', reject);
            resolve();
        });
    });
    const { port } = server.address() as AddressInfo;
    const url = `http://127.0.0.1:${String(port)}`;
    log(`sandbox: Twilio API stand-in listening on ${url} (account ${short(accountSid)})`);

    const idle = async () => {
        while (tasks.size > 0) await Promise.allSettled([...tasks]);
    };

    return {
        url,
        accountSid,
        authToken,
        get messages() {
            return newestFirst(messages);
        },
        get calls() {
            return newestFirst(calls);
        },
        get phoneNumbers() {
            return [...phoneNumbers];
        },
        createApiKey(keyOptions = {}) {
            const { key, secret } = addKey(keyOptions);
            log(`sandbox: API key ${short(key.sid)} created`);
            return { sid: key.sid, secret };
        },
        revokeApiKey(sid) {
            const removed = credentials.removeKey(sid);
            if (removed) log(`sandbox: API key ${short(sid)} revoked`);
            return removed;
        },
        received: () => [...received],
        async receiveSms(inbound) {
            const to = inbound.to ?? SANDBOX_NUMBER;
            const mediaUrls = inbound.mediaUrls ?? [];
            const now = new Date();
            const message: SandboxMessage = {
                sid: newSid(mediaUrls.length > 0 ? 'MM' : 'SM'),
                accountSid,
                direction: 'inbound',
                to,
                from: inbound.from,
                body: inbound.body,
                mediaUrls: [...mediaUrls],
                messagingServiceSid: inbound.messagingServiceSid ?? null,
                status: 'received',
                numSegments: segmentCount(inbound.body),
                dateCreated: now,
                dateUpdated: now,
                dateSent: now,
                errorCode: null,
                errorMessage: null,
                statusCallback: null,
                history: [{ status: 'received', at: now }],
                callbacks: [],
            };
            store(messages, message);
            const target = `POST ${loggableUrl(inbound.appUrl)}`;
            log(
                `sandbox: ${short(message.sid)} inbound from ${maskPhone(inbound.from)} (${String(inbound.body.length)} chars) → ${target}`,
            );
            const result = await simulateInboundSms({
                appUrl: inbound.appUrl,
                from: inbound.from,
                to,
                body: inbound.body,
                accountSid,
                authToken,
                mediaUrls,
                messagingServiceSid: inbound.messagingServiceSid,
                signatureUrl: inbound.signatureUrl,
                messageSid: message.sid,
                fetch: fetchImpl,
                signal: shutdown.signal,
            }).catch((error: unknown) => {
                log(
                    `sandbox: ${short(message.sid)} webhook ${target} failed: ${describeRequestError(error)}`,
                );
                throw error;
            });
            message.callbacks.push({
                kind: 'twiml',
                url: inbound.appUrl,
                method: 'POST',
                status: 'received',
                at: now,
                httpStatus: result.status,
                error: null,
            });
            log(`sandbox: ${short(message.sid)} webhook ${target}: HTTP ${String(result.status)}`);
            for (const reply of result.replies) {
                const replyAt = new Date();
                const replyTo = reply.to ?? inbound.from;
                const outbound: SandboxMessage = {
                    sid: newSid(reply.mediaUrls.length > 0 ? 'MM' : 'SM'),
                    accountSid,
                    direction: 'outbound-reply',
                    to: replyTo,
                    from: reply.from ?? to,
                    body: reply.body,
                    mediaUrls: reply.mediaUrls,
                    messagingServiceSid: null,
                    status: 'queued',
                    numSegments: segmentCount(reply.body),
                    dateCreated: replyAt,
                    dateUpdated: replyAt,
                    dateSent: null,
                    errorCode: null,
                    errorMessage: null,
                    statusCallback: null,
                    history: [{ status: 'queued', at: replyAt }],
                    callbacks: [],
                };
                store(messages, outbound);
                log(
                    `sandbox: ${short(outbound.sid)} queued reply → ${maskPhone(replyTo)} (${String(reply.body.length)} chars)`,
                );
                schedule(`message ${short(outbound.sid)}`, () => runMessage(outbound));
            }
            return result;
        },
        idle,
        close() {
            closing ??= (async () => {
                shutdown.abort();
                const closed = new Promise<void>((resolve, reject) => {
                    server.close((error) => (error === undefined ? resolve() : reject(error)));
                });
                server.closeAllConnections();
                await closed;
                await idle();
                log('sandbox: closed');
            })();
            return closing;
        },
    };
}

function nonEmpty(value: string | null): string | null {
    return value === null || value.trim() === '' ? null : value;
}

function httpMethod(form: URLSearchParams, name: string): 'GET' | 'POST' {
    const value = (form.get(name) ?? 'POST').toUpperCase();
    if (value !== 'GET' && value !== 'POST')
        throw errors.invalidParameter(`Invalid ${name}: must be GET or POST`);
    return value;
}

/** The methods a REST path answers, Twilio's for each resource the sandbox serves. */
function allowed(path: string): string {
    if (/\/(Messages|Calls|Keys)\.json$/.test(path)) return 'GET, POST';
    if (/\/(Messages|Calls)\/[^/]+\.json$/.test(path)) return 'GET, DELETE';
    if (/\/(IncomingPhoneNumbers|Keys)\/[^/]+\.json$/.test(path)) return 'GET, POST, DELETE';
    return 'GET';
}

function send(res: ServerResponse, answer: Answer): void {
    const headers: Record<string, string> = {
        'Twilio-Request-Id': newSid('RQ'),
        ...answer.headers,
    };
    if (answer.body === undefined) {
        res.writeHead(answer.status, headers);
        res.end();
        return;
    }
    const json = JSON.stringify(answer.body);
    res.writeHead(answer.status, {
        ...headers,
        'Content-Type': 'application/json; charset=utf-8',
        'Content-Length': String(Buffer.byteLength(json)),
    });
    res.end(json);
}

function messageView(message: SandboxMessage) {
    return {
        ...messageResource(message),
        media_urls: message.mediaUrls,
        status_callback: message.statusCallback,
        history: message.history,
        callbacks: message.callbacks,
    };
}

function callView(call: SandboxCall) {
    return {
        ...callResource(call),
        url: call.url,
        method: call.method,
        twiml: call.twiml,
        status_callback: call.statusCallback,
        status_callback_method: call.statusCallbackMethod,
        status_callback_event: call.statusCallbackEvents,
        timeout: call.timeout,
        record: call.record,
        machine_detection: call.machineDetection,
        error_code: call.errorCode,
        error_message: call.errorMessage,
        history: call.history,
        callbacks: call.callbacks,
    };
}
