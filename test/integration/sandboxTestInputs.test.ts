/**
 * The sandbox's test inputs (local/sandbox/testNumbers.ts, rateLimit.ts) through the app's real outbound
 * path: the pipeline with the real `twilio` client, the ledger on Azurite's Table service, delayed retries
 * on a real Azurite queue, and the sandbox's signed status callbacks answered by the real `status`
 * function. Each of Twilio's test numbers ends as the app's error policy says (permanent → `failed` with
 * Twilio's code; 21611 → a delayed retry); each reserved number ends `undelivered` / `failed` with its
 * code in the ledger; and a share of 429s is retried until every message is sent exactly once.
 */

import { InvocationContext } from '@azure/functions';
import { QueueServiceClient, type QueueClient } from '@azure/storage-queue';
import { startTwilioSandbox, type TwilioSandbox } from '../../local/sandbox/sandbox';
import type { LedgerRecord } from '../../shared/ledger/contract';
import {
    processOutbound,
    RETRY_TOKEN_FIELD,
    type OutboundDependencies,
} from '../../shared/outbound/pipeline';
import { delayMarkerOf } from '../../shared/outbound/transitions';
import { parseConfig } from '../../shared/platform/config';
import { createDependencies, setDependencies } from '../../shared/platform/dependencies';
import { createStaticSecretProvider } from '../../shared/platform/secrets';
import { createTwilioClientFactory } from '../../shared/platform/twilioClient';
import { functionsAppFetch } from '../support/appFetch';
import {
    DEFAULT_FROM,
    PUBLIC_BASE_URL,
    freshNumber,
    requestsTo,
    startOutboundEnvironment,
    type OutboundEnvironment,
} from '../support/outboundHarness';

let env: OutboundEnvironment;
let queue: QueueClient;
let deliveries = 0;

const appFetch = functionsAppFetch(
    (name) => new InvocationContext({ functionName: name, logHandler: () => undefined }),
);

beforeAll(async () => {
    env = await startOutboundEnvironment({ tablePrefix: 'testinputs', appFetch });
    setDependencies(
        createDependencies(
            parseConfig({
                TWILIO_ACCOUNT_SID: env.sandbox.accountSid,
                TWILIO_AUTH_TOKEN: env.sandbox.authToken,
                PUBLIC_BASE_URL,
                AzureWebJobsStorage: env.azurite.connectionString,
                TWILIO_API_URL: env.proxy.url,
                TWILIO_FROM_NUMBER: DEFAULT_FROM,
                LEDGER_TABLE: env.tableName,
            }),
        ),
    );
    queue = QueueServiceClient.fromConnectionString(env.azurite.connectionString).getQueueClient(
        'testinputs',
    );
    await queue.createIfNotExists();
}, 60_000);

afterAll(async () => {
    setDependencies();
    await env.stop();
});

beforeEach(() => {
    env.proxy.clear();
});

afterEach(async () => {
    await env.sandbox.idle();
});

const delivery = () => ({ id: `ti-${String(++deliveries)}`, dequeueCount: 1 });

async function record(id: string): Promise<LedgerRecord> {
    const found = await env.ledger.get(id);
    if (found === undefined) throw new Error(`no ledger record ${id}`);
    return found;
}

/** A copy the pipeline put back on the Azurite queue. */
interface Requeued {
    delaySeconds: number;
    token: string;
}

function withRequeue(requeued: Requeued[], overrides: Partial<OutboundDependencies> = {}) {
    return env.deps({
        requeue: async (text, delaySeconds) => {
            await queue.sendMessage(text, { visibilityTimeout: delaySeconds });
            const token = (JSON.parse(text) as Record<string, unknown>)[RETRY_TOKEN_FIELD];
            requeued.push({ delaySeconds, token: String(token) });
        },
        ...overrides,
    });
}

describe("Twilio's test numbers through the outbound pipeline", () => {
    it.each([
        ['From', '+15005550001', undefined, '21212'],
        ['From', '+15005550007', undefined, '21606'],
        ['To', DEFAULT_FROM, '+15005550001', '21211'],
        ['To', DEFAULT_FROM, '+15005550002', '21612'],
        ['To', DEFAULT_FROM, '+15005550003', '21408'],
        ['To', DEFAULT_FROM, '+15005550004', '21610'],
        ['To', DEFAULT_FROM, '+15005550009', '21614'],
    ])('%s %s %s → failed with %s, one create, nothing sent', async (_which, from, magicTo, code) => {
        const to = magicTo ?? freshNumber();
        const id = `magic-${code}`;
        const outcome = await processOutbound(
            { type: 'sms', id, to, body: 'hello' },
            delivery(),
            env.deps({ fromNumber: from }),
        );

        expect(outcome).toMatchObject({ kind: 'failed', id, code });
        const stored = await record(id);
        expect(stored).toMatchObject({ status: 'failed', errorCode: code, attempts: 1 });
        expect(stored.sid).toBeUndefined();
        expect(requestsTo(env.proxy, 'POST', 'Messages').map((r) => r.answered)).toEqual([400]);
        expect(env.sandbox.received().at(-1)).toMatchObject({ status: 400, errorCode: Number(code) });
        // Twilio's message names the number; the ledger keeps it masked.
        expect(stored.errorMessage ?? '').not.toContain(to);
    });

    it('From +15005550008 (21611, a full queue) → a delayed retry 300 s later, not a failure', async () => {
        const id = 'magic-21611';
        const requeued: Requeued[] = [];
        const outcome = await processOutbound(
            { type: 'sms', id, to: freshNumber(), body: 'hello' },
            delivery(),
            withRequeue(requeued, { fromNumber: '+15005550008' }),
        );

        expect(outcome).toMatchObject({ kind: 'delayed', id, code: '21611' });
        expect(requeued.map((copy) => copy.delaySeconds)).toEqual([300]);
        const stored = await record(id);
        expect(stored.status).toBe('sending');
        expect(delayMarkerOf(stored)?.token).toBe(requeued[0]?.token);
        expect(stored.errorMessage).toMatch(/^Twilio HTTP 400 code 21611: SMS queue is full\./);
        // 21611 is a 400: the twilio client does not retry it, so Twilio saw one create.
        expect(requestsTo(env.proxy, 'POST', 'Messages').map((r) => r.answered)).toEqual([400]);
    });
});

describe('the reserved numbers: sent, then undelivered or failed through the status function', () => {
    it.each([
        ['+15005550030', 'undelivered', '30003'],
        ['+15005550031', 'undelivered', '30005'],
        ['+15005550032', 'undelivered', '30006'],
        ['+15005550033', 'undelivered', '30007'],
        ['+15005550034', 'undelivered', '30008'],
        ['+15005550040', 'failed', '30003'],
        ['+15005550044', 'failed', '30008'],
    ])('%s → the ledger ends %s with %s', async (to, status, code) => {
        const id = `reserved-${to.slice(-2)}`;
        const outcome = await processOutbound({ type: 'sms', id, to, body: 'hi' }, delivery(), env.deps());
        expect(outcome).toMatchObject({ kind: 'sent', id, status: 'queued' });
        await env.sandbox.idle();

        const stored = await record(id);
        // Only the code: when the final callback beats the pipeline's write of the SID, that write
        // (transitions.ts recordSid) clears errorMessage, so the message is not asserted here.
        expect(stored).toMatchObject({ status, errorCode: code });
        expect(stored.history.filter((e) => e.source === 'twilio').map((e) => e.status)).toEqual(
            status === 'failed' ? ['queued', 'failed'] : ['queued', 'sent', status],
        );
        const message = env.sandbox.messages.find((m) => m.sid === stored.sid);
        expect(message?.callbacks.map((c) => [c.status, c.httpStatus])).toEqual(
            (status === 'failed' ? ['queued', 'failed'] : ['queued', 'sent', status]).map((s) => [s, 204]),
        );
    });
});

describe('a share of 429s (the sandbox rateLimit option)', () => {
    let limited: TwilioSandbox | undefined;

    afterEach(async () => {
        await limited?.idle();
        await limited?.close();
        limited = undefined;
    });

    async function startLimited(every: number, retryAfterSeconds?: number) {
        limited = await startTwilioSandbox({
            accountSid: env.sandbox.accountSid,
            authToken: env.sandbox.authToken,
            callbackDelayMs: 0,
            fetch: appFetch,
            rateLimit: { every, retryAfterSeconds },
        });
        const twilio = createTwilioClientFactory({
            accountSid: limited.accountSid,
            secrets: createStaticSecretProvider(limited.authToken),
            apiUrl: limited.url,
        });
        return { sandbox: limited, twilio };
    }

    it('every 2nd create refused: three SMS and a call each sent exactly once, seven creates in all', async () => {
        const { sandbox, twilio } = await startLimited(2);
        const items = [
            { type: 'sms', id: 'share-1', to: freshNumber(), body: 'one' },
            { type: 'sms', id: 'share-2', to: freshNumber(), body: 'two' },
            { type: 'sms', id: 'share-3', to: freshNumber(), body: 'three' },
            { type: 'call', id: 'share-call', to: freshNumber(), say: 'hello' },
        ];
        const outcomes = [];
        for (const item of items)
            outcomes.push(await processOutbound(item, delivery(), env.deps({ twilio })));

        expect(outcomes.map((o) => o.kind)).toEqual(['sent', 'sent', 'sent', 'sent']);
        // The twilio client's own retry of a 429 takes each refused create through on the next request.
        expect(sandbox.received().map((r) => [r.path.split('/').at(-1), r.status])).toEqual([
            ['Messages.json', 201],
            ['Messages.json', 429],
            ['Messages.json', 201],
            ['Messages.json', 429],
            ['Messages.json', 201],
            ['Calls.json', 429],
            ['Calls.json', 201],
        ]);
        expect([sandbox.messages.length, sandbox.calls.length]).toEqual([3, 1]);
        for (const item of items) {
            expect(await record(item.id)).toMatchObject({ attempts: 1, sid: expect.any(String) as string });
        }
    });

    it('every create refused, Retry-After 120: the pipeline waits what the sandbox said, sends nothing', async () => {
        const { sandbox, twilio } = await startLimited(1, 120);
        const requeued: Requeued[] = [];
        const id = 'share-retry-after';
        const outcome = await processOutbound(
            { type: 'sms', id, to: freshNumber(), body: 'later' },
            delivery(),
            withRequeue(requeued, { twilio }),
        );

        expect(outcome).toMatchObject({ kind: 'delayed', id, code: '20429' });
        // The client's three quick retries, then the pipeline's own wait: Retry-After, not its default.
        expect(sandbox.received().map((r) => r.status)).toEqual([429, 429, 429, 429]);
        expect(requeued.map((copy) => copy.delaySeconds)).toEqual([120]);
        expect(sandbox.messages).toHaveLength(0);
        expect((await record(id)).errorMessage).toMatch(/^Twilio HTTP 429 code 20429: Too Many Requests/);
    });
});
