/**
 * Log hygiene: every line the app logs while it works — through the `InvocationContext` log handler, through
 * `console.log/info/warn/error/debug`, the messages (and stacks) of the errors the functions throw (the
 * host logs those), and the Twilio sandbox's own event lines — is captured while a representative,
 * generated workload runs, and none may carry:
 *
 * - the auth token (nor the Basic credentials made from it);
 * - a phone number used anywhere in the workload: no `+` (or `%2B`) followed by 8–15 digits, no used number's
 *   national digits, and no masked form that still shows every digit; the documented mask `+1555***4567`
 *   is fine, as is the example number the settings' error messages quote (`+15551234567`, never used here);
 * - any message body or spoken text used (each carries a unique marker).
 *
 * The workload (seeded; `FUZZ_SEED` reproduces it): inbound SMS (valid, retried, keywords, an unrecordable
 * one, unsigned, forged), voice (greeting, twimlets messages, forged), status callbacks (message and call,
 * unknown SIDs, invalid, forged), outbound SMS and calls through the `outbound` queue function and
 * `processOutbound` — sent, invalid, refused by Twilio (a permanent error whose message quotes the number),
 * transient (503, a dropped connection after Twilio created the message, 401), dead-lettered and poisoned —
 * against the Twilio sandbox (which calls the app's status and voice webhooks back, signed) behind the
 * fault proxy, with the ledger on Azurite; the HTTP API; Key Vault unavailable; validation switched off;
 * and invalid settings holding the token and numbers. The detector is checked first on planted lines.
 *
 * The structured outcome lines (shared/platform/outcomes.ts) are among the captured lines: the workload must produce
 * every kind of them, each must keep to the outcome-line grammar, and the same checks apply to them.
 */

import { HttpRequest, InvocationContext, type HttpResponseInit } from '@azure/functions';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { getMessage } from '../../functions/getMessage';
import { inboundSms } from '../../functions/inboundSms';
import { listMessages } from '../../functions/listMessages';
import { outbound } from '../../functions/outbound';
import { outboundPoison } from '../../functions/outboundPoison';
import { sendMessage } from '../../functions/sendMessage';
import { status } from '../../functions/status';
import { voice } from '../../functions/voice';
import { startAzurite, type Azurite } from '../../local/azurite';
import { generateTestCredentials, startTwilioSandbox, type TwilioSandbox } from '../../local/sandbox/sandbox';
import { parseConfig, resetConfig } from '../../shared/platform/config';
import {
    createDependencies,
    getDependencies,
    setDependencies,
    type AppDependencies,
} from '../../shared/platform/dependencies';
import { SecretUnavailableError } from '../../shared/platform/errors';
import { processOutbound } from '../../shared/outbound/pipeline';
import { outcomeLine } from '../../shared/platform/outcomes';
import { createSecretProvider } from '../../shared/platform/secrets';
import { startFaultProxy, type FaultProxy } from '../fakes/faultProxy';
import { REPO_ROOT } from '../support/childProcess';
import { fuzzSeed, Rng } from '../support/fuzzRandom';
import { twilioSignature } from '../support/webhooks';
import { functionsAppFetch } from '../support/appFetch';

const SEED = fuzzSeed();
const PUBLIC_BASE_URL = 'https://app.example.com';
const SANDBOX_FROM = '+15005550006';
/** The example number in the settings' and the queue schema's error messages (shared/platform/config.ts, outboundMessage.ts). */
const DOCUMENTED_EXAMPLE = '+15551234567';

// ---------------------------------------------------------------------------------------------------------
// Capture

interface Line {
    source: string;
    text: string;
}

const lines: Line[] = [];
const capture =
    (source: string) =>
    (...args: unknown[]) => {
        lines.push({
            source,
            text: args
                .map((a) => (a instanceof Error ? `${a.message}\n${a.stack ?? ''}` : String(a)))
                .join(' '),
        });
    };

/** A real InvocationContext whose log lines (every level) are captured. */
function context(functionName: string, triggerMetadata?: Record<string, unknown>): InvocationContext {
    return new InvocationContext({
        functionName,
        invocationId: `${functionName}-${String(lines.length)}`,
        ...(triggerMetadata === undefined ? {} : { triggerMetadata }),
        logHandler: (level, ...args) => {
            capture(`context.${level}`)(...args);
        },
    });
}

/** Runs a function as the host does: what it throws is logged (message and stack). */
async function invoke<T>(name: string, run: () => Promise<T>): Promise<T | undefined> {
    try {
        return await run();
    } catch (error) {
        capture(`host: ${name} failed`)(error);
        return undefined;
    }
}

// ---------------------------------------------------------------------------------------------------------
// The detector

interface Secrets {
    tokens: string[];
    numbers: Set<string>;
    markers: Set<string>;
}

const digitsOf = (number: string) => number.replace(/\D/g, '');

/** Every line that leaks a secret, a used number or a body, with the reason. */
function findLeaks(captured: readonly Line[], secrets: Secrets): string[] {
    const leaks: string[] = [];
    const flag = (line: Line, why: string) =>
        leaks.push(`[${line.source}] ${why}: ${JSON.stringify(line.text.slice(0, 300))}`);
    const numberDigits = [...secrets.numbers].map(digitsOf);
    for (const line of captured) {
        const text = line.text;
        const lower = text.toLowerCase();
        for (const token of secrets.tokens) if (lower.includes(token.toLowerCase())) flag(line, 'auth token');
        for (const match of text.matchAll(/(?:\+|%2B)\d{8,}/gi)) {
            if (match[0] !== DOCUMENTED_EXAMPLE) flag(line, `unmasked number ${match[0]}`);
        }
        for (const digits of numberDigits) {
            if (text.includes(digits.slice(-10)))
                flag(line, `the digits of a used number (${digits.slice(-4)})`);
        }
        for (const match of text.matchAll(/\+?(\d+)\*+(\d+)/g)) {
            const shown = `${match[1] ?? ''}${match[2] ?? ''}`;
            if (numberDigits.includes(shown)) flag(line, `a masked number showing every digit (${match[0]})`);
        }
        for (const marker of secrets.markers) if (text.includes(marker)) flag(line, `body marker ${marker}`);
    }
    return leaks;
}

// ---------------------------------------------------------------------------------------------------------
// The environment: Azurite, the sandbox (calling the app's webhooks back), the fault proxy

let azurite: Azurite;
let sandbox: TwilioSandbox;
let proxy: FaultProxy;
let appDeps: AppDependencies;
let settings: Record<string, string>;
const credentials = generateTestCredentials();
const secrets: Secrets = { tokens: [], numbers: new Set([SANDBOX_FROM]), markers: new Set() };
const spies: jest.SpyInstance[] = [];
const rng = new Rng(SEED).fork('workload');

/** The sandbox's requests to the app, answered by the real status and voice functions. */
const appFetch = functionsAppFetch((name) => context(name));

beforeAll(async () => {
    console.log(`logHygiene fuzz: FUZZ_SEED=${String(SEED)}`);
    azurite = await startAzurite({ ports: 'free' });
    sandbox = await startTwilioSandbox({
        ...credentials,
        callbackDelayMs: 0,
        fetch: appFetch,
        log: capture('sandbox'),
    });
    proxy = await startFaultProxy(sandbox.url);
    settings = {
        TWILIO_ACCOUNT_SID: credentials.accountSid,
        TWILIO_AUTH_TOKEN: credentials.authToken,
        PUBLIC_BASE_URL,
        AzureWebJobsStorage: azurite.connectionString,
        TWILIO_API_URL: proxy.url,
        TWILIO_FROM_NUMBER: SANDBOX_FROM,
        LEDGER_TABLE: `loghygiene${String(SEED)}`,
    };
    appDeps = createDependencies(parseConfig(settings));
    setDependencies(appDeps);
    secrets.tokens.push(
        credentials.authToken,
        Buffer.from(`${credentials.accountSid}:${credentials.authToken}`).toString('base64'),
    );
    for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
        spies.push(jest.spyOn(console, method).mockImplementation(capture(`console.${method}`)));
    }
}, 60_000);

afterAll(async () => {
    for (const spy of spies) spy.mockRestore();
    setDependencies();
    await proxy.close();
    await sandbox.close();
    await azurite.stop();
});

// ---------------------------------------------------------------------------------------------------------
// Workload data: distinctive numbers and bodies

let numbers = 0;
/** A fresh number in the fictional 555-01xx range (never the documented example). */
function number(kind: 'us' | 'gb' | 'whatsapp' = 'us'): string {
    numbers++;
    const tail = String((SEED + numbers * 7919) % 10_000).padStart(4, '0');
    const value =
        kind === 'gb'
            ? `+447700900${tail.slice(1)}`
            : kind === 'whatsapp'
              ? `whatsapp:+1555011${tail}`
              : `+1555010${tail}`;
    secrets.numbers.add(value.replace('whatsapp:', ''));
    return value;
}

/** A body with a unique marker (and sometimes a phone number in it). */
function body(): string {
    const marker = `zq${rng.alnum(10)}`;
    secrets.markers.add(marker);
    return rng.pick([
        `Your code is ${marker}`,
        `Call me back at ${number()} about ${marker}`,
        `${marker} <b>&amp; "quoted" 'text'`,
        `Order ${marker} has shipped 📦`,
    ]);
}

function signedPost(url: string, params: Record<string, string>, token = credentials.authToken): HttpRequest {
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

const sid = (prefix: string) => `${prefix}${rng.hex(32)}`;

// ---------------------------------------------------------------------------------------------------------

describe(`log hygiene (FUZZ_SEED=${String(SEED)})`, () => {
    it('self-check: the detector flags planted lines on every channel, and not the documented mask', () => {
        const planted = { number: number(), marker: `zq${rng.alnum(10)}` };
        secrets.markers.add(planted.marker);
        const start = lines.length;
        const ctx = context('planted');
        ctx.log(`planted number ${planted.number}`);
        ctx.warn(`planted token ${credentials.authToken}`);
        console.error(`planted body ${planted.marker}`);
        console.log(`planted encoded %2B${digitsOf(planted.number)}`);
        console.warn(`planted digits ${digitsOf(planted.number).slice(1)}`);
        console.info(`planted mask showing every digit +2901***2345`);
        console.debug(
            `fine: masked +1555***${planted.number.slice(-4)} and the documented example ${DOCUMENTED_EXAMPLE}`,
        );
        capture('sandbox')(
            `planted Basic ${Buffer.from(`${credentials.accountSid}:${credentials.authToken}`).toString('base64')}`,
        );
        const plantedLines = lines.splice(start);
        expect(plantedLines).toHaveLength(8);
        const leaks = findLeaks(plantedLines, {
            ...secrets,
            numbers: new Set([...secrets.numbers, '+29012345']),
        });
        const flaggedTexts = new Set(leaks.map((l) => /^\[[^\]]+\] [^:]+: (.*)$/.exec(l)?.[1] ?? ''));
        expect(flaggedTexts.size).toBe(7);
        expect(leaks.join('\n')).not.toContain('fine: masked');
        // The example number really is a literal of the product's messages.
        expect(readFileSync(path.join(REPO_ROOT, 'shared', 'platform', 'config.ts'), 'utf8')).toContain(
            DOCUMENTED_EXAMPLE,
        );
    });

    it('a representative workload logs no token, no full phone number and no body', async () => {
        const smsUrl = `${PUBLIC_BASE_URL}/api/sms`;
        const voiceUrl = `${PUBLIC_BASE_URL}/api/voice`;
        const statusUrl = `${PUBLIC_BASE_URL}/api/status`;
        const results: Record<string, number> = {};
        const count = (what: string, response: HttpResponseInit | undefined) => {
            const key = `${what} ${String(response?.status ?? 'threw')}`;
            results[key] = (results[key] ?? 0) + 1;
        };

        // Inbound SMS: valid (some retried), keywords, unsigned, forged, one the ledger cannot hold.
        for (let i = 0; i < 25; i++) {
            const params = {
                MessageSid: sid('SM'),
                AccountSid: credentials.accountSid,
                From: number(rng.pick(['us', 'gb', 'whatsapp'] as const)),
                To: number(),
                Body: rng.bool(0.15) ? rng.pick(['STOP', 'help', ' Start ']) : body(),
                NumMedia: '0',
            };
            count('sms', await inboundSms(signedPost(smsUrl, params), context('inboundSms')));
            if (rng.bool(0.3))
                count('sms retry', await inboundSms(signedPost(smsUrl, params), context('inboundSms')));
            if (rng.bool(0.3))
                count(
                    'sms forged',
                    await inboundSms(
                        signedPost(
                            smsUrl,
                            { ...params, Body: body() },
                            credentials.authToken.replace(/./, 'x'),
                        ),
                        context('inboundSms'),
                    ),
                );
            if (rng.bool(0.2)) {
                const unsigned = new HttpRequest({
                    method: 'POST',
                    url: smsUrl,
                    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
                    body: { string: new URLSearchParams(params).toString() },
                });
                count('sms unsigned', await inboundSms(unsigned, context('inboundSms')));
            }
        }
        count(
            'sms unrecordable',
            await inboundSms(
                signedPost(smsUrl, {
                    MessageSid: sid('SM'),
                    From: number(),
                    To: 'x'.repeat(40_000),
                    Body: body(),
                }),
                context('inboundSms'),
            ),
        );
        count(
            'sms no sid',
            await inboundSms(
                signedPost(smsUrl, { From: number(), To: number(), Body: body() }),
                context('inboundSms'),
            ),
        );

        // Voice: the greeting, twimlets messages (GET), forged.
        for (let i = 0; i < 10; i++) {
            const call = {
                CallSid: sid('CA'),
                From: number(),
                To: number(),
                Caller: number(),
                Called: number(),
            };
            count('voice', await voice(signedPost(voiceUrl, call), context('voice')));
            const query = new URLSearchParams([
                ['Message[0]', body()],
                ['Message[1]', `https://cdn.example.com/${rng.alnum(5)}.mp3`],
                ['From', number()],
            ]).toString();
            const getUrl = `${voiceUrl}?${query}`;
            count(
                'voice GET',
                await voice(
                    new HttpRequest({
                        method: 'GET',
                        url: getUrl,
                        headers: { 'X-Twilio-Signature': twilioSignature(credentials.authToken, getUrl) },
                    }),
                    context('voice'),
                ),
            );
            count(
                'voice forged',
                await voice(
                    new HttpRequest({
                        method: 'GET',
                        url: getUrl,
                        headers: { 'X-Twilio-Signature': twilioSignature('forged', getUrl) },
                    }),
                    context('voice'),
                ),
            );
        }

        // Status callbacks: messages and calls we never sent, invalid ones, forged ones.
        for (let i = 0; i < 12; i++) {
            const message = {
                MessageSid: sid('SM'),
                MessageStatus: rng.pick(['sent', 'delivered', 'undelivered']),
                From: number(),
                To: number(),
                ErrorCode: '30003',
            };
            count('status', await status(signedPost(statusUrl, message), context('status')));
            const callParams = {
                CallSid: sid('CA'),
                CallStatus: rng.pick(['ringing', 'completed', 'busy']),
                From: number(),
                To: number(),
                Direction: 'outbound-api',
            };
            count(
                'status call',
                await status(signedPost(`${statusUrl}?id=call-${String(i)}`, callParams), context('status')),
            );
            count(
                'status invalid',
                await status(
                    signedPost(statusUrl, { MessageSid: number(), MessageStatus: body(), From: number() }),
                    context('status'),
                ),
            );
            count(
                'status forged',
                await status(signedPost(statusUrl, message, 'forged-token'), context('status')),
            );
        }

        // Outbound through the queue function: sent (the sandbox calls our status/voice webhooks back).
        const queue = (item: unknown, id: string, dequeueCount = 1) =>
            invoke('outbound', () => outbound(item, context('outbound', { id, dequeueCount })));
        for (let i = 0; i < 8; i++) {
            await queue(
                {
                    type: 'sms',
                    id: `sms-ok-${String(i)}`,
                    to: number(rng.pick(['us', 'gb'] as const)),
                    body: body(),
                },
                `q-sms-${String(i)}`,
            );
            await queue(
                JSON.stringify({ type: 'call', id: `call-ok-${String(i)}`, to: number(), say: body() }),
                `q-call-${String(i)}`,
            );
        }
        await queue(
            {
                type: 'call',
                id: 'call-messages',
                to: number(),
                message: [body(), 'https://cdn.example.com/a.mp3', body()],
            },
            'q-call-m',
        );
        await queue(
            Buffer.from(JSON.stringify({ type: 'call', id: 'call-default-url', to: number() })).toString(
                'base64',
            ),
            'q-call-d',
        );

        // Invalid messages.
        for (const item of [
            { type: 'sms', id: 'bad-to', to: digitsOf(number()), body: body() },
            { type: 'sms', id: 'bad-to-2', to: `${number()}99999999`, body: body() },
            { type: 'sms', id: 'no-body', to: number() },
            { type: 'sms', id: 'unknown-field', to: number(), body: body(), password: credentials.authToken },
            { type: 'call', id: 'two-contents', to: number(), say: body(), url: 'https://example.com/x' },
            { type: 'fax', to: number(), body: body() },
            `not json ${body()} ${number()}`,
            { type: 'sms', id: 'too-long', to: number(), body: `${body()} ${'x'.repeat(1_700)}` },
        ]) {
            await queue(item, `q-bad-${String(numbers)}`);
        }

        // Refused by Twilio (permanent; Twilio's message quotes the number).
        const permanent = number();
        proxy.script(
            { method: 'POST', path: /\/Messages\.json$/, params: { To: permanent } },
            {
                kind: 'error',
                status: 400,
                code: 21211,
                message: `The 'To' number ${permanent} is not a valid phone number.`,
            },
        );
        await queue({ type: 'sms', id: 'refused', to: permanent, body: body() }, 'q-refused');
        const unsubscribed = number();
        proxy.script(
            { method: 'POST', path: /\/Messages\.json$/, params: { To: unsubscribed } },
            {
                kind: 'error',
                status: 400,
                code: 21610,
                message: `Attempt to send to unsubscribed recipient ${unsubscribed} from ${SANDBOX_FROM}`,
            },
        );
        await queue({ type: 'sms', id: 'unsubscribed', to: unsubscribed, body: body() }, 'q-unsub');
        const badCall = number();
        proxy.script(
            { method: 'POST', path: /\/Calls\.json$/, params: { To: badCall } },
            {
                kind: 'error',
                status: 400,
                code: 21215,
                message: `Geo Permission configuration is not permitting call to ${badCall}`,
            },
        );
        await queue({ type: 'call', id: 'call-refused', to: badCall, say: body() }, 'q-call-refused');

        // Transient: 503 on every attempt up to the last (dead-lettered), then the poison function.
        const flaky = number();
        const flakyItem = { type: 'sms', id: 'flaky', to: flaky, body: body() };
        proxy.script(
            { method: 'POST', path: /\/Messages\.json$/, params: { To: flaky } },
            { kind: 'error', status: 503, code: 20503, message: `Service unavailable for ${flaky}` },
            { kind: 'error', status: 503 },
        );
        await queue(flakyItem, 'q-flaky', 1);
        await queue(flakyItem, 'q-flaky', 5);
        await invoke('outboundPoison', () =>
            outboundPoison(flakyItem, context('outboundPoison', { id: 'q-flaky-poison' })),
        );
        await invoke('outboundPoison', () =>
            outboundPoison(
                `{"to":"${number()}","body":"${body()}"}`,
                context('outboundPoison', { id: 'q-poison-2' }),
            ),
        );

        // Transient after Twilio created it: the next attempt finds it instead of resending. (Its status
        // callbacks go elsewhere, so they cannot fill in the SID first.)
        const dropped = number();
        proxy.script(
            { method: 'POST', path: /\/Messages\.json$/, params: { To: dropped } },
            { kind: 'forward-then-reset' },
        );
        const droppedItem = {
            type: 'sms',
            id: 'dropped',
            to: dropped,
            body: body(),
            statusCallback: 'https://hooks.example.net/twilio/status',
        };
        await queue(droppedItem, 'q-dropped', 1);
        await queue(droppedItem, 'q-dropped', 2);
        await queue(droppedItem, 'q-dropped', 3);

        // 401 from Twilio, and a connection reset before anything was sent.
        const unauthorized = number();
        proxy.script(
            { method: 'POST', path: /\/Messages\.json$/, params: { To: unauthorized } },
            { kind: 'error', status: 401, code: 20003, message: 'Authenticate' },
        );
        await queue({ type: 'sms', id: 'unauthorized', to: unauthorized, body: body() }, 'q-401');
        const reset = number();
        proxy.script({ method: 'POST', path: /\/Calls\.json$/, params: { To: reset } }, { kind: 'reset' });
        await queue({ type: 'call', id: 'call-reset', to: reset, message: [body()] }, 'q-reset');

        // processOutbound directly, with a console logger.
        await invoke('processOutbound', () =>
            processOutbound(
                { type: 'sms', id: 'direct', to: number(), body: body() },
                { id: 'q-direct', dequeueCount: 1 },
                {
                    ledger: appDeps.ledger(),
                    twilio: appDeps.twilio,
                    fromNumber: SANDBOX_FROM,
                    messagingServiceSid: undefined,
                    publicBaseUrl: PUBLIC_BASE_URL,
                    maxDequeueCount: 5,
                    log: console,
                },
            ),
        );

        // The HTTP API.
        const apiUrl = 'https://app.example.com/api/messages';
        const apiTo = number();
        count(
            'api send',
            await sendMessage(
                new HttpRequest({
                    method: 'POST',
                    url: apiUrl,
                    headers: { 'Content-Type': 'application/json', 'Idempotency-Key': 'api-1' },
                    body: { string: JSON.stringify({ to: apiTo, body: body() }) },
                }),
                context('sendMessage'),
            ),
        );
        count(
            'api send invalid',
            await sendMessage(
                new HttpRequest({
                    method: 'POST',
                    url: apiUrl,
                    headers: { 'Content-Type': 'application/json' },
                    body: { string: JSON.stringify({ to: digitsOf(number()), body: body() }) },
                }),
                context('sendMessage'),
            ),
        );
        count(
            'api get',
            await getMessage(
                new HttpRequest({ method: 'GET', url: `${apiUrl}/api-1`, params: { id: 'api-1' } }),
                context('getMessage'),
            ),
        );
        count(
            'api list',
            await listMessages(
                new HttpRequest({ method: 'GET', url: `${apiUrl}?to=${encodeURIComponent(apiTo)}` }),
                context('listMessages'),
            ),
        );

        // Key Vault unavailable, and validation switched off.
        setDependencies({
            ...appDeps,
            authToken: createSecretProvider({
                read: () =>
                    Promise.reject(
                        new SecretUnavailableError(
                            'Could not read secret "twilio-auth-token" from https://v.vault.azure.net: HTTP 403: Forbidden',
                        ),
                    ),
                ttlMs: 60_000,
            }),
        });
        count(
            'sms vault down',
            await inboundSms(
                signedPost(smsUrl, { MessageSid: sid('SM'), From: number(), Body: body() }),
                context('inboundSms'),
            ),
        );
        setDependencies(createDependencies(parseConfig({ ...settings, TWILIO_WEBHOOK_VALIDATION: 'off' })));
        count(
            'sms validation off',
            await inboundSms(
                signedPost(smsUrl, { MessageSid: sid('SM'), From: number(), Body: body() }, 'unchecked'),
                context('inboundSms'),
            ),
        );

        // Invalid settings that hold the token and numbers: every function answers 500 / throws, naming settings.
        const savedEnv = { ...process.env };
        try {
            setDependencies();
            process.env = {
                ...savedEnv,
                TWILIO_ACCOUNT_SID: `AC${credentials.authToken}zz`,
                TWILIO_AUTH_TOKEN: `@Microsoft.KeyVault(SecretUri=https://v.vault.azure.net/secrets/${credentials.authToken})`,
                PUBLIC_BASE_URL: `https://app.example.com/?token=${credentials.authToken}`,
                TWILIO_FROM_NUMBER: `${number()}0000000`,
                TWILIO_MESSAGING_SERVICE_SID: `MG${digitsOf(number())}`,
                KEY_VAULT_URL: `not a url ${credentials.authToken}`,
                SECRET_CACHE_TTL_SECONDS: digitsOf(number()),
                VOICE_GREETING: body(),
            };
            resetConfig();
            count(
                'config sms',
                await inboundSms(
                    signedPost(smsUrl, { MessageSid: sid('SM'), From: number(), Body: body() }),
                    context('inboundSms'),
                ),
            );
            count(
                'config voice',
                await voice(signedPost(voiceUrl, { CallSid: sid('CA'), From: number() }), context('voice')),
            );
            count(
                'config status',
                await status(
                    signedPost(statusUrl, { MessageSid: sid('SM'), MessageStatus: 'sent' }),
                    context('status'),
                ),
            );
            count(
                'config api',
                await sendMessage(
                    new HttpRequest({
                        method: 'POST',
                        url: apiUrl,
                        body: { string: JSON.stringify({ to: number(), body: body() }) },
                    }),
                    context('sendMessage'),
                ),
            );
            await queue({ type: 'sms', id: 'config', to: number(), body: body() }, 'q-config');
            await invoke('getDependencies', () => Promise.resolve(getDependencies()));
        } finally {
            process.env = savedEnv;
            resetConfig();
            setDependencies(appDeps);
        }

        await sandbox.idle();
        expect(proxy.pendingFaults()).toBe(0); // every scripted Twilio failure was met

        // The workload did what it is meant to (so the lines below are the ones it should produce).
        const bySource = (pattern: RegExp) => lines.filter((l) => pattern.test(l.text)).length;
        expect(results['sms 200']).toBeGreaterThan(10);
        expect(results['sms forged 403'] ?? 0).toBeGreaterThan(0);
        expect(results['status 204']).toBe(12);
        expect(results['status invalid 400']).toBe(12);
        expect(results['config sms 500']).toBe(1);
        expect(results['sms vault down 503']).toBe(1);
        expect(bySource(/^Inbound message SM[0-9a-f]{32} from \+\d{4}\*{3}\d{4}$/)).toBeGreaterThan(10);
        expect(bySource(/Could not record inbound message/)).toBe(1);
        expect(bySource(/^event=message\.failed id=refused status=failed code=21211 attempt=1$/)).toBe(1);
        expect(
            bySource(/^event=(message|call)\.rejected id=\S+ code=validation attempt=1$/),
        ).toBeGreaterThanOrEqual(7);
        expect(bySource(/will retry/)).toBeGreaterThanOrEqual(3);
        expect(bySource(/dead-lettered/)).toBeGreaterThanOrEqual(1);
        expect(
            bySource(
                /^event=message\.found-at-twilio id=dropped sid=SM[0-9a-f]{32} status=[a-z]+ attempt=2$/,
            ),
        ).toBe(1);
        expect(
            bySource(/^event=message\.already-sent id=dropped sid=SM[0-9a-f]{32} status=[a-z]+ attempt=3$/),
        ).toBe(1);
        expect(bySource(/Invalid configuration: /)).toBeGreaterThanOrEqual(5);
        expect(bySource(/TWILIO_WEBHOOK_VALIDATION is off/)).toBe(1);
        expect(bySource(/Rejected a webhook with an invalid Twilio signature/)).toBeGreaterThan(10);
        expect(lines.filter((l) => l.source === 'sandbox').length).toBeGreaterThan(20);
        expect(lines.filter((l) => l.source.startsWith('console.')).length).toBeGreaterThan(0);
        expect(lines.filter((l) => l.source.startsWith('host:')).length).toBeGreaterThan(3);
        // The sandbox called our status and voice webhooks back, and they accepted the signatures.
        expect(
            bySource(/^event=message\.(status|delivered) id=sms-ok-0 sid=SM[0-9a-f]{32} status=/),
        ).toBeGreaterThan(0);

        // Every kind of outcome line was produced, so the checks below cover them; each keeps to the grammar
        // (fields in order, values of id characters only) and says nothing more.
        const outcomeLines = lines.filter((l) => l.text.startsWith('event='));
        const grammar =
            /^event=(?:message|call|webhook)\.[a-z-]+(?: id=[\w.~:-]+)?(?: sid=[\w.~:-]+)?(?: status=[\w.~:-]+)?(?: code=[\w.~:-]+)?(?: attempt=\d+)?(?: route=[a-z]+)?$/;
        expect(outcomeLines.filter((l) => !grammar.test(l.text)).map((l) => l.text)).toEqual([]);
        const events = new Set(outcomeLines.map((l) => /^event=(\S+)/.exec(l.text)?.[1]));
        for (const event of [
            'message.sent',
            'call.sent',
            'message.failed',
            'call.failed',
            'message.rejected',
            'call.rejected',
            'message.retrying',
            'call.retrying',
            'message.dead-lettered',
            'message.poisoned',
            'message.found-at-twilio',
            'message.already-sent',
            'message.status',
            'message.delivered',
            'message.unmatched',
            'call.status',
            'call.completed',
            'call.unmatched',
            'message.accepted',
            'webhook.rejected',
            'webhook.invalid',
        ]) {
            expect([event, events.has(event)]).toEqual([event, true]);
        }
        for (const status of [400, 403, 500, 503]) {
            expect(
                outcomeLines.some((l) =>
                    l.text.startsWith(`event=webhook.rejected status=${String(status)} `),
                ),
            ).toBe(true);
        }
        expect(findLeaks(outcomeLines, secrets)).toEqual([]);
        expect(
            bySource(/status callback [\w-]+ → POST https:\/\/app\.example\.com\/api\/status: HTTP 204/),
        ).toBeGreaterThan(30);
        expect(bySource(/TwiML request → POST https:\/\/app\.example\.com\/api\/voice: HTTP 200/)).toBe(1);

        const counts: Record<string, number> = {};
        for (const line of lines) counts[line.source] = (counts[line.source] ?? 0) + 1;
        process.stdout.write(
            `logHygiene (FUZZ_SEED=${String(SEED)}): ${String(lines.length)} lines ${JSON.stringify(counts)}; ${String(secrets.numbers.size)} numbers, ${String(secrets.markers.size)} bodies; responses ${JSON.stringify(results)}\n`,
        );
        expect(findLeaks(lines, secrets)).toEqual([]);
    }, 60_000);

    it('self-check: the detector flags an outcome line whose id carries a used number or a body marker', () => {
        const planted = { number: number(), marker: `zq${rng.alnum(10)}` };
        secrets.markers.add(planted.marker);
        const plantedLines = [
            outcomeLine({ event: 'message.sent', id: planted.number }),
            outcomeLine({ event: 'message.sent', id: `order-${planted.marker}` }),
            outcomeLine({ event: 'message.sent', id: 'order-1', sid: `SM${'0'.repeat(32)}`, attempt: 1 }),
        ].map((text) => ({ source: 'planted', text }));
        const leaks = findLeaks(plantedLines, secrets);
        expect(leaks).toHaveLength(2);
        expect(leaks.join('\n')).not.toContain('order-1');
    });

    it('an inbound message from an 8-digit E.164 number does not log every digit of it', async () => {
        const from = '+29012345';
        const start = lines.length;
        const url = `${PUBLIC_BASE_URL}/api/sms`;
        const response = await inboundSms(
            signedPost(url, { MessageSid: sid('SM'), From: from, Body: 'hi' }),
            context('inboundSms'),
        );
        expect(response.status).toBe(200);
        expect(findLeaks(lines.slice(start), { ...secrets, numbers: new Set([from]) })).toEqual([]);
    });
});
