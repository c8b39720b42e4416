/**
 * The outbound pipeline end to end on real infrastructure: Azurite's Table service for the ledger, the real
 * `twilio` client, and the Twilio sandbox behind a fault proxy that answers Twilio's errors, drops
 * connections, or lets a create through and then fails the answer ("may have been created").
 *
 * `processOutbound` is called as the queue function calls it; a redelivery is another call with the next
 * dequeue count, as the host makes after the visibility timeout.
 */

import { SecretUnavailableError } from '../../shared/platform/errors';
import { createSecretProvider, DEFAULT_MIN_REFRESH_INTERVAL_MS } from '../../shared/platform/secrets';
import type { Ledger, LedgerRecord } from '../../shared/ledger/contract';
import {
    DEFAULT_CLAIM_LEASE_MS,
    processOutbound,
    TransientSendError,
    type OutboundOutcome,
} from '../../shared/outbound/pipeline';
import { recordPoisonedMessage } from '../../shared/outbound/poison';
import { recordStatusCallback } from '../../shared/webhooks/statusCallback';
import type { Fault, FaultMatch } from '../fakes/faultProxy';
import {
    DEFAULT_FROM,
    DEFAULT_SERVICE,
    PUBLIC_BASE_URL,
    freshNumber,
    rejectionOf,
    requestsTo,
    startOutboundEnvironment,
    type OutboundEnvironment,
} from '../support/outboundHarness';

let env: OutboundEnvironment;
let queueMessages = 0;

beforeAll(async () => {
    env = await startOutboundEnvironment({ tablePrefix: 'outbound' });
}, 60_000);

afterAll(async () => {
    await env.stop();
});

beforeEach(() => {
    env.proxy.clear();
    env.log.lines.length = 0;
});

afterEach(async () => {
    // Every scripted fault was met, and the sandbox has finished the lifecycles this test started.
    expect(env.proxy.pendingFaults()).toBe(0);
    await env.sandbox.idle();
});

/** The host's trigger metadata for a delivery of one queue message. */
function delivery(dequeueCount = 1, id = `qm-${String(++queueMessages)}`) {
    return { id, dequeueCount };
}

const messagesTo = (to: string) => env.sandbox.messages.filter((m) => m.to === to);
const callsTo = (to: string) => env.sandbox.calls.filter((c) => c.to === to);
const creates = (to: string) => requestsTo(env.proxy, 'POST', 'Messages', to);
const lookups = (to: string) => requestsTo(env.proxy, 'GET', 'Messages', to);
const statusUrl = (id: string) => `${PUBLIC_BASE_URL}/api/status?id=${encodeURIComponent(id)}`;
const messagesCreate = (to: string): FaultMatch => ({
    method: 'POST',
    path: /\/Messages\.json$/,
    params: { To: to },
});
const messagesList = (to: string): FaultMatch => ({
    method: 'GET',
    path: /\/Messages\.json$/,
    params: { To: to },
});
const callsCreate = (to: string): FaultMatch => ({
    method: 'POST',
    path: /\/Calls\.json$/,
    params: { To: to },
});

async function record(id: string, ledger: Ledger = env.ledger): Promise<LedgerRecord> {
    const found = await ledger.get(id);
    if (found === undefined) throw new Error(`no ledger record ${id}`);
    return found;
}

function only<T>(items: readonly T[]): T {
    expect(items).toHaveLength(1);
    const [item] = items;
    if (item === undefined) throw new Error('expected one item');
    return item;
}

async function expectTransient(promise: Promise<OutboundOutcome>, message?: RegExp): Promise<void> {
    const error = await rejectionOf(promise);
    expect(error).toBeInstanceOf(TransientSendError);
    if (message !== undefined) expect((error as Error).message).toMatch(message);
}

// ---------------------------------------------------------------------------------------------------------

describe('outbound: SMS', () => {
    it('sends once and records the SID, Twilio status, one attempt and the summary, never the body', async () => {
        const to = freshNumber();
        const id = 'order:42';
        const outcome = await processOutbound(
            { type: 'sms', id, to, body: 'Your order has shipped' },
            delivery(),
            env.deps(),
        );

        const message = only(messagesTo(to));
        expect(outcome).toEqual({ kind: 'sent', id, sid: message.sid, status: 'queued' });
        expect(message.sid).toMatch(/^SM[0-9a-f]{32}$/);

        const stored = await record(id);
        expect(stored).toMatchObject({
            id,
            direction: 'outbound',
            type: 'sms',
            to,
            bodyLength: 'Your order has shipped'.length,
            mediaCount: 0,
            sid: message.sid,
            status: 'queued',
            attempts: 1,
        });
        expect(stored.history).toEqual([
            { status: 'queued', at: expect.any(String) as string, source: 'twilio', sid: message.sid },
        ]);
        expect(stored.claim).toBeUndefined();
        expect(stored.body).toBeUndefined();
        expect(stored.errorCode).toBeUndefined();
        expect(stored.errorMessage).toBeUndefined();

        const create = only(creates(to));
        expect(create.action).toBe('forward');
        expect(create.answered).toBe(201);
        expect(Object.fromEntries(create.form)).toEqual({
            To: to,
            From: DEFAULT_FROM,
            Body: 'Your order has shipped',
            StatusCallback: 'https://app.example.com/api/status?id=order%3A42',
        });
        expect(env.proxy.requests).toHaveLength(1);
    });

    it("keeps the message's own status callback", async () => {
        const to = freshNumber();
        const own = 'https://hooks.example.net/twilio/status?tenant=7';
        await processOutbound(
            { type: 'sms', id: 'own-callback', to, body: 'hi', statusCallback: own },
            delivery(),
            env.deps(),
        );
        expect(only(creates(to)).form.get('StatusCallback')).toBe(own);
        expect(only(messagesTo(to)).statusCallback).toBe(own);
    });

    it('sends an MMS with media only: an MM SID, every MediaUrl, no Body, mediaCount in the ledger', async () => {
        const to = freshNumber();
        const media = ['https://cdn.example.com/a.png', 'https://cdn.example.com/b.jpg'];
        const outcome = await processOutbound(
            { type: 'sms', id: 'mms-1', to, mediaUrl: media },
            delivery(),
            env.deps(),
        );
        const message = only(messagesTo(to));
        expect(message.sid).toMatch(/^MM[0-9a-f]{32}$/);
        expect(message.mediaUrls).toEqual(media);
        expect(outcome).toMatchObject({ kind: 'sent', sid: message.sid });
        const create = only(creates(to));
        expect(create.form.getAll('MediaUrl')).toEqual(media);
        expect(create.form.has('Body')).toBe(false);
        const stored = await record('mms-1');
        expect(stored).toMatchObject({ mediaCount: 2, sid: message.sid, attempts: 1 });
        expect(stored.bodyLength).toBeUndefined();
    });

    describe('sender precedence (outboundMessage.ts: own from/service, else the service default, else the number)', () => {
        it('no sender in the message, only TWILIO_FROM_NUMBER: From is the default number', async () => {
            const to = freshNumber();
            await processOutbound({ type: 'sms', id: 'sender-1', to, body: 'x' }, delivery(), env.deps());
            const form = only(creates(to)).form;
            expect(form.get('From')).toBe(DEFAULT_FROM);
            expect(form.has('MessagingServiceSid')).toBe(false);
            expect(only(messagesTo(to)).from).toBe(DEFAULT_FROM);
        });

        it('both defaults configured: the Messaging Service wins and no From is sent', async () => {
            const to = freshNumber();
            const outcome = await processOutbound(
                { type: 'sms', id: 'sender-2', to, body: 'x' },
                delivery(),
                env.deps({ messagingServiceSid: DEFAULT_SERVICE }),
            );
            const form = only(creates(to)).form;
            expect(form.get('MessagingServiceSid')).toBe(DEFAULT_SERVICE);
            expect(form.has('From')).toBe(false);
            const message = only(messagesTo(to));
            expect(message.messagingServiceSid).toBe(DEFAULT_SERVICE);
            // A Messaging Service send is `accepted` first; that is what the ledger records.
            expect(outcome).toEqual({ kind: 'sent', id: 'sender-2', sid: message.sid, status: 'accepted' });
            expect(await record('sender-2')).toMatchObject({ status: 'accepted', sid: message.sid });
        });

        it("the message's own from wins over both defaults", async () => {
            const to = freshNumber();
            const from = '+15557770001';
            await processOutbound(
                { type: 'sms', id: 'sender-3', to, from, body: 'x' },
                delivery(),
                env.deps({ messagingServiceSid: DEFAULT_SERVICE }),
            );
            const form = only(creates(to)).form;
            expect(form.get('From')).toBe(from);
            expect(form.has('MessagingServiceSid')).toBe(false);
            expect(await record('sender-3')).toMatchObject({ from });
        });

        it("the message's own from and service are both passed", async () => {
            const to = freshNumber();
            const from = '+15557770002';
            const service = 'MG0123456789abcdef0123456789abcdef';
            await processOutbound(
                { type: 'sms', id: 'sender-4', to, from, messagingServiceSid: service, body: 'x' },
                delivery(),
                env.deps(),
            );
            const form = only(creates(to)).form;
            expect(form.get('From')).toBe(from);
            expect(form.get('MessagingServiceSid')).toBe(service);
            expect(await record('sender-4')).toMatchObject({ from, messagingServiceSid: service });
        });
    });
});

describe('outbound: calls', () => {
    const allEvents = ['initiated', 'ringing', 'answered', 'completed'];
    const XML = '<?xml version="1.0" encoding="UTF-8"?>';

    it.each([
        {
            name: 'by url',
            fields: { url: 'https://app.example.com/voice/custom' },
            expected: { Url: 'https://app.example.com/voice/custom' },
        },
        {
            name: 'by twiml',
            fields: { twiml: '<Response><Say>Hi there</Say></Response>' },
            expected: { Twiml: '<Response><Say>Hi there</Say></Response>' },
        },
        {
            name: 'by say (inline TwiML, escaped)',
            fields: { say: 'Tom & Jerry <3' },
            expected: { Twiml: `${XML}<Response><Say>Tom &amp; Jerry &lt;3</Say></Response>` },
        },
        {
            name: 'by message list (URLs played, text said)',
            fields: { message: ['https://cdn.example.com/hello.mp3', 'Goodbye & thanks'] },
            expected: {
                Twiml: `${XML}<Response><Play>https://cdn.example.com/hello.mp3</Play><Say>Goodbye &amp; thanks</Say></Response>`,
            },
        },
        {
            name: "by default (the app's own voice endpoint)",
            fields: {},
            expected: { Url: 'https://app.example.com/api/voice' },
        },
    ])('places a call $name, with every progress event requested', async ({ name, fields, expected }) => {
        const to = freshNumber();
        const id = `call-${name.replace(/[^a-z]+/g, '-')}`;
        const outcome = await processOutbound({ type: 'call', id, to, ...fields }, delivery(), env.deps());

        const call = only(callsTo(to));
        expect(call.sid).toMatch(/^CA[0-9a-f]{32}$/);
        expect(outcome).toEqual({ kind: 'sent', id, sid: call.sid, status: 'queued' });
        const create = only(requestsTo(env.proxy, 'POST', 'Calls', to));
        const { StatusCallbackEvent: _events, ...single } = Object.fromEntries(create.form);
        expect(single).toEqual({ To: to, From: DEFAULT_FROM, StatusCallback: statusUrl(id), ...expected });
        expect(create.form.getAll('StatusCallbackEvent')).toEqual(allEvents);
        expect(requestsTo(env.proxy, 'POST', 'Messages')).toHaveLength(0);

        const stored = await record(id);
        expect(stored).toMatchObject({ type: 'call', to, sid: call.sid, status: 'queued', attempts: 1 });
        expect(stored.claim).toBeUndefined();

        // The sandbox runs the call to the end; a Url call fetches its TwiML from the app.
        await env.sandbox.idle();
        expect(only(callsTo(to)).status).toBe('completed');
        const fetchedTwiml = env.appHits.filter(
            (hit) => hit.form.get('CallSid') === call.sid && !hit.form.has('CallbackSource'),
        );
        expect(fetchedTwiml.map((hit) => hit.url)).toEqual(expected.Url === undefined ? [] : [expected.Url]);
    });

    it("a call with its own status callback keeps it and leaves the events to Twilio's default", async () => {
        const to = freshNumber();
        const own = 'https://hooks.example.net/calls';
        await processOutbound(
            { type: 'call', id: 'call-own-callback', to, say: 'hello', statusCallback: own },
            delivery(),
            env.deps(),
        );
        const form = only(requestsTo(env.proxy, 'POST', 'Calls', to)).form;
        expect(form.get('StatusCallback')).toBe(own);
        expect(form.has('StatusCallbackEvent')).toBe(false);
    });
});

describe('outbound: invalid messages are rejected without reaching Twilio', () => {
    const to = '+15551110000';
    const sms = (extra: Record<string, unknown>) => ({ type: 'sms', to, body: 'hello', ...extra });
    const call = (extra: Record<string, unknown>) => ({ type: 'call', to, ...extra });
    const base64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

    it.each([
        { name: 'bad To', item: sms({ id: 'bad-to', to: '5551234' }), field: 'to' },
        { name: 'body over 1600', item: sms({ id: 'long-body', body: 'a'.repeat(1601) }), field: 'body' },
        { name: 'no body and no media', item: sms({ id: 'no-body', body: undefined }), field: 'body' },
        { name: 'blank body', item: sms({ id: 'blank-body', body: '   ' }), field: 'body' },
        {
            name: '11 media URLs',
            item: sms({
                id: 'many-media',
                mediaUrl: Array.from({ length: 11 }, (_, i) => `https://cdn.example.com/${String(i)}.png`),
            }),
            field: 'mediaUrl',
        },
        {
            name: 'http media',
            item: sms({ id: 'http-media', mediaUrl: ['https://a.example/x.png', 'http://b.example/y.png'] }),
            field: 'mediaUrl[1]',
        },
        {
            name: 'bad Messaging Service SID',
            item: sms({ id: 'bad-mg', messagingServiceSid: 'MG123' }),
            field: 'messagingServiceSid',
        },
        { name: 'unknown field', item: sms({ id: 'unknown-field', colour: 'red' }), field: 'colour' },
        { name: 'bad version', item: sms({ id: 'bad-version', version: 2 }), field: 'version' },
        { name: 'no type', item: { id: 'no-type', to, body: 'x' }, field: 'type' },
        {
            name: 'call with url and twiml',
            item: call({ id: 'url-and-twiml', url: 'https://a.example/v', twiml: '<Response/>' }),
            field: 'twiml',
        },
        {
            name: 'twiml over 4000',
            item: call({ id: 'long-twiml', twiml: `<Response><Say>${'a'.repeat(4000)}</Say></Response>` }),
            field: 'twiml',
        },
        {
            name: 'say making over 4000 of TwiML',
            item: call({ id: 'long-say', say: 'a'.repeat(4000) }),
            field: 'say',
        },
        {
            name: 'call To not E.164',
            item: call({ id: 'call-bad-to', to: 'whatsapp:+15551110000' }),
            field: 'to',
        },
        {
            name: 'JSON text, invalid',
            item: JSON.stringify(sms({ id: 'text-invalid', to: '1' })),
            field: 'to',
        },
        {
            name: 'base64 JSON, invalid',
            item: base64(JSON.stringify(sms({ id: 'b64-invalid', body: 7 }))),
            field: 'body',
        },
    ])('$name → rejected, ledger names `$field`', async ({ item, field }) => {
        const outcome = await processOutbound(item, delivery(), env.deps());
        expect(outcome.kind).toBe('rejected');
        const id = outcome.id;
        expect(id).not.toMatch(/^queue-/);
        if (outcome.kind !== 'rejected') throw new Error('unreachable');
        expect(outcome.errors).toContain(`${field}: `);

        const stored = await record(id);
        expect(stored).toMatchObject({ status: 'rejected', errorCode: 'validation', attempts: 1 });
        expect(stored.errorMessage).toBe(outcome.errors);
        expect(stored.errorMessage?.startsWith(`${field}: `) ?? false).toBe(true);
        expect(stored.history).toEqual([
            { status: 'rejected', at: expect.any(String) as string, source: 'app' },
        ]);
        expect(stored.sid).toBeUndefined();
        expect(env.proxy.requests).toHaveLength(0);
    });

    it('a message that names no sender when none is configured is rejected on `from`', async () => {
        const outcome = await processOutbound(
            sms({ id: 'no-sender' }),
            delivery(),
            env.deps({ fromNumber: undefined, messagingServiceSid: undefined }),
        );
        expect(outcome).toMatchObject({ kind: 'rejected', id: 'no-sender' });
        expect((await record('no-sender')).errorMessage).toMatch(/^from: is required/);
        expect(env.proxy.requests).toHaveLength(0);
    });

    it.each([
        { name: 'non-JSON garbage', item: '%%% this is not a message', error: /neither JSON nor base64/ },
        {
            name: 'base64 of non-JSON',
            item: base64('hello, not JSON'),
            error: /base64, but what it encodes is not JSON/,
        },
        { name: 'an empty item', item: '   ', error: /empty/ },
        { name: 'a number', item: 42, error: /number, not a JSON message/ },
    ])('$name without an id → recorded under queue-<queue message id>', async ({ item, error }) => {
        const queueMessage = delivery();
        const outcome = await processOutbound(item, queueMessage, env.deps());
        const id = `queue-${queueMessage.id}`;
        expect(outcome).toMatchObject({ kind: 'rejected', id });
        const stored = await record(id);
        expect(stored).toMatchObject({ status: 'rejected', errorCode: 'validation', type: 'sms' });
        expect(stored.errorMessage).toMatch(/^\(message\): /);
        expect(stored.errorMessage).toMatch(error);
        expect(env.proxy.requests).toHaveLength(0);
    });

    it('a JSON item whose id is unusable is recorded under queue-<queue message id>, naming `id`', async () => {
        const queueMessage = delivery();
        const outcome = await processOutbound(sms({ id: 'has spaces' }), queueMessage, env.deps());
        expect(outcome).toMatchObject({ kind: 'rejected', id: `queue-${queueMessage.id}` });
        expect((await record(`queue-${queueMessage.id}`)).errorMessage).toMatch(/^id: /);
        expect(env.proxy.requests).toHaveLength(0);
    });

    it('an invalid copy never overwrites a valid message already sent under the same id', async () => {
        const valid = freshNumber();
        await processOutbound(
            { type: 'sms', id: 'valid-then-invalid', to: valid, body: 'ok' },
            delivery(),
            env.deps(),
        );
        const before = await record('valid-then-invalid');
        env.proxy.clear();
        const outcome = await processOutbound(
            sms({ id: 'valid-then-invalid', to: 'nope' }),
            delivery(),
            env.deps(),
        );
        expect(outcome.kind).toBe('rejected');
        expect(await record('valid-then-invalid')).toEqual(before);
        expect(env.proxy.requests).toHaveLength(0);
    });
});

describe('outbound: permanent Twilio errors', () => {
    it.each([21610, 21614, 21408, 21608, 21211])(
        'Twilio error %i → failed with that code; a redelivery is already-final and sends nothing',
        async (code) => {
            const to = freshNumber();
            const id = `permanent-${String(code)}`;
            env.proxy.script(messagesCreate(to), { kind: 'error', status: 400, code });
            const outcome = await processOutbound(
                { type: 'sms', id, to, body: 'hello' },
                delivery(),
                env.deps(),
            );

            expect(outcome).toMatchObject({ kind: 'failed', id, code: String(code) });
            const stored = await record(id);
            expect(stored).toMatchObject({ status: 'failed', errorCode: String(code), attempts: 1 });
            expect(stored.errorMessage).toEqual(expect.any(String));
            expect(stored.claim).toBeUndefined();
            expect(stored.sid).toBeUndefined();
            expect(stored.history.map((e) => [e.status, e.source])).toEqual([['failed', 'app']]);

            const again = await processOutbound(
                { type: 'sms', id, to, body: 'hello' },
                delivery(2),
                env.deps(),
            );
            expect(again).toEqual({ kind: 'already-final', id, status: 'failed' });
            expect(creates(to)).toHaveLength(1);
            expect(env.proxy.requests).toHaveLength(1);
            expect(messagesTo(to)).toHaveLength(0);
            expect(await record(id)).toEqual(stored);
        },
    );

    it("masks the phone number in Twilio's message before it is stored", async () => {
        const to = freshNumber();
        env.proxy.script(messagesCreate(to), {
            kind: 'error',
            status: 400,
            code: 21211,
            message: `The 'To' number ${to} is not a valid phone number.`,
        });
        await processOutbound({ type: 'sms', id: 'masked', to, body: 'x' }, delivery(), env.deps());
        const stored = await record('masked');
        expect(stored.errorMessage).not.toContain(to);
        expect(stored.errorMessage).toContain(`${to.slice(0, 5)}***${to.slice(-4)}`);
    });

    it('a permanent error on a call → failed, not retried', async () => {
        const to = freshNumber();
        env.proxy.script(callsCreate(to), { kind: 'error', status: 400, code: 21211 });
        const item = { type: 'call', id: 'call-permanent', to, say: 'hi' };
        expect(await processOutbound(item, delivery(), env.deps())).toMatchObject({
            kind: 'failed',
            code: '21211',
        });
        expect(await processOutbound(item, delivery(2), env.deps())).toMatchObject({ kind: 'already-final' });
        expect(requestsTo(env.proxy, 'POST', 'Calls', to)).toHaveLength(1);
        expect(callsTo(to)).toHaveLength(0);
        expect(await record('call-permanent')).toMatchObject({
            type: 'call',
            status: 'failed',
            errorCode: '21211',
        });
    });
});

describe('outbound: transient failures and redelivery', () => {
    it.each<{ name: string; faults: Fault[]; reason: RegExp }>([
        // The twilio client retries a 429 itself, three times (shared/platform/twilioClient.ts): only a fourth one
        // reaches the pipeline.
        {
            name: '429 four times',
            faults: Array.from({ length: 4 }, () => ({ kind: 'error', status: 429 })),
            reason: /HTTP 429 code 20429/,
        },
        { name: '503', faults: [{ kind: 'error', status: 503 }], reason: /HTTP 503 code 20503/ },
    ])(
        '$name (Twilio took nothing) → retried; the redelivery creates it, without a lookup',
        async ({ faults, reason }) => {
            const to = freshNumber();
            const status = (faults[0] as { status: number }).status;
            const id = `transient-${String(status)}`;
            const item = { type: 'sms', id, to, body: 'retry me' };
            env.proxy.script(messagesCreate(to), ...faults);

            await expectTransient(processOutbound(item, delivery(1), env.deps()), reason);
            expect(messagesTo(to)).toHaveLength(0);
            const failed = await record(id);
            expect(failed).toMatchObject({ status: 'sending', attempts: 1 });
            expect(failed.claim).toBeUndefined(); // nothing was created: the claim is dropped
            expect(failed.errorMessage).toMatch(reason);

            const outcome = await processOutbound(item, delivery(2), env.deps());
            const message = only(messagesTo(to));
            expect(outcome).toEqual({ kind: 'sent', id, sid: message.sid, status: 'queued' });
            expect(creates(to).map((r) => r.answered)).toEqual([...faults.map(() => status), 201]);
            expect(lookups(to)).toHaveLength(0);
            const stored = await record(id);
            expect(stored).toMatchObject({ sid: message.sid, status: 'queued', attempts: 2 });
            expect(stored.claim).toBeUndefined();
            expect(stored.errorMessage).toBeUndefined();
        },
    );

    it('a brief 429 is absorbed by the twilio client: sent on the first delivery', async () => {
        const to = freshNumber();
        env.proxy.script(messagesCreate(to), { kind: 'error', status: 429 });
        const outcome = await processOutbound(
            { type: 'sms', id: 'transient-429-once', to, body: 'no redelivery' },
            delivery(1),
            env.deps(),
        );
        expect(outcome).toMatchObject({ kind: 'sent', id: 'transient-429-once' });
        expect(creates(to).map((r) => r.answered)).toEqual([429, 201]);
        expect(messagesTo(to)).toHaveLength(1);
    });

    it.each<{ name: string; fault: Fault; reason: RegExp }>([
        {
            name: 'forwarded, then 500',
            fault: { kind: 'forward-then-error', status: 500 },
            reason: /HTTP 500 code 20500/,
        },
        {
            name: 'forwarded, then connection reset',
            fault: { kind: 'forward-then-reset' },
            reason: /ECONNRESET/,
        },
    ])(
        '$name (created at Twilio, client saw a failure) → the redelivery finds it at Twilio and does not resend',
        async ({ name, fault, reason }) => {
            const to = freshNumber();
            const id = `maybe-${name.replace(/[^a-z0-9]+/g, '-')}`;
            const item = { type: 'sms', id, to, body: 'did it go?' };
            env.proxy.script(messagesCreate(to), fault);

            await expectTransient(processOutbound(item, delivery(1), env.deps()), reason);
            const message = only(messagesTo(to)); // the create happened
            const pending = await record(id);
            expect(pending).toMatchObject({ status: 'sending', attempts: 1 });
            expect(pending.sid).toBeUndefined();
            // The claim is kept with its lease ended, so the next attempt looks the message up first.
            expect(pending.claim).toBeDefined();
            expect(Date.parse(pending.claim?.leaseUntil ?? '')).toBeLessThanOrEqual(Date.now());

            await env.sandbox.idle(); // Twilio has delivered it by the time the message is redelivered
            const outcome = await processOutbound(item, delivery(2), env.deps());
            expect(outcome).toEqual({ kind: 'found-at-twilio', id, sid: message.sid });
            expect(messagesTo(to)).toHaveLength(1);
            expect(creates(to)).toHaveLength(1);
            expect(lookups(to)).toHaveLength(1);
            const stored = await record(id);
            expect(stored).toMatchObject({ sid: message.sid, status: 'delivered', attempts: 2 });
            expect(stored.claim).toBeUndefined();
            expect(stored.errorMessage).toBeUndefined();
            // One warning, the outcome line: the earlier attempt had reached Twilio.
            expect(
                env.log.lines.filter((l) => l.text.includes(id)).map((l) => [l.level, l.text]),
            ).toContainEqual([
                'warn',
                `event=message.found-at-twilio id=${id} sid=${message.sid} status=delivered attempt=2`,
            ]);
        },
    );

    it('500 that never reached Twilio → the redelivery looks first, finds nothing, then creates once', async () => {
        const to = freshNumber();
        const item = { type: 'sms', id: 'maybe-not-forwarded', to, body: 'x' };
        env.proxy.script(messagesCreate(to), { kind: 'error', status: 500 });
        await expectTransient(processOutbound(item, delivery(1), env.deps()), /HTTP 500/);
        expect(messagesTo(to)).toHaveLength(0);

        const outcome = await processOutbound(item, delivery(2), env.deps());
        expect(outcome).toMatchObject({ kind: 'sent', sid: only(messagesTo(to)).sid });
        expect(creates(to).map((r) => r.answered)).toEqual([500, 201]);
        expect(lookups(to)).toHaveLength(1);
    });

    it('a hung request whose connection drops before it is forwarded → looked up, then created once', async () => {
        const to = freshNumber();
        const item = { type: 'sms', id: 'hung', to, body: 'x' };
        env.proxy.script(messagesCreate(to), { kind: 'reset', afterMs: 50 });
        await expectTransient(processOutbound(item, delivery(1), env.deps()), /ECONNRESET|socket hang up/);
        expect(messagesTo(to)).toHaveLength(0);

        expect(await processOutbound(item, delivery(2), env.deps())).toMatchObject({ kind: 'sent' });
        expect(messagesTo(to)).toHaveLength(1);
        expect(creates(to).map((r) => r.forwarded)).toEqual([false, true]);
        expect(lookups(to)).toHaveLength(1);
    });

    it('a call created at Twilio whose answer was lost is found among the calls, not placed twice', async () => {
        const to = freshNumber();
        const item = { type: 'call', id: 'call-maybe', to, say: 'once only' };
        env.proxy.script(callsCreate(to), { kind: 'forward-then-error', status: 502 });
        await expectTransient(processOutbound(item, delivery(1), env.deps()), /HTTP 502/);
        const call = only(callsTo(to));

        const outcome = await processOutbound(item, delivery(2), env.deps());
        expect(outcome).toEqual({ kind: 'found-at-twilio', id: 'call-maybe', sid: call.sid });
        expect(callsTo(to)).toHaveLength(1);
        expect(requestsTo(env.proxy, 'POST', 'Calls', to)).toHaveLength(1);
        expect(requestsTo(env.proxy, 'GET', 'Calls', to)).toHaveLength(1);
    });

    it('an earlier, different message with the same To and body is not mistaken for this one', async () => {
        const to = freshNumber();
        const body = 'Reminder: your appointment is tomorrow at 10:00';
        const first = await processOutbound(
            { type: 'sms', id: 'reminder-a', to, body },
            delivery(),
            env.deps(),
        );
        expect(first.kind).toBe('sent');

        // Two minutes later another message (another id) with the same text; its first create fails with a
        // 500 that never reached Twilio, so Twilio has only the first message.
        const later = () => new Date(Date.now() + 2 * 60_000);
        const second = { type: 'sms', id: 'reminder-b', to, body };
        env.proxy.script(messagesCreate(to), { kind: 'error', status: 500 });
        await expectTransient(processOutbound(second, delivery(1), env.deps({ now: later })));
        expect(messagesTo(to)).toHaveLength(1);

        const outcome = await processOutbound(second, delivery(2), env.deps({ now: later }));
        expect(outcome.kind).toBe('sent');
        expect(messagesTo(to)).toHaveLength(2);
        const [a, b] = [await record('reminder-a'), await record('reminder-b')];
        expect(b.sid).toBeDefined();
        expect(b.sid).not.toBe(a.sid);
    });

    it('nor is one sent seconds before the claim, within the clock-skew allowance: the SID index says whose it is', async () => {
        const to = freshNumber();
        const body = 'Your code is 123456';
        const first = await processOutbound({ type: 'sms', id: 'code-a', to, body }, delivery(), env.deps());
        expect(first.kind).toBe('sent');
        expect(await env.ledger.idForSid(first.kind === 'sent' ? first.sid : '')).toBe('code-a');

        // Ten seconds later, well inside the look-up's 30 s skew allowance.
        const later = () => new Date(Date.now() + 10_000);
        const second = { type: 'sms', id: 'code-b', to, body };
        env.proxy.script(messagesCreate(to), { kind: 'error', status: 500 });
        await expectTransient(processOutbound(second, delivery(1), env.deps({ now: later })));
        const outcome = await processOutbound(second, delivery(2), env.deps({ now: later }));
        expect(outcome.kind).toBe('sent');
        expect(messagesTo(to)).toHaveLength(2);
    });
});

describe('outbound: poison path', () => {
    it('503 on all 5 deliveries → each throws; the last records dead-lettered with the last error', async () => {
        const to = freshNumber();
        const item = { type: 'sms', id: 'poisoned', to, body: 'never makes it' };
        env.proxy.always(messagesCreate(to), {
            kind: 'error',
            status: 503,
            message: 'Service Unavailable (final)',
        });

        for (let dequeueCount = 1; dequeueCount <= 4; dequeueCount++) {
            await expectTransient(processOutbound(item, delivery(dequeueCount), env.deps()), /HTTP 503/);
            expect(await record('poisoned')).toMatchObject({ status: 'sending', attempts: dequeueCount });
        }
        await expectTransient(processOutbound(item, delivery(5), env.deps()), /HTTP 503/);

        const dead = await record('poisoned');
        expect(dead).toMatchObject({ status: 'dead-lettered', attempts: 5 });
        expect(dead.errorMessage).toMatch(/HTTP 503 code 20503: Service Unavailable \(final\)/);
        expect(dead.claim).toBeUndefined();
        expect(dead.sid).toBeUndefined();
        expect(dead.history.map((e) => [e.status, e.source])).toEqual([['dead-lettered', 'app']]);
        expect(creates(to)).toHaveLength(5);
        expect(messagesTo(to)).toHaveLength(0);

        // The poison function confirms it and keeps the reason.
        expect(await recordPoisonedMessage(env.ledger, item, 'poison-msg-id')).toEqual({
            id: 'poisoned',
            kind: 'already-dead-lettered',
        });
        expect(await record('poisoned')).toEqual(dead);
        // A further (stray) delivery does not send either.
        expect(await processOutbound(item, delivery(6), env.deps())).toEqual({
            kind: 'already-final',
            id: 'poisoned',
            status: 'dead-lettered',
        });
        expect(creates(to)).toHaveLength(5);
    });

    it('a message the outbound function never saw gets a dead-lettered record from the poison function', async () => {
        const to = freshNumber();
        const text = JSON.stringify({ type: 'sms', id: 'never-seen', to, body: 'lost' });
        expect(await recordPoisonedMessage(env.ledger, text, 'poison-msg-2')).toEqual({
            id: 'never-seen',
            kind: 'dead-lettered',
        });
        const stored = await record('never-seen');
        expect(stored).toMatchObject({
            direction: 'outbound',
            type: 'sms',
            to,
            bodyLength: 4,
            status: 'dead-lettered',
            attempts: 0,
        });
        expect(stored.errorMessage).toContain('poison-msg-2');
        expect(stored.body).toBeUndefined();
        expect(env.proxy.requests).toHaveLength(0);
    });

    it('the poison function leaves a sent message alone', async () => {
        const to = freshNumber();
        const item = { type: 'sms', id: 'sent-then-poison', to, body: 'x' };
        await processOutbound(item, delivery(), env.deps());
        const before = await record('sent-then-poison');
        expect(await recordPoisonedMessage(env.ledger, item, 'poison-msg-3')).toEqual({
            id: 'sent-then-poison',
            kind: 'already-sent',
        });
        expect(await record('sent-then-poison')).toEqual(before);
    });

    it('a last attempt that reached Twilio is looked up and recorded, not dead-lettered', async () => {
        const to = freshNumber();
        const id = 'last-attempt-created';
        const item = { type: 'sms', id, to, body: 'x' };
        env.proxy.script(messagesCreate(to), { kind: 'forward-then-error', status: 500 });
        const outcome = await processOutbound(item, delivery(5), env.deps());
        const message = only(messagesTo(to));
        expect(outcome).toEqual({ kind: 'found-at-twilio', id, sid: message.sid });
        expect(creates(to)).toHaveLength(1);
        await env.sandbox.idle();
        expect(await record(id)).toMatchObject({ sid: message.sid });
        expect((await record(id)).status).not.toBe('dead-lettered');
    });

    it('a dead-lettered message that Twilio did take ends as what Twilio reports', async () => {
        const to = freshNumber();
        const id = 'dead-then-delivered';
        const item = { type: 'sms', id, to, body: 'y' };
        // The last attempt reached Twilio, and the look-up could not see it (Twilio's list lagged).
        env.proxy.script(messagesCreate(to), { kind: 'forward-then-error', status: 500 });
        env.proxy.script(messagesList(to), { kind: 'error', status: 503 });
        await expectTransient(processOutbound(item, delivery(5), env.deps()), /HTTP 500/);
        expect(await record(id)).toMatchObject({ status: 'dead-lettered' });
        const message = only(messagesTo(to));

        // Twilio's status callbacks for the message arrive (they carry our id).
        for (const status of ['queued', 'sent', 'delivered']) {
            await recordStatusCallback(
                env.ledger,
                new URLSearchParams({ MessageSid: message.sid, MessageStatus: status, To: to }),
                id,
            );
        }
        expect(await record(id)).toMatchObject({ sid: message.sid, status: 'delivered' });
    });
});

describe('outbound: duplicates', () => {
    it('two copies of one message at once → exactly one create; the loser is already-sent on redelivery', async () => {
        const to = freshNumber();
        const item = { type: 'sms', id: 'dup-concurrent', to, body: 'once' };
        const results = await Promise.allSettled([
            processOutbound(item, delivery(1, 'copy-a'), env.deps()),
            processOutbound(item, delivery(1, 'copy-b'), env.deps()),
        ]);
        const message = only(messagesTo(to));
        expect(creates(to)).toHaveLength(1);

        const sent = results.filter((r) => r.status === 'fulfilled' && r.value.kind === 'sent');
        expect(sent).toHaveLength(1);
        const loserIndex = results.findIndex((r) => !(r.status === 'fulfilled' && r.value.kind === 'sent'));
        const loser = results[loserIndex];
        if (loser?.status === 'fulfilled') {
            expect(loser.value).toEqual({ kind: 'already-sent', id: 'dup-concurrent', sid: message.sid });
        } else {
            expect(loser?.reason).toBeInstanceOf(TransientSendError);
            expect((loser?.reason as Error).message).toMatch(/being sent by another invocation/);
        }
        const redelivered = await processOutbound(
            item,
            delivery(2, loserIndex === 0 ? 'copy-a' : 'copy-b'),
            env.deps(),
        );
        expect(redelivered).toEqual({ kind: 'already-sent', id: 'dup-concurrent', sid: message.sid });
        expect(await record('dup-concurrent')).toMatchObject({ sid: message.sid, attempts: 1 });
        expect(creates(to)).toHaveLength(1);
    });

    it('five copies at once → exactly one create, every other copy already-sent or retried', async () => {
        const to = freshNumber();
        const item = { type: 'sms', id: 'dup-five', to, body: 'once' };
        const results = await Promise.allSettled(
            Array.from({ length: 5 }, (_, i) =>
                processOutbound(item, delivery(1, `five-${String(i)}`), env.deps()),
            ),
        );
        expect(messagesTo(to)).toHaveLength(1);
        expect(creates(to)).toHaveLength(1);
        const kinds = results.map((r) =>
            r.status === 'fulfilled'
                ? r.value.kind
                : r.reason instanceof TransientSendError && /another invocation/.test(r.reason.message)
                  ? 'retry'
                  : `unexpected: ${String(r.reason)}`,
        );
        expect(kinds.filter((k) => k === 'sent')).toHaveLength(1);
        expect(kinds.filter((k) => k !== 'sent' && k !== 'already-sent' && k !== 'retry')).toEqual([]);
    });

    it('five redeliveries after a success → all already-sent, still one create', async () => {
        const to = freshNumber();
        const item = { type: 'sms', id: 'dup-sequential', to, body: 'once' };
        const first = await processOutbound(item, delivery(1, 'seq'), env.deps());
        const message = only(messagesTo(to));
        expect(first).toMatchObject({ kind: 'sent', sid: message.sid });
        for (let dequeueCount = 2; dequeueCount <= 6; dequeueCount++) {
            expect(await processOutbound(item, delivery(dequeueCount, 'seq'), env.deps())).toEqual({
                kind: 'already-sent',
                id: 'dup-sequential',
                sid: message.sid,
            });
        }
        expect(creates(to)).toHaveLength(1);
        expect(env.proxy.requests).toHaveLength(1);
        expect(await record('dup-sequential')).toMatchObject({ attempts: 1, sid: message.sid });
    });
});

describe('outbound: the process dies between the create and the ledger write', () => {
    /** The real ledger, except that the first write of a SID fails, as if the process died right there. */
    function crashingOnFirstSid(real: Ledger): Ledger {
        let armed = true;
        return {
            create: (record) => real.create(record),
            get: (id) => real.get(id),
            list: (query) => real.list(query),
            idForSid: (sid) => real.idForSid(sid),
            async update(id, mutate) {
                if (armed) {
                    const current = await real.get(id);
                    if (current?.sid === undefined && mutate(current)?.sid !== undefined) {
                        armed = false;
                        throw new Error('simulated crash after Twilio answered');
                    }
                }
                return real.update(id, mutate);
            },
        };
    }

    it('a redelivery within the lease is retried; after the lease it finds the message at Twilio', async () => {
        const to = freshNumber();
        const id = 'crash-after-create';
        const item = { type: 'sms', id, to, body: 'x' };
        const crashing = env.deps({ ledger: crashingOnFirstSid(env.ledger) });

        await expect(processOutbound(item, delivery(1), crashing)).rejects.toThrow('simulated crash');
        const message = only(messagesTo(to));
        const orphan = await record(id);
        expect(orphan).toMatchObject({ status: 'sending', attempts: 1 });
        expect(orphan.sid).toBeUndefined();
        expect(orphan.claim).toBeDefined();

        // Redelivered while the dead attempt's claim is still live: retried later, nothing sent or looked up.
        await expectTransient(
            processOutbound(item, delivery(2), env.deps()),
            /being sent by another invocation/,
        );
        expect(env.proxy.requests).toHaveLength(1);

        // Once the lease has run out, the next attempt asks Twilio first and adopts the message.
        const afterLease = () => new Date(Date.now() + DEFAULT_CLAIM_LEASE_MS + 1_000);
        const outcome = await processOutbound(item, delivery(3), env.deps({ now: afterLease }));
        expect(outcome).toEqual({ kind: 'found-at-twilio', id, sid: message.sid });
        expect(messagesTo(to)).toHaveLength(1);
        expect(creates(to)).toHaveLength(1);
        expect(lookups(to)).toHaveLength(1);
        const stored = await record(id);
        expect(stored).toMatchObject({ sid: message.sid, attempts: 2 });
        expect(stored.claim).toBeUndefined();
    });
});

describe('outbound: queue item encodings', () => {
    it.each([
        { name: 'plain JSON text', encode: (value: object): unknown => JSON.stringify(value) },
        {
            name: 'base64 JSON text',
            encode: (value: object): unknown => Buffer.from(JSON.stringify(value)).toString('base64'),
        },
        { name: 'an object the host parsed', encode: (value: object): unknown => value },
        { name: 'a Buffer of JSON', encode: (value: object): unknown => Buffer.from(JSON.stringify(value)) },
    ])('$name is sent', async ({ name, encode }) => {
        const to = freshNumber();
        const id = `encoding-${name.replace(/[^a-z0-9]+/gi, '-')}`;
        const outcome = await processOutbound(
            encode({ type: 'sms', id, to, body: 'encoded ✓' }),
            delivery(),
            env.deps(),
        );
        const message = only(messagesTo(to));
        expect(outcome).toEqual({ kind: 'sent', id, sid: message.sid, status: 'queued' });
        expect(message.body).toBe('encoded ✓');
    });
});

describe('outbound: a rotated auth token', () => {
    /** A secret provider over a source whose value and clock the test controls. */
    function rotatingSecrets(initial: string) {
        const state = { value: initial, clock: 0 };
        const secrets = createSecretProvider({
            read: () => Promise.resolve(state.value),
            ttlMs: 3_600_000,
            now: () => state.clock,
        });
        return { state, secrets };
    }

    it('401 → the token is re-read and the create retried with the new one: one message', async () => {
        const to = freshNumber();
        const { state, secrets } = rotatingSecrets('stale-token');
        expect(await secrets.get()).toBe('stale-token'); // cached, as a long-running instance would have it
        state.value = env.sandbox.authToken; // rotated at the source
        state.clock = DEFAULT_MIN_REFRESH_INTERVAL_MS + 1; // a refresh is allowed again

        const outcome = await processOutbound(
            { type: 'sms', id: 'rotated', to, body: 'x' },
            delivery(),
            env.deps({ twilio: env.factory(secrets) }),
        );
        const message = only(messagesTo(to));
        expect(outcome).toEqual({ kind: 'sent', id: 'rotated', sid: message.sid, status: 'queued' });
        expect(creates(to).map((r) => r.answered)).toEqual([401, 201]);
        const refused = env.sandbox.received().filter((r) => r.form.get('To') === to && r.status === 401);
        expect(refused.map((r) => r.errorCode)).toEqual([20003]);
        expect(await record('rotated')).toMatchObject({ sid: message.sid, attempts: 1 });
    });

    it('the token unreadable (Key Vault down) → fails before claiming; the next delivery sends at once', async () => {
        const to = freshNumber();
        const item = { type: 'sms', id: 'vault-down', to, body: 'x' };
        let vaultUp = false;
        const secrets = createSecretProvider({
            read: () =>
                vaultUp
                    ? Promise.resolve(env.sandbox.authToken)
                    : Promise.reject(new SecretUnavailableError('Key Vault unreachable')),
            ttlMs: 3_600_000,
        });
        const deps = env.deps({ twilio: env.factory(secrets) });

        await expect(processOutbound(item, delivery(1), deps)).rejects.toBeInstanceOf(SecretUnavailableError);
        expect(await env.ledger.get('vault-down')).toBeUndefined(); // no claim left behind
        expect(env.proxy.requests).toHaveLength(0);

        vaultUp = true;
        expect(await processOutbound(item, delivery(2), deps)).toMatchObject({ kind: 'sent' });
        expect(messagesTo(to)).toHaveLength(1);
        expect(await record('vault-down')).toMatchObject({ attempts: 1, sid: only(messagesTo(to)).sid });
    });

    it('401 with no new token yet (re-reads rate-limited) → retried later, and sent once it rotates', async () => {
        const to = freshNumber();
        const item = { type: 'sms', id: 'rotated-later', to, body: 'x' };
        const { state, secrets } = rotatingSecrets('stale-token');
        const deps = env.deps({ twilio: env.factory(secrets) });

        await expectTransient(processOutbound(item, delivery(1), deps), /HTTP 401 code 20003/);
        expect(messagesTo(to)).toHaveLength(0);
        const waiting = await record('rotated-later');
        expect(waiting.claim).toBeUndefined();
        expect(waiting.errorMessage).toMatch(/HTTP 401/);

        state.value = env.sandbox.authToken;
        state.clock = DEFAULT_MIN_REFRESH_INTERVAL_MS + 1;
        expect(await processOutbound(item, delivery(2), deps)).toMatchObject({ kind: 'sent' });
        expect(messagesTo(to)).toHaveLength(1);
        expect(creates(to).map((r) => r.answered)).toEqual([401, 401, 201]);
    });
});
