/**
 * Twilio's test-credential numbers for calls, through the real `twilio` client and the sandbox's Calls
 * create (calls.ts asks testNumbers.ts `callTestNumberError` once its own checks pass).
 *
 * The first block asserts only what Twilio itself answers to test credentials (the HTTP status, the code,
 * `more_info`), so it runs unchanged against Twilio: with `TWILIO_TEST_ACCOUNT_SID` and
 * `TWILIO_TEST_AUTH_TOKEN` set to your account's *test* credentials it talks to api.twilio.com (free: test
 * credentials place no call). The codes are those of https://www.twilio.com/docs/iam/test-credentials
 * ("Test calls"). The rest is the sandbox's own.
 */

import type { Twilio } from 'twilio';
import type { TwilioSandbox } from '../../../local/sandbox/sandbox';
import { refusal, sandboxOnly, startTestCredentialSandbox } from '../../support/testCredentials';
import { recordingFetch } from './fakes';

/** The one `From` test credentials accept for calls, and a recipient they validate normally. */
const VALID_FROM = '+15005550006';
const VALID_TO = '+15005550010';
/** A TwiML URL for the creates; the sandbox's requests to it go to a recording fake, not the network. */
const URL = 'https://app.example.test/api/voice';

let sandbox: TwilioSandbox;
let client: Twilio;
const twiml = recordingFetch(
    () =>
        new Response('<Response><Say>hi</Say></Response>', {
            headers: { 'Content-Type': 'text/xml' },
        }),
);

beforeAll(async () => {
    ({ sandbox, client } = await startTestCredentialSandbox(twiml.fetch));
});

afterAll(async () => {
    await sandbox.idle();
    await sandbox.close();
});

const CASES = [
    ['From', '+15005550001', VALID_TO, 21212],
    ['To', VALID_FROM, '+15005550001', 21217],
    ['To', VALID_FROM, '+15005550002', 21214],
    ['To', VALID_FROM, '+15005550003', 21215],
    ['To', VALID_FROM, '+15005550004', 21216],
] as const;

describe("Twilio's test-credential numbers for calls (runs against Twilio with test credentials too)", () => {
    it.each(CASES)(
        'a call with %s test number (from %s to %s) → 400, code %i',
        async (_which, from, to, code) => {
            const error = await refusal(client.calls.create({ from, to, url: URL }));
            expect([error.status, error.code, error.moreInfo]).toEqual([
                400,
                code,
                `https://www.twilio.com/docs/errors/${String(code)}`,
            ]);
        },
    );

    it(`a call from ${VALID_FROM} to any other valid number is queued`, async () => {
        const created = await client.calls.create({ from: VALID_FROM, to: VALID_TO, url: URL });
        expect([created.status, created.from, created.to]).toEqual(['queued', VALID_FROM, VALID_TO]);
    });
});

sandboxOnly('the sandbox refuses them before storing anything, after its own checks', () => {
    it.each([
        ['+15005550001', VALID_TO, 'The source phone number provided, +15005550001, is not valid.'],
        [
            VALID_FROM,
            '+15005550001',
            'The phone number you are attempting to call, +15005550001, is not valid.',
        ],
        [VALID_FROM, '+15005550002', "'To' phone number cannot be reached: +15005550002"],
        [
            VALID_FROM,
            '+15005550003',
            'Account not authorized to call +15005550003. Perhaps you need to enable some international permissions: https://www.twilio.com/console/voice/calls/geo-permissions/low-risk',
        ],
        [VALID_FROM, '+15005550004', 'Account not allowed to call +15005550004'],
    ])('from %s to %s: "%s", no call stored, no TwiML fetched', async (from, to, text) => {
        await sandbox.idle(); // the calls of earlier tests have run
        const [calls, fetched] = [sandbox.calls.length, twiml.requests.length];
        const error = await refusal(client.calls.create({ from, to, url: URL }));
        expect(error.message).toBe(text);
        expect(sandbox.received().at(-1)).toMatchObject({
            method: 'POST',
            status: 400,
            errorCode: error.code,
        });
        await sandbox.idle();
        expect([sandbox.calls.length, twiml.requests.length]).toEqual([calls, fetched]);
    });

    it('checks the request first: a test number does not hide a missing Url (21205)', async () => {
        const error = await refusal(
            client.calls.create({ from: '+15005550001', to: '+15005550002', url: '' }),
        );
        expect(error.code).toBe(21205);
    });

    it("leaves the messages-only test numbers and the sandbox's own call numbers to their own meaning", async () => {
        for (const to of ['+15005550009', '+15005550007', '+15005550060']) {
            const created = await client.calls.create({ from: VALID_FROM, to, url: URL });
            expect(created.status).toBe('queued');
        }
        await sandbox.idle();
        const busy = sandbox.calls.find((c) => c.to === '+15005550060');
        expect(busy?.status).toBe('busy');
    });
});
