/**
 * The sandbox's test inputs through the real `twilio` client: Twilio's test-credential numbers, the
 * sandbox's reserved numbers that end `undelivered` / `failed`, and the `rateLimit` option's 429s.
 *
 * The first block asserts only what Twilio itself answers to test credentials (the HTTP status, the code,
 * `more_info`), so it runs unchanged against Twilio: set `TWILIO_TEST_ACCOUNT_SID` and
 * `TWILIO_TEST_AUTH_TOKEN` to your account's *test* credentials and it talks to api.twilio.com instead of
 * the sandbox (free: test credentials send nothing). Everything after it is the sandbox's own.
 */

import type { Twilio } from 'twilio';
import { createRateLimiter, rateLimitFromEnv } from '../../../local/sandbox/rateLimit';
import { SANDBOX_NUMBER } from '../../../local/sandbox/resources';
import {
    generateTestCredentials,
    startTwilioSandbox,
    type TwilioSandbox,
} from '../../../local/sandbox/sandbox';
import { callTestNumberError } from '../../../local/sandbox/testNumbers';
import { createStaticSecretProvider } from '../../../shared/platform/secrets';
import { createTwilioClientFactory } from '../../../shared/platform/twilioClient';
import { refusal, sandboxOnly, startTestCredentialSandbox } from '../../support/testCredentials';
import { recordingFetch } from './fakes';

/** A valid recipient for Twilio's test credentials (any number it validates normally). */
const VALID_TO = '+15005550010';
const VALID_FROM = '+15005550006';

let sandbox: TwilioSandbox;
let client: Twilio;
const callbacks = recordingFetch();

beforeAll(async () => {
    ({ sandbox, client } = await startTestCredentialSandbox(callbacks.fetch));
});

afterAll(async () => {
    await sandbox.close();
});

describe("Twilio's test-credential numbers (runs against Twilio with test credentials too)", () => {
    it.each([
        ['From', '+15005550001', VALID_TO, 21212],
        ['From', '+15005550007', VALID_TO, 21606],
        ['From', '+15005550008', VALID_TO, 21611],
        ['To', VALID_FROM, '+15005550001', 21211],
        ['To', VALID_FROM, '+15005550002', 21612],
        ['To', VALID_FROM, '+15005550003', 21408],
        ['To', VALID_FROM, '+15005550004', 21610],
        ['To', VALID_FROM, '+15005550009', 21614],
    ])('a message with %s magic number (from %s to %s) → 400, code %i', async (_which, from, to, code) => {
        const error = await refusal(client.messages.create({ from, to, body: 'magic' }));
        expect([error.status, error.code, error.moreInfo]).toEqual([
            400,
            code,
            `https://www.twilio.com/docs/errors/${String(code)}`,
        ]);
    });

    it(`a message from ${VALID_FROM} to any other valid number is queued`, async () => {
        const message = await client.messages.create({ from: VALID_FROM, to: VALID_TO, body: 'magic' });
        expect([message.status, message.from, message.to, message.errorCode]).toEqual([
            'queued',
            VALID_FROM,
            VALID_TO,
            null,
        ]);
    });
});

sandboxOnly('the sandbox answers them with the texts Twilio answers to test credentials', () => {
    it.each([
        [
            '+15005550001',
            VALID_TO,
            "The 'From' number +15005550001 is not a valid phone number, shortcode, or alphanumeric sender ID.",
        ],
        [
            '+15005550007',
            VALID_TO,
            'The From phone number +15005550007 is not a valid, SMS-capable inbound phone number or short code for your account.',
        ],
        ['+15005550008', VALID_TO, 'SMS queue is full.'],
        [VALID_FROM, '+15005550001', "The 'To' number +15005550001 is not a valid phone number."],
        [
            VALID_FROM,
            '+15005550002',
            "The 'To' phone number: +15005550002, is not currently reachable using the 'From' phone number: +15005550006 via SMS.",
        ],
        [
            VALID_FROM,
            '+15005550003',
            "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: +15005550003.",
        ],
        [VALID_FROM, '+15005550004', 'The message From/To pair violates a blacklist rule.'],
        [VALID_FROM, '+15005550009', 'To number: +15005550009, is not a mobile number'],
    ])('from %s to %s: "%s", and nothing is stored', async (from, to, text) => {
        const before = sandbox.messages.length;
        const error = await refusal(client.messages.create({ from, to, body: 'magic' }));
        expect(error.message).toBe(text);
        expect(sandbox.messages).toHaveLength(before);
        expect(sandbox.received().at(-1)).toMatchObject({
            method: 'POST',
            status: 400,
            errorCode: error.code,
        });
    });

    it('refuses a magic recipient when a Messaging Service picks the sender, naming the pool number', async () => {
        const error = await refusal(
            client.messages.create({
                messagingServiceSid: `MG${'0'.repeat(32)}`,
                to: '+15005550002',
                body: 'x',
            }),
        );
        expect([error.code, error.message]).toEqual([
            21612,
            "The 'To' phone number: +15005550002, is not currently reachable using the 'From' phone number: +15005550006 via SMS.",
        ]);
    });

    it('checks the request first: a magic number does not hide a missing body', async () => {
        const error = await refusal(client.messages.create({ from: '+15005550008', to: VALID_TO }));
        expect(error.code).toBe(21602);
    });

    it('leaves whatsapp: numbers and every other number alone', async () => {
        const message = await client.messages.create({
            from: `whatsapp:${VALID_FROM}`,
            to: 'whatsapp:+15005550004',
            body: 'x',
        });
        expect(message.status).toBe('queued');
    });
});

sandboxOnly("Twilio's test-credential numbers for calls (callTestNumberError, for calls.ts)", () => {
    it.each([
        ['+15005550001', VALID_TO, 21212, 'The source phone number provided, +15005550001, is not valid.'],
        [
            VALID_FROM,
            '+15005550001',
            21217,
            'The phone number you are attempting to call, +15005550001, is not valid.',
        ],
        [VALID_FROM, '+15005550002', 21214, "'To' phone number cannot be reached: +15005550002"],
        [
            VALID_FROM,
            '+15005550003',
            21215,
            'Account not authorized to call +15005550003. Perhaps you need to enable some international permissions: https://www.twilio.com/console/voice/calls/geo-permissions/low-risk',
        ],
        [VALID_FROM, '+15005550004', 21216, 'Account not allowed to call +15005550004'],
    ])('from %s to %s → 400, code %i', (from, to, code, text) => {
        expect(callTestNumberError(from, to)?.toJSON()).toEqual({
            code,
            message: text,
            more_info: `https://www.twilio.com/docs/errors/${String(code)}`,
            status: 400,
        });
    });

    it('is silent for every other pair, the messages-only numbers included', () => {
        for (const to of [VALID_TO, '+15005550009', '+15005550030', '+15005550006']) {
            expect(callTestNumberError(VALID_FROM, to)).toBeUndefined();
        }
        expect(callTestNumberError('+15005550007', VALID_TO)).toBeUndefined();
    });
});

sandboxOnly('the reserved numbers: accepted, then undelivered or failed', () => {
    it.each([
        [
            '+15005550031',
            'undelivered',
            ['queued', 'sent', 'undelivered'],
            30005,
            'Unknown destination handset',
        ],
        ['+15005550044', 'failed', ['queued', 'failed'], 30008, 'Unknown error'],
    ])(
        '%s: 201 queued, then %s; fetch shows error_code and error_message',
        async (to, status, steps, code, text) => {
            const statusCallback = `https://app.example.test/status/${to.slice(1)}`;
            const created = await client.messages.create({
                from: VALID_FROM,
                to,
                body: 'bad luck',
                statusCallback,
            });
            expect([created.status, created.errorCode, created.errorMessage]).toEqual(['queued', null, null]);
            await sandbox.idle();

            const fetched = await client.messages(created.sid).fetch();
            expect([fetched.status, fetched.errorCode, fetched.errorMessage]).toEqual([status, code, text]);
            // A failed message was never sent: Twilio's date_sent stays null.
            expect(fetched.dateSent).toEqual(status === 'failed' ? null : expect.any(Date));
            const posted = callbacks.requests
                .filter((r) => r.url === statusCallback)
                .map((r) => new URLSearchParams(r.body));
            expect(posted.map((form) => [form.get('MessageStatus'), form.get('ErrorCode')])).toEqual(
                steps.map((step) => [step, step === status ? String(code) : null]),
            );
        },
    );
});

// ---- the rateLimit option ---------------------------------------------------------------------------

sandboxOnly('rateLimit: every n-th create is answered 429 (20429)', () => {
    async function limitedSandbox(every: number, retryAfterSeconds?: number) {
        const logs: string[] = [];
        const limited = await startTwilioSandbox({
            ...generateTestCredentials(),
            callbackDelayMs: 0,
            fetch: recordingFetch().fetch,
            rateLimit: { every, retryAfterSeconds },
            log: (line) => logs.push(line),
        });
        const auth = `Basic ${Buffer.from(`${limited.accountSid}:${limited.authToken}`).toString('base64')}`;
        const post = (collection: 'Messages' | 'Calls', form: Record<string, string>) =>
            fetch(`${limited.url}/2010-04-01/Accounts/${limited.accountSid}/${collection}.json`, {
                method: 'POST',
                headers: { Authorization: auth, 'Content-Type': 'application/x-www-form-urlencoded' },
                body: new URLSearchParams(form).toString(),
            });
        return { limited, logs, post };
    }
    const sms = { From: VALID_FROM, To: VALID_TO, Body: 'hi' };
    const call = { From: VALID_FROM, To: VALID_TO, Twiml: '<Response><Say>hi</Say></Response>' };

    it("answers Twilio's 429 body, with Retry-After only when asked, counting Messages and Calls together", async () => {
        const { limited, logs, post } = await limitedSandbox(3, 7);
        try {
            const answers = [];
            for (const [collection, form] of [
                ['Messages', sms],
                ['Calls', call],
                ['Calls', call],
                ['Messages', sms],
                ['Messages', sms],
                ['Messages', sms],
            ] as const) {
                const response = await post(collection, form);
                answers.push([collection, response.status, response.headers.get('retry-after')]);
                if (response.status === 429) {
                    expect(await response.json()).toEqual({
                        code: 20429,
                        message: 'Too Many Requests',
                        more_info: 'https://www.twilio.com/docs/errors/20429',
                        status: 429,
                    });
                }
            }
            expect(answers).toEqual([
                ['Messages', 201, null],
                ['Calls', 201, null],
                ['Calls', 429, '7'],
                ['Messages', 201, null],
                ['Messages', 201, null],
                ['Messages', 429, '7'],
            ]);
            // Refused creates create nothing; other requests are not counted.
            expect([limited.messages.length, limited.calls.length]).toEqual([3, 1]);
            expect(limited.received().map((r) => r.errorCode)).toEqual([
                null,
                null,
                20429,
                null,
                null,
                20429,
            ]);
            // A whole-word 429: the sandbox's port (or an account SID) may hold the digits 429 (it did: 44295).
            expect(logs.filter((line) => /\b429\b/.test(line))).toEqual([
                'sandbox: rateLimit: creates 3, 6, 9, … answer 429 (20429)',
                `sandbox: POST /2010-04-01/Accounts/${limited.accountSid.slice(0, 6)}…/Calls.json → 429, error 20429 (rateLimit)`,
                `sandbox: POST /2010-04-01/Accounts/${limited.accountSid.slice(0, 6)}…/Messages.json → 429, error 20429 (rateLimit)`,
            ]);
        } finally {
            await limited.close();
        }
    });

    it('sends no Retry-After without retryAfterSeconds, as Twilio; every 1 refuses every create', async () => {
        const { limited, post } = await limitedSandbox(1);
        try {
            const statuses = [];
            for (let index = 0; index < 3; index += 1) {
                const response = await post('Messages', sms);
                statuses.push([response.status, response.headers.get('retry-after')]);
            }
            expect(statuses).toEqual([
                [429, null],
                [429, null],
                [429, null],
            ]);
            expect(limited.messages).toHaveLength(0);
        } finally {
            await limited.close();
        }
    });

    it("the twilio client's own retry gets the refused create through: one message, three requests", async () => {
        const { limited } = await limitedSandbox(2);
        try {
            const limitedClient = await createTwilioClientFactory({
                accountSid: limited.accountSid,
                secrets: createStaticSecretProvider(limited.authToken),
                apiUrl: limited.url,
            }).get();
            await limitedClient.messages.create({ from: VALID_FROM, to: VALID_TO, body: 'one' });
            await limitedClient.messages.create({ from: VALID_FROM, to: VALID_TO, body: 'two' });
            expect(limited.received().map((r) => r.status)).toEqual([201, 429, 201]);
            expect(limited.messages.map((m) => m.body)).toEqual(['two', 'one']);
        } finally {
            await limited.close();
        }
    });
});

describe('rateLimit options', () => {
    it.each([0, -1, 1.5, Number.NaN])('refuses every: %p', (every) => {
        expect(() => createRateLimiter({ every })).toThrow('rateLimit.every must be a whole number ≥ 1');
    });

    it.each([-1, 2.5, 86_401])('refuses retryAfterSeconds: %p', (retryAfterSeconds) => {
        expect(() => createRateLimiter({ every: 2, retryAfterSeconds })).toThrow(
            'rateLimit.retryAfterSeconds must be a whole number of seconds, 0 to 86400',
        );
    });

    it('counts in a fixed pattern: every 3 refuses the 3rd, 6th and 9th', () => {
        const limiter = createRateLimiter({ every: 3 });
        expect(Array.from({ length: 9 }, () => limiter?.refuse())).toEqual([
            false,
            false,
            true,
            false,
            false,
            true,
            false,
            false,
            true,
        ]);
        expect(createRateLimiter(undefined)).toBeUndefined();
    });

    it('reads SANDBOX_RATE_LIMIT_EVERY and SANDBOX_RATE_LIMIT_RETRY_AFTER, naming a bad one', () => {
        expect(rateLimitFromEnv({})).toBeUndefined();
        expect(rateLimitFromEnv({ SANDBOX_RATE_LIMIT_EVERY: '' })).toBeUndefined();
        expect(rateLimitFromEnv({ SANDBOX_RATE_LIMIT_EVERY: '4' })).toEqual({
            every: 4,
            retryAfterSeconds: undefined,
        });
        expect(
            rateLimitFromEnv({ SANDBOX_RATE_LIMIT_EVERY: '2', SANDBOX_RATE_LIMIT_RETRY_AFTER: '30' }),
        ).toEqual({ every: 2, retryAfterSeconds: 30 });
        expect(() => rateLimitFromEnv({ SANDBOX_RATE_LIMIT_EVERY: '0' })).toThrow(
            'SANDBOX_RATE_LIMIT_EVERY must be a whole number from 1 to 1000000 (got "0")',
        );
        expect(() =>
            rateLimitFromEnv({ SANDBOX_RATE_LIMIT_EVERY: '2', SANDBOX_RATE_LIMIT_RETRY_AFTER: 'soon' }),
        ).toThrow('SANDBOX_RATE_LIMIT_RETRY_AFTER must be a whole number from 0 to 86400 (got "soon")');
    });

    it('a sandbox with a bad rateLimit does not start', async () => {
        await expect(
            startTwilioSandbox({ ...generateTestCredentials(), rateLimit: { every: 0 } }),
        ).rejects.toThrow('rateLimit.every');
    });
});

// The sandbox's own number is Twilio's valid test From.
test('the sandbox number is Twilio’s valid test From', () => {
    expect(SANDBOX_NUMBER).toBe(VALID_FROM);
});
