/**
 * Opt-outs on the send path, on real parts: the opt-out store and the ledger on Azurite's Table service,
 * the real `twilio` client, and the Twilio sandbox (behind the fault proxy) whose request log shows what
 * reached "Twilio". A send to an opted-out recipient ends `failed` 21610 with no request at all; Twilio's
 * own 21610 (the sandbox's `+15005550004`, as with Twilio's test credentials) records an opt-out, so the
 * next send to that number never reaches Twilio; and one message goes the whole way through the API, the
 * real outbound queue and the outbound function.
 */

import { InvocationContext } from '@azure/functions';
import { QueueClient } from '@azure/storage-queue';
import { outbound } from '../../functions/outbound';
import { sendMessage } from '../../functions/sendMessage';
import type { OptOutStore } from '../../shared/messaging/optOuts';
import { createMessagingTables } from '../../shared/messaging/tableStores';
import { processOutbound } from '../../shared/outbound/pipeline';
import { parseConfig } from '../../shared/platform/config';
import { createDependencies, setDependencies } from '../../shared/platform/dependencies';
import {
    DEFAULT_FROM,
    DEFAULT_SERVICE,
    freshNumber,
    startOutboundEnvironment,
    type OutboundEnvironment,
} from '../support/outboundHarness';
import { testContext } from '../support/webhooks';
import { HttpRequest } from '@azure/functions';

let env: OutboundEnvironment;
let optOuts: OptOutStore;
let deliveries = 0;

beforeAll(async () => {
    env = await startOutboundEnvironment({ tablePrefix: 'optoutsend' });
    optOuts = createMessagingTables({
        connectionString: env.azurite.connectionString,
        tableName: env.tableName,
    }).optOuts;
}, 60_000);

afterAll(async () => {
    setDependencies();
    await env.stop();
});

beforeEach(() => {
    env.proxy.clear();
    env.log.lines.length = 0;
});

afterEach(async () => {
    await env.sandbox.idle();
});

const delivery = () => ({ id: `oq-${String(++deliveries)}`, dequeueCount: 1 });
/** The sandbox's own log of REST requests that created (or tried to create) a message or call to `to`. */
const createsAt = (to: string) =>
    env.sandbox.received().filter((r) => r.method === 'POST' && r.form.get('To') === to);
const since = '2026-11-30T10:00:00.000Z';

describe('outbound: a recipient who opted out', () => {
    it('is refused before Twilio: failed 21610, a message.failed line, no request', async () => {
        const to = freshNumber();
        await optOuts.add({
            sender: DEFAULT_FROM,
            recipient: to,
            since,
            source: 'keyword',
            cause: 'SM0123456789abcdef0123456789abcdef',
        });

        const outcome = await processOutbound(
            { type: 'sms', id: 'optout-1', to, body: 'Your order has shipped' },
            delivery(),
            env.deps({ optOuts }),
        );

        const message =
            'not sent: the recipient opted out of messages from this sender (keyword, since 2026-11-30T10:00:00.000Z); an opt-in (START) or DELETE /api/opt-outs/{sender}/{recipient} lifts it';
        expect(outcome).toEqual({ kind: 'failed', id: 'optout-1', code: '21610', message });
        expect(createsAt(to)).toEqual([]);
        expect(env.proxy.requests).toEqual([]);
        const record = await env.ledger.get('optout-1');
        expect(record).toMatchObject({
            status: 'failed',
            errorCode: '21610',
            errorMessage: message,
            attempts: 1,
        });
        expect(record?.sid).toBeUndefined();
        expect(record?.claim).toBeUndefined();
        expect(env.log.lines).toEqual([
            { level: 'warn', text: 'event=message.failed id=optout-1 status=failed code=21610 attempt=1' },
        ]);
    });

    it('applies per sender: a Messaging Service opt-out stops sends through it, not from another number', async () => {
        const to = freshNumber();
        await optOuts.add({ sender: DEFAULT_SERVICE, recipient: to, since, source: 'OptOutType' });

        const viaService = await processOutbound(
            { type: 'sms', id: 'optout-2', to, body: 'hi', messagingServiceSid: DEFAULT_SERVICE },
            delivery(),
            env.deps({ optOuts }),
        );
        expect(viaService).toMatchObject({ kind: 'failed', code: '21610' });
        // The app's default service is the sender of a message that names none.
        const viaDefault = await processOutbound(
            { type: 'sms', id: 'optout-3', to, body: 'hi' },
            delivery(),
            env.deps({ optOuts, messagingServiceSid: DEFAULT_SERVICE }),
        );
        expect(viaDefault).toMatchObject({ kind: 'failed', code: '21610' });
        expect(createsAt(to)).toEqual([]);

        const fromNumber = await processOutbound(
            { type: 'sms', id: 'optout-4', to, body: 'hi' },
            delivery(),
            env.deps({ optOuts }),
        );
        expect(fromNumber).toMatchObject({ kind: 'sent' });
        expect(createsAt(to)).toHaveLength(1);
    });

    it('does not stop a call: calls are not subject to SMS opt-outs', async () => {
        const to = freshNumber();
        await optOuts.add({ sender: DEFAULT_FROM, recipient: to, since, source: 'keyword' });
        const outcome = await processOutbound(
            { type: 'call', id: 'optout-call', to, say: 'hello' },
            delivery(),
            env.deps({ optOuts }),
        );
        expect(outcome).toMatchObject({ kind: 'sent' });
        expect(createsAt(to)).toHaveLength(1);
    });

    it("records Twilio's 21610 as an opt-out, and the next send to that number never reaches Twilio", async () => {
        const to = '+15005550004'; // Twilio's test number for a recipient who replied STOP
        await optOuts.remove(DEFAULT_FROM, to);

        const first = await processOutbound(
            { type: 'sms', id: 'optout-5', to, body: 'hi' },
            delivery(),
            env.deps({ optOuts }),
        );
        expect(first).toMatchObject({ kind: 'failed', code: '21610' });
        expect(createsAt(to)).toHaveLength(1);
        expect(await optOuts.get(DEFAULT_FROM, to)).toEqual({
            sender: DEFAULT_FROM,
            recipient: to,
            since: expect.any(String) as string,
            source: 'twilio-21610',
            cause: 'optout-5',
        });

        const second = await processOutbound(
            { type: 'sms', id: 'optout-6', to, body: 'hi' },
            delivery(),
            env.deps({ optOuts }),
        );
        expect(second).toMatchObject({ kind: 'failed', code: '21610' });
        expect((await env.ledger.get('optout-6'))?.errorMessage).toMatch(
            /^not sent: the recipient opted out .*\(twilio-21610, since /,
        );
        expect(createsAt(to)).toHaveLength(1);
        await optOuts.remove(DEFAULT_FROM, to);
    });

    it('through the API, the outbound queue and the outbound function: failed 21610, zero Twilio requests', async () => {
        const to = freshNumber();
        const queueName = 'optout-outbound';
        setDependencies(
            createDependencies(
                parseConfig({
                    AzureWebJobsStorage: env.azurite.connectionString,
                    TWILIO_ACCOUNT_SID: env.sandbox.accountSid,
                    TWILIO_AUTH_TOKEN: env.sandbox.authToken,
                    TWILIO_API_URL: env.proxy.url,
                    TWILIO_FROM_NUMBER: DEFAULT_FROM,
                    PUBLIC_BASE_URL: 'https://app.example.com',
                    LEDGER_TABLE: env.tableName,
                    OUTBOUND_QUEUE: queueName,
                }),
            ),
        );
        await optOuts.add({ sender: DEFAULT_FROM, recipient: to, since, source: 'api' });

        const accepted = await sendMessage(
            new HttpRequest({
                method: 'POST',
                url: 'https://app.example.com/api/messages',
                headers: { 'Content-Type': 'application/json', 'Idempotency-Key': 'optout-api-1' },
                body: { string: JSON.stringify({ to, body: 'Your order has shipped' }) },
            }),
            testContext('sendMessage').context,
        );
        expect(accepted.status).toBe(202);

        const queue = new QueueClient(env.azurite.connectionString, queueName);
        const { receivedMessageItems: items } = await queue.receiveMessages({ numberOfMessages: 1 });
        const [item] = items;
        if (item === undefined) throw new Error('nothing on the outbound queue');
        const logs: string[] = [];
        await outbound(
            JSON.parse(item.messageText) as unknown,
            new InvocationContext({
                functionName: 'outbound',
                triggerMetadata: { id: item.messageId, dequeueCount: item.dequeueCount },
                logHandler: (_level, ...args) => {
                    logs.push(args.map(String).join(' '));
                },
            }),
        );

        expect(await env.ledger.get('optout-api-1')).toMatchObject({ status: 'failed', errorCode: '21610' });
        expect(logs).toContain('event=message.failed id=optout-api-1 status=failed code=21610 attempt=1');
        expect(createsAt(to)).toEqual([]);
        expect(env.proxy.requests).toEqual([]);
    });
});
