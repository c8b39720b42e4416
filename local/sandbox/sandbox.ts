/**
 * The Twilio sandbox: a local stand-in for the part of Twilio's REST API this app uses (Messages and Calls
 * under `/2010-04-01/Accounts/{AccountSid}`) and for the requests Twilio makes back (message status
 * callbacks, the call's TwiML fetch and call status callbacks), all signed with the sandbox's auth token.
 *
 * The real `twilio` SDK talks to it unchanged through the client factory's `TWILIO_API_URL` redirect.
 * `npm start` runs the app against it when no Twilio account is configured; tests use it as the fake
 * Twilio API. It listens on loopback only.
 *
 * Besides the API it serves `GET /sandbox/messages`, `/sandbox/calls` and `/sandbox/requests` (no auth):
 * everything it received and did, newest first, with each resource's status history and callbacks.
 */

import { randomBytes, createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { maskPhone } from '../../shared/redact';
import {
    describeRequestError,
    loggableUrl,
    messageOf,
    sendTwilioRequest,
    type TwilioParams,
    type TwilioRequestResult,
} from './callbacks';
import { ErrorCode, errors, TwilioApiError } from './errors';
import { simulateInboundSms, type InboundSmsResult } from './inbound';
import { dateFilter, listPage } from './listing';
import {
    API_VERSION,
    SANDBOX_NUMBER,
    callResource,
    countryOf,
    isCallParty,
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
import { parseTwiml } from './twiml';

export type { CallbackAttempt, CallStatus, MessageStatus, SandboxCall, SandboxMessage } from './resources';
export type { InboundSmsResult } from './inbound';

export interface TwilioSandboxOptions {
    accountSid: string;
    authToken: string;
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
    /** The Basic auth user name (the account SID), or `undefined` without Basic auth. */
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

/** Credentials in Twilio's shape, random each time: `AC` + 32 hex, and a 32-hex auth token. */
export function generateTestCredentials(): { accountSid: string; authToken: string } {
    return { accountSid: newSid('AC'), authToken: randomBytes(16).toString('hex') };
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
    const expectedCredentials = digest(`${accountSid}:${authToken}`);

    const messages: SandboxMessage[] = [];
    const calls: SandboxCall[] = [];
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
            subresource_uris: { messages: `${base}/Messages.json`, calls: `${base}/Calls.json` },
        };
    };

    const route = (method: string, path: string, query: URLSearchParams, form: URLSearchParams): Answer => {
        const match = /^\/2010-04-01\/Accounts\/([^/]+?)(?:\/(Messages|Calls)(?:\/([^/]+?))?)?\.json$/.exec(
            path,
        );
        if (match === null) throw errors.notFound(path);
        const [, pathAccount, collection, sid] = match;
        if (pathAccount !== accountSid) throw errors.authenticate();
        if (collection === undefined) {
            if (method !== 'GET') throw errors.methodNotAllowed();
            return { status: 200, body: accountResource() };
        }
        const isMessages = collection === 'Messages';
        if (sid === undefined) {
            if (method === 'GET') {
                return { status: 200, body: isMessages ? listMessages(path, query) : listCalls(path, query) };
            }
            if (method === 'POST') {
                return {
                    status: 201,
                    body: isMessages ? messageResource(createMessage(form)) : callResource(createCall(form)),
                };
            }
            throw errors.methodNotAllowed();
        }
        if (method !== 'GET' && method !== 'DELETE') throw errors.methodNotAllowed();
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

        const credentials = basicAuth(req.headers.authorization);
        let answer: Answer;
        try {
            if (credentials === undefined || !safeEqual(digest(credentials), expectedCredentials)) {
                throw errors.authenticate();
            }
            answer = route(method, path, query, form);
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
            username: credentials?.split(':')[0],
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

function basicAuth(header: string | undefined): string | undefined {
    if (header === undefined || !/^basic /i.test(header)) return undefined;
    return Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
}

function digest(value: string): Buffer {
    return createHash('sha256').update(value, 'utf8').digest();
}

function safeEqual(a: Buffer, b: Buffer): boolean {
    return a.length === b.length && timingSafeEqual(a, b);
}

function allowed(path: string): string {
    if (/\/(Messages|Calls)\.json$/.test(path)) return 'GET, POST';
    if (/\/(Messages|Calls)\/[^/]+\.json$/.test(path)) return 'GET, DELETE';
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
