/**
 * Status callbacks, inbound messages and the Send / Get / List API on real infrastructure: the ledger on
 * Azurite's Table service, the outbound queue on Azurite's Queue service, the Twilio sandbox (whose signed
 * status callbacks reach a small local app that validates them with twilio's own validator), and the
 * real `twilio` client behind the fault proxy.
 */

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { TableClient } from '@azure/data-tables';
import { HttpRequest, type HttpResponseInit } from '@azure/functions';
import { QueueClient } from '@azure/storage-queue';
import { validateRequest } from 'twilio/lib/webhooks/webhooks';
import { newSid } from '../../local/sandbox/resources';
import type { Ledger, LedgerRecord } from '../../shared/ledger/contract';
import { getMessage, listMessages } from '../../shared/api/read';
import { sendCall, sendMessage, type SendDependencies } from '../../shared/api/send';
import {
    CONFLICTING_COPY,
    parseOptions,
    processOutbound,
    type OutboundOutcome,
} from '../../shared/outbound/pipeline';
import { recordInboundMessage } from '../../shared/webhooks/inboundMessage';
import { recordStatusCallback } from '../../shared/webhooks/statusCallback';
import { closeServer, listen, trackSockets } from '../fakes/servers';
import {
    DEFAULT_FROM,
    DEFAULT_SERVICE,
    PUBLIC_BASE_URL,
    TWIML_ANSWER,
    freshNumber,
    startOutboundEnvironment,
    type OutboundEnvironment,
} from '../support/outboundHarness';

// ---- the app's side of the sandbox's requests ----------------------------------------------------------

interface AppRequest {
    path: string;
    form: URLSearchParams;
    signatureValid: boolean;
    answered: number;
}

/**
 * A local stand-in for the app's public origin: `/api/status` validates the signature against the public
 * URL Twilio signed and records the callback in the ledger, as functions/status.ts does; `/api/voice`
 * answers TwiML. The sandbox reaches it through a `fetch` that maps `https://app.example.com` to it.
 */
async function startApp(authToken: () => string, ledger: () => Ledger) {
    const requests: AppRequest[] = [];
    const handle = async (req: IncomingMessage, res: ServerResponse) => {
        const chunks: Buffer[] = [];
        for await (const chunk of req) chunks.push(chunk as Buffer);
        const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
        const publicUrl = `${PUBLIC_BASE_URL}${req.url ?? '/'}`;
        const signature = req.headers['x-twilio-signature'];
        const signatureValid =
            typeof signature === 'string' &&
            validateRequest(authToken(), signature, publicUrl, Object.fromEntries(form));
        const path = new URL(publicUrl).pathname;
        const answer = (status: number, body = '', type = 'text/plain') => {
            requests.push({ path, form, signatureValid, answered: status });
            res.writeHead(status, { 'Content-Type': type, Connection: 'close' });
            res.end(body);
        };
        if (!signatureValid) {
            answer(403);
        } else if (path === '/api/voice') {
            answer(200, TWIML_ANSWER, 'text/xml');
        } else if (path === '/api/status') {
            const result = await recordStatusCallback(
                ledger(),
                form,
                new URL(publicUrl).searchParams.get('id'),
            );
            answer(result.kind === 'invalid' ? 400 : 204);
        } else if (path === '/api/sms') {
            // As functions/inboundSms.ts: a status callback posted here records nothing.
            await recordInboundMessage(ledger(), form);
            answer(200, '<?xml version="1.0" encoding="UTF-8"?><Response/>', 'text/xml');
        } else {
            answer(404);
        }
    };
    const server = createServer((req, res) => {
        handle(req, res).catch(() => {
            res.writeHead(500, { Connection: 'close' });
            res.end();
        });
    });
    const sockets = trackSockets(server);
    const origin = `http://127.0.0.1:${String(await listen(server))}`;
    const appFetch: typeof fetch = (input, init) => {
        const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
        if (!url.startsWith(`${PUBLIC_BASE_URL}/`)) throw new Error(`unexpected request to ${url}`);
        return fetch(`${origin}${url.slice(PUBLIC_BASE_URL.length)}`, init);
    };
    return { origin, requests, appFetch, close: () => closeServer(server, sockets) };
}

let env: OutboundEnvironment;
let app: Awaited<ReturnType<typeof startApp>>;
let queues = 0;

beforeAll(async () => {
    app = await startApp(
        () => env.sandbox.authToken,
        () => env.ledger,
    );
    env = await startOutboundEnvironment({ tablePrefix: 'statusapi', appFetch: app.appFetch });
}, 60_000);

afterAll(async () => {
    await env.stop();
    await app.close();
});

beforeEach(() => {
    env.proxy.clear();
});

afterEach(async () => {
    await env.sandbox.idle();
});

const T0 = '2024-05-04T10:00:00.000Z';
/** A clock that moves a second on every reading, from `start`. */
function ticking(start = T0): () => Date {
    let ms = Date.parse(start);
    return () => new Date((ms += 1_000));
}

async function record(id: string, ledger: Ledger = env.ledger): Promise<LedgerRecord> {
    const found = await ledger.get(id);
    if (found === undefined) throw new Error(`no ledger record ${id}`);
    return found;
}

/** An outbound record as the pipeline leaves it after a create Twilio answered `queued`. */
async function sentRecord(id: string, type: 'sms' | 'call', ledger: Ledger = env.ledger) {
    const sid = newSid(type === 'sms' ? 'SM' : 'CA');
    const to = freshNumber();
    await ledger.create({
        id,
        direction: 'outbound',
        type,
        to,
        mediaCount: 0,
        sid,
        status: 'queued',
        history: [{ status: 'queued', at: T0, source: 'twilio', sid }],
        attempts: 1,
        createdAt: T0,
        updatedAt: T0,
    });
    return { sid, to };
}

const messageCallback = (sid: string, status: string, extra: Record<string, string> = {}) =>
    new URLSearchParams({
        MessageSid: sid,
        SmsSid: sid,
        MessageStatus: status,
        SmsStatus: status,
        AccountSid: env.sandbox.accountSid,
        ...extra,
    });
const callCallback = (sid: string, status: string) =>
    new URLSearchParams({ CallSid: sid, CallStatus: status, AccountSid: env.sandbox.accountSid });

const statuses = (value: LedgerRecord) => value.history.map((event) => event.status);

// ---------------------------------------------------------------------------------------------------------

describe('status callbacks', () => {
    it('in order (queued, sent, delivered) → delivered, each status once in the history', async () => {
        const { sid } = await sentRecord('cb-order', 'sms');
        const clock = ticking();
        const kinds: string[] = [];
        for (const status of ['queued', 'sent', 'delivered']) {
            kinds.push(
                (await recordStatusCallback(env.ledger, messageCallback(sid, status), 'cb-order', clock))
                    .kind,
            );
        }
        expect(kinds).toEqual(['unchanged', 'updated', 'updated']);
        const stored = await record('cb-order');
        expect(stored.status).toBe('delivered');
        expect(statuses(stored)).toEqual(['queued', 'sent', 'delivered']);
        expect(stored.history.every((event) => event.sid === sid && event.source === 'twilio')).toBe(true);
    });

    it('out of order (delivered, then sent) → stays delivered; both kept once', async () => {
        const { sid } = await sentRecord('cb-reorder', 'sms');
        const clock = ticking();
        await recordStatusCallback(env.ledger, messageCallback(sid, 'delivered'), 'cb-reorder', clock);
        await recordStatusCallback(env.ledger, messageCallback(sid, 'sent'), 'cb-reorder', clock);
        const stored = await record('cb-reorder');
        expect(stored.status).toBe('delivered');
        expect([...statuses(stored)].sort()).toEqual(['delivered', 'queued', 'sent']);
    });

    it('a second final status only adds to the history and is reported unchanged', async () => {
        const { sid } = await sentRecord('cb-second-final', 'sms');
        const clock = ticking();
        expect(
            (
                await recordStatusCallback(
                    env.ledger,
                    messageCallback(sid, 'delivered'),
                    'cb-second-final',
                    clock,
                )
            ).kind,
        ).toBe('updated');
        const late = await recordStatusCallback(
            env.ledger,
            messageCallback(sid, 'undelivered'),
            'cb-second-final',
            clock,
        );
        expect(late).toMatchObject({ kind: 'unchanged', status: 'undelivered' });
        const stored = await record('cb-second-final');
        expect(stored.status).toBe('delivered');
        expect(statuses(stored)).toContain('undelivered');
    });

    it('duplicate callbacks (Twilio retries) change nothing', async () => {
        const { sid } = await sentRecord('cb-dup', 'sms');
        const clock = ticking();
        await recordStatusCallback(env.ledger, messageCallback(sid, 'sent'), 'cb-dup', clock);
        await recordStatusCallback(env.ledger, messageCallback(sid, 'delivered'), 'cb-dup', clock);
        const before = await record('cb-dup');
        for (const status of ['delivered', 'sent', 'queued', 'delivered']) {
            const result = await recordStatusCallback(
                env.ledger,
                messageCallback(sid, status),
                'cb-dup',
                clock,
            );
            expect(result).toEqual({ kind: 'unchanged', id: 'cb-dup', sid, status });
        }
        expect(await record('cb-dup')).toEqual(before);
    });

    it("a call's callbacks → completed; a late ringing and a repeated completed change nothing", async () => {
        const { sid } = await sentRecord('cb-call', 'call');
        const clock = ticking();
        for (const status of ['initiated', 'ringing', 'in-progress', 'completed']) {
            await recordStatusCallback(env.ledger, callCallback(sid, status), 'cb-call', clock);
        }
        const completed = await record('cb-call');
        expect(completed).toMatchObject({ type: 'call', status: 'completed', sid });
        expect(statuses(completed)).toEqual(['queued', 'initiated', 'ringing', 'in-progress', 'completed']);
        for (const status of ['ringing', 'completed']) {
            expect(
                (await recordStatusCallback(env.ledger, callCallback(sid, status), 'cb-call', clock)).kind,
            ).toBe('unchanged');
        }
        expect(await record('cb-call')).toEqual(completed);
    });

    it('an unknown SID without our id is recorded under the SID', async () => {
        const sid = newSid('SM');
        const to = freshNumber();
        const form = messageCallback(sid, 'delivered', { To: to, From: DEFAULT_FROM });
        expect(await recordStatusCallback(env.ledger, form, null, ticking())).toEqual({
            kind: 'recorded-unknown',
            id: sid,
            sid,
            status: 'delivered',
        });
        const stored = await record(sid);
        expect(stored).toMatchObject({
            id: sid,
            direction: 'outbound',
            type: 'sms',
            to,
            from: DEFAULT_FROM,
            sid,
            status: 'delivered',
        });
        expect(statuses(stored)).toEqual(['delivered']);

        const callSid = newSid('CA');
        expect(
            await recordStatusCallback(env.ledger, callCallback(callSid, 'completed'), null),
        ).toMatchObject({
            kind: 'recorded-unknown',
            id: callSid,
        });
        expect(await record(callSid)).toMatchObject({ type: 'call', status: 'completed', sid: callSid });
    });

    it.each([
        { status: 'undelivered', code: '30003' },
        { status: 'failed', code: '30008' },
    ])('ErrorCode is stored with $status', async ({ status, code }) => {
        const id = `cb-error-${status}`;
        const { sid } = await sentRecord(id, 'sms');
        const clock = ticking();
        await recordStatusCallback(env.ledger, messageCallback(sid, 'sent'), id, clock);
        await recordStatusCallback(env.ledger, messageCallback(sid, status, { ErrorCode: code }), id, clock);
        expect(await record(id)).toMatchObject({
            status,
            errorCode: code,
            errorMessage: `Twilio error ${code}`,
        });
    });

    it('a callback without a SID or status is invalid and records nothing', async () => {
        const result = await recordStatusCallback(
            env.ledger,
            new URLSearchParams({ MessageStatus: 'sent' }),
            'x',
        );
        expect(result.kind).toBe('invalid');
        expect(await env.ledger.get('x')).toBeUndefined();
    });

    describe("end to end: the sandbox's own signed callbacks", () => {
        it('an SMS sent by the pipeline ends delivered in the ledger, every callback validated', async () => {
            const to = freshNumber();
            const outcome = await processOutbound(
                { type: 'sms', id: 'e2e-sms', to, body: 'end to end' },
                { id: 'qm-e2e-1', dequeueCount: 1 },
                env.deps(),
            );
            await env.sandbox.idle();

            const message = env.sandbox.messages.find((m) => m.to === to);
            expect(outcome).toMatchObject({ kind: 'sent', sid: message?.sid });
            expect(message?.callbacks.map((c) => [c.status, c.httpStatus])).toEqual([
                ['queued', 204],
                ['sent', 204],
                ['delivered', 204],
            ]);
            const hits = app.requests.filter((r) => r.form.get('MessageSid') === message?.sid);
            expect(hits).toHaveLength(3);
            expect(hits.every((r) => r.signatureValid && r.path === '/api/status')).toBe(true);

            const stored = await record('e2e-sms');
            expect(stored).toMatchObject({ sid: message?.sid, status: 'delivered', attempts: 1 });
            expect(statuses(stored)).toEqual(['queued', 'sent', 'delivered']);
        });

        it('a Messaging Service MMS goes accepted → queued → sent → delivered', async () => {
            const to = freshNumber();
            await processOutbound(
                { type: 'sms', id: 'e2e-mms', to, mediaUrl: ['https://cdn.example.com/a.png'] },
                { id: 'qm-e2e-2', dequeueCount: 1 },
                env.deps({ messagingServiceSid: DEFAULT_SERVICE }),
            );
            await env.sandbox.idle();
            const stored = await record('e2e-mms');
            expect(stored.status).toBe('delivered');
            // The create's answer and the first callbacks race; the history holds each status once.
            expect([...statuses(stored)].sort()).toEqual(['accepted', 'delivered', 'queued', 'sent']);
        });

        it("a call to the app's voice URL (fetched signed) ends completed in the ledger", async () => {
            const to = freshNumber();
            await processOutbound(
                { type: 'call', id: 'e2e-call', to },
                { id: 'qm-e2e-3', dequeueCount: 1 },
                env.deps(),
            );
            await env.sandbox.idle();
            const call = env.sandbox.calls.find((c) => c.to === to);
            expect(call?.status).toBe('completed');
            const hits = app.requests.filter((r) => r.form.get('CallSid') === call?.sid);
            expect(hits.map((r) => [r.path, r.form.get('CallStatus'), r.answered])).toEqual([
                ['/api/status', 'initiated', 204],
                ['/api/status', 'ringing', 204],
                ['/api/voice', 'in-progress', 200],
                ['/api/status', 'in-progress', 204],
                ['/api/status', 'completed', 204],
            ]);
            expect(hits.every((r) => r.signatureValid)).toBe(true);
            const stored = await record('e2e-call');
            expect(stored).toMatchObject({ type: 'call', sid: call?.sid, status: 'completed' });
            // The create's answer (queued) may be recorded after the first callback: each status once.
            expect([...statuses(stored)].sort()).toEqual([
                'completed',
                'in-progress',
                'initiated',
                'queued',
                'ringing',
            ]);
        });

        it('the local app does check signatures: a forged callback is refused and records nothing', async () => {
            const sid = newSid('SM');
            const response = await fetch(`${app.origin}/api/status?id=forged`, {
                method: 'POST',
                headers: {
                    'Content-Type': 'application/x-www-form-urlencoded',
                    'X-Twilio-Signature': 'bm90IGEgc2lnbmF0dXJl',
                },
                body: messageCallback(sid, 'delivered').toString(),
            });
            expect(response.status).toBe(403);
            expect(await env.ledger.get('forged')).toBeUndefined();
        });
    });
});

describe('inbound messages', () => {
    it('are recorded once per MessageSid, with the body length only', async () => {
        const { ledger, tableName } = env.newLedger();
        const sid = newSid('SM');
        const from = freshNumber();
        const form = new URLSearchParams({
            MessageSid: sid,
            SmsMessageSid: sid,
            AccountSid: env.sandbox.accountSid,
            From: from,
            To: DEFAULT_FROM,
            Body: 'my secret reply',
            NumMedia: '0',
        });
        expect(await recordInboundMessage(ledger, form, ticking())).toBe('created');
        const first = await record(sid, ledger);
        // Twilio retries the webhook, even with a different body: the first record stands.
        form.set('Body', 'something else entirely');
        expect(await recordInboundMessage(ledger, form, ticking('2024-05-05T00:00:00.000Z'))).toBe('exists');
        expect(await record(sid, ledger)).toEqual(first);

        expect(first).toMatchObject({
            id: sid,
            direction: 'inbound',
            type: 'sms',
            from,
            to: DEFAULT_FROM,
            sid,
            status: 'received',
            bodyLength: 'my secret reply'.length,
            mediaCount: 0,
            attempts: 0,
        });
        expect(first.body).toBeUndefined();
        const raw = TableClient.fromConnectionString(env.azurite.connectionString, tableName, {
            allowInsecureConnection: true,
        });
        const entities: Record<string, unknown>[] = [];
        for await (const entity of raw.listEntities()) entities.push(entity);
        expect(entities).toHaveLength(3); // the record, its day-index copy and its SID-index entry
        for (const entity of entities) {
            expect(entity).not.toHaveProperty('body');
            expect(JSON.stringify(entity)).not.toContain('secret');
        }
    });

    it('an inbound form without a valid MessageSid is invalid', async () => {
        const form = new URLSearchParams({ MessageSid: 'SM123', From: freshNumber(), Body: 'x' });
        expect(await recordInboundMessage(env.ledger, form)).toBe('invalid');
    });
});

// ---- the HTTP API ---------------------------------------------------------------------------------------

interface JsonResponse {
    status: number;
    location: string | null;
    body: Record<string, unknown>;
}

async function newQueue(): Promise<QueueClient> {
    queues++;
    const queue = new QueueClient(env.azurite.connectionString, `outbound-${String(queues)}`);
    await queue.create();
    return queue;
}

/** POST /api/messages or /api/calls, by kind. */
function sendOutbound(
    request: HttpRequest,
    kind: 'sms' | 'call',
    deps: SendDependencies,
): Promise<HttpResponseInit> {
    return kind === 'call' ? sendCall(request, deps) : sendMessage(request, deps);
}

function apiDeps(queue: QueueClient, overrides: Partial<SendDependencies> = {}): SendDependencies {
    return {
        ledger: env.ledger,
        parseOptions: parseOptions({
            fromNumber: DEFAULT_FROM,
            messagingServiceSid: undefined,
            publicBaseUrl: PUBLIC_BASE_URL,
        }),
        enqueue: async (text) => {
            await queue.sendMessage(text);
        },
        ...overrides,
    };
}

function post(path: string, body: string, headers: Record<string, string> = {}): HttpRequest {
    return new HttpRequest({
        method: 'POST',
        url: `${PUBLIC_BASE_URL}${path}`,
        headers: { 'Content-Type': 'application/json', ...headers },
        body: { string: body },
    });
}

const get = (pathAndQuery: string) =>
    new HttpRequest({ method: 'GET', url: `${PUBLIC_BASE_URL}${pathAndQuery}` });

async function json(response: Promise<HttpResponseInit>): Promise<JsonResponse> {
    const { status, headers } = await response;
    const body = (await response).jsonBody as Record<string, unknown>;
    // The handlers answer with plain header objects.
    const plain = (headers ?? {}) as Record<string, string>;
    return { status: status ?? 200, location: new Headers(plain).get('location'), body };
}

/** Everything on the queue, dequeued (invisible for a minute), as the host would receive it. */
async function receiveAll(queue: QueueClient) {
    const { receivedMessageItems } = await queue.receiveMessages({
        numberOfMessages: 32,
        visibilityTimeout: 60,
    });
    return receivedMessageItems;
}

/** Each queue copy through the pipeline, as the outbound function would run it. */
async function processQueue(queue: QueueClient): Promise<OutboundOutcome[]> {
    const outcomes: OutboundOutcome[] = [];
    for (const item of await receiveAll(queue)) {
        outcomes.push(
            await processOutbound(
                item.messageText,
                { id: item.messageId, dequeueCount: item.dequeueCount },
                env.deps(),
            ),
        );
        await queue.deleteMessage(item.messageId, item.popReceipt);
    }
    return outcomes;
}

describe('API: send', () => {
    it('202 with Location and a new id; the message is queued in the ledger and on the queue, then sent', async () => {
        const queue = await newQueue();
        const to = freshNumber();
        const response = await json(
            sendOutbound(
                post('/api/messages', JSON.stringify({ to, body: 'via the API' })),
                'sms',
                apiDeps(queue),
            ),
        );
        expect(response.status).toBe(202);
        const id = String(response.body.id);
        expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
        expect(response.body).toEqual({ id, status: 'queued' });
        expect(response.location).toBe(`${PUBLIC_BASE_URL}/api/messages/${id}`);

        const queued = await record(id);
        expect(queued).toMatchObject({ status: 'queued', attempts: 0, to, type: 'sms', bodyLength: 11 });
        expect(queued.acceptLease).toBeUndefined();
        expect(queued.fingerprint).toMatch(/^v1\.[A-Za-z0-9_-]{43}$/);
        expect(queued.history.map((e) => [e.status, e.source])).toEqual([
            ['accepting', 'app'],
            ['queued', 'app'],
        ]);

        const items = await receiveAll(queue);
        expect(items).toHaveLength(1);
        expect(JSON.parse(items[0]?.messageText ?? '')).toEqual({
            type: 'sms',
            version: 1,
            id,
            to,
            body: 'via the API',
            fingerprint: queued.fingerprint,
        });
        await queue.clearMessages();
        const outcome = await processOutbound(
            items[0]?.messageText,
            { id: items[0]?.messageId ?? '', dequeueCount: 1 },
            env.deps(),
        );
        expect(outcome).toMatchObject({ kind: 'sent', id });
        expect(env.sandbox.messages.filter((m) => m.to === to)).toHaveLength(1);
    });

    it('Idempotency-Key becomes the id; a calls request goes the same way', async () => {
        const queue = await newQueue();
        const to = freshNumber();
        const response = await json(
            sendOutbound(
                post('/api/calls', JSON.stringify({ to, say: 'hello', id: 'call-key-1' }), {
                    'Idempotency-Key': 'call-key-1',
                }),
                'call',
                apiDeps(queue),
            ),
        );
        expect(response).toEqual({
            status: 202,
            location: `${PUBLIC_BASE_URL}/api/messages/call-key-1`,
            body: { id: 'call-key-1', status: 'queued' },
        });
        expect(await record('call-key-1')).toMatchObject({ type: 'call', to, status: 'queued' });
        expect(await processQueue(queue)).toEqual([
            expect.objectContaining({ kind: 'sent', id: 'call-key-1' }) as OutboundOutcome,
        ]);
        expect(env.sandbox.calls.filter((c) => c.to === to)).toHaveLength(1);
    });

    it('a retried POST with the same key and request → same id and status, enqueued and sent once', async () => {
        const queue = await newQueue();
        const to = freshNumber();
        const key = 'order-7781:notify';
        const send = () =>
            json(
                sendOutbound(
                    post('/api/messages', JSON.stringify({ to, body: 'Your order shipped' }), {
                        'Idempotency-Key': key,
                    }),
                    'sms',
                    apiDeps(queue),
                ),
            );
        const first = await send();
        const retried = await send();
        expect(first).toEqual({
            status: 202,
            location: `${PUBLIC_BASE_URL}/api/messages/${encodeURIComponent(key)}`,
            body: { id: key, status: 'queued' },
        });
        expect(retried).toEqual(first);
        // The first POST's enqueue was confirmed in the ledger, so the retry enqueues nothing.
        expect((await queue.peekMessages({ numberOfMessages: 32 })).peekedMessageItems).toHaveLength(1);

        const outcomes = await processQueue(queue);
        expect(outcomes.map((o) => o.kind)).toEqual(['sent']);
        const messages = env.sandbox.messages.filter((m) => m.to === to);
        expect(messages).toHaveLength(1);
        expect(await record(key)).toMatchObject({ sid: messages[0]?.sid, attempts: 1 });

        // A third retry after the send: 202 with the id and its current status, and nothing enqueued.
        // (Settle the sandbox's status callbacks first, so the status does not move during the check.)
        await env.sandbox.idle();
        const late = await send();
        expect(late.status).toBe(202);
        expect(late.body).toEqual({ id: key, status: (await record(key)).status });
        expect((await queue.peekMessages({ numberOfMessages: 32 })).peekedMessageItems).toHaveLength(0);
    });

    it('the same key on an inbound message id is refused with 422', async () => {
        const queue = await newQueue();
        const sid = newSid('SM');
        await recordInboundMessage(
            env.ledger,
            new URLSearchParams({ MessageSid: sid, From: freshNumber(), To: DEFAULT_FROM, Body: 'hi' }),
        );
        const response = await json(
            sendOutbound(
                post('/api/messages', JSON.stringify({ to: freshNumber(), body: 'x' }), {
                    'Idempotency-Key': sid,
                }),
                'sms',
                apiDeps(queue),
            ),
        );
        expect(response.status).toBe(422);
        expect(response.body).toMatchObject({ error: 'idempotency_key_reused', id: sid });
        expect((await record(sid)).direction).toBe('inbound');
        expect((await queue.peekMessages()).peekedMessageItems).toHaveLength(0);
    });

    const to = '+15553330000';
    it.each<{
        name: string;
        kind?: 'sms' | 'call';
        body: string;
        headers?: Record<string, string>;
        field: string;
    }>([
        { name: 'a body that is not JSON', body: 'to=+15553330000&body=hi', field: '(body)' },
        { name: 'a JSON array', body: '[]', field: '(body)' },
        { name: 'JSON null', body: 'null', field: '(body)' },
        {
            name: 'a bad Idempotency-Key',
            body: JSON.stringify({ to, body: 'x' }),
            headers: { 'Idempotency-Key': 'has spaces' },
            field: 'Idempotency-Key',
        },
        {
            name: 'an Idempotency-Key over 200 characters',
            body: JSON.stringify({ to, body: 'x' }),
            headers: { 'Idempotency-Key': 'k'.repeat(201) },
            field: 'Idempotency-Key',
        },
        {
            name: 'an id that differs from the key',
            body: JSON.stringify({ to, body: 'x', id: 'other' }),
            headers: { 'Idempotency-Key': 'mine' },
            field: 'id',
        },
        { name: 'a bad To', body: JSON.stringify({ to: '555', body: 'x' }), field: 'to' },
        { name: 'no body and no media', body: JSON.stringify({ to }), field: 'body' },
        { name: 'a body over 1600', body: JSON.stringify({ to, body: 'b'.repeat(1601) }), field: 'body' },
        {
            name: 'http media',
            body: JSON.stringify({ to, mediaUrl: ['http://cdn.example.com/a.png'] }),
            field: 'mediaUrl[0]',
        },
        {
            name: '11 media URLs',
            body: JSON.stringify({
                to,
                mediaUrl: Array.from({ length: 11 }, () => 'https://cdn.example.com/a.png'),
            }),
            field: 'mediaUrl',
        },
        {
            name: 'a bad Messaging Service',
            body: JSON.stringify({ to, body: 'x', messagingServiceSid: 'MGx' }),
            field: 'messagingServiceSid',
        },
        {
            name: 'an unknown field',
            body: JSON.stringify({ to, body: 'x', priority: 'high' }),
            field: 'priority',
        },
        { name: 'version 2', body: JSON.stringify({ to, body: 'x', version: 2 }), field: 'version' },
        {
            name: 'type call on /api/messages',
            body: JSON.stringify({ type: 'call', to, body: 'x' }),
            field: 'type',
        },
        {
            name: 'a call with url and twiml',
            kind: 'call',
            body: JSON.stringify({ to, url: 'https://a.example/v', twiml: '<Response/>' }),
            field: 'twiml',
        },
        {
            name: 'a call with twiml over 4000',
            kind: 'call',
            body: JSON.stringify({ to, twiml: `<Response><Say>${'a'.repeat(4000)}</Say></Response>` }),
            field: 'twiml',
        },
        {
            name: 'a call with a bad timeout',
            kind: 'call',
            body: JSON.stringify({ to, timeout: 1 }),
            field: 'timeout',
        },
    ])(
        '400 naming `$field` for $name; nothing recorded or enqueued',
        async ({ kind, body, headers, field }) => {
            const queue = await newQueue();
            const response = await json(
                sendOutbound(
                    post(kind === 'call' ? '/api/calls' : '/api/messages', body, headers),
                    kind ?? 'sms',
                    apiDeps(queue),
                ),
            );
            expect(response.status).toBe(400);
            expect(response.body.error).toBe('invalid_request');
            const fields = (response.body.errors as { field: string; message: string }[]).map((e) => e.field);
            expect(fields).toContain(field);
            expect((await queue.peekMessages()).peekedMessageItems).toHaveLength(0);
            const key = headers?.['Idempotency-Key'];
            if (key !== undefined) expect(await env.ledger.get(key)).toBeUndefined();
        },
    );
});

describe('API: get', () => {
    it('200 with the record (no claim), 404 for an unknown or impossible id', async () => {
        const { sid } = await sentRecord('get-me', 'sms');
        const found = await json(getMessage('get-me', env.ledger));
        expect(found.status).toBe(200);
        expect(found.body).toMatchObject({ id: 'get-me', sid, status: 'queued', direction: 'outbound' });
        expect(found.body).not.toHaveProperty('claim');

        expect(await json(getMessage('nobody-has-this-id', env.ledger))).toMatchObject({
            status: 404,
            body: { error: 'not_found', id: 'nobody-has-this-id' },
        });
        expect((await json(getMessage('bad id/../x', env.ledger))).status).toBe(404);
    });

    it('hides a send claim in progress', async () => {
        const queue = await newQueue();
        await sendOutbound(
            post('/api/messages', JSON.stringify({ to: freshNumber(), body: 'x' }), {
                'Idempotency-Key': 'claimed',
            }),
            'sms',
            apiDeps(queue),
        );
        await env.ledger.update('claimed', (current) =>
            current === undefined
                ? undefined
                : { ...current, status: 'sending', claim: { token: 't', at: T0, leaseUntil: T0 } },
        );
        const response = await json(getMessage('claimed', env.ledger));
        expect(response.body).toMatchObject({ id: 'claimed', status: 'sending' });
        expect(response.body).not.toHaveProperty('claim');
    });
});

describe('API: list', () => {
    // A ledger of its own on a fixed clock ("today" is 2024-05-10), seeded through the API and the inbound
    // webhook path: 15 outbound messages over 2024-05-06..10, 2 inbound, and one from March.
    const TODAY = '2024-05-10T12:00:00.000Z';
    const OURS = DEFAULT_FROM;
    const CUSTOMER_A = '+15554440001';
    const CUSTOMER_B = '+15554440002';
    const SENDER_X = '+15556660001';
    const SENDER_Y = '+15556660002';
    let ledger: Ledger;
    let all: { id: string; createdAt: string; to: string; from: string; direction: string }[];

    beforeAll(async () => {
        ledger = env.newLedger({ now: () => new Date(TODAY) }).ledger;
        const queue = await newQueue();
        all = [];
        for (let i = 0; i < 15; i++) {
            const createdAt = new Date(
                Date.UTC(2024, 4, 6 + (i % 5), 8 + Math.floor(i / 5), i),
            ).toISOString();
            const to = i % 3 === 0 ? CUSTOMER_A : CUSTOMER_B;
            const from = i % 2 === 0 ? SENDER_X : SENDER_Y;
            const id = `list-${String(i).padStart(2, '0')}`;
            const response = await sendOutbound(
                post('/api/messages', JSON.stringify({ to, from, body: `message ${String(i)}` }), {
                    'Idempotency-Key': id,
                }),
                'sms',
                apiDeps(queue, { ledger, now: () => new Date(createdAt) }),
            );
            expect(response.status).toBe(202);
            all.push({ id, createdAt, to, from, direction: 'outbound' });
        }
        for (const [n, createdAt] of ['2024-05-07T09:30:00.000Z', '2024-05-10T07:00:00.000Z'].entries()) {
            const sid = newSid('SM');
            const form = new URLSearchParams({
                MessageSid: sid,
                From: CUSTOMER_A,
                To: OURS,
                Body: `reply ${String(n)}`,
            });
            expect(await recordInboundMessage(ledger, form, () => new Date(createdAt))).toBe('created');
            all.push({ id: sid, createdAt, to: OURS, from: CUSTOMER_A, direction: 'inbound' });
        }
        const old = '2024-03-01T10:00:00.000Z';
        await sendOutbound(
            post('/api/messages', JSON.stringify({ to: CUSTOMER_A, from: SENDER_X, body: 'old' }), {
                'Idempotency-Key': 'list-old',
            }),
            'sms',
            apiDeps(queue, { ledger, now: () => new Date(old) }),
        );
        all.push({ id: 'list-old', createdAt: old, to: CUSTOMER_A, from: SENDER_X, direction: 'outbound' });
        all.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
    });

    const list = async (query: string) => json(listMessages(get(`/api/messages${query}`), ledger));
    /** Every page of a query, following `nextPageUrl`; each page checked for size and a consistent token. */
    const listAll = async (query: string, size?: number) => {
        const seen: string[] = [];
        const separator = query === '' ? '?' : '&';
        let next: string | undefined =
            size === undefined ? query : `${query}${separator}pageSize=${String(size)}`;
        let pages = 0;
        while (next !== undefined) {
            expect(++pages).toBeLessThan(50);
            const page = await list(next);
            expect(page.status).toBe(200);
            const pageIds = ids(page.body);
            expect(pageIds.length).toBeLessThanOrEqual(size ?? 50);
            seen.push(...pageIds);
            const token = page.body.continuationToken as string | undefined;
            if (token === undefined) {
                expect(page.body).not.toHaveProperty('nextPageUrl');
                next = undefined;
            } else {
                const nextUrl = new URL(String(page.body.nextPageUrl));
                expect(nextUrl.searchParams.get('continuationToken')).toBe(token);
                if (size !== undefined) expect(nextUrl.searchParams.get('pageSize')).toBe(String(size));
                next = nextUrl.search;
            }
        }
        return { ids: seen, pages };
    };
    const ids = (body: Record<string, unknown>) =>
        (body.messages as { id: string; createdAt: string }[]).map((m) => m.id);
    const expected = (filter: (m: (typeof all)[number]) => boolean) => all.filter(filter).map((m) => m.id);
    const inDays = (from: string, to: string) => (m: (typeof all)[number]) =>
        m.createdAt.slice(0, 10) >= from && m.createdAt.slice(0, 10) <= to;
    const recent = inDays('2024-04-11', '2024-05-10');

    it('lists the last 30 days newest first, inbound included, without a token when all fit', async () => {
        const response = await list('');
        expect(response.status).toBe(200);
        expect(ids(response.body)).toEqual(expected(recent));
        expect(ids(response.body)).toHaveLength(17);
        expect(
            (response.body.messages as { direction: string }[]).filter((m) => m.direction === 'inbound'),
        ).toHaveLength(2);
        expect(response.body).not.toHaveProperty('continuationToken');
        expect(response.body).not.toHaveProperty('nextPageUrl');
    });

    it.each([
        {
            query: `?to=${encodeURIComponent(CUSTOMER_A)}`,
            filter: (m: (typeof all)[number]) => recent(m) && m.to === CUSTOMER_A,
        },
        {
            query: `?to=${encodeURIComponent(OURS)}`,
            filter: (m: (typeof all)[number]) => recent(m) && m.to === OURS,
        },
        {
            query: `?from=${encodeURIComponent(SENDER_Y)}`,
            filter: (m: (typeof all)[number]) => recent(m) && m.from === SENDER_Y,
        },
        {
            query: `?to=${encodeURIComponent(CUSTOMER_B)}&from=${encodeURIComponent(SENDER_X)}`,
            filter: (m: (typeof all)[number]) => recent(m) && m.to === CUSTOMER_B && m.from === SENDER_X,
        },
        { query: '?dateSent=2024-05-08', filter: inDays('2024-05-08', '2024-05-08') },
        {
            query: '?dateSentAfter=2024-05-07&dateSentBefore=2024-05-08',
            filter: inDays('2024-05-07', '2024-05-08'),
        },
        { query: '?dateSentAfter=2024-05-09', filter: inDays('2024-05-09', '2024-05-10') },
        { query: '?dateSentBefore=2024-05-07', filter: inDays('2024-04-08', '2024-05-07') },
        { query: '?dateSentAfter=2024-03-01', filter: inDays('2024-03-01', '2024-05-10') },
        { query: '?dateSent=2024-05-01', filter: () => false },
    ])('filters $query', async ({ query, filter }) => {
        expect((await listAll(query)).ids).toEqual(expected(filter));
    });

    it('walks a range over 62 days in more than one call: a short page can carry a continuation token', async () => {
        const first = await list('?dateSentAfter=2024-03-01');
        expect(ids(first.body)).toEqual(expected(inDays('2024-03-10', '2024-05-10')));
        expect(first.body.continuationToken).toEqual(expect.any(String));
        const rest = await list(new URL(String(first.body.nextPageUrl)).search);
        expect(ids(rest.body)).toEqual(['list-old']);
        expect(rest.body).not.toHaveProperty('continuationToken');
    });

    it.each([
        { query: '?dateSentAfter=2024-03-01', size: 4, filter: inDays('2024-03-01', '2024-05-10') },
        { query: '', size: 1, filter: recent },
        {
            query: `?to=${encodeURIComponent(CUSTOMER_B)}`,
            size: 3,
            filter: (m: (typeof all)[number]) => recent(m) && m.to === CUSTOMER_B,
        },
        {
            query: '?dateSentAfter=2024-05-07&dateSentBefore=2024-05-09',
            size: 2,
            filter: inDays('2024-05-07', '2024-05-09'),
        },
    ])(
        'pages through $query with pageSize $size: every item once, in order',
        async ({ query, size, filter }) => {
            const { ids: seen, pages } = await listAll(query, size);
            expect(new Set(seen).size).toBe(seen.length);
            expect(seen).toEqual(expected(filter));
            expect(pages).toBeGreaterThan(1);
        },
    );

    it.each([
        { query: '?pageSize=0', field: 'pageSize' },
        { query: '?pageSize=1001', field: 'pageSize' },
        { query: '?pageSize=abc', field: 'pageSize' },
        { query: '?pageSize=-1', field: 'pageSize' },
        { query: '?pageSize=2.5', field: 'pageSize' },
        { query: '?dateSent=2024-5-8', field: 'dateSent' },
        { query: '?dateSentAfter=yesterday', field: 'dateSentAfter' },
        { query: '?dateSentBefore=2024-13-01', field: 'dateSentBefore' },
        { query: '?dateSent=2024-05-08&dateSentBefore=2024-05-09', field: 'dateSent' },
        { query: '?continuationToken=not-a-token', field: 'continuationToken' },
        { query: '?continuationToken=%E2%9C%93', field: 'continuationToken' },
    ])('400 naming `$field` for $query', async ({ query, field }) => {
        const response = await list(query);
        expect(response.status).toBe(400);
        expect(response.body).toMatchObject({ error: 'invalid_request' });
        expect((response.body.errors as { field: string }[]).map((e) => e.field)).toContain(field);
    });

    it('accepts pageSize 1 and 1000', async () => {
        expect(ids((await list('?pageSize=1')).body)).toHaveLength(1);
        expect(ids((await list('?pageSize=1000')).body)).toHaveLength(17);
    });

    it("400 for another query's continuation token", async () => {
        const first = await list('?pageSize=2');
        const token = String(first.body.continuationToken);
        const response = await list(
            `?pageSize=2&to=${encodeURIComponent(CUSTOMER_A)}&continuationToken=${token}`,
        );
        expect(response.status).toBe(400);
        expect((response.body.errors as { field: string }[])[0]?.field).toBe('continuationToken');
    });

    it('400 names `dateSent` for a date that does not exist (2024-02-30)', async () => {
        const response = await list('?dateSent=2024-02-30');
        expect(response.status).toBe(400);
        expect(response.body.errors).toEqual([
            { field: 'dateSent', message: 'must be a date as YYYY-MM-DD, from 1970-01-01 to 9999-12-31' },
        ]);
    });
});

// ---- hardening: callbacks, idempotency, bounds -------------------------------------------------------

/** A POST of `payload` to the API (`sms` → /api/messages, `call` → /api/calls) with a key. */
async function apiSend(
    queue: QueueClient,
    kind: 'sms' | 'call',
    payload: Record<string, unknown>,
    key?: string,
    overrides: Partial<SendDependencies> = {},
): Promise<JsonResponse> {
    return json(
        sendOutbound(
            post(
                kind === 'sms' ? '/api/messages' : '/api/calls',
                JSON.stringify(payload),
                key === undefined ? {} : { 'Idempotency-Key': key },
            ),
            kind,
            apiDeps(queue, overrides),
        ),
    );
}

async function queueLength(queue: QueueClient): Promise<number> {
    return (await queue.peekMessages({ numberOfMessages: 32 })).peekedMessageItems.length;
}

const ATTACK_URLS = [
    `${PUBLIC_BASE_URL}/api/status?id=VICTIM`,
    `${PUBLIC_BASE_URL}/API/Status/?id=VICTIM`,
    `${PUBLIC_BASE_URL}/api/%73tatus?id=VICTIM`,
    `${PUBLIC_BASE_URL}/api/sms`,
];

describe('a callback can only change the record of the send that produced it', () => {
    it.each(ATTACK_URLS)(
        'HTTP API: statusCallback, call url, media URL and TwiML URLs at %s → 400 naming the field; the victim is sent once and untouched',
        async (template) => {
            const queue = await newQueue();
            const victimTo = freshNumber();
            const victimId = `victim-${String(queues)}`;
            expect(
                (await apiSend(queue, 'sms', { to: victimTo, body: 'for the victim' }, victimId)).status,
            ).toBe(202);
            const before = await record(victimId);
            const url = template.replace('VICTIM', victimId);
            const attacker = freshNumber();
            const attacks: { kind: 'sms' | 'call'; payload: Record<string, unknown>; field: string }[] = [
                {
                    kind: 'sms',
                    payload: { to: attacker, body: 'x', statusCallback: url },
                    field: 'statusCallback',
                },
                {
                    kind: 'sms',
                    payload: {
                        to: attacker,
                        mediaUrl: ['https://cdn.example.com/a.png', url.replace('http:', 'https:')],
                    },
                    field: 'mediaUrl[1]',
                },
                { kind: 'call', payload: { to: attacker, url }, field: 'url' },
                {
                    kind: 'call',
                    payload: { to: attacker, say: 'hi', statusCallback: url },
                    field: 'statusCallback',
                },
                {
                    kind: 'call',
                    payload: {
                        to: attacker,
                        twiml: `<Response><Redirect>${url.replace(/&/g, '&amp;')}</Redirect></Response>`,
                    },
                    field: 'twiml',
                },
                {
                    kind: 'call',
                    payload: {
                        to: attacker,
                        twiml: `<Response><Gather action="${url.replace('https', 'h&#116;tps').replace(/&(?!#)/g, '&amp;')}"/></Response>`,
                    },
                    field: 'twiml',
                },
            ];
            for (const attack of attacks) {
                const response = await apiSend(queue, attack.kind, attack.payload);
                expect(response.status).toBe(400);
                expect(response.body.errors).toEqual([
                    {
                        field: attack.field,
                        message: expect.stringContaining('/api/status or /api/sms') as string,
                    },
                ]);
            }
            // TwiML routes stay valid call URLs.
            expect(
                (await apiSend(queue, 'call', { to: attacker, url: `${PUBLIC_BASE_URL}/api/voice` })).status,
            ).toBe(202);
            expect(await record(victimId)).toEqual(before);
            const outcomes = await processQueue(queue);
            expect(outcomes.map((o) => o.kind).sort()).toEqual(['sent', 'sent']);
            await env.sandbox.idle();
            const sentToVictim = env.sandbox.messages.filter((m) => m.to === victimTo);
            expect(sentToVictim).toHaveLength(1);
            const after = await record(victimId);
            expect(after).toMatchObject({ to: victimTo, sid: sentToVictim[0]?.sid, status: 'delivered' });
            expect(after.history.every((e) => e.sid === undefined || e.sid === sentToVictim[0]?.sid)).toBe(
                true,
            );
        },
    );

    it('queue message: the same URLs → rejected naming the field, never sent', async () => {
        const to = freshNumber();
        const cases = [
            {
                item: { type: 'sms', id: 'q-attack-1', to, body: 'x', statusCallback: ATTACK_URLS[0] },
                field: 'statusCallback',
            },
            { item: { type: 'call', id: 'q-attack-2', to, url: ATTACK_URLS[1] }, field: 'url' },
            { item: { type: 'sms', id: 'q-attack-3', to, mediaUrl: [ATTACK_URLS[3]] }, field: 'mediaUrl[0]' },
        ];
        for (const { item, field } of cases) {
            const outcome = await processOutbound(item, { id: `qm-${item.id}`, dequeueCount: 1 }, env.deps());
            expect(outcome).toMatchObject({ kind: 'rejected', id: item.id });
            if (outcome.kind !== 'rejected') throw new Error('unreachable');
            expect(outcome.errors).toContain(
                `${field}: must not point at this app's /api/status or /api/sms`,
            );
            expect(await record(item.id)).toMatchObject({ status: 'rejected', errorCode: 'validation' });
        }
        expect(env.proxy.requests).toHaveLength(0);
        expect(await env.ledger.get('VICTIM')).toBeUndefined();
    });

    it("defence in depth: Twilio's signed callbacks for another send, posted with the victim's id, leave the victim untouched", async () => {
        // The attacker reaches Twilio some other way (their own code, an older app version): the sandbox
        // signs and posts the callbacks of their message and their call's TwiML fetch to our /api/status.
        const queue = await newQueue();
        const victimTo = freshNumber();
        expect(
            (await apiSend(queue, 'sms', { to: victimTo, body: 'for the victim' }, 'victim-dd')).status,
        ).toBe(202);
        const before = await record('victim-dd');
        const client = await env.twilio.get();
        const attacker = freshNumber();
        const theirs = await client.messages.create({
            to: attacker,
            from: DEFAULT_FROM,
            body: 'attack',
            statusCallback: `${PUBLIC_BASE_URL}/api/status?id=victim-dd`,
        });
        const theirCall = await client.calls.create({
            to: attacker,
            from: DEFAULT_FROM,
            url: `${PUBLIC_BASE_URL}/api/status?id=victim-dd`,
        });
        await client.messages.create({
            to: attacker,
            from: DEFAULT_FROM,
            body: 'attack on an id nobody has',
            statusCallback: `${PUBLIC_BASE_URL}/api/status?id=nobody-has-this`,
        });
        await env.sandbox.idle();
        const hits = app.requests.filter((r) => r.form.get('MessageSid') === theirs.sid);
        expect(hits.length).toBeGreaterThan(0);
        expect(hits.every((r) => r.signatureValid && r.answered === 204)).toBe(true);

        // Untouched while queued; the callbacks are kept under their own SIDs; no record for a made-up id.
        expect(await record('victim-dd')).toEqual(before);
        expect(await record(theirs.sid)).toMatchObject({ id: theirs.sid, sid: theirs.sid, to: attacker });
        expect(await record(theirCall.sid)).toMatchObject({ id: theirCall.sid, type: 'call' });
        expect(await env.ledger.get('nobody-has-this')).toBeUndefined();

        // The victim's message is still sent, once, and its record holds its own send only.
        expect((await processQueue(queue)).map((o) => o.kind)).toEqual(['sent']);
        await env.sandbox.idle();
        const victims = env.sandbox.messages.filter((m) => m.to === victimTo);
        expect(victims).toHaveLength(1);
        const after = await record('victim-dd');
        expect(after).toMatchObject({ to: victimTo, sid: victims[0]?.sid, status: 'delivered' });
        expect(after.history.some((e) => e.sid === theirs.sid || e.sid === theirCall.sid)).toBe(false);
    });

    it('a callback fills in a SID only for a record with a send claim and the same To and From', async () => {
        const to = freshNumber();
        const claimed = (id: string, extra: Partial<LedgerRecord> = {}) =>
            env.ledger.create({
                id,
                direction: 'outbound',
                type: 'sms',
                to,
                from: DEFAULT_FROM,
                mediaCount: 0,
                status: 'sending',
                history: [],
                attempts: 1,
                claim: { token: 't', at: T0, leaseUntil: '2999-01-01T00:00:00.000Z' },
                createdAt: T0,
                updatedAt: T0,
                ...extra,
            });
        const sid = newSid('SM');
        await claimed('waiting-1');
        const ours = messageCallback(sid, 'sent', { To: to, From: DEFAULT_FROM });
        expect((await recordStatusCallback(env.ledger, ours, 'waiting-1')).kind).toBe('updated');
        expect(await record('waiting-1')).toMatchObject({ sid, status: 'sent' });

        // Another recipient, another sender, no claim (queued, never picked up): not this record's send.
        await claimed('waiting-2');
        await claimed('waiting-3');
        await claimed('waiting-4', { claim: undefined, status: 'queued' });
        const cases: [string, URLSearchParams][] = [
            ['waiting-2', messageCallback(newSid('SM'), 'sent', { To: freshNumber(), From: DEFAULT_FROM })],
            ['waiting-3', messageCallback(newSid('SM'), 'sent', { To: to, From: '+15550009999' })],
            ['waiting-4', messageCallback(newSid('SM'), 'sent', { To: to, From: DEFAULT_FROM })],
        ];
        for (const [id, form] of cases) {
            const before = await record(id);
            const result = await recordStatusCallback(env.ledger, form, id);
            const strayId = form.get('MessageSid') ?? '';
            expect(result).toMatchObject({ kind: 'unmatched', id: strayId });
            expect(await record(id)).toEqual(before);
            expect(await record(strayId)).toMatchObject({ sid: strayId, status: 'sent' });
        }
        // A SID the record already has another of: kept apart too.
        const other = messageCallback(newSid('SM'), 'delivered', { To: to, From: DEFAULT_FROM });
        const withSid = await record('waiting-1');
        expect((await recordStatusCallback(env.ledger, other, 'waiting-1')).kind).toBe('unmatched');
        expect(await record('waiting-1')).toEqual(withSid);
    });

    it('an outbound status callback posted to /api/sms records no inbound message', async () => {
        const client = await env.twilio.get();
        const to = freshNumber();
        const sent = await client.messages.create({
            to,
            from: DEFAULT_FROM,
            body: 'status to the sms webhook',
            statusCallback: `${PUBLIC_BASE_URL}/api/sms`,
        });
        await env.sandbox.idle();
        const hits = app.requests.filter(
            (r) => r.path === '/api/sms' && r.form.get('MessageSid') === sent.sid,
        );
        expect(hits.length).toBeGreaterThan(0);
        expect(await env.ledger.get(sent.sid)).toBeUndefined();
        expect(
            await recordInboundMessage(env.ledger, messageCallback(newSid('SM'), 'delivered', { To: to })),
        ).toBe('not-inbound');
    });

    it("accepts Twilio's underscore statuses (partially_delivered)", async () => {
        const { sid } = await sentRecord('cb-partial', 'sms');
        const result = await recordStatusCallback(
            env.ledger,
            messageCallback(sid, 'partially_delivered'),
            'cb-partial',
        );
        expect(result).toMatchObject({ kind: 'updated', status: 'partially_delivered' });
        expect((await record('cb-partial')).status).toBe('partially_delivered');
    });
});

describe('Idempotency-Key means the same request', () => {
    it('same key and request → 202 with the current status; another body, recipient or kind → 422, nothing enqueued', async () => {
        const queue = await newQueue();
        const to = freshNumber();
        const first = await apiSend(queue, 'sms', { to, body: 'the original' }, 'idem-1');
        expect(first.body).toEqual({ id: 'idem-1', status: 'queued' });
        const stored = await record('idem-1');
        expect(await apiSend(queue, 'sms', { body: 'the original', to }, 'idem-1')).toEqual(first);

        for (const [kind, payload] of [
            ['sms', { to, body: 'a different body' }],
            ['sms', { to: freshNumber(), body: 'the original' }],
            ['sms', { to, body: 'the original', validityPeriod: 60 }],
            ['call', { to, say: 'the original' }],
        ] as const) {
            const response = await apiSend(queue, kind, payload, 'idem-1');
            expect(response.status).toBe(422);
            expect(response.body).toMatchObject({ error: 'idempotency_key_reused', id: 'idem-1' });
        }
        expect(await record('idem-1')).toEqual(stored);
        expect(await queueLength(queue)).toBe(1);
        expect((await processQueue(queue)).map((o) => o.kind)).toEqual(['sent']);
        expect(env.sandbox.messages.filter((m) => m.to === to)).toHaveLength(1);
    });

    it('a request still being accepted under the same key → 409 with Retry-After', async () => {
        const queue = await newQueue();
        const to = freshNumber();
        let release: () => void = () => undefined;
        const slowEnqueue = async (text: string) => {
            await new Promise<void>((resolve) => (release = resolve));
            await queue.sendMessage(text);
        };
        const first = apiSend(queue, 'sms', { to, body: 'slow' }, 'idem-slow', { enqueue: slowEnqueue });
        // Wait until the first request has recorded its accept lease.
        for (let i = 0; i < 200 && (await env.ledger.get('idem-slow')) === undefined; i++) {
            await new Promise((resolve) => setTimeout(resolve, 10));
        }
        const concurrent = await sendOutbound(
            post('/api/messages', JSON.stringify({ to, body: 'slow' }), { 'Idempotency-Key': 'idem-slow' }),
            'sms',
            apiDeps(queue),
        );
        expect(concurrent.status).toBe(409);
        expect(concurrent.headers).toMatchObject({ 'Retry-After': expect.any(String) as string });
        release();
        expect((await first).body).toEqual({ id: 'idem-slow', status: 'queued' });
        expect(await queueLength(queue)).toBe(1);
    });

    it('a failed enqueue leaves a record that says so (503); a retry enqueues and sends the request once', async () => {
        const queue = await newQueue();
        const to = freshNumber();
        const down = async () => Promise.reject(new Error('queue service unavailable'));
        const failed = await apiSend(queue, 'sms', { to, body: 'try again' }, 'idem-down', { enqueue: down });
        expect(failed.status).toBe(503);
        expect(failed.body).toMatchObject({ error: 'queue_unavailable', id: 'idem-down' });
        const recorded = await record('idem-down');
        expect(recorded).toMatchObject({ status: 'accepting', to });
        expect(recorded.errorMessage).toMatch(/not yet on the outbound queue/);
        expect(recorded.acceptLease).toBeUndefined();
        expect((await json(getMessage('idem-down', env.ledger))).body).toMatchObject({ status: 'accepting' });

        // A retry with another body is still refused; the same request is enqueued, once.
        expect((await apiSend(queue, 'sms', { to, body: 'changed my mind' }, 'idem-down')).status).toBe(422);
        expect(await queueLength(queue)).toBe(0);
        const retried = await apiSend(queue, 'sms', { to, body: 'try again' }, 'idem-down');
        expect(retried.body).toEqual({ id: 'idem-down', status: 'queued' });
        expect(await apiSend(queue, 'sms', { to, body: 'try again' }, 'idem-down')).toEqual(retried);
        expect(await queueLength(queue)).toBe(1);
        expect((await record('idem-down')).errorMessage).toBeUndefined();
        expect((await processQueue(queue)).map((o) => o.kind)).toEqual(['sent']);
        expect(env.sandbox.messages.filter((m) => m.to === to)).toHaveLength(1);
    });

    it('a POST that died after recording: 409 within its lease, taken over after it', async () => {
        const queue = await newQueue();
        const to = freshNumber();
        let clock = Date.parse('2024-06-01T10:00:00.000Z');
        const now = () => new Date(clock);
        const never = () => new Promise<void>(() => undefined); // the process died here
        void apiSend(queue, 'sms', { to, body: 'orphan' }, 'idem-orphan', { enqueue: never, now });
        for (let i = 0; i < 200 && (await env.ledger.get('idem-orphan')) === undefined; i++) {
            await new Promise((resolve) => setTimeout(resolve, 10));
        }
        expect((await apiSend(queue, 'sms', { to, body: 'orphan' }, 'idem-orphan', { now })).status).toBe(
            409,
        );
        clock += 31_000;
        expect((await apiSend(queue, 'sms', { to, body: 'orphan' }, 'idem-orphan', { now })).body).toEqual({
            id: 'idem-orphan',
            status: 'queued',
        });
        expect(await queueLength(queue)).toBe(1);
    });

    it('queue copies: the first to create the record fixes the request; another under the same id is never sent, and noted', async () => {
        const to = freshNumber();
        const other = freshNumber();
        const first = await processOutbound(
            { type: 'sms', id: 'copy-1', to, body: 'first' },
            { id: 'qm-copy-1', dequeueCount: 1 },
            env.deps(),
        );
        expect(first.kind).toBe('sent');
        const second = await processOutbound(
            { type: 'sms', id: 'copy-1', to: other, body: 'second' },
            { id: 'qm-copy-2', dequeueCount: 1 },
            env.deps(),
        );
        expect(second).toEqual({ kind: 'conflict', id: 'copy-1' });
        expect(env.sandbox.messages.filter((m) => m.to === other)).toHaveLength(0);
        const stored = await record('copy-1');
        expect(stored.to).toBe(to);
        expect(stored.history.find((e) => e.status === CONFLICTING_COPY)).toMatchObject({
            source: 'app',
            detail: expect.stringContaining('fingerprint') as string,
        });
        expect(env.log.lines.some((l) => l.text.includes(other))).toBe(false);
    });

    it('an API-accepted request: a queue copy edited after acceptance is rejected on its fingerprint; the original is sent once', async () => {
        const queue = await newQueue();
        const to = freshNumber();
        await apiSend(queue, 'sms', { to, body: 'accepted' }, 'idem-edit');
        const [item] = await receiveAll(queue);
        const edited = {
            ...(JSON.parse(item?.messageText ?? '{}') as Record<string, unknown>),
            to: freshNumber(),
        };
        const outcome = await processOutbound(edited, { id: 'qm-edited', dequeueCount: 1 }, env.deps());
        expect(outcome).toMatchObject({ kind: 'rejected', id: 'idem-edit' });
        if (outcome.kind === 'rejected') expect(outcome.errors).toMatch(/^fingerprint: /);
        expect((await record('idem-edit')).status).toBe('queued');
        expect(
            await processOutbound(
                item?.messageText,
                { id: item?.messageId ?? '', dequeueCount: 1 },
                env.deps(),
            ),
        ).toMatchObject({ kind: 'sent', id: 'idem-edit' });
        expect(env.sandbox.messages.filter((m) => m.to === to)).toHaveLength(1);
    });

    it('a client cannot set the fingerprint', async () => {
        const response = await apiSend(await newQueue(), 'sms', {
            to: freshNumber(),
            body: 'x',
            fingerprint: `v1.${'A'.repeat(43)}`,
        });
        expect(response.status).toBe(400);
        expect(response.body.errors).toEqual([
            { field: 'fingerprint', message: expect.any(String) as string },
        ]);
    });
});

describe('bounded API input', () => {
    it('a body over 64 KiB → 413, by Content-Length or while reading; nothing recorded', async () => {
        const queue = await newQueue();
        const big = JSON.stringify({ to: freshNumber(), body: 'x', pad: 'p'.repeat(70_000) });
        const declared = await json(
            sendOutbound(
                post('/api/messages', '{}', { 'Content-Length': String(70_000), 'Idempotency-Key': 'big-1' }),
                'sms',
                apiDeps(queue),
            ),
        );
        expect(declared.status).toBe(413);
        const streamed = await json(
            sendOutbound(post('/api/messages', big, { 'Idempotency-Key': 'big-2' }), 'sms', apiDeps(queue)),
        );
        expect(streamed.status).toBe(413);
        expect(streamed.body).toMatchObject({ error: 'payload_too_large' });
        expect(await env.ledger.get('big-1')).toBeUndefined();
        expect(await env.ledger.get('big-2')).toBeUndefined();
        expect(await queueLength(queue)).toBe(0);
    });

    it('thousands of unknown keys → 400 with 20 field errors and a count, never a 500', async () => {
        const payload: Record<string, unknown> = { to: freshNumber(), body: 'x' };
        for (let i = 0; i < 6_000; i++) payload[`k${String(i)}`] = 1;
        const response = await apiSend(await newQueue(), 'sms', payload);
        expect(response.status).toBe(400);
        expect(response.body.errors).toHaveLength(20);
        expect(response.body.errorCount).toBe(6_000);
        expect(JSON.stringify(response.body).length).toBeLessThan(4_000);
    });

    it.each([
        ['dateSentAfter', '0000-01-01'],
        ['dateSentAfter', '1969-12-31'],
        ['dateSentBefore', '1900-01-01'],
        ['dateSent', '10000-01-01'],
    ])('GET /api/messages names %s for %s', async (name, value) => {
        const response = await json(listMessages(get(`/api/messages?${name}=${value}`), env.ledger));
        expect(response.status).toBe(400);
        expect((response.body.errors as { field: string }[]).map((e) => e.field)).toEqual([name]);
    });
});
