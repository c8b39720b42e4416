/**
 * Per-invocation cost, in process (run by invocation.ts as `node -r test/support/register.js`): the compiled
 * app is loaded as the worker loads it (dist/local/host/loader.js `loadApp`, which installs the
 * `@azure/functions-core` shim first), and its registered handlers are called directly with the library's
 * own `HttpRequest` and `InvocationContext`, one invocation after another, timed per batch.
 *
 * Settings come from the environment (TWILIO_AUTH_TOKEN, AzureWebJobsStorage on Azurite, LEDGER_TABLE);
 * BENCH_INVOCATION holds the batch sizes as JSON. Prints one JSON line.
 *
 * Variants (the CPU ones are interleaved, their order rotated every run):
 * - `voice`, `sms`: the handlers; `sms` with an in-memory ledger whose `create` resolves at once, so the
 *   figure is the webhook's own CPU work;
 * - `voiceBaseline`, `smsBaseline`: what any handler of the same request must do: build the `HttpRequest`
 *   and the `InvocationContext` (the worker builds both for every invocation), read and parse the form,
 *   one twilio `validateRequest`, one TwiML document built and `toString()`ed;
 * - `context`: the `InvocationContext` alone, to show its share of the baselines;
 * - `smsLedger`, `statusLedger`: the handlers with the real ledger on Azurite (one unique message per
 *   invocation), reported separately.
 */

import type * as AzureFunctions from '@azure/functions';
import MessagingResponse from 'twilio/lib/twiml/MessagingResponse';
import VoiceResponse from 'twilio/lib/twiml/VoiceResponse';
import { validateRequest } from 'twilio/lib/webhooks/webhooks';
import type * as Loader from '../local/host/loader';
import type * as Dependencies from '../shared/platform/dependencies';
import type { Ledger } from '../shared/ledger/contract';
import { dist, ROOT, sid, twilioSignature } from './util';

interface Sizes {
    runs: number;
    batch: number;
    warmup: number;
    ledgerBatch: number;
    ledgerWarmup: number;
}

export interface InvocationReport {
    /** µs per invocation, one value per run. */
    perInvocationUs: Record<string, number[]>;
    /** app ÷ baseline per run, each pair from the same run. */
    ratios: { voice: number[]; sms: number[] };
    batch: number;
    ledgerBatch: number;
}

const CPU_VARIANTS = ['voice', 'voiceBaseline', 'sms', 'smsBaseline', 'context'] as const;
type CpuVariant = (typeof CPU_VARIANTS)[number];

const sizes = JSON.parse(process.env.BENCH_INVOCATION ?? '{}') as Sizes;
const token = process.env.TWILIO_AUTH_TOKEN ?? '';
const BASE = 'https://bench-app.azurewebsites.net/api';
const CALLER = '+15551230000';
const NUMBER = '+15005550006';
const ACCOUNT = sid('AC', 1);

const app = (dist('local/host/loader') as typeof Loader).loadApp(ROOT, () => undefined);
// Only now, with the shim installed, the library itself (the app's copy: one module instance).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const lib = require(require.resolve('@azure/functions', { paths: [ROOT] })) as typeof AzureFunctions;
const dependencies = dist('shared/platform/dependencies') as typeof Dependencies;

type Handler = (
    request: AzureFunctions.HttpRequest,
    context: AzureFunctions.InvocationContext,
) => Promise<unknown>;
function handler(name: string): Handler {
    const fn = app.functions.find((f) => f.name === name);
    if (fn === undefined) throw new Error(`${name} is not registered`);
    return fn.handler as Handler;
}
const handlers = { voice: handler('voice'), inboundSms: handler('inboundSms'), status: handler('status') };

/** The parameters Twilio posts to a voice webhook for an incoming call. */
const voiceParams: Record<string, string> = {
    AccountSid: ACCOUNT,
    ApiVersion: '2010-04-01',
    CallSid: sid('CA', 7),
    CallStatus: 'ringing',
    CallToken: '',
    Called: NUMBER,
    CalledCity: 'SAN FRANCISCO',
    CalledCountry: 'US',
    CalledState: 'CA',
    CalledZip: '94105',
    Caller: CALLER,
    CallerCity: 'OAKLAND',
    CallerCountry: 'US',
    CallerState: 'CA',
    CallerZip: '94612',
    Direction: 'inbound',
    From: CALLER,
    FromCity: 'OAKLAND',
    FromCountry: 'US',
    FromState: 'CA',
    FromZip: '94612',
    To: NUMBER,
    ToCity: 'SAN FRANCISCO',
    ToCountry: 'US',
    ToState: 'CA',
    ToZip: '94105',
};

/** The parameters Twilio posts to a Messaging webhook for an inbound SMS. */
function smsParams(messageSid: string): Record<string, string> {
    return {
        ToCountry: 'US',
        ToState: 'CA',
        SmsMessageSid: messageSid,
        NumMedia: '0',
        ToCity: 'SAN FRANCISCO',
        FromZip: '94612',
        SmsSid: messageSid,
        FromState: 'CA',
        SmsStatus: 'received',
        FromCity: 'OAKLAND',
        Body: 'Hello from the benchmark',
        FromCountry: 'US',
        To: NUMBER,
        ToZip: '94105',
        NumSegments: '1',
        MessageSid: messageSid,
        AccountSid: ACCOUNT,
        From: CALLER,
        ApiVersion: '2010-04-01',
    };
}

interface Signed {
    url: string;
    body: string;
    signature: string;
}

function signed(url: string, params: Record<string, string>): Signed {
    return {
        url,
        body: new URLSearchParams(params).toString(),
        signature: twilioSignature(token, url, params),
    };
}

function request(init: Signed): AzureFunctions.HttpRequest {
    return new lib.HttpRequest({
        method: 'POST',
        url: init.url,
        headers: {
            'content-type': 'application/x-www-form-urlencoded; charset=UTF-8',
            'x-twilio-signature': init.signature,
            'user-agent': 'TwilioProxy/1.1',
        },
        body: { string: init.body },
    });
}

let invocations = 0;
function context(functionName: string): AzureFunctions.InvocationContext {
    invocations += 1;
    return new lib.InvocationContext({
        invocationId: `bench-${String(invocations)}`,
        functionName,
        logHandler: () => undefined,
    });
}

/** Results go here so that no work can be optimized away. */
let sink = 0;
function check(result: unknown, expected: string): void {
    const response = result as { status?: number; body?: unknown };
    const body = typeof response.body === 'string' ? response.body : '';
    if ((response.status ?? 200) >= 300 || !body.includes(expected)) {
        throw new Error(`Unexpected answer: ${JSON.stringify(result)}`);
    }
    sink += body.length;
}

const voiceRequest = signed(`${BASE}/voice`, voiceParams);
const smsRequest = signed(`${BASE}/sms`, smsParams(sid('SM', 1)));
const greeting = 'Hello World';
const reply = 'Hey, thanks for the ping! Twilio and Azure rock!';

/** What any handler of the request has to do (see the file comment). */
async function baseline(init: Signed, name: string, twiml: () => string): Promise<void> {
    const req = request(init);
    const ctx = context(name);
    const form = new URLSearchParams(await req.text());
    const params: Record<string, string> = {};
    for (const [key, value] of form) params[key] = value;
    if (!validateRequest(token, req.headers.get('x-twilio-signature') ?? '', req.url, params)) {
        throw new Error('baseline: the signature does not validate');
    }
    sink += twiml().length + ctx.invocationId.length;
}

const memoryLedger: Ledger = {
    create: () => Promise.resolve('created'),
    get: () => Promise.resolve(undefined),
    update: () => Promise.resolve(undefined),
    list: () => Promise.resolve({ items: [] }),
    idForSid: () => Promise.resolve(undefined),
};

const cpu: Record<CpuVariant, () => Promise<void>> = {
    voice: async () => {
        check(await handlers.voice(request(voiceRequest), context('voice')), '<Say>');
    },
    voiceBaseline: () =>
        baseline(voiceRequest, 'voice', () => {
            const response = new VoiceResponse();
            response.say(greeting);
            return response.toString();
        }),
    sms: async () => {
        check(await handlers.inboundSms(request(smsRequest), context('inboundSms')), '<Message>');
    },
    smsBaseline: () =>
        baseline(smsRequest, 'inboundSms', () => {
            const response = new MessagingResponse();
            response.message(reply);
            return response.toString();
        }),
    context: () => {
        sink += context('voice').invocationId.length;
        return Promise.resolve();
    },
};

async function timeBatch(count: number, one: (i: number) => Promise<void>): Promise<number> {
    const started = process.hrtime.bigint();
    for (let i = 0; i < count; i++) await one(i);
    return Number(process.hrtime.bigint() - started) / 1e3 / count;
}

async function main(): Promise<void> {
    const real = dependencies.getDependencies();
    const withMemoryLedger = { ...real, ledger: () => memoryLedger };
    const perInvocationUs: Record<string, number[]> = {};
    const push = (name: string, value: number) => (perInvocationUs[name] ??= []).push(value);

    // CPU figures: the in-memory ledger, warm-up, then interleaved batches.
    dependencies.setDependencies(withMemoryLedger);
    for (const variant of CPU_VARIANTS) await timeBatch(sizes.warmup, cpu[variant]);
    const ratios = { voice: [] as number[], sms: [] as number[] };
    for (let run = 0; run < sizes.runs; run++) {
        const us = {} as Record<CpuVariant, number>;
        for (let i = 0; i < CPU_VARIANTS.length; i++) {
            const variant = CPU_VARIANTS[(run + i) % CPU_VARIANTS.length] as CpuVariant;
            us[variant] = await timeBatch(sizes.batch, cpu[variant]);
            push(variant, us[variant]);
        }
        ratios.voice.push(us.voice / us.voiceBaseline);
        ratios.sms.push(us.sms / us.smsBaseline);
    }

    // The real ledger on Azurite: a new message per invocation, signed before the clock starts.
    dependencies.setDependencies(real);
    const ledger = real.ledger();
    let messages = 0;
    const smsBatch = (count: number) =>
        Array.from({ length: count }, () =>
            signed(`${BASE}/sms`, smsParams(sid('SM', 0x100000 + ++messages))),
        );
    const statusBatch = async (count: number) => {
        const batch: Signed[] = [];
        for (let i = 0; i < count; i++) {
            const messageSid = sid('SM', 0x900000 + ++messages);
            const id = `bench-status-${String(messages)}`;
            const at = new Date().toISOString();
            await ledger.create({
                id,
                direction: 'outbound',
                type: 'sms',
                to: CALLER,
                from: NUMBER,
                mediaCount: 0,
                sid: messageSid,
                status: 'sent',
                history: [{ status: 'sent', at, source: 'twilio', sid: messageSid }],
                attempts: 1,
                createdAt: at,
                updatedAt: at,
            });
            batch.push(
                signed(`${BASE}/status?id=${id}`, {
                    SmsSid: messageSid,
                    SmsStatus: 'delivered',
                    MessageStatus: 'delivered',
                    To: CALLER,
                    MessageSid: messageSid,
                    AccountSid: ACCOUNT,
                    From: NUMBER,
                    ApiVersion: '2010-04-01',
                }),
            );
        }
        return batch;
    };
    const runSms = async (batch: Signed[]) =>
        timeBatch(batch.length, async (i) => {
            check(await handlers.inboundSms(request(batch[i] as Signed), context('inboundSms')), '<Message>');
        });
    const runStatus = async (batch: Signed[]) =>
        timeBatch(batch.length, async (i) => {
            const result = (await handlers.status(request(batch[i] as Signed), context('status'))) as {
                status?: number;
            };
            if (result.status !== 204) throw new Error(`status answered ${JSON.stringify(result)}`);
        });
    await runSms(smsBatch(sizes.ledgerWarmup));
    await runStatus(await statusBatch(sizes.ledgerWarmup));
    for (let run = 0; run < sizes.runs; run++) {
        push('smsLedger', await runSms(smsBatch(sizes.ledgerBatch)));
        push('statusLedger', await runStatus(await statusBatch(sizes.ledgerBatch)));
    }
    // The status callbacks must have landed: the last record is delivered.
    const last = await ledger.get(`bench-status-${String(messages)}`);
    if (last?.status !== 'delivered')
        throw new Error(`The ledger says ${String(last?.status)}, not delivered`);

    const report: InvocationReport = {
        perInvocationUs,
        ratios,
        batch: sizes.batch,
        ledgerBatch: sizes.ledgerBatch,
    };
    process.stdout.write(`${JSON.stringify(report)}\n`);
    process.stderr.write(`(sink ${String(sink)})\n`);
}

main().then(
    () => process.exit(0),
    (error: unknown) => {
        console.error(error);
        process.exit(1);
    },
);
