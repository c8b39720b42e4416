/**
 * `/api/sms` and opt-outs, through the function with real signed requests, the ledger and the opt-out
 * store on Azurite's Table service: the keyword paths (STOP, `stop.`, Advanced Opt-Out's `OptOutType` with
 * a custom keyword, START, HELP), retries, and the loop guard — whose clock is the test's, passed to the
 * real Table counters by a thin adapter, so a new window needs no sleep.
 */

import { inboundSms } from '../../functions/inboundSms';
import { startAzurite, type Azurite } from '../../local/azurite';
import { createLedger } from '../../shared/ledger/table';
import type { Ledger } from '../../shared/ledger/contract';
import type { OptOutStore } from '../../shared/messaging/optOuts';
import type { ReplyWindows } from '../../shared/messaging/replyGuard';
import { createMessagingTables } from '../../shared/messaging/tableStores';
import { parseConfig } from '../../shared/platform/config';
import { createDependencies, setDependencies } from '../../shared/platform/dependencies';
import { bodyText, signedWebhookRequest, testContext } from '../support/webhooks';

const TOKEN = '9a8b7c6d5e4f30211203f4e5d6c7b8a9';
const URL = 'https://myapp.azurewebsites.net/api/sms';
const XML = '<?xml version="1.0" encoding="UTF-8"?>';
const EMPTY = `${XML}<Response/>`;
const REPLY = `${XML}<Response><Message>Hey, thanks for the ping! Twilio and Azure rock!</Message></Response>`;
const OUR_NUMBER = '+15005550006';
const SERVICE = 'MG0123456789abcdef0123456789abcdef';

let azurite: Azurite;
let ledger: Ledger;
let optOuts: OptOutStore;
let counters: ReplyWindows;
let clock = Date.parse('2026-12-01T12:00:00.000Z');
let sids = 0;
let senders = 0;

beforeAll(async () => {
    azurite = await startAzurite({ ports: 'free' });
    const settings = {
        TWILIO_AUTH_TOKEN: TOKEN,
        AzureWebJobsStorage: azurite.connectionString,
        LEDGER_TABLE: 'optoutinbound',
    };
    const app = createDependencies(parseConfig(settings));
    ledger = createLedger({
        connectionString: azurite.connectionString,
        tableName: 'optoutinbound',
        storeBody: false,
    });
    const tables = createMessagingTables({
        connectionString: azurite.connectionString,
        tableName: 'optoutinbound',
    });
    optOuts = tables.optOuts;
    counters = tables.replyWindows;
    // The app's own services, but for the loop guard's clock: the test's, handed to the real counters.
    const replyWindows: ReplyWindows = {
        count: (from, to, _now, windowMs) => counters.count(from, to, new Date(clock), windowMs),
    };
    setDependencies({ ...app, replyWindows: () => replyWindows });
}, 60_000);

afterAll(async () => {
    setDependencies();
    await azurite.stop();
});

function newSid(): string {
    sids++;
    return `SM${String(sids).padStart(32, '0')}`;
}

function freshSender(): string {
    senders++;
    return `+1555${String(process.pid % 1000).padStart(3, '0')}${String(senders).padStart(4, '0')}`;
}

async function post(params: Record<string, string>) {
    const form = {
        AccountSid: 'AC0123456789abcdef0123456789abcdef',
        NumMedia: '0',
        To: OUR_NUMBER,
        ...params,
    };
    const { context, logs } = testContext('inboundSms');
    const response = await inboundSms(signedWebhookRequest(TOKEN, { url: URL, params: form }), context);
    expect(response.status).toBe(200);
    return { body: bodyText(response.body), logs: logs.map((l) => l.message).join('\n') };
}

describe('/api/sms: opt-out keywords', () => {
    it('STOP records an opt-out of the sender for the number written to, with no reply', async () => {
        const from = freshSender();
        const sid = newSid();
        const { body, logs } = await post({ MessageSid: sid, From: from, Body: 'STOP' });
        expect(body).toBe(EMPTY);
        expect(await optOuts.get(OUR_NUMBER, from)).toEqual({
            sender: OUR_NUMBER,
            recipient: from,
            since: expect.any(String) as string,
            source: 'keyword',
            cause: sid,
        });
        expect((await ledger.get(sid))?.direction).toBe('inbound');
        expect(logs).toContain(
            `opt-out of ${from.slice(0, 5)}***${from.slice(-4)} for +1500***0006 recorded (keyword)`,
        );
        expect(logs).not.toContain(from);
    });

    it('stop. (trailing punctuation) opts out too; "Stop please" does not', async () => {
        const from = freshSender();
        expect((await post({ MessageSid: newSid(), From: from, Body: 'Stop please' })).body).toBe(REPLY);
        expect(await optOuts.get(OUR_NUMBER, from)).toBeUndefined();
        expect((await post({ MessageSid: newSid(), From: from, Body: ' stop. ' })).body).toBe(EMPTY);
        expect(await optOuts.get(OUR_NUMBER, from)).toMatchObject({ source: 'keyword' });
    });

    it("OptOutType=STOP with a Messaging Service's custom keyword records it for the service", async () => {
        const from = freshSender();
        const sid = newSid();
        const { body } = await post({
            MessageSid: sid,
            From: from,
            Body: 'ARRET',
            OptOutType: 'STOP',
            MessagingServiceSid: SERVICE,
        });
        expect(body).toBe(EMPTY);
        expect(await optOuts.get(SERVICE, from)).toMatchObject({ source: 'OptOutType', cause: sid });
        expect(await optOuts.get(OUR_NUMBER, from)).toBeUndefined();
        // OptOutType decides: a default keyword the service answers as HELP is not an opt-out.
        const other = freshSender();
        expect(
            (
                await post({
                    MessageSid: newSid(),
                    From: other,
                    Body: 'STOP',
                    OptOutType: 'HELP',
                    MessagingServiceSid: SERVICE,
                })
            ).body,
        ).toBe(EMPTY);
        expect(await optOuts.get(SERVICE, other)).toBeUndefined();
    });

    it('START removes the opt-out (OptOutType=START for the service too); "Yes." is not an opt-in', async () => {
        const from = freshSender();
        await post({ MessageSid: newSid(), From: from, Body: 'stop' });
        expect((await post({ MessageSid: newSid(), From: from, Body: 'Yes.' })).body).toBe(REPLY);
        expect(await optOuts.get(OUR_NUMBER, from)).toBeDefined();
        expect((await post({ MessageSid: newSid(), From: from, Body: 'start' })).body).toBe(EMPTY);
        expect(await optOuts.get(OUR_NUMBER, from)).toBeUndefined();

        await post({
            MessageSid: newSid(),
            From: from,
            Body: 'QUIT',
            OptOutType: 'STOP',
            MessagingServiceSid: SERVICE,
        });
        expect(await optOuts.get(SERVICE, from)).toBeDefined();
        const { body } = await post({
            MessageSid: newSid(),
            From: from,
            Body: 'REPRENDRE',
            OptOutType: 'START',
            MessagingServiceSid: SERVICE,
        });
        expect(body).toBe(EMPTY);
        expect(await optOuts.get(SERVICE, from)).toBeUndefined();
    });

    it('HELP and INFO record nothing and get no reply (Twilio answers them)', async () => {
        const from = freshSender();
        for (const word of ['HELP', 'info']) {
            expect((await post({ MessageSid: newSid(), From: from, Body: word })).body).toBe(EMPTY);
        }
        expect((await optOuts.list({ recipient: from, pageSize: 10 })).items).toEqual([]);
    });

    it("is idempotent on Twilio's retries: the first opt-out stays as it was", async () => {
        const from = freshSender();
        const sid = newSid();
        await post({ MessageSid: sid, From: from, Body: 'UNSUBSCRIBE' });
        const first = await optOuts.get(OUR_NUMBER, from);
        const { body, logs } = await post({ MessageSid: sid, From: from, Body: 'UNSUBSCRIBE' });
        expect(body).toBe(EMPTY);
        expect(logs).toContain('already recorded');
        expect(await optOuts.get(OUR_NUMBER, from)).toEqual(first);
    });
});

describe('/api/sms: the loop guard', () => {
    it('answers 10 messages of a window, not the 11th (recorded, and noted), and answers again in a new window', async () => {
        const from = freshSender();
        const answers: string[] = [];
        const sidsSent: string[] = [];
        for (let i = 0; i < 11; i++) {
            clock += 1_000;
            const sid = newSid();
            sidsSent.push(sid);
            answers.push((await post({ MessageSid: sid, From: from, Body: `auto-reply ${String(i)}` })).body);
        }
        expect(answers.slice(0, 10)).toEqual(Array.from({ length: 10 }, () => REPLY));
        expect(answers[10]).toBe(EMPTY);
        const eleventh = await ledger.get(sidsSent[10] ?? '');
        expect(eleventh?.status).toBe('received');
        expect(eleventh?.history.map((event) => [event.status, event.source, event.detail])).toEqual([
            ['received', 'twilio', undefined],
            [
                'reply-suppressed',
                'app',
                'no auto-reply: message 11 from this sender within 60 s, over the limit of 10 (loop guard)',
            ],
        ]);
        expect((await ledger.get(sidsSent[9] ?? ''))?.history.map((event) => event.status)).toEqual([
            'received',
        ]);

        // Another sender is not held back by this one.
        expect((await post({ MessageSid: newSid(), From: freshSender(), Body: 'hi' })).body).toBe(REPLY);

        clock += 60_000;
        expect((await post({ MessageSid: newSid(), From: from, Body: 'auto-reply 11' })).body).toBe(REPLY);
    });

    it('logs the suppressed reply with the number masked', async () => {
        const from = freshSender();
        let last = { body: '', logs: '' };
        for (let i = 0; i < 11; i++) last = await post({ MessageSid: newSid(), From: from, Body: 'ping' });
        expect(last.body).toBe(EMPTY);
        expect(last.logs).toMatch(/no auto-reply, 11 messages within 60 s \(limit 10\)/);
        expect(last.logs).not.toContain(from);
        expect(last.logs).not.toContain('ping');
    });
});

describe('/api/sms without storage', () => {
    it('still answers: STOP with an empty response, other messages with the reply; the failure is logged', async () => {
        setDependencies(createDependencies(parseConfig({ TWILIO_AUTH_TOKEN: TOKEN })));
        try {
            const stop = await post({ MessageSid: newSid(), From: '+15551230000', Body: 'STOP' });
            expect(stop.body).toBe(EMPTY);
            expect(stop.logs).toMatch(
                /Could not record the opt-out of inbound message SM\d+ \(\+1555\*\*\*0000 for \+1500\*\*\*0006\): ConfigError/,
            );
            const hello = await post({ MessageSid: newSid(), From: '+15551230000', Body: 'hello' });
            expect(hello.body).toBe(REPLY);
            expect(hello.logs).toMatch(
                /Could not count inbound message SM\d+ for the loop guard; replying: ConfigError/,
            );
            expect(`${stop.logs}\n${hello.logs}`).not.toContain('+15551230000');
        } finally {
            const app = createDependencies(
                parseConfig({
                    TWILIO_AUTH_TOKEN: TOKEN,
                    AzureWebJobsStorage: azurite.connectionString,
                    LEDGER_TABLE: 'optoutinbound',
                }),
            );
            const replyWindows: ReplyWindows = {
                count: (from, to, _now, windowMs) => counters.count(from, to, new Date(clock), windowMs),
            };
            setDependencies({ ...app, replyWindows: () => replyWindows });
        }
    });
});
