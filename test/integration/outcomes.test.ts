/**
 * The outcome lines (shared/platform/outcomes.ts) as the real functions log them, on real infrastructure: the ledger
 * and the outbound queue on Azurite, the real `twilio` client through the fault proxy to the Twilio
 * sandbox, whose signed status callbacks and TwiML requests are answered by the real `status` and `voice`
 * functions. Each test asserts the exact outcome lines of one story; the last one applies the alert rules'
 * own extraction and filters, read from infra/app/alerts.bicep, to every line the file produced.
 */

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { HttpRequest, InvocationContext, type LogLevel } from '@azure/functions';
import { QueueClient } from '@azure/storage-queue';
import { outbound } from '../../functions/outbound';
import { outboundPoison } from '../../functions/outboundPoison';
import { sendMessage } from '../../functions/sendMessage';
import { status } from '../../functions/status';
import { voice } from '../../functions/voice';
import { inboundSms } from '../../functions/inboundSms';
import { parseConfig } from '../../shared/platform/config';
import { createDependencies, setDependencies } from '../../shared/platform/dependencies';
import { REPO_ROOT } from '../support/childProcess';
import {
    DEFAULT_FROM,
    PUBLIC_BASE_URL,
    freshNumber,
    rejectionOf,
    startOutboundEnvironment,
    type OutboundEnvironment,
} from '../support/outboundHarness';
import { twilioSignature } from '../support/webhooks';
import { functionsAppFetch } from '../support/appFetch';

const QUEUE = 'outcomes-outbound';
const SID = /^SM[0-9a-f]{32}$/;

interface Line {
    fn: string;
    level: LogLevel;
    text: string;
}

const lines: Line[] = [];
let env: OutboundEnvironment;

/** A real InvocationContext whose lines (every level) are kept. */
function context(fn: string, triggerMetadata?: Record<string, unknown>): InvocationContext {
    return new InvocationContext({
        functionName: fn,
        invocationId: `${fn}-${String(lines.length)}`,
        ...(triggerMetadata === undefined ? {} : { triggerMetadata }),
        logHandler: (level, ...args) => {
            lines.push({ fn, level, text: args.map(String).join(' ') });
        },
    });
}

/** The sandbox's requests to the app, answered by the real status and voice functions. */
const appFetch = functionsAppFetch((name) => context(name));

beforeAll(async () => {
    env = await startOutboundEnvironment({ tablePrefix: 'outcomes', appFetch });
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
                OUTBOUND_QUEUE: QUEUE,
            }),
        ),
    );
}, 60_000);

afterAll(async () => {
    setDependencies();
    await env.stop();
});

afterEach(async () => {
    await env.sandbox.idle();
    expect(env.proxy.pendingFaults()).toBe(0);
});

/** The outcome lines logged since `start`, as `level text`; with `id`, only the lines about it. */
function outcomes(start: number, id?: string): string[] {
    return lines
        .slice(start)
        .filter((l) => l.text.startsWith('event='))
        .filter((l) => id === undefined || l.text.split(' ').includes(`id=${id}`))
        .map((l) => `${l.level} ${l.text}`);
}

let deliveries = 0;
/** One delivery of a queue message to the real outbound function, as the host makes it. */
async function deliver(item: unknown, dequeueCount = 1, id = `qm-${String(++deliveries)}`): Promise<void> {
    await outbound(item, context('outbound', { id, dequeueCount }));
}

const sidOfMessageTo = (to: string) => env.sandbox.messages.find((m) => m.to === to)?.sid ?? '(none)';

function signedPost(url: string, params: Record<string, string>, token = env.sandbox.authToken): HttpRequest {
    return new HttpRequest({
        method: 'POST',
        url,
        headers: {
            'Content-Type': 'application/x-www-form-urlencoded',
            'X-Twilio-Signature': twilioSignature(token, url, params),
        },
        body: { string: new URLSearchParams(params).toString() },
    });
}

// ---------------------------------------------------------------------------------------------------------

describe('outcome lines of the outbound path', () => {
    it('a sent SMS: sent (information) with id, SID, status and attempt; its callbacks under the same id, delivered last', async () => {
        const start = lines.length;
        const to = freshNumber();
        await deliver({ type: 'sms', id: 'out-sent-1', to, body: 'hello there' });
        await env.sandbox.idle();
        const sid = sidOfMessageTo(to);
        expect(sid).toMatch(SID);

        const about = outcomes(start, 'out-sent-1');
        expect(about.filter((l) => l.includes('event=message.sent'))).toEqual([
            `information event=message.sent id=out-sent-1 sid=${sid} status=queued attempt=1`,
        ]);
        // The sandbox's callbacks, in the order Twilio would send them.
        expect(about.filter((l) => !l.includes('event=message.sent'))).toEqual([
            `information event=message.status id=out-sent-1 sid=${sid} status=queued`,
            `information event=message.status id=out-sent-1 sid=${sid} status=sent`,
            `information event=message.delivered id=out-sent-1 sid=${sid} status=delivered`,
        ]);
        // Nothing else was logged about it, and no line names the number or the body.
        expect(outcomes(start)).toHaveLength(about.length);
        const text = lines
            .slice(start)
            .map((l) => l.text)
            .join('\n');
        expect(text).not.toContain(to.slice(1));
        expect(text).not.toContain('hello there');
    });

    it('a call: sent, then its callbacks as call.status and the final call.completed', async () => {
        const start = lines.length;
        const to = freshNumber();
        await deliver({ type: 'call', id: 'out-call-1', to, say: 'hi' });
        await env.sandbox.idle();
        const sid = env.sandbox.calls.find((c) => c.to === to)?.sid ?? '(none)';
        const about = outcomes(start, 'out-call-1');
        const sent = `information event=call.sent id=out-call-1 sid=${sid} status=queued attempt=1`;
        // The callbacks may come in before the create's answer is recorded: the order among them is fixed.
        expect(about.filter((l) => l === sent)).toHaveLength(1);
        const callbacks = about.filter((l) => l !== sent);
        expect(callbacks[callbacks.length - 1]).toBe(
            `information event=call.completed id=out-call-1 sid=${sid} status=completed`,
        );
        expect(callbacks.length).toBeGreaterThan(1);
        for (const line of callbacks.slice(0, -1)) {
            expect(line).toMatch(
                new RegExp(`^information event=call\\.status id=out-call-1 sid=${sid} status=`),
            );
        }
    });

    it('a permanent failure: one failed line (warning) with Twilio’s code, nothing of its message', async () => {
        const start = lines.length;
        const to = freshNumber();
        env.proxy.script(
            { method: 'POST', path: /\/Messages\.json$/, params: { To: to } },
            { kind: 'error', status: 400, code: 21211, message: `The 'To' number ${to} is not valid.` },
        );
        await deliver({ type: 'sms', id: 'out-failed-1', to, body: 'nope' });
        expect(outcomes(start)).toEqual([
            'warning event=message.failed id=out-failed-1 status=failed code=21211 attempt=1',
        ]);
    });

    it('a rejected queue message: one rejected line (warning), no payload field names; undecodable ones keyed by the queue message', async () => {
        const start = lines.length;
        await deliver({ type: 'sms', id: 'out-bad-1', to: '12345', body: 'x', secretFieldName: 1 });
        await deliver({
            type: 'call',
            id: 'out-bad-2',
            to: freshNumber(),
            say: 'a',
            url: 'https://example.com/x',
        });
        await deliver('not json at all', 1, 'qm-undecodable');
        expect(outcomes(start)).toEqual([
            'warning event=message.rejected id=out-bad-1 code=validation attempt=1',
            'warning event=call.rejected id=out-bad-2 code=validation attempt=1',
            'warning event=message.rejected id=queue-qm-undecodable code=validation attempt=1',
        ]);
        expect(
            lines
                .slice(start)
                .map((l) => l.text)
                .join('\n'),
        ).not.toContain('secretFieldName');
    });

    it('a dead letter: retrying (warning) with each attempt’s code, dead-lettered (error) at the last, the poison copy informational', async () => {
        const start = lines.length;
        const to = freshNumber();
        const item = { type: 'sms', id: 'out-dead-1', to, body: 'flaky' };
        env.proxy.script(
            { method: 'POST', path: /\/Messages\.json$/, params: { To: to } },
            { kind: 'error', status: 503, code: 20503, message: 'Service unavailable' },
            { kind: 'reset' },
        );
        await rejectionOf(deliver(item, 1, 'qm-dead'));
        await rejectionOf(deliver(item, 5, 'qm-dead'));
        await outboundPoison(item, context('outboundPoison', { id: 'pm-dead' }));
        expect(outcomes(start)).toEqual([
            'warning event=message.retrying id=out-dead-1 code=20503 attempt=1',
            'error event=message.dead-lettered id=out-dead-1 code=ECONNRESET attempt=5',
            'information event=message.poisoned id=out-dead-1 status=dead-lettered',
        ]);
    });

    it('a dead letter the outbound function never recorded: dead-lettered (error) from the poison function', async () => {
        const start = lines.length;
        await outboundPoison(
            JSON.stringify({ type: 'call', id: 'out-never-1', to: freshNumber(), say: 'lost' }),
            context('outboundPoison', { id: 'pm-never' }),
        );
        await outboundPoison('{"body":"no id"}', context('outboundPoison', { id: 'pm-no-id' }));
        const [first, second, ...rest] = outcomes(start);
        expect(first).toBe('error event=call.dead-lettered id=out-never-1');
        expect(second).toMatch(/^error event=message\.dead-lettered id=poison-[0-9a-f]{40}$/);
        expect(rest).toEqual([]);
    });
});

describe('outcome lines of the API, carried through the queue to the status callback', () => {
    it('accepted (information) → sent → delivered, all under the API’s id; a reused key with another request is a conflict', async () => {
        const start = lines.length;
        const to = freshNumber();
        const post = (body: unknown) =>
            new HttpRequest({
                method: 'POST',
                url: `${PUBLIC_BASE_URL}/api/messages`,
                headers: { 'Content-Type': 'application/json', 'Idempotency-Key': 'api-out-1' },
                body: { string: JSON.stringify(body) },
            });
        expect((await sendMessage(post({ to, body: 'from the api' }), context('sendMessage'))).status).toBe(
            202,
        );
        expect((await sendMessage(post({ to, body: 'another text' }), context('sendMessage'))).status).toBe(
            422,
        );

        const queue = new QueueClient(env.azurite.connectionString, QUEUE);
        const [message] = (await queue.receiveMessages({ numberOfMessages: 1 })).receivedMessageItems;
        if (message === undefined) throw new Error('nothing on the outbound queue');
        await deliver(message.messageText, 1, message.messageId);
        await env.sandbox.idle();
        const sid = sidOfMessageTo(to);

        const about = outcomes(start, 'api-out-1');
        expect(about.slice(0, 2)).toEqual([
            'information event=message.accepted id=api-out-1 status=queued route=messages',
            'warning event=message.conflict id=api-out-1 route=messages',
        ]);
        const sent = `information event=message.sent id=api-out-1 sid=${sid} status=queued attempt=1`;
        expect(about.filter((l) => l === sent)).toHaveLength(1);
        expect(about.slice(2).filter((l) => l !== sent)).toEqual([
            `information event=message.status id=api-out-1 sid=${sid} status=queued`,
            `information event=message.status id=api-out-1 sid=${sid} status=sent`,
            `information event=message.delivered id=api-out-1 sid=${sid} status=delivered`,
        ]);
        expect(outcomes(start)).toHaveLength(about.length);
    });
});

describe('outcome lines of status callbacks', () => {
    const statusUrl = (id: string) => `${PUBLIC_BASE_URL}/api/status?id=${encodeURIComponent(id)}`;

    it('a Twilio-reported undelivered is message.failed (warning) with its code, once; a repeat is a status line', async () => {
        const sid = `SM${'ab'.repeat(16)}`;
        const to = freshNumber();
        const at = new Date().toISOString();
        await env.ledger.create({
            id: 'cb-undelivered-1',
            direction: 'outbound',
            type: 'sms',
            to,
            from: DEFAULT_FROM,
            mediaCount: 0,
            sid,
            status: 'sent',
            history: [{ status: 'sent', at, source: 'twilio', sid }],
            attempts: 1,
            createdAt: at,
            updatedAt: at,
        });
        const start = lines.length;
        const params = {
            MessageSid: sid,
            MessageStatus: 'undelivered',
            ErrorCode: '30003',
            To: to,
            From: DEFAULT_FROM,
        };
        for (let i = 0; i < 2; i++) {
            const response = await status(
                signedPost(statusUrl('cb-undelivered-1'), params),
                context('status'),
            );
            expect(response.status).toBe(204);
        }
        expect(outcomes(start)).toEqual([
            `warning event=message.failed id=cb-undelivered-1 sid=${sid} status=undelivered code=30003`,
            `information event=message.status id=cb-undelivered-1 sid=${sid} status=undelivered code=30003`,
        ]);
    });

    it('a callback for no send of ours is unmatched (warning), under the id it named; an invalid one is webhook.invalid', async () => {
        const start = lines.length;
        const sid = `SM${'cd'.repeat(16)}`;
        const params = { MessageSid: sid, MessageStatus: 'delivered', To: freshNumber() };
        expect((await status(signedPost(statusUrl('out-sent-1'), params), context('status'))).status).toBe(
            204,
        );
        expect(
            (await status(signedPost(`${PUBLIC_BASE_URL}/api/status`, params), context('status'))).status,
        ).toBe(204);
        const invalid = { MessageSid: freshNumber(), MessageStatus: 'delivered' };
        expect((await status(signedPost(statusUrl('out-sent-1'), invalid), context('status'))).status).toBe(
            400,
        );
        expect(outcomes(start)).toEqual([
            `warning event=message.unmatched id=out-sent-1 sid=${sid} status=delivered`,
            `warning event=message.unmatched sid=${sid} status=delivered`,
            'warning event=webhook.invalid id=out-sent-1 status=400 route=status',
        ]);
        expect(
            lines
                .slice(start)
                .map((l) => l.text)
                .join('\n'),
        ).not.toContain(invalid.MessageSid.slice(1));
    });
});

describe('outcome lines of rejected webhooks', () => {
    it('every refusal of the webhook front: status and route, never the query string', async () => {
        const start = lines.length;
        const caller = freshNumber();
        const voiceUrl = `${PUBLIC_BASE_URL}/api/voice?From=${encodeURIComponent(caller)}`;
        const forged = signedPost(voiceUrl, { CallSid: `CA${'0'.repeat(32)}` }, 'not-the-token');
        expect((await voice(forged, context('voice'))).status).toBe(403);

        const huge = new HttpRequest({
            method: 'POST',
            url: `${PUBLIC_BASE_URL}/api/sms`,
            headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'X-Twilio-Signature': 'x' },
            body: { string: `Body=${'x'.repeat(1024 * 1024)}` },
        });
        expect((await inboundSms(huge, context('inboundSms'))).status).toBe(413);

        const unsigned = new HttpRequest({
            method: 'POST',
            url: `${PUBLIC_BASE_URL}/api/status?id=out-sent-1`,
            headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
            body: { string: 'MessageSid=SM1&MessageStatus=sent' },
        });
        expect((await status(unsigned, context('status'))).status).toBe(400);

        expect(outcomes(start)).toEqual([
            'warning event=webhook.rejected status=403 route=voice',
            'warning event=webhook.rejected status=413 route=sms',
            'warning event=webhook.rejected status=400 route=status',
        ]);
        expect(
            lines
                .slice(start)
                .map((l) => l.text)
                .join('\n'),
        ).not.toContain(caller.slice(1));
    });
});

// ---------------------------------------------------------------------------------------------------------

describe('the alert rules over these lines', () => {
    /**
     * Each rule's KQL from infra/app/alerts.bicep: the shared event extraction and the events its filter
     * names first (a status condition on further events, as the failure rule has for voicemail notices,
     * is test/infra/template.test.ts's to check; none of these lines carries such an event).
     */
    function alertRules(): { name: string; pattern: RegExp; events: string[] }[] {
        const bicep = readFileSync(path.join(REPO_ROOT, 'infra', 'app', 'alerts.bicep'), 'utf8');
        // A Bicep string writes a backslash as `\\`; KQL's @"…" keeps the rest as it is.
        const extract = /extract\(@"((?:[^"]|"")*)", 1, message\)/.exec(bicep.replace(/\\\\/g, '\\'));
        if (extract === null) throw new Error('alerts.bicep no longer extracts the event name');
        const pattern = new RegExp((extract[1] ?? '').replace(/""/g, '"'));
        const rules = [
            ...bicep
                .slice(bicep.indexOf('var rules'))
                .matchAll(
                    /name: '([a-z-]+)'[\s\S]*?query: '\$\{(?:outcomes|withStatus)\} \| where event (?:in \(([^)]*)\)|== "([^"]+)")/g,
                ),
        ];
        return rules.map((rule) => ({
            name: rule[1] ?? '',
            pattern,
            events:
                rule[2] === undefined
                    ? [rule[3] ?? '']
                    : [...rule[2].matchAll(/"([^"]+)"/g)].map((m) => m[1] ?? ''),
        }));
    }

    /** The lines a rule counts, extracted as KQL's extract does (the first match). */
    const counted = (rule: { pattern: RegExp; events: string[] }) =>
        lines.filter((l) => {
            const event = rule.pattern.exec(l.text)?.[1];
            return event !== undefined && rule.events.includes(event);
        });

    it('dead-lettered counts the two dead letters (errors), failed the permanent and the Twilio-reported failure, webhook-rejected the three refusals', () => {
        const rules = Object.fromEntries(alertRules().map((r) => [r.name, r]));
        expect(Object.keys(rules).sort()).toEqual(['dead-lettered', 'failed', 'webhook-rejected']);
        const summary = (rule: keyof typeof rules) =>
            counted(rules[rule] ?? { pattern: /$^/, events: [] }).map(
                (l) => `${l.level} ${l.text.split(' ').slice(0, 2).join(' ')}`,
            );

        expect(summary('dead-lettered')).toEqual([
            'error event=message.dead-lettered id=out-dead-1',
            'error event=call.dead-lettered id=out-never-1',
            expect.stringMatching(/^error event=message\.dead-lettered id=poison-[0-9a-f]{40}$/) as string,
        ]);
        expect(summary('failed')).toEqual([
            'warning event=message.failed id=out-failed-1',
            'warning event=message.failed id=cb-undelivered-1',
        ]);
        expect(summary('webhook-rejected')).toEqual([
            'warning event=webhook.rejected status=403',
            'warning event=webhook.rejected status=413',
            'warning event=webhook.rejected status=400',
        ]);
        // Free text (the signature validator's own warning, for one) is never counted.
        expect(lines.some((l) => l.text.startsWith('Rejected a webhook'))).toBe(true);
    });
});
