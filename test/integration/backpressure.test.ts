/**
 * Back-pressure from Twilio end to end: the real `twilio` client (with its own three quick 429 retries)
 * talking to the sandbox through the fault proxy, the ledger on Azurite's Table service, and delayed
 * retries on a real Azurite queue. What is asserted is the queue's own visibility time of each re-enqueued
 * copy (`nextVisibleOn`, from the service) and the ledger, never elapsed time: a later delivery is a call
 * with a `now` at or after the copy's time, as the host would make it.
 */

import { QueueServiceClient, type QueueClient } from '@azure/storage-queue';
import type { LedgerRecord } from '../../shared/ledger/contract';
import {
    processOutbound,
    RETRY_TOKEN_FIELD,
    type OutboundDependencies,
    type OutboundOutcome,
} from '../../shared/outbound/pipeline';
import { delayMarkerOf } from '../../shared/outbound/transitions';
import {
    freshNumber,
    requestsTo,
    startOutboundEnvironment,
    type OutboundEnvironment,
} from '../support/outboundHarness';

let env: OutboundEnvironment;
let queue: QueueClient;
let queueMessages = 0;

beforeAll(async () => {
    env = await startOutboundEnvironment({ tablePrefix: 'backpressure' });
    queue = QueueServiceClient.fromConnectionString(env.azurite.connectionString).getQueueClient(
        'backpressure',
    );
    await queue.createIfNotExists();
}, 60_000);

afterAll(async () => {
    await env.stop();
});

beforeEach(() => {
    env.proxy.clear();
    env.log.lines.length = 0;
});

afterEach(async () => {
    await env.sandbox.idle();
});

/** A copy the pipeline put back on the queue, as the queue service answered it. */
interface Requeued {
    text: string;
    delaySeconds: number;
    /** Seconds from the message's insertion to its visibility, by the queue service's clock. */
    visibleAfterSeconds: number;
    token: string;
}

/** Pipeline dependencies whose `requeue` puts copies on the Azurite queue and records them. */
function depsWith(requeued: Requeued[], overrides: Partial<OutboundDependencies> = {}): OutboundDependencies {
    return env.deps({
        requeue: async (text, delaySeconds) => {
            const sent = await queue.sendMessage(text, { visibilityTimeout: delaySeconds });
            const token = (JSON.parse(text) as Record<string, unknown>)[RETRY_TOKEN_FIELD];
            requeued.push({
                text,
                delaySeconds,
                visibleAfterSeconds: (sent.nextVisibleOn.getTime() - sent.insertedOn.getTime()) / 1000,
                token: String(token),
            });
        },
        ...overrides,
    });
}

const delivery = (dequeueCount = 1) => ({ id: `bp-${String(++queueMessages)}`, dequeueCount });
const at =
    (iso: string, plusMs = 0) =>
    () =>
        new Date(Date.parse(iso) + plusMs);
const messagesTo = (to: string) => env.sandbox.messages.filter((m) => m.to === to);
const createMatch = (to: string) => ({ method: 'POST', path: /\/Messages\.json$/, params: { To: to } });

async function record(id: string): Promise<LedgerRecord> {
    const found = await env.ledger.get(id);
    if (found === undefined) throw new Error(`no record for ${id}`);
    return found;
}

describe('a persistent 429 with Retry-After', () => {
    it('re-enqueues a copy visible 120 s later, acknowledges this one, and sends once at the time', async () => {
        const to = freshNumber();
        const id = `bp-429-${to.slice(1)}`;
        const item = JSON.stringify({ type: 'sms', id, to, body: 'hello' });
        env.proxy.always(createMatch(to), { kind: 'error', status: 429, headers: { 'Retry-After': '120' } });
        const requeued: Requeued[] = [];

        const first = await processOutbound(item, delivery(), depsWith(requeued));
        expect(first).toMatchObject({ kind: 'delayed', id, code: '20429' });
        // The client's own three quick retries, then the pipeline's wait: nothing reached the sandbox.
        expect(requestsTo(env.proxy, 'POST', 'Messages', to)).toHaveLength(4);
        expect(messagesTo(to)).toHaveLength(0);
        expect(requeued).toHaveLength(1);
        const [copy] = requeued as [Requeued];
        expect(copy.delaySeconds).toBe(120);
        expect(copy.visibleAfterSeconds).toBeGreaterThanOrEqual(119);
        expect(copy.visibleAfterSeconds).toBeLessThanOrEqual(121);
        const waiting = await record(id);
        const marker = delayMarkerOf(waiting);
        expect(marker?.token).toBe(copy.token);
        if (first.kind !== 'delayed' || marker === undefined) throw new Error('not delayed');
        expect(marker.until).toBe(first.until);
        expect(waiting.sid).toBeUndefined();
        expect(waiting.errorMessage).toMatch(/^Twilio HTTP 429 code 20429/);
        expect(env.log.lines).toContainEqual({
            level: 'warn',
            text: `event=message.delayed id=${id} code=20429 attempt=1`,
        });

        env.proxy.clear();
        // The acknowledged copy comes back anyway (a crash between the re-enqueue and the acknowledge):
        // superseded, before and after the marker's time, and nothing is sent.
        for (const now of [undefined, at(marker.until, 5_000)]) {
            const again = await processOutbound(item, delivery(2), depsWith(requeued, now ? { now } : {}));
            expect(again).toEqual({ kind: 'superseded', id });
        }
        expect(requestsTo(env.proxy, 'POST', 'Messages', to)).toHaveLength(0);

        // The copy the marker names, at its time: one create.
        const sent = await processOutbound(
            copy.text,
            delivery(),
            depsWith(requeued, { now: at(marker.until) }),
        );
        expect(sent).toMatchObject({ kind: 'sent', id });
        expect(messagesTo(to)).toHaveLength(1);
        expect(requestsTo(env.proxy, 'POST', 'Messages', to)).toHaveLength(1);
        const done = await record(id);
        expect(done.sid).toBe(messagesTo(to)[0]?.sid);
        expect(done.claim).toBeUndefined();
        expect(requeued).toHaveLength(1);

        // And it is done: a late duplicate of the delayed copy finds the SID.
        const late = await processOutbound(
            copy.text,
            delivery(2),
            depsWith(requeued, { now: at(marker.until) }),
        );
        expect(late).toMatchObject({ kind: 'already-sent', id });
        expect(messagesTo(to)).toHaveLength(1);
    });

    it('the named copy arriving early is re-armed for the rest of the wait, and the old copy is then superseded', async () => {
        const to = freshNumber();
        const id = `bp-early-${to.slice(1)}`;
        const item = JSON.stringify({ type: 'sms', id, to, body: 'hello' });
        env.proxy.always(createMatch(to), { kind: 'error', status: 429, headers: { 'Retry-After': '300' } });
        const requeued: Requeued[] = [];
        const first = await processOutbound(item, delivery(), depsWith(requeued));
        if (first.kind !== 'delayed') throw new Error(`not delayed: ${first.kind}`);
        const [copy] = requeued as [Requeued];

        const early = await processOutbound(
            copy.text,
            delivery(),
            depsWith(requeued, { now: at(first.until, -60_000) }),
        );
        expect(early).toEqual({ kind: 'delayed', id, until: first.until, code: undefined });
        // Its own outcome line: informational (nothing pushed back this time), without a code.
        expect(env.log.lines).toContainEqual({
            level: 'log',
            text: `event=message.delayed id=${id} attempt=1`,
        });
        expect(requeued).toHaveLength(2);
        const rearmed = requeued[1] as Requeued;
        expect(rearmed.delaySeconds).toBe(60);
        expect(rearmed.visibleAfterSeconds).toBeGreaterThanOrEqual(59);
        expect(rearmed.visibleAfterSeconds).toBeLessThanOrEqual(61);
        expect(delayMarkerOf(await record(id))).toMatchObject({ token: rearmed.token, until: first.until });
        const stale: OutboundOutcome = await processOutbound(
            copy.text,
            delivery(2),
            depsWith(requeued, { now: at(first.until) }),
        );
        expect(stale).toEqual({ kind: 'superseded', id });
        // Only the original attempt's four requests: the early copy never called Twilio.
        expect(requestsTo(env.proxy, 'POST', 'Messages', to)).toHaveLength(4);
    });
});

describe('a full sender queue (21611)', () => {
    it('waits minutes, longer each time, without sending', async () => {
        const to = freshNumber();
        const id = `bp-21611-${to.slice(1)}`;
        const item = JSON.stringify({ type: 'sms', id, to, body: 'hello' });
        env.proxy.always(createMatch(to), { kind: 'error', status: 400, code: 21611, message: 'queue full' });
        const requeued: Requeued[] = [];
        const first = await processOutbound(item, delivery(), depsWith(requeued));
        expect(first).toMatchObject({ kind: 'delayed', code: '21611' });
        if (first.kind !== 'delayed') throw new Error('not delayed');
        const second = await processOutbound(
            (requeued[0] as Requeued).text,
            delivery(),
            depsWith(requeued, { now: at(first.until) }),
        );
        expect(second).toMatchObject({ kind: 'delayed', code: '21611' });
        expect(requeued.map((r) => r.delaySeconds)).toEqual([300, 600]);
        for (const copy of requeued) {
            expect(copy.visibleAfterSeconds).toBeGreaterThanOrEqual(copy.delaySeconds - 1);
            expect(copy.visibleAfterSeconds).toBeLessThanOrEqual(copy.delaySeconds + 1);
        }
        // 21611 is not retried by the client: one request per attempt.
        expect(requestsTo(env.proxy, 'POST', 'Messages', to)).toHaveLength(2);
        expect(messagesTo(to)).toHaveLength(0);
        expect((await record(id)).attempts).toBe(2);
    });
});

describe('the age limit', () => {
    it('a message still refused past OUTBOUND_MAX_AGE_SECONDS ends failed with the last code', async () => {
        const to = freshNumber();
        const id = `bp-age-${to.slice(1)}`;
        const item = JSON.stringify({ type: 'sms', id, to, body: 'hello' });
        env.proxy.always(createMatch(to), { kind: 'error', status: 400, code: 21611, message: 'queue full' });
        const requeued: Requeued[] = [];
        const maxAgeMs = 400_000;
        const start = new Date();
        const first = await processOutbound(
            item,
            delivery(),
            depsWith(requeued, { maxAgeMs, now: () => start }),
        );
        if (first.kind !== 'delayed') throw new Error('not delayed');
        // The second wait (600 s) would pass the limit: the last try is at the limit itself.
        const second = await processOutbound(
            (requeued[0] as Requeued).text,
            delivery(),
            depsWith(requeued, { maxAgeMs, now: at(first.until) }),
        );
        if (second.kind !== 'delayed') throw new Error(`not delayed: ${second.kind}`);
        expect(Date.parse(second.until)).toBe(start.getTime() + maxAgeMs);
        expect((requeued[1] as Requeued).delaySeconds).toBe(100);

        env.proxy.clear();
        env.proxy.always(createMatch(to), { kind: 'error', status: 429, headers: { 'Retry-After': '60' } });
        const last = await processOutbound(
            (requeued[1] as Requeued).text,
            delivery(),
            depsWith(requeued, { maxAgeMs, now: at(second.until) }),
        );
        expect(last).toMatchObject({ kind: 'failed', id, code: '20429' });
        const failed = await record(id);
        expect(failed).toMatchObject({ status: 'failed', errorCode: '20429' });
        expect(failed.errorMessage).toMatch(
            /^not accepted by Twilio within the message's age limit; last error: Twilio HTTP 429/,
        );
        expect(failed.claim).toBeUndefined();
        expect(requeued).toHaveLength(2);
        expect(env.log.lines.filter((l) => l.text.startsWith(`event=message.failed id=${id} `))).toEqual([
            { level: 'warn', text: `event=message.failed id=${id} status=failed code=20429 attempt=1` },
        ]);
        expect(messagesTo(to)).toHaveLength(0);
    });

    it('a validityPeriod is the limit when the message has one', async () => {
        const to = freshNumber();
        const id = `bp-validity-${to.slice(1)}`;
        const item = JSON.stringify({ type: 'sms', id, to, body: 'hello', validityPeriod: 90 });
        env.proxy.always(createMatch(to), { kind: 'error', status: 400, code: 21611, message: 'queue full' });
        const requeued: Requeued[] = [];
        const start = new Date();
        const first = await processOutbound(item, delivery(), depsWith(requeued, { now: () => start }));
        if (first.kind !== 'delayed') throw new Error('not delayed');
        expect((requeued[0] as Requeued).delaySeconds).toBe(90);
        const last = await processOutbound(
            (requeued[0] as Requeued).text,
            delivery(),
            depsWith(requeued, { now: at(first.until) }),
        );
        expect(last).toMatchObject({ kind: 'failed', code: '21611' });
        expect(await record(id)).toMatchObject({ status: 'failed', errorCode: '21611' });
    });
});

describe('without requeue (no queue to wait on)', () => {
    it('a persistent 429 is rethrown for the host to redeliver, as before', async () => {
        const to = freshNumber();
        env.proxy.always(createMatch(to), { kind: 'error', status: 429 });
        await expect(
            processOutbound(
                JSON.stringify({ type: 'sms', id: `bp-plain-${to.slice(1)}`, to, body: 'x' }),
                delivery(),
                env.deps(),
            ),
        ).rejects.toThrow(/will retry/);
    });
});
