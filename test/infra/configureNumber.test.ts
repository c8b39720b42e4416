/**
 * infra/scripts/configure-number.js, run as azd runs it (a child process with only the variables it is
 * given), against the Twilio sandbox: what it changes is read back through the sandbox's REST API with
 * the real `twilio` client.
 */

import { spawn } from 'node:child_process';
import path from 'node:path';
import twilio, { type Twilio } from 'twilio';
import type RequestClient from 'twilio/lib/base/RequestClient';
import { SANDBOX_NUMBER } from '../../local/sandbox/resources';
import { generateTestCredentials, startTwilioSandbox, type TwilioSandbox } from '../../local/sandbox/sandbox';
import { maskPhone } from '../../shared/platform/redact';
import { REPO_ROOT } from './bicep';

const SCRIPT = path.join(REPO_ROOT, 'infra', 'scripts', 'configure-number.js');
const CREDENTIALS = generateTestCredentials();
const { accountSid: SID, authToken: TOKEN, apiKeySid: KEY_SID, apiKeySecret: KEY_SECRET } = CREDENTIALS;
/** The numbers the test account owns besides the sandbox's: each test points its own. */
const NUMBERS = ['+15557770301', '+15557770302', '+15557770303', '+15557770304', '+15557770305'];
const app = 'https://func-abc-h7fgb2c9.westus3-01.azurewebsites.net';
const outputs = { TWILIO_VOICE_URL: `${app}/api/voice`, TWILIO_SMS_URL: `${app}/api/sms` };

let sandbox: TwilioSandbox;
let client: Twilio;

beforeAll(async () => {
    sandbox = await startTwilioSandbox({
        ...CREDENTIALS,
        phoneNumbers: [SANDBOX_NUMBER, ...NUMBERS],
        callbackDelayMs: 0,
    });
    class Redirect extends twilio.RequestClient {
        override request<TData>(opts: RequestClient.RequestOptions<TData>) {
            const original = new URL(opts.uri);
            return super.request({ ...opts, uri: `${sandbox.url}${original.pathname}${original.search}` });
        }
    }
    client = twilio(SID, TOKEN, { httpClient: new Redirect() });
});

afterAll(async () => {
    await sandbox.close();
});

interface Run {
    code: number | null;
    stdout: string;
    stderr: string;
}

/** Runs the script with exactly `env` (and PATH); never blocks, so the sandbox keeps answering. */
function run(env: Record<string, string>): Promise<Run> {
    return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [SCRIPT], { env: { PATH: process.env.PATH ?? '', ...env } });
        let stdout = '';
        let stderr = '';
        child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
        child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
        child.once('error', reject);
        child.once('close', (code) => resolve({ code, stdout, stderr }));
    });
}

const withKey = { TWILIO_ACCOUNT_SID: SID, TWILIO_API_KEY_SID: KEY_SID, TWILIO_API_KEY_SECRET: KEY_SECRET };
const sandboxEnv = () => ({ ...outputs, TWILIO_API_URL: sandbox.url });

async function numberOf(phoneNumber: string) {
    const [found] = await client.incomingPhoneNumbers.list({ phoneNumber });
    if (found === undefined) throw new Error('the test number is gone');
    return found;
}

/** The updates (POST to one number) the sandbox received since `from`. */
function updatesSince(from: number) {
    return sandbox
        .received()
        .slice(from)
        .filter((r) => r.method === 'POST' && r.path.includes('/IncomingPhoneNumbers/'));
}

/** Neither a credential nor a full phone number in anything the script printed. */
function expectNothingSecret(result: Run, number: string) {
    const printed = result.stdout + result.stderr;
    for (const secret of [TOKEN, KEY_SECRET]) expect(printed).not.toContain(secret);
    expect(printed).not.toContain(number);
    expect(printed).not.toContain(number.slice(1));
}

it('points the number at the deployment with an API key: Voice and Messaging URLs, POST', async () => {
    const [number = ''] = NUMBERS;
    const from = sandbox.received().length;
    const result = await run({ ...sandboxEnv(), ...withKey, TWILIO_PHONE_NUMBER: number });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const requests = sandbox.received().slice(from);

    const configured = await numberOf(number);
    expect(configured).toMatchObject({
        voiceUrl: `${app}/api/voice`,
        voiceMethod: 'POST',
        smsUrl: `${app}/api/sms`,
        smsMethod: 'POST',
    });
    expect(requests.map((r) => [r.method, r.username, r.status])).toEqual([
        ['GET', KEY_SID, 200],
        ['POST', KEY_SID, 200],
    ]);
    expect(requests[1]?.form.get('VoiceUrl')).toBe(`${app}/api/voice`);

    const lines = result.stdout.split('\n').map((line) => line.trim());
    expect(lines[0]).toBe(
        `configure-number: pointed ${maskPhone(number)} (${configured.sid.slice(0, 6)}…, account ${SID.slice(0, 6)}…) at this deployment:`,
    );
    expect(lines).toContain(`Voice ("A call comes in"): (none) → ${app}/api/voice (HTTP POST)`);
    expect(lines).toContain(`Messaging ("A message comes in"): (none) → ${app}/api/sms (HTTP POST)`);
    expectNothingSecret(result, number);
});

it('works with the auth token, says what it replaced, and changes nothing when already pointed', async () => {
    const number = NUMBERS[1] ?? '';
    const { sid } = await numberOf(number);
    await client
        .incomingPhoneNumbers(sid)
        .update({ smsUrl: 'https://old.example.net/sms', smsMethod: 'GET' });

    const env = {
        ...sandboxEnv(),
        TWILIO_ACCOUNT_SID: SID,
        TWILIO_AUTH_TOKEN: TOKEN,
        TWILIO_PHONE_NUMBER: number,
    };
    const first = await run(env);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(
        `Messaging ("A message comes in"): https://old.example.net/sms (HTTP GET) → ${app}/api/sms (HTTP POST)`,
    );
    expect((await numberOf(number)).smsMethod).toBe('POST');
    expectNothingSecret(first, number);

    const from = sandbox.received().length;
    const again = await run(env);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('already points at this deployment; nothing changed');
    expect(updatesSince(from)).toEqual([]);
});

it('takes the number’s PN… SID as well', async () => {
    const number = NUMBERS[2] ?? '';
    const { sid } = await numberOf(number);
    const result = await run({ ...sandboxEnv(), ...withKey, TWILIO_PHONE_NUMBER: sid });
    expect(result.code).toBe(0);
    expect((await numberOf(number)).voiceUrl).toBe(`${app}/api/voice`);
});

it('fails, saying so, for a number that is not on the account, and changes nothing', async () => {
    const from = sandbox.received().length;
    const missing = '+15557779999';
    const result = await run({ ...sandboxEnv(), ...withKey, TWILIO_PHONE_NUMBER: missing });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
        `configure-number: ${maskPhone(missing)} is not a phone number of account ${SID.slice(0, 6)}…`,
    );
    expect(updatesSince(from)).toEqual([]);
    expectNothingSecret(result, missing);

    const unknownSid = await run({ ...sandboxEnv(), ...withKey, TWILIO_PHONE_NUMBER: `PN${'0'.repeat(32)}` });
    expect(unknownSid.code).toBe(1);
    expect(unknownSid.stderr).toContain('is not a phone number of account');
});

it('fails with Twilio’s answer when the credentials are refused, without printing them', async () => {
    const number = NUMBERS[3] ?? '';
    const wrong = 'w'.repeat(32);
    const result = await run({
        ...sandboxEnv(),
        ...withKey,
        TWILIO_API_KEY_SECRET: wrong,
        TWILIO_PHONE_NUMBER: number,
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('Twilio answered HTTP 401, error 20003: Twilio refused the credentials');
    expect(result.stdout + result.stderr).not.toContain(wrong);
    expectNothingSecret(result, number);
    expect((await numberOf(number)).voiceUrl).toBe('');
});

it('fails when Twilio refuses the URLs (21402), naming the code', async () => {
    const number = NUMBERS[4] ?? '';
    const result = await run({
        ...sandboxEnv(),
        ...withKey,
        TWILIO_VOICE_URL: 'func-abc.azurewebsites.net/api/voice',
        TWILIO_PHONE_NUMBER: number,
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('Twilio answered HTTP 400, error 21402');
    expect((await numberOf(number)).voiceUrl).toBe('');
});

it.each([
    ['no TWILIO_ACCOUNT_SID', { TWILIO_AUTH_TOKEN: TOKEN }, 'TWILIO_ACCOUNT_SID is not set'],
    ['an account but no key or token', { TWILIO_ACCOUNT_SID: SID }, 'no credentials: set TWILIO_API_KEY_SID'],
    [
        'a key SID without its secret',
        { TWILIO_ACCOUNT_SID: SID, TWILIO_API_KEY_SID: KEY_SID, TWILIO_AUTH_TOKEN: TOKEN },
        'TWILIO_API_KEY_SID and TWILIO_API_KEY_SECRET go together',
    ],
    [
        'an account SID of the wrong shape',
        { TWILIO_ACCOUNT_SID: 'AC123', TWILIO_AUTH_TOKEN: TOKEN },
        'TWILIO_ACCOUNT_SID is not an account SID',
    ],
])('fails before calling Twilio with %s', async (_case, credentials, message) => {
    const from = sandbox.received().length;
    const number = NUMBERS[0] ?? '';
    const result = await run({ ...sandboxEnv(), ...credentials, TWILIO_PHONE_NUMBER: number });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`configure-number: cannot point ${maskPhone(number)}: ${message}`);
    expect(sandbox.received().slice(from)).toEqual([]);
    expectNothingSecret(result, number);
});

it('without TWILIO_PHONE_NUMBER prints the manual command and succeeds, calling nothing', async () => {
    const from = sandbox.received().length;
    const result = await run({ ...sandboxEnv(), ...withKey });
    expect(result.code).toBe(0);
    expect(result.stdout.split('\n').map((line) => line.trim())).toContain(
        `twilio phone-numbers:update <your Twilio number> --voice-url ${app}/api/voice --sms-url ${app}/api/sms`,
    );
    expect(sandbox.received().slice(from)).toEqual([]);
});

it('fails without the provisioning outputs, naming them', async () => {
    const result = await run({ ...withKey, TWILIO_PHONE_NUMBER: NUMBERS[0] ?? '' });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('TWILIO_VOICE_URL and TWILIO_SMS_URL missing: run azd provision');
});

it('masks numbers exactly as shared/platform/redact.ts does', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const script = require(SCRIPT) as { maskPhone: (value: string) => string };
    for (const value of [
        '+15551234567',
        '+447700900123',
        '15551234567',
        '+1555123',
        '12345',
        'client:alice',
        '',
    ]) {
        expect(script.maskPhone(value)).toBe(maskPhone(value));
    }
});
