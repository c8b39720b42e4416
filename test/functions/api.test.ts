/**
 * The HTTP API's functions as the worker calls them: real `HttpRequest` / `InvocationContext` objects,
 * the app's services built from settings, a memory ledger and a recording queue in place of storage.
 * test/integration/statusAndApi.test.ts runs the same operations on Azurite.
 */

import { HttpRequest, type HttpResponseInit } from '@azure/functions';
import { getMessage } from '../../functions/getMessage';
import { listMessages } from '../../functions/listMessages';
import { sendCall } from '../../functions/sendCall';
import { sendMessage } from '../../functions/sendMessage';
import { parseConfig, resetConfig } from '../../shared/platform/config';
import { createDependencies, setDependencies } from '../../shared/platform/dependencies';
import { createMemoryLedger, type MemoryLedger } from '../support/memoryLedger';
import { testContext, type CapturedLog } from '../support/webhooks';

const BASE = 'https://myapp.azurewebsites.net';
const FROM = '+15551230000';
const TO = '+15557654321';

interface App {
    ledger: MemoryLedger;
    /** What was put on the outbound queue, parsed. */
    queued: Record<string, unknown>[];
    /** Makes the next enqueue wait for the returned release (or fail, when given an error). */
    holdNextEnqueue(failWith?: Error): () => void;
}

/** Installs the app built from `settings`, with a memory ledger and a queue that records what it gets. */
function useApp(settings: Record<string, string> = {}): App {
    const ledger = createMemoryLedger({ storeBody: false });
    const queued: Record<string, unknown>[] = [];
    let hold: Promise<void> | undefined;
    let failure: Error | undefined;
    setDependencies({
        ...createDependencies(parseConfig({ TWILIO_FROM_NUMBER: FROM, PUBLIC_BASE_URL: BASE, ...settings })),
        ledger: () => ledger,
        enqueueOutbound: async (text) => {
            const waiting = hold;
            const error = failure;
            hold = undefined;
            failure = undefined;
            if (waiting !== undefined) await waiting;
            if (error !== undefined) throw error;
            queued.push(JSON.parse(text) as Record<string, unknown>);
        },
    });
    return {
        ledger,
        queued,
        holdNextEnqueue(failWith) {
            let release = (): void => undefined;
            hold = new Promise((resolve) => {
                release = resolve;
            });
            failure = failWith;
            return release;
        },
    };
}

afterEach(() => {
    setDependencies();
});

type Handler = typeof sendMessage;

async function call(
    handler: Handler,
    init: {
        method: string;
        url: string;
        body?: string;
        headers?: Record<string, string>;
        params?: Record<string, string>;
    },
): Promise<{ response: HttpResponseInit; logs: CapturedLog[] }> {
    const { context, logs } = testContext(handler.name);
    const request = new HttpRequest({
        method: init.method,
        url: init.url,
        headers: {
            ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
            ...init.headers,
        },
        ...(init.body === undefined ? {} : { body: { string: init.body } }),
        ...(init.params === undefined ? {} : { params: init.params }),
    });
    return { response: await handler(request, context), logs };
}

const post = (handler: Handler, path: string, body: unknown, headers: Record<string, string> = {}) =>
    call(handler, {
        method: 'POST',
        url: `${BASE}${path}`,
        body: typeof body === 'string' ? body : JSON.stringify(body),
        headers,
    });

const outcomes = (logs: readonly CapturedLog[]) =>
    logs.filter((l) => l.message.startsWith('event=')).map((l) => `${l.level} ${l.message}`);

describe('sendMessage (POST /api/messages)', () => {
    it('202 with the id, its status and a Location on the request origin; recorded, then enqueued once', async () => {
        const app = useApp();
        const { response, logs } = await post(
            sendMessage,
            '/api/messages',
            { to: TO, body: 'Your order shipped' },
            { 'Idempotency-Key': 'order:42.shipped' },
        );

        expect(response).toEqual({
            status: 202,
            headers: { Location: `${BASE}/api/messages/order%3A42.shipped` },
            jsonBody: { id: 'order:42.shipped', status: 'queued' },
        });
        expect(outcomes(logs)).toEqual([
            'information event=message.accepted id=order:42.shipped status=queued route=messages',
        ]);
        // The request as validated; the pipeline applies the sender and callback defaults when it sends.
        expect(app.queued).toEqual([
            {
                version: 1,
                type: 'sms',
                id: 'order:42.shipped',
                to: TO,
                body: 'Your order shipped',
                fingerprint: expect.stringMatching(/^v1\./) as unknown,
            },
        ]);
        expect(app.ledger.records()).toEqual([
            expect.objectContaining({
                id: 'order:42.shipped',
                direction: 'outbound',
                type: 'sms',
                status: 'queued',
            }),
        ]);
    });

    it('takes the Location origin from the request, whatever host served it', async () => {
        useApp();
        const { response } = await call(sendMessage, {
            method: 'POST',
            url: 'http://localhost:7181/api/messages?code=key',
            body: JSON.stringify({ to: TO, body: 'hi' }),
            headers: { 'Idempotency-Key': 'k1' },
        });
        expect(response.headers).toEqual({ Location: 'http://localhost:7181/api/messages/k1' });
    });

    it('without a key: a fresh id per request, each enqueued', async () => {
        const app = useApp();
        const first = await post(sendMessage, '/api/messages', { to: TO, body: 'a' });
        const second = await post(sendMessage, '/api/messages', { to: TO, body: 'a' });
        const ids = [first, second].map(({ response }) => (response.jsonBody as { id: string }).id);
        expect(new Set(ids).size).toBe(2);
        expect(app.queued.map((m) => m.id)).toEqual(ids);
    });

    it('the same key and request again: 202 with the current status, nothing enqueued twice', async () => {
        const app = useApp();
        const body = { to: TO, body: 'once' };
        const first = await post(sendMessage, '/api/messages', body, { 'Idempotency-Key': 'once-1' });
        const again = await post(sendMessage, '/api/messages', body, { 'Idempotency-Key': 'once-1' });
        expect(first.response.status).toBe(202);
        expect(again.response).toEqual(first.response);
        expect(app.queued).toHaveLength(1);
    });

    it('422 for the same key with another request, naming the key as reused', async () => {
        const app = useApp();
        await post(sendMessage, '/api/messages', { to: TO, body: 'first' }, { 'Idempotency-Key': 'k-422' });
        const { response, logs } = await post(
            sendMessage,
            '/api/messages',
            { to: TO, body: 'second' },
            { 'Idempotency-Key': 'k-422' },
        );
        expect(response.status).toBe(422);
        expect(response.jsonBody).toMatchObject({ error: 'idempotency_key_reused', id: 'k-422' });
        expect(outcomes(logs)).toEqual(['warning event=message.conflict id=k-422 route=messages']);
        expect(app.queued).toHaveLength(1);
    });

    it('409 with Retry-After while the first request with that key is still being enqueued', async () => {
        const app = useApp();
        const release = app.holdNextEnqueue();
        const body = { to: TO, body: 'slow' };
        const first = post(sendMessage, '/api/messages', body, { 'Idempotency-Key': 'k-409' });
        // The first request is recorded `accepting` and waits on the queue.
        while (app.ledger.records().length === 0) await new Promise((resolve) => setImmediate(resolve));

        const concurrent = await post(sendMessage, '/api/messages', body, { 'Idempotency-Key': 'k-409' });
        expect(concurrent.response).toMatchObject({
            status: 409,
            headers: { 'Retry-After': '2' },
            jsonBody: { error: 'request_in_progress', id: 'k-409' },
        });
        expect(outcomes(concurrent.logs)).toEqual([
            'warning event=message.in-progress id=k-409 route=messages',
        ]);

        release();
        expect((await first).response.status).toBe(202);
        expect(app.queued).toHaveLength(1);
    });

    it('503 with Retry-After when the queue cannot be reached; a retry with the key enqueues it', async () => {
        const app = useApp();
        app.holdNextEnqueue(
            Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:10001'), { code: 'ECONNREFUSED' }),
        )();
        const body = { to: TO, body: 'later' };
        const down = await post(sendMessage, '/api/messages', body, { 'Idempotency-Key': 'k-503' });
        expect(down.response).toMatchObject({
            status: 503,
            headers: { 'Retry-After': '5' },
            jsonBody: { error: 'queue_unavailable', id: 'k-503' },
        });
        expect(app.ledger.records()[0]).toMatchObject({
            status: 'accepting',
            errorMessage: expect.stringContaining('Error ECONNREFUSED') as unknown,
        });

        const retried = await post(sendMessage, '/api/messages', body, { 'Idempotency-Key': 'k-503' });
        expect(retried.response.status).toBe(202);
        expect(app.queued.map((m) => m.id)).toEqual(['k-503']);
    });

    it('413 for a body over 64 KiB, before it is parsed; nothing recorded', async () => {
        const app = useApp();
        const big = JSON.stringify({ to: TO, body: 'x'.repeat(70_000) });
        const { response } = await post(sendMessage, '/api/messages', big, { 'Idempotency-Key': 'big' });
        expect(response.status).toBe(413);
        expect(app.ledger.records()).toEqual([]);
        expect(app.queued).toEqual([]);
    });

    it('400 naming each field at fault, and nothing recorded or logged', async () => {
        const app = useApp();
        const { response, logs } = await post(sendMessage, '/api/messages', { to: 'not a number' });
        expect(response.status).toBe(400);
        expect(response.jsonBody).toMatchObject({ error: 'invalid_request' });
        const fields = (response.jsonBody as { errors: { field: string }[] }).errors.map((e) => e.field);
        expect(fields).toContain('to');
        expect(app.ledger.records()).toEqual([]);
        expect(outcomes(logs)).toEqual([]);

        const notJson = await post(sendMessage, '/api/messages', '{"to":');
        expect(notJson.response).toEqual({
            status: 400,
            jsonBody: {
                error: 'invalid_request',
                errors: [{ field: '(body)', message: 'must be a JSON object' }],
            },
        });
    });

    it('refuses a call on /api/messages: its fields are not an SMS', async () => {
        useApp();
        const { response } = await post(sendMessage, '/api/messages', { to: TO, say: 'hello' });
        expect(response.status).toBe(400);
    });
});

describe('sendCall (POST /api/calls)', () => {
    it('202 and a call on the queue, its Location under /api/messages like every record', async () => {
        const app = useApp();
        const { response, logs } = await post(
            sendCall,
            '/api/calls',
            { to: TO, say: 'Your table is ready' },
            {
                'Idempotency-Key': 'table-7',
            },
        );
        expect(response).toEqual({
            status: 202,
            headers: { Location: `${BASE}/api/messages/table-7` },
            jsonBody: { id: 'table-7', status: 'queued' },
        });
        expect(outcomes(logs)).toEqual([
            'information event=call.accepted id=table-7 status=queued route=calls',
        ]);
        expect(app.queued).toEqual([
            {
                version: 1,
                type: 'call',
                id: 'table-7',
                to: TO,
                say: 'Your table is ready',
                fingerprint: expect.stringMatching(/^v1\./) as unknown,
            },
        ]);
    });

    it("refuses, with the app's settings, a call it could not place: no sender configured or given", async () => {
        const app = useApp({ TWILIO_FROM_NUMBER: '' });
        const { response } = await post(sendCall, '/api/calls', { to: TO, say: 'x' });
        expect(response.status).toBe(400);
        expect(response.jsonBody).toMatchObject({ errors: [{ field: 'from' }] });
        expect(app.queued).toEqual([]);

        const given = await post(sendCall, '/api/calls', { to: TO, from: FROM, say: 'x' });
        expect(given.response.status).toBe(202);
    });

    it('422 when the key was used for a message', async () => {
        useApp();
        await post(sendMessage, '/api/messages', { to: TO, body: 'x' }, { 'Idempotency-Key': 'shared-key' });
        const { response } = await post(
            sendCall,
            '/api/calls',
            { to: TO, say: 'x' },
            { 'Idempotency-Key': 'shared-key' },
        );
        expect(response.status).toBe(422);
        expect(response.jsonBody).toMatchObject({ message: 'this Idempotency-Key was used for a message' });
    });
});

describe('getMessage (GET /api/messages/{id})', () => {
    const get = (id: string) =>
        call(getMessage, {
            method: 'GET',
            url: `${BASE}/api/messages/${encodeURIComponent(id)}`,
            params: { id },
        });

    it('200 with the record as the API shows it: no fingerprint, lease or claim', async () => {
        useApp();
        await post(sendMessage, '/api/messages', { to: TO, body: 'hello' }, { 'Idempotency-Key': 'get-me' });
        const { response } = await get('get-me');
        expect(response.status).toBe(200);
        expect(response.jsonBody).toMatchObject({
            id: 'get-me',
            direction: 'outbound',
            type: 'sms',
            to: TO,
            status: 'queued',
        });
        for (const hidden of ['fingerprint', 'acceptLease', 'claim']) {
            expect(response.jsonBody).not.toHaveProperty(hidden);
        }
    });

    it('404 for an unknown id, and for one that cannot be an id', async () => {
        useApp();
        expect((await get('nobody')).response).toEqual({
            status: 404,
            jsonBody: { error: 'not_found', id: 'nobody' },
        });
        expect((await get('bad id/../x')).response.status).toBe(404);
    });
});

describe('listMessages (GET /api/messages)', () => {
    const list = (query: string) =>
        call(listMessages, { method: 'GET', url: `${BASE}/api/messages${query}` });

    it('200 newest first, filtered by recipient, paged with a continuation token and the next page URL', async () => {
        useApp();
        for (const [i, to] of [TO, '+15550000001', TO].entries()) {
            await post(
                sendMessage,
                '/api/messages',
                { to, body: `n${String(i)}` },
                { 'Idempotency-Key': `list-${String(i)}` },
            );
            // createdAt orders the list; a millisecond apart keeps the order certain.
            await new Promise((resolve) => setTimeout(resolve, 2));
        }
        const all = await list(`?to=${encodeURIComponent(TO)}`);
        expect(all.response.status).toBe(200);
        const ids = (all.response.jsonBody as { messages: { id: string }[] }).messages.map((m) => m.id);
        expect(ids).toEqual(['list-2', 'list-0']);

        const page = await list(`?to=${encodeURIComponent(TO)}&pageSize=1`);
        const body = page.response.jsonBody as {
            messages: { id: string }[];
            continuationToken: string;
            nextPageUrl: string;
        };
        expect(body.messages.map((m) => m.id)).toEqual(['list-2']);
        expect(new URL(body.nextPageUrl).searchParams.get('continuationToken')).toBe(body.continuationToken);
        expect(body.nextPageUrl.startsWith(`${BASE}/api/messages?`)).toBe(true);
        const next = await list(new URL(body.nextPageUrl).search);
        expect((next.response.jsonBody as { messages: { id: string }[] }).messages.map((m) => m.id)).toEqual([
            'list-0',
        ]);
    });

    it('400 naming the parameter at fault', async () => {
        useApp();
        const { response } = await list('?pageSize=0&dateSent=2024-02-30');
        expect(response.status).toBe(400);
        const fields = (response.jsonBody as { errors: { field: string }[] }).errors.map((e) => e.field);
        expect(fields.sort()).toEqual(['dateSent', 'pageSize']);
    });
});

describe('invalid settings', () => {
    it.each([
        ['sendMessage', sendMessage, 'POST', '/api/messages'],
        ['sendCall', sendCall, 'POST', '/api/calls'],
        ['getMessage', getMessage, 'GET', '/api/messages/x'],
        ['listMessages', listMessages, 'GET', '/api/messages'],
    ] as const)('%s answers 500 and logs which setting is at fault', async (_, handler, method, path) => {
        const saved = { ...process.env };
        setDependencies();
        process.env.TWILIO_ACCOUNT_SID = 'not-a-sid';
        resetConfig();
        try {
            const { response, logs } = await call(handler, {
                method,
                url: `${BASE}${path}`,
                ...(method === 'POST' ? { body: JSON.stringify({ to: TO, body: 'x' }) } : {}),
                params: { id: 'x' },
            });
            expect(response).toEqual({
                status: 500,
                body: 'The app is misconfigured; see the function logs',
            });
            expect(
                logs
                    .filter((l) => l.level === 'error')
                    .map((l) => l.message)
                    .join('\n'),
            ).toContain('TWILIO_ACCOUNT_SID');
        } finally {
            process.env = saved;
            resetConfig();
        }
    });
});
