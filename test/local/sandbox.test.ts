import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
    createServer,
    type IncomingHttpHeaders,
    type IncomingMessage,
    type Server,
    type ServerResponse,
} from 'node:http';
import { HttpRequest } from '@azure/functions';
import twilio, { type Twilio } from 'twilio';
import type RequestClient from 'twilio/lib/base/RequestClient';
import { validateRequest } from 'twilio/lib/webhooks/webhooks';
import { inboundSms } from '../../functions/inboundSms';
import { setDependencies } from '../../shared/platform/dependencies';
import { createStaticSecretProvider } from '../../shared/platform/secrets';
import { createTwilioClientFactory } from '../../shared/platform/twilioClient';
import { simulateInboundSms } from '../../local/sandbox/inbound';
import { SANDBOX_NUMBER } from '../../local/sandbox/resources';
import { generateTestCredentials, startTwilioSandbox, type TwilioSandbox } from '../../local/sandbox/sandbox';
import { readSandboxState, sandboxStatePath, writeSandboxState } from '../../local/sandbox/state';
import { parseTwiml } from '../../local/sandbox/twiml';
import { listen } from '../fakes/servers';
import { useSettings } from '../support/app';
import { testContext } from '../support/webhooks';

// ---- a local app that receives what the sandbox sends --------------------------------------------------

interface Hit {
    method: string;
    /** The full URL requested, as the receiver would rebuild it. */
    url: string;
    path: string;
    headers: IncomingHttpHeaders;
    form: URLSearchParams;
}

const TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response><Say>Hello from the test</Say></Response>';
const REPLY =
    '<?xml version="1.0" encoding="UTF-8"?><Response><Message>Got it &amp; thanks</Message></Response>';

/** Answers by path: the TwiML variants a voice URL can answer, 200 for status callbacks. */
function answer(path: string, res: ServerResponse): void {
    const route = path.split('?')[0] ?? '';
    const reply = (status: number, contentType: string, body: string) => {
        res.writeHead(status, { 'Content-Type': contentType });
        res.end(body);
    };
    if (route === '/voice') reply(200, 'text/xml', TWIML);
    else if (route === '/voice/malformed') reply(200, 'text/xml', '<Response><Say>unclosed</Response>');
    else if (route === '/voice/wrong-root') reply(200, 'application/xml', '<Reply><Say>hi</Say></Reply>');
    else if (route === '/voice/error') reply(500, 'text/plain', 'boom');
    else if (route === '/voice/json') reply(200, 'application/json', '{"say":"hi"}');
    else if (route === '/sms') reply(200, 'text/xml', REPLY);
    else reply(200, 'text/plain', '');
}

let hooks: { server: Server; url: string; hits: Hit[] };
/** When set, awaited with each hit before it is answered (the sandbox waits for the answer meanwhile). */
let observeHit: ((hit: Hit) => Promise<void>) | undefined;
let sandbox: TwilioSandbox;
let client: Twilio;
let refusedUrl: string;
const logs: string[] = [];
const CREDENTIALS = generateTestCredentials();
const { accountSid: SID, authToken: TOKEN, apiKeySid: KEY_SID, apiKeySecret: KEY_SECRET } = CREDENTIALS;
/** Numbers the test account owns besides the sandbox's own: one to list, one to point at an app. */
const OWNED = '+15557770100';
const CONFIGURED = '+15557770200';

beforeAll(async () => {
    const hits: Hit[] = [];
    const server = createServer((req, res) => {
        void (async () => {
            const chunks: Buffer[] = [];
            for await (const chunk of req) chunks.push(chunk as Buffer);
            const path = req.url ?? '/';
            const hit: Hit = {
                method: req.method ?? '',
                url: `${hooks.url}${path}`,
                path,
                headers: req.headers,
                form: new URLSearchParams(Buffer.concat(chunks).toString('utf8')),
            };
            hits.push(hit);
            await observeHit?.(hit);
            answer(path, res);
        })();
    });
    hooks = { server, url: `http://127.0.0.1:${String(await listen(server))}`, hits };

    // A port nothing listens on: opened, then closed.
    const closed = createServer();
    refusedUrl = `http://127.0.0.1:${String(await listen(closed))}`;
    await new Promise((resolve) => closed.close(resolve));

    sandbox = await startTwilioSandbox({
        ...CREDENTIALS,
        phoneNumbers: [SANDBOX_NUMBER, OWNED, CONFIGURED],
        callbackDelayMs: 0,
        log: (line) => logs.push(line),
    });
    client = await createTwilioClientFactory({
        accountSid: SID,
        secrets: createStaticSecretProvider(TOKEN),
        apiUrl: sandbox.url,
    }).get();
});

afterAll(async () => {
    await sandbox.close();
    hooks.server.closeAllConnections();
    await new Promise((resolve) => hooks.server.close(resolve));
    setDependencies();
});

// ---- helpers -----------------------------------------------------------------------------------------

/**
 * The real `twilio` client authenticating as `username` / `password` (an API key: the key SID and secret,
 * with the account in `accountSid`, as Twilio's docs show), its requests redirected to `target`.
 */
function restClient(username: string, password: string, accountSid: string, target = sandbox): Twilio {
    class Redirect extends twilio.RequestClient {
        override request<TData>(opts: RequestClient.RequestOptions<TData>) {
            const original = new URL(opts.uri);
            return super.request({ ...opts, uri: `${target.url}${original.pathname}${original.search}` });
        }
    }
    return twilio(username, password, { accountSid, httpClient: new Redirect() });
}

/** Form parameters as twilio's validator takes them (repeated keys as a local array). */
function paramsOf(form: URLSearchParams): Record<string, string | string[]> {
    const params: Record<string, string | string[]> = {};
    for (const key of new Set(form.keys())) {
        const values = [...form.getAll(key)];
        params[key] = values.length === 1 ? (values[0] ?? '') : values;
    }
    return params;
}

/** Whether the hit carries a valid `X-Twilio-Signature` for `url` (default: the URL it was sent to). */
function signedCorrectly(hit: Hit, url = hit.url): boolean {
    const signature = hit.headers['x-twilio-signature'];
    if (typeof signature !== 'string') return false;
    return validateRequest(TOKEN, signature, url, hit.method === 'GET' ? {} : paramsOf(hit.form));
}

/** The hooks' requests about one resource (by `MessageSid` / `CallSid`, in the body or the query). */
function hitsFor(sid: string): Hit[] {
    return hooks.hits.filter((hit) => {
        const query = new URLSearchParams(hit.path.split('?')[1] ?? '');
        const params = hit.method === 'GET' ? query : hit.form;
        return params.get('MessageSid') === sid || params.get('CallSid') === sid;
    });
}

/** A raw request to the sandbox, for what the SDK cannot send. */
async function raw(
    method: string,
    path: string,
    options: { auth?: string; form?: Record<string, string> } = {},
): Promise<{ status: number; json: Record<string, unknown> }> {
    const headers: Record<string, string> = {
        Authorization: `Basic ${Buffer.from(options.auth ?? `${SID}:${TOKEN}`).toString('base64')}`,
    };
    let body: string | undefined;
    if (options.form !== undefined) {
        headers['Content-Type'] = 'application/x-www-form-urlencoded';
        body = new URLSearchParams(options.form).toString();
    }
    const response = await fetch(`${sandbox.url}${path}`, { method, headers, body });
    const text = await response.text();
    return {
        status: response.status,
        json: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>),
    };
}

const base = () => `/2010-04-01/Accounts/${SID}`;
let numberSeed = 0;
/** A recipient no other test uses, so filters see only this test's messages and calls. */
function freshNumber(): string {
    numberSeed += 1;
    return `+1555${String(2000000 + numberSeed)}`;
}
const FROM = '+15551230000';
const RFC2822 = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000$/;

// ---- REST: authentication and routing ----------------------------------------------------------------

describe('authentication and routing', () => {
    it('answers 401 with code 20003 to a wrong token, through the real client', async () => {
        const wrong = await createTwilioClientFactory({
            accountSid: SID,
            secrets: createStaticSecretProvider('0'.repeat(32)),
            apiUrl: sandbox.url,
        }).get();
        await expect(
            wrong.messages.create({ to: '+15557654321', from: FROM, body: 'x' }),
        ).rejects.toMatchObject({
            status: 401,
            code: 20003,
            moreInfo: 'https://www.twilio.com/docs/errors/20003',
        });
        const { status, json } = await raw('GET', `${base()}/Messages.json`, { auth: `${SID}:nope` });
        expect(status).toBe(401);
        expect(json).toEqual({
            code: 20003,
            message: 'Authenticate',
            more_info: 'https://www.twilio.com/docs/errors/20003',
            status: 401,
        });
    });

    it('answers 401 when the AccountSid in the path is not the authenticated account', async () => {
        const other = generateTestCredentials().accountSid;
        const { status, json } = await raw('GET', `/2010-04-01/Accounts/${other}/Messages.json`);
        expect(status).toBe(401);
        expect(json.code).toBe(20003);
    });

    it('answers 404 (20404) to unknown resources and 405 (20004) to unsupported methods', async () => {
        const unknown = await raw('GET', `${base()}/Queues.json`);
        expect(unknown.status).toBe(404);
        expect(unknown.json).toMatchObject({
            code: 20404,
            message: `The requested resource ${base()}/Queues.json was not found`,
            status: 404,
        });
        const put = await raw('PUT', `${base()}/Messages.json`);
        expect(put).toMatchObject({ status: 405, json: { code: 20004, status: 405 } });
        const post = await raw('POST', `${base()}/Calls/CA${'0'.repeat(32)}.json`);
        expect(post.status).toBe(405);
    });

    it('serves the account resource, as used to check credentials', async () => {
        const account = await client.api.v2010.accounts(SID).fetch();
        expect(account.sid).toBe(SID);
        expect(account.status).toBe('active');
    });

    it('records the REST requests it received, without the password', async () => {
        const before = sandbox.received().length;
        await client.messages.list({ to: '+15550000000', limit: 1 });
        const [request] = sandbox.received().slice(before);
        expect(request).toMatchObject({ method: 'GET', username: SID, status: 200, errorCode: null });
        expect(request?.path).toContain('/Messages.json?');
        expect(request?.query.get('To')).toBe('+15550000000');
        expect(JSON.stringify(sandbox.received())).not.toContain(TOKEN);
        expect(JSON.stringify(sandbox.received())).not.toContain(KEY_SECRET);
    });
});

// ---- REST: API keys ------------------------------------------------------------------------------------

describe('API keys', () => {
    it('generates a key with the test credentials, in Twilio’s shape', () => {
        expect(KEY_SID).toMatch(/^SK[0-9a-f]{32}$/);
        expect(KEY_SECRET).toMatch(/^[0-9A-Za-z]{32}$/);
        expect(generateTestCredentials().apiKeySid).not.toBe(KEY_SID);
    });

    it('authenticates the key SID and secret with the account in the path, through the real client', async () => {
        const keyed = restClient(KEY_SID, KEY_SECRET, SID);
        const to = freshNumber();
        const before = sandbox.received().length;
        const message = await keyed.messages.create({ to, from: FROM, body: 'sent with a key' });
        expect(message).toMatchObject({ accountSid: SID, to, status: 'queued' });
        expect(message.uri).toBe(`${base()}/Messages/${message.sid}.json`);
        expect((await keyed.messages(message.sid).fetch()).sid).toBe(message.sid);
        const [created] = sandbox.received().slice(before);
        expect(created).toMatchObject({ method: 'POST', username: KEY_SID, status: 201 });
        expect(created?.path).toBe(`${base()}/Messages.json`);
    });

    it.each([
        ['a wrong secret', () => restClient(KEY_SID, 'x'.repeat(32), SID)],
        ['the auth token as the key’s secret', () => restClient(KEY_SID, TOKEN, SID)],
        ['the key’s secret as the account’s token', () => restClient(SID, KEY_SECRET, SID)],
        [
            'another account’s key',
            () => {
                const other = generateTestCredentials();
                return restClient(other.apiKeySid, other.apiKeySecret, SID);
            },
        ],
        [
            'the key against another account’s path',
            () => {
                return restClient(KEY_SID, KEY_SECRET, generateTestCredentials().accountSid);
            },
        ],
    ])('refuses %s: RestException 401 / 20003', async (_case, make) => {
        await expect(
            make().messages.create({ to: freshNumber(), from: FROM, body: 'refused' }),
        ).rejects.toMatchObject({
            status: 401,
            code: 20003,
            moreInfo: 'https://www.twilio.com/docs/errors/20003',
        });
    });

    it('keeps a Standard key out of the Account and the Keys, as Twilio does; a Main key gets in', async () => {
        const standard = restClient(KEY_SID, KEY_SECRET, SID);
        await expect(standard.api.v2010.accounts(SID).fetch()).rejects.toMatchObject({
            status: 401,
            code: 20003,
        });
        await expect(standard.keys.list()).rejects.toMatchObject({ status: 401, code: 20003 });
        const main = sandbox.createApiKey({ friendlyName: 'ops', type: 'main' });
        expect(main.sid).toMatch(/^SK[0-9a-f]{32}$/);
        const account = await restClient(main.sid, main.secret, SID).api.v2010.accounts(SID).fetch();
        expect(account.sid).toBe(SID);
    });

    it('creates (secret shown once), lists, fetches and revokes keys through the Keys resource', async () => {
        const created = await client.newKeys.create({ friendlyName: 'deploy' });
        expect(created.sid).toMatch(/^SK[0-9a-f]{32}$/);
        expect(created.secret).toMatch(/^[0-9A-Za-z]{32}$/);
        expect(created.friendlyName).toBe('deploy');
        const keyed = restClient(created.sid, created.secret, SID);
        await expect(keyed.messages.list({ limit: 1 })).resolves.toBeInstanceOf(Array);

        const fetched = await raw('GET', `${base()}/Keys/${created.sid}.json`);
        expect(fetched.status).toBe(200);
        expect(Object.keys(fetched.json).sort()).toEqual([
            'date_created',
            'date_updated',
            'friendly_name',
            'sid',
        ]);
        const listed = await client.keys.list();
        expect(listed.map((k) => k.sid)).toEqual(expect.arrayContaining([KEY_SID, created.sid]));

        expect(await client.keys(created.sid).remove()).toBe(true);
        await expect(keyed.messages.list({ limit: 1 })).rejects.toMatchObject({ status: 401, code: 20003 });
        await expect(client.keys(created.sid).fetch()).rejects.toMatchObject({ status: 404, code: 20404 });
        // The one secret answered is not kept anywhere the sandbox shows.
        expect(JSON.stringify(sandbox.received())).not.toContain(created.secret);
    });

    it('revokes a key created on the handle', async () => {
        const key = sandbox.createApiKey();
        const keyed = restClient(key.sid, key.secret, SID);
        await keyed.messages.list({ limit: 1 });
        expect(sandbox.revokeApiKey(key.sid)).toBe(true);
        expect(sandbox.revokeApiKey(key.sid)).toBe(false);
        await expect(keyed.messages.list({ limit: 1 })).rejects.toMatchObject({ status: 401, code: 20003 });
    });

    it('refuses a key SID without its secret, or a secret without its SID, at start', async () => {
        await expect(
            startTwilioSandbox({ accountSid: SID, authToken: TOKEN, apiKeySid: KEY_SID }),
        ).rejects.toThrow('apiKeySid and apiKeySecret go together');
        await expect(
            startTwilioSandbox({ accountSid: SID, authToken: TOKEN, apiKeySid: 'SK1', apiKeySecret: 'x' }),
        ).rejects.toThrow('SK + 32 hex');
    });
});

// ---- IncomingPhoneNumbers ------------------------------------------------------------------------------

describe('IncomingPhoneNumbers', () => {
    const numbersPath = () => `${base()}/IncomingPhoneNumbers.json`;
    const sidOf = (number: string) => sandbox.phoneNumbers.find((n) => n.phoneNumber === number)?.sid ?? '';

    it('provisions the numbers it is given (the sandbox’s own by default), in that order', async () => {
        const listed = await client.incomingPhoneNumbers.list();
        expect(listed.map((n) => n.phoneNumber)).toEqual([SANDBOX_NUMBER, OWNED, CONFIGURED]);
        const fresh = await startTwilioSandbox(generateTestCredentials());
        try {
            expect(fresh.phoneNumbers.map((n) => n.phoneNumber)).toEqual([SANDBOX_NUMBER]);
        } finally {
            await fresh.close();
        }
        await expect(
            startTwilioSandbox({ ...generateTestCredentials(), phoneNumbers: ['5557770100'] }),
        ).rejects.toThrow('E.164');
    });

    it('finds a number with list({ phoneNumber }) and answers Twilio’s resource', async () => {
        const [found, ...more] = await client.incomingPhoneNumbers.list({ phoneNumber: OWNED });
        expect(more).toEqual([]);
        expect(found).toMatchObject({
            accountSid: SID,
            phoneNumber: OWNED,
            friendlyName: '(555) 777-0100',
            voiceUrl: '',
            voiceMethod: 'POST',
            smsUrl: '',
            smsMethod: 'POST',
            statusCallback: '',
            capabilities: { voice: true, sms: true, mms: true, fax: false },
            status: 'in-use',
            apiVersion: '2010-04-01',
        });
        expect(found?.sid).toMatch(/^PN[0-9a-f]{32}$/);
        expect(found?.uri).toBe(`${base()}/IncomingPhoneNumbers/${found?.sid ?? ''}.json`);
        expect(found?.dateCreated).toBeInstanceOf(Date);
        expect(await client.incomingPhoneNumbers.list({ phoneNumber: '+15559990000' })).toEqual([]);
    });

    it('matches part of a number and * for any digit, as Twilio’s PhoneNumber filter does', async () => {
        const numbers = async (phoneNumber: string) =>
            (await client.incomingPhoneNumbers.list({ phoneNumber })).map((n) => n.phoneNumber);
        expect(await numbers('777')).toEqual([OWNED, CONFIGURED]);
        expect(await numbers('5557770*00')).toEqual([OWNED, CONFIGURED]);
        expect(await numbers('77701')).toEqual([OWNED]);
        expect(await numbers('(555) 777-0200')).toEqual([CONFIGURED]);
    });

    it('serves Twilio’s paging envelope, and the SDK follows it', async () => {
        const { status, json } = await raw(
            'GET',
            `${numbersPath()}?PhoneNumber=${encodeURIComponent('+1555777')}&PageSize=1`,
        );
        expect(status).toBe(200);
        expect(json).toMatchObject({ page: 0, page_size: 1, start: 0, end: 0, previous_page_uri: null });
        expect(json.incoming_phone_numbers).toEqual([expect.objectContaining({ phone_number: OWNED })]);
        expect(json.first_page_uri).toBe(`${numbersPath()}?PhoneNumber=%2B1555777&PageSize=1&Page=0`);
        expect(json.next_page_uri).toBe(
            `${numbersPath()}?PhoneNumber=%2B1555777&PageSize=1&Page=1&PageToken=PA${sidOf(OWNED)}`,
        );
        const all = await client.incomingPhoneNumbers.list({ pageSize: 1 });
        expect(all.map((n) => n.phoneNumber)).toEqual([SANDBOX_NUMBER, OWNED, CONFIGURED]);
    });

    it('points a number at an app: update({ voiceUrl, smsUrl, … }), read back by fetch and list', async () => {
        const sid = sidOf(CONFIGURED);
        const before = await client.incomingPhoneNumbers(sid).fetch();
        const updated = await client.incomingPhoneNumbers(sid).update({
            voiceUrl: 'https://app.example.net/api/voice',
            voiceMethod: 'POST',
            smsUrl: 'https://app.example.net/api/sms',
            smsMethod: 'get',
            statusCallback: 'https://app.example.net/api/status',
        });
        expect(updated).toMatchObject({
            sid,
            phoneNumber: CONFIGURED,
            voiceUrl: 'https://app.example.net/api/voice',
            voiceMethod: 'POST',
            smsUrl: 'https://app.example.net/api/sms',
            smsMethod: 'GET',
            statusCallback: 'https://app.example.net/api/status',
        });
        expect(updated.dateUpdated.getTime()).toBeGreaterThanOrEqual(before.dateUpdated.getTime());
        const fetched = await restClient(KEY_SID, KEY_SECRET, SID).incomingPhoneNumbers(sid).fetch();
        expect(fetched.voiceUrl).toBe('https://app.example.net/api/voice');
        const [listed] = await client.incomingPhoneNumbers.list({ phoneNumber: CONFIGURED });
        expect(listed?.smsUrl).toBe('https://app.example.net/api/sms');

        const view = (await (await fetch(`${sandbox.url}/sandbox/phone-numbers`)).json()) as {
            phone_numbers: { sid: string; voice_url: string; updates: { changed: string[] }[] }[];
        };
        const shown = view.phone_numbers.find((n) => n.sid === sid);
        expect(shown?.voice_url).toBe('https://app.example.net/api/voice');
        expect(shown?.updates.at(-1)?.changed).toEqual(['VoiceUrl', 'StatusCallback', 'SmsUrl', 'SmsMethod']);

        // An empty value clears a URL; what is not sent stays.
        const cleared = await client.incomingPhoneNumbers(sid).update({ voiceUrl: '' });
        expect(cleared).toMatchObject({ voiceUrl: '', smsUrl: 'https://app.example.net/api/sms' });
    });

    it.each([
        [{ voiceUrl: 'not a url' }, 21402],
        [{ smsUrl: 'ftp://app.example.net/sms' }, 21402],
        [{ voiceFallbackUrl: '/api/voice' }, 21402],
        [{ statusCallback: 'app.example.net/status' }, 21502],
        [{ voiceMethod: 'PUT' }, 21403],
        [{ smsMethod: 'DELETE' }, 21403],
    ] as const)('refuses %j with 400 / %d and changes nothing', async (params, code) => {
        const sid = sidOf(OWNED);
        await expect(
            client.incomingPhoneNumbers(sid).update({ smsUrl: 'https://ok.example.net/sms', ...params }),
        ).rejects.toMatchObject({
            status: 400,
            code,
            moreInfo: `https://www.twilio.com/docs/errors/${String(code)}`,
        });
        const unchanged = await client.incomingPhoneNumbers(sid).fetch();
        expect(unchanged).toMatchObject({ smsUrl: '', voiceUrl: '', voiceMethod: 'POST', smsMethod: 'POST' });
    });

    it('answers 404 (20404) for a SID that is not one of the account’s numbers', async () => {
        const unknown = `PN${'0'.repeat(32)}`;
        await expect(client.incomingPhoneNumbers(unknown).fetch()).rejects.toMatchObject({
            status: 404,
            code: 20404,
        });
        await expect(
            client.incomingPhoneNumbers(unknown).update({ voiceUrl: 'https://app.example.net/api/voice' }),
        ).rejects.toMatchObject({ status: 404, code: 20404 });
    });

    it('answers 405 for methods Twilio does not serve there, and 401 to another account’s numbers', async () => {
        const put = await raw('PUT', `${base()}/IncomingPhoneNumbers/${sidOf(OWNED)}.json`);
        expect(put).toMatchObject({ status: 405, json: { code: 20004 } });
        const other = generateTestCredentials().accountSid;
        const { status, json } = await raw('GET', `/2010-04-01/Accounts/${other}/IncomingPhoneNumbers.json`);
        expect(status).toBe(401);
        expect(json.code).toBe(20003);
    });

    it('releases a number (204), after which it is not found', async () => {
        const credentials = generateTestCredentials();
        const own = await startTwilioSandbox(credentials);
        try {
            const keyed = restClient(
                credentials.apiKeySid,
                credentials.apiKeySecret,
                credentials.accountSid,
                own,
            );
            const [number] = await keyed.incomingPhoneNumbers.list({ phoneNumber: SANDBOX_NUMBER });
            expect(await keyed.incomingPhoneNumbers(number?.sid ?? '').remove()).toBe(true);
            expect(await keyed.incomingPhoneNumbers.list()).toEqual([]);
            await expect(keyed.incomingPhoneNumbers(number?.sid ?? '').fetch()).rejects.toMatchObject({
                status: 404,
                code: 20404,
            });
        } finally {
            await own.close();
        }
    });
});

// ---- the state file ---------------------------------------------------------------------------------------

describe('sandbox state file', () => {
    it('keeps the API key with the credentials, and refuses half a key', () => {
        const dir = mkdtempSync(path.join(tmpdir(), 'sandbox-state-'));
        try {
            const state = { ...CREDENTIALS, url: sandbox.url, appUrl: 'http://localhost:7071' };
            writeSandboxState(dir, state);
            expect(readSandboxState(dir)).toEqual(state);
            const file = sandboxStatePath(dir);
            const { apiKeySecret: _secret, ...halfKey } = state;
            writeFileSync(file, JSON.stringify(halfKey));
            expect(() => readSandboxState(dir)).toThrow(file);
        } finally {
            rmSync(dir, { recursive: true, force: true });
        }
    });
});

// ---- Messages -----------------------------------------------------------------------------------------

describe('Messages', () => {
    it('creates a message resource shaped like Twilio’s', async () => {
        const to = freshNumber();
        const message = await client.messages.create({ to, from: FROM, body: 'Hello, sandbox!' });
        expect(message).toMatchObject({
            accountSid: SID,
            apiVersion: '2010-04-01',
            body: 'Hello, sandbox!',
            dateSent: null,
            direction: 'outbound-api',
            errorCode: null,
            errorMessage: null,
            from: FROM,
            messagingServiceSid: null,
            numMedia: '0',
            numSegments: '1',
            price: null,
            priceUnit: 'USD',
            status: 'queued',
            to,
            uri: `${base()}/Messages/${message.sid}.json`,
        });
        expect(message.sid).toMatch(/^SM[0-9a-f]{32}$/);
        expect(message.dateCreated).toBeInstanceOf(Date);
        expect(message.subresourceUris.media).toBe(`${base()}/Messages/${message.sid}/Media.json`);

        await sandbox.idle();
        const { json } = await raw('GET', `${base()}/Messages/${message.sid}.json`);
        expect(json.date_created).toMatch(RFC2822);
        expect(json.date_sent).toMatch(RFC2822);
        expect(json.status).toBe('delivered');
    });

    it('counts segments like Twilio (GSM-7 153 per part, UCS-2 67) and media', async () => {
        const to = freshNumber();
        const long = await client.messages.create({ to, from: FROM, body: 'a'.repeat(161) });
        expect(long.numSegments).toBe('2');
        const unicode = await client.messages.create({ to, from: FROM, body: '✓'.repeat(71) });
        expect(unicode.numSegments).toBe('2');
        const mms = await client.messages.create({
            to,
            from: FROM,
            mediaUrl: ['https://example.com/a.jpg', 'https://example.com/b.png'],
        });
        expect(mms.sid).toMatch(/^MM[0-9a-f]{32}$/);
        expect(mms.numMedia).toBe('2');
        expect(mms.body).toBe('');
    });

    it('accepts a Messaging Service without From: accepted, then sent from a pool number', async () => {
        const messagingServiceSid = `MG${'a'.repeat(32)}`;
        const message = await client.messages.create({
            to: freshNumber(),
            messagingServiceSid,
            body: 'via service',
        });
        expect(message).toMatchObject({
            status: 'accepted',
            from: null,
            numSegments: '0',
            messagingServiceSid,
        });
        await sandbox.idle();
        const fetched = await client.messages(message.sid).fetch();
        expect(fetched).toMatchObject({ status: 'delivered', from: SANDBOX_NUMBER, numSegments: '1' });
        expect(sandbox.messages.find((m) => m.sid === message.sid)?.history.map((h) => h.status)).toEqual([
            'accepted',
            'queued',
            'sent',
            'delivered',
        ]);
    });

    it.each([
        ['a To that is not E.164', { to: '5551234567', from: FROM, body: 'x' }, 21211],
        ['a To with too few digits', { to: '+1234567', from: FROM, body: 'x' }, 21211],
        ['an empty To', { to: '', from: FROM, body: 'x' }, 21604],
        ['no Body and no MediaUrl', { to: '+15557654321', from: FROM }, 21602],
        ['a Body over 1600 characters', { to: '+15557654321', from: FROM, body: 'x'.repeat(1601) }, 21617],
        ['no From and no MessagingServiceSid', { to: '+15557654321', body: 'x' }, 21603],
        ['a From that is no sender', { to: '+15557654321', from: '+1 555 123', body: 'x' }, 21606],
        [
            'a MediaUrl that is not http(s)',
            { to: '+15557654321', from: FROM, mediaUrl: ['ftp://x/a.jpg'] },
            21620,
        ],
        [
            'more than 10 MediaUrl',
            {
                to: '+15557654321',
                from: FROM,
                mediaUrl: Array.from({ length: 11 }, (_, i) => `https://x/${String(i)}`),
            },
            21623,
        ],
        [
            'an invalid MessagingServiceSid',
            { to: '+15557654321', messagingServiceSid: 'MG123', body: 'x' },
            21701,
        ],
        [
            'an invalid StatusCallback',
            { to: '+15557654321', from: FROM, body: 'x', statusCallback: 'nope' },
            21609,
        ],
    ])('rejects %s with 400 and code %d', async (_what, params, code) => {
        const stored = sandbox.messages.length;
        const rejection = client.messages.create(params);
        await expect(rejection).rejects.toMatchObject({
            status: 400,
            code,
            moreInfo: `https://www.twilio.com/docs/errors/${String(code)}`,
        });
        expect(sandbox.messages).toHaveLength(stored);
    });

    it('accepts exactly 1600 characters, alphanumeric senders and short codes', async () => {
        const to = freshNumber();
        await expect(
            client.messages.create({ to, from: FROM, body: 'x'.repeat(1600) }),
        ).resolves.toMatchObject({
            status: 'queued',
        });
        await expect(client.messages.create({ to, from: 'Contoso', body: 'x' })).resolves.toBeDefined();
        await expect(client.messages.create({ to, from: '12345', body: 'x' })).resolves.toBeDefined();
        await expect(
            client.messages.create({ to: `whatsapp:${to}`, from: `whatsapp:${FROM}`, body: 'x' }),
        ).resolves.toBeDefined();
    });

    it('fetches the latest status, and answers 404 (20404) for an unknown SID', async () => {
        const message = await client.messages.create({ to: freshNumber(), from: FROM, body: 'fetch me' });
        await sandbox.idle();
        const fetched = await client.messages(message.sid).fetch();
        expect(fetched.status).toBe('delivered');
        expect(fetched.dateSent).toBeInstanceOf(Date);

        const missing = `SM${'0'.repeat(32)}`;
        await expect(client.messages(missing).fetch()).rejects.toMatchObject({
            status: 404,
            code: 20404,
            message: `The requested resource ${base()}/Messages/${missing}.json was not found`,
        });
    });

    it('deletes a message (204), after which it is gone', async () => {
        const message = await client.messages.create({ to: freshNumber(), from: FROM, body: 'delete me' });
        await sandbox.idle();
        await expect(client.messages(message.sid).remove()).resolves.toBe(true);
        await expect(client.messages(message.sid).fetch()).rejects.toMatchObject({ status: 404 });
    });
});

describe('listing messages', () => {
    it('filters by To and From, newest first', async () => {
        const to = freshNumber();
        const other = '+15559990000';
        const first = await client.messages.create({ to, from: FROM, body: 'one' });
        const second = await client.messages.create({ to, from: other, body: 'two' });
        await client.messages.create({ to: freshNumber(), from: FROM, body: 'elsewhere' });

        expect((await client.messages.list({ to })).map((m) => m.sid)).toEqual([second.sid, first.sid]);
        expect((await client.messages.list({ to, from: other })).map((m) => m.sid)).toEqual([second.sid]);
        expect(await client.messages.list({ to, from: '+15550000001' })).toEqual([]);
    });

    it('pages with the SDK: list({limit}), each() and page().nextPage() over several pages', async () => {
        const to = freshNumber();
        const created: string[] = [];
        for (let i = 0; i < 7; i += 1) {
            created.push(
                (await client.messages.create({ to, from: FROM, body: `message ${String(i)}` })).sid,
            );
        }
        const newestFirst = [...created].reverse();

        expect((await client.messages.list({ to, pageSize: 3 })).map((m) => m.sid)).toEqual(newestFirst);
        expect((await client.messages.list({ to, limit: 5, pageSize: 2 })).map((m) => m.sid)).toEqual(
            newestFirst.slice(0, 5),
        );

        const seen: string[] = [];
        await new Promise<void>((resolve, reject) => {
            client.messages.each({
                to,
                pageSize: 2,
                callback: (m) => {
                    seen.push(m.sid);
                },
                done: (error?: Error) => {
                    if (error === undefined) resolve();
                    else reject(error);
                },
            });
        });
        expect(seen).toEqual(newestFirst);

        const page = await client.messages.page({ to, pageSize: 3 });
        expect(page.instances.map((m) => m.sid)).toEqual(newestFirst.slice(0, 3));
        expect(page.nextPageUrl).toContain('PageToken=PA');
        // A message created now does not shift the pages already being read.
        await client.messages.create({ to, from: FROM, body: 'late' });
        const next = await page.nextPage();
        expect(next?.instances.map((m) => m.sid)).toEqual(newestFirst.slice(3, 6));
        const previous = await next?.previousPage();
        expect(previous?.instances.map((m) => m.sid)).toEqual(newestFirst.slice(0, 3));
    });

    it('serves Twilio’s paging envelope', async () => {
        const to = freshNumber();
        for (let i = 0; i < 3; i += 1) await client.messages.create({ to, from: FROM, body: 'x' });
        const path = `${base()}/Messages.json`;
        const { json } = await raw('GET', `${path}?To=${encodeURIComponent(to)}&PageSize=2`);
        const encodedTo = encodeURIComponent(to);
        expect(json).toMatchObject({
            page: 0,
            page_size: 2,
            start: 0,
            end: 1,
            uri: `${path}?To=${encodedTo}&PageSize=2&Page=0`,
            first_page_uri: `${path}?To=${encodedTo}&PageSize=2&Page=0`,
            previous_page_uri: null,
        });
        expect(json.messages).toHaveLength(2);
        expect(json.next_page_uri).toMatch(
            new RegExp(
                `^${path.replace(/[.]/g, '\\.')}\\?To=%2B\\d+&PageSize=2&Page=1&PageToken=PASM[0-9a-f]{32}$`,
            ),
        );
        const last = await raw('GET', json.next_page_uri as string);
        expect(last.json).toMatchObject({ page: 1, start: 2, end: 2, next_page_uri: null });
        expect(last.json.messages).toHaveLength(1);

        const bad = await raw('GET', `${path}?PageSize=0`);
        expect(bad).toMatchObject({ status: 400, json: { code: 20001 } });
    });

    it('filters by DateSent, DateSent> and DateSent< the way the SDK sends them', async () => {
        const to = freshNumber();
        const before = new Date(Date.now() - 2000);
        const message = await client.messages.create({ to, from: FROM, body: 'dated' });
        await sandbox.idle();
        const sentAt = (await client.messages(message.sid).fetch()).dateSent;
        expect(sentAt).toBeInstanceOf(Date);

        const sids = async (params: Parameters<Twilio['messages']['list']>[0]) =>
            (await client.messages.list({ to, ...params })).map((m) => m.sid);
        expect(await sids({ dateSentAfter: before })).toEqual([message.sid]);
        // The SDK sends whole seconds: a message sent within that second still matches (on or after).
        expect(await sids({ dateSentAfter: sentAt })).toEqual([message.sid]);
        expect(await sids({ dateSentBefore: sentAt })).toEqual([message.sid]);
        expect(await sids({ dateSentAfter: new Date(Date.now() + 60_000) })).toEqual([]);
        expect(await sids({ dateSentBefore: before })).toEqual([]);
        expect(await sids({ dateSent: sentAt })).toEqual([message.sid]);

        const today = new Date().toISOString().slice(0, 10);
        const { json } = await raw(
            'GET',
            `${base()}/Messages.json?To=${encodeURIComponent(to)}&DateSent=${today}`,
        );
        expect((json.messages as unknown[]).length).toBe(1);
        const invalid = await raw('GET', `${base()}/Messages.json?DateSent=yesterday`);
        expect(invalid).toMatchObject({ status: 400, json: { code: 20001 } });
    });

    it('leaves a message that is not sent yet out of DateSent filters, as Twilio does', async () => {
        const slow = await startTwilioSandbox({ ...generateTestCredentials(), callbackDelayMs: 60_000 });
        try {
            const slowClient = await createTwilioClientFactory({
                accountSid: slow.accountSid,
                secrets: createStaticSecretProvider(slow.authToken),
                apiUrl: slow.url,
            }).get();
            const to = freshNumber();
            const message = await slowClient.messages.create({ to, from: FROM, body: 'not yet' });
            expect(
                await slowClient.messages.list({ to, dateSentAfter: new Date(Date.now() - 60_000) }),
            ).toEqual([]);
            expect(
                (await slowClient.messages.list({ to })).map((m) => [m.sid, m.status, m.dateSent]),
            ).toEqual([[message.sid, 'queued', null]]);
        } finally {
            // close() abandons the pending 60 s steps instead of waiting for them.
            await slow.close();
        }
    });
});

// ---- message status callbacks -----------------------------------------------------------------------

describe('message status callbacks', () => {
    it('posts queued → sent → delivered, signed, with Twilio’s parameters and headers', async () => {
        const to = freshNumber();
        const statusCallback = `${hooks.url}/status?source=test`;
        const message = await client.messages.create({ to, from: FROM, body: 'track me', statusCallback });
        await sandbox.idle();

        const hits = hitsFor(message.sid);
        expect(hits.map((hit) => hit.form.get('MessageStatus'))).toEqual(['queued', 'sent', 'delivered']);
        for (const hit of hits) {
            expect(hit.method).toBe('POST');
            expect(hit.url).toBe(statusCallback);
            expect(signedCorrectly(hit)).toBe(true);
            expect(hit.headers['content-type']).toBe('application/x-www-form-urlencoded; charset=UTF-8');
            expect(hit.headers['user-agent']).toBe('TwilioProxy/1.1');
            expect(hit.headers['i-twilio-idempotency-token']).toMatch(/^[0-9a-f]{32}$/);
            expect(Object.fromEntries(hit.form)).toEqual({
                SmsSid: message.sid,
                SmsStatus: hit.form.get('MessageStatus'),
                MessageStatus: hit.form.get('MessageStatus'),
                To: to,
                MessageSid: message.sid,
                AccountSid: SID,
                From: FROM,
                ApiVersion: '2010-04-01',
            });
        }
        expect(new Set(hits.map((hit) => hit.headers['i-twilio-idempotency-token'])).size).toBe(3);

        const stored = sandbox.messages.find((m) => m.sid === message.sid);
        expect(stored?.history.map((h) => h.status)).toEqual(['queued', 'sent', 'delivered']);
        expect(stored?.callbacks.map((c) => [c.status, c.httpStatus])).toEqual([
            ['queued', 200],
            ['sent', 200],
            ['delivered', 200],
        ]);
    });

    it('adds MessagingServiceSid when the message has one', async () => {
        const messagingServiceSid = `MG${'b'.repeat(32)}`;
        const message = await client.messages.create({
            to: freshNumber(),
            messagingServiceSid,
            body: 'service',
            statusCallback: `${hooks.url}/status`,
        });
        await sandbox.idle();
        const hits = hitsFor(message.sid);
        expect(hits.map((hit) => hit.form.get('MessagingServiceSid'))).toEqual([
            messagingServiceSid,
            messagingServiceSid,
            messagingServiceSid,
        ]);
        expect(hits.map((hit) => hit.form.get('From'))).toEqual([
            SANDBOX_NUMBER,
            SANDBOX_NUMBER,
            SANDBOX_NUMBER,
        ]);
    });

    it('sends credentials in the URL as Basic auth and signs the URL without them', async () => {
        const message = await client.messages.create({
            to: freshNumber(),
            from: FROM,
            body: 'auth',
            statusCallback: `${hooks.url.replace('http://', 'http://user:p%40ss@')}/status`,
        });
        await sandbox.idle();
        const [hit] = hitsFor(message.sid);
        expect(hit?.headers.authorization).toBe(`Basic ${Buffer.from('user:p@ss').toString('base64')}`);
        expect(hit === undefined ? false : signedCorrectly(hit, `${hooks.url}/status`)).toBe(true);
    });

    it('logs an unreachable callback URL and carries on', async () => {
        const message = await client.messages.create({
            to: freshNumber(),
            from: FROM,
            body: 'nobody listens',
            statusCallback: `${refusedUrl}/status`,
        });
        await sandbox.idle();
        const stored = sandbox.messages.find((m) => m.sid === message.sid);
        expect(stored?.status).toBe('delivered');
        expect(stored?.callbacks).toHaveLength(3);
        expect(
            stored?.callbacks.every((c) => c.httpStatus === null && /ECONNREFUSED/.test(c.error ?? '')),
        ).toBe(true);
        expect(
            logs.some(
                (line) => line.includes(message.sid.slice(0, 6)) && line.includes('failed: ECONNREFUSED'),
            ),
        ).toBe(true);
    });
});

// ---- Calls ----------------------------------------------------------------------------------------------

describe('Calls', () => {
    it('creates a queued call, fetches its Url signed like Twilio and completes it', async () => {
        const to = freshNumber();
        const call = await client.calls.create({ to, from: FROM, url: `${hooks.url}/voice?greeting=1` });
        expect(call).toMatchObject({
            accountSid: SID,
            apiVersion: '2010-04-01',
            direction: 'outbound-api',
            from: FROM,
            status: 'queued',
            to,
            startTime: null,
            endTime: null,
            duration: null,
            uri: `${base()}/Calls/${call.sid}.json`,
        });
        expect(call.sid).toMatch(/^CA[0-9a-f]{32}$/);

        await sandbox.idle();
        const [voice, ...others] = hitsFor(call.sid);
        expect(others).toEqual([]);
        expect(voice?.method).toBe('POST');
        expect(voice?.url).toBe(`${hooks.url}/voice?greeting=1`);
        expect(voice === undefined ? false : signedCorrectly(voice)).toBe(true);
        expect(Object.fromEntries(voice?.form ?? [])).toMatchObject({
            AccountSid: SID,
            ApiVersion: '2010-04-01',
            CallSid: call.sid,
            CallStatus: 'in-progress',
            Called: to,
            Caller: FROM,
            Direction: 'outbound-api',
            From: FROM,
            To: to,
        });

        const fetched = await client.calls(call.sid).fetch();
        expect(fetched.status).toBe('completed');
        expect(fetched.startTime).toBeInstanceOf(Date);
        expect(fetched.endTime).toBeInstanceOf(Date);
        expect(Number(fetched.duration)).toBeGreaterThanOrEqual(1);
        const stored = sandbox.calls.find((c) => c.sid === call.sid);
        expect(stored?.twiml).toBe(TWIML);
        expect(stored?.history.map((h) => h.status)).toEqual([
            'queued',
            'ringing',
            'in-progress',
            'completed',
        ]);
    });

    it('answers REST status values only: `initiated` is a callback event, the resource stays `queued`', async () => {
        const REST_STATUSES = [
            'queued',
            'ringing',
            'in-progress',
            'canceled',
            'completed',
            'failed',
            'busy',
            'no-answer',
        ];
        const to = freshNumber();
        const seen: { event: string | null; fetched: string; listed: unknown[]; raw: unknown }[] = [];
        observeHit = async (hit) => {
            const sid = hit.form.get('CallSid');
            if (hit.path !== '/call-status' || sid === null) return;
            const listed = await raw('GET', `${base()}/Calls.json?To=${encodeURIComponent(to)}`);
            seen.push({
                event: hit.form.get('CallStatus'),
                fetched: (await client.calls(sid).fetch()).status,
                listed: (listed.json.calls as { status: unknown }[]).map((c) => c.status),
                raw: (await raw('GET', `${base()}/Calls/${sid}.json`)).json.status,
            });
        };
        try {
            const call = await client.calls.create({
                to,
                from: FROM,
                url: `${hooks.url}/voice`,
                statusCallback: `${hooks.url}/call-status`,
                statusCallbackEvent: ['initiated', 'ringing', 'answered', 'completed'],
            });
            expect(call.status).toBe('queued');
            await sandbox.idle();
        } finally {
            observeHit = undefined;
        }
        // While the callback says `initiated`, create, fetch and list say `queued`.
        expect(seen).toEqual([
            { event: 'initiated', fetched: 'queued', listed: ['queued'], raw: 'queued' },
            { event: 'ringing', fetched: 'ringing', listed: ['ringing'], raw: 'ringing' },
            { event: 'in-progress', fetched: 'in-progress', listed: ['in-progress'], raw: 'in-progress' },
            { event: 'completed', fetched: 'completed', listed: ['completed'], raw: 'completed' },
        ]);
        for (const { fetched } of seen) expect(REST_STATUSES).toContain(fetched);
        expect(await client.calls.list({ to, status: 'queued' })).toHaveLength(0);
    });

    it('reports only `completed` to StatusCallback when no StatusCallbackEvent is given', async () => {
        const call = await client.calls.create({
            to: freshNumber(),
            from: FROM,
            url: `${hooks.url}/voice`,
            statusCallback: `${hooks.url}/call-status`,
        });
        await sandbox.idle();
        const callbacks = hitsFor(call.sid).filter((hit) => hit.path === '/call-status');
        expect(callbacks.map((hit) => hit.form.get('CallStatus'))).toEqual(['completed']);
    });

    it('reports every requested event in order, signed, with sequence numbers and the duration', async () => {
        const call = await client.calls.create({
            to: freshNumber(),
            from: FROM,
            url: `${hooks.url}/voice`,
            statusCallback: `${hooks.url}/call-status`,
            statusCallbackEvent: ['initiated', 'ringing', 'answered', 'completed'],
        });
        await sandbox.idle();
        const callbacks = hitsFor(call.sid).filter((hit) => hit.path === '/call-status');
        expect(callbacks.map((hit) => hit.form.get('CallStatus'))).toEqual([
            'initiated',
            'ringing',
            'in-progress',
            'completed',
        ]);
        expect(callbacks.map((hit) => hit.form.get('SequenceNumber'))).toEqual(['0', '1', '2', '3']);
        for (const hit of callbacks) {
            expect(signedCorrectly(hit)).toBe(true);
            expect(hit.form.get('CallbackSource')).toBe('call-progress-events');
            expect(hit.form.get('Timestamp')).toMatch(RFC2822);
        }
        const completed = callbacks.at(-1);
        expect(Number(completed?.form.get('CallDuration'))).toBeGreaterThanOrEqual(1);
        // The TwiML was fetched on answer, between `ringing` and `answered`.
        expect(hitsFor(call.sid).map((hit) => hit.path)).toEqual([
            '/call-status',
            '/call-status',
            '/voice',
            '/call-status',
            '/call-status',
        ]);
    });

    it('uses GET with the parameters in the query when Method / StatusCallbackMethod say so', async () => {
        const call = await client.calls.create({
            to: freshNumber(),
            from: FROM,
            url: `${hooks.url}/voice?x=1`,
            method: 'GET',
            statusCallback: `${hooks.url}/call-status`,
            statusCallbackMethod: 'GET',
            machineDetection: 'Enable',
        });
        await sandbox.idle();
        const hits = hitsFor(call.sid);
        expect(hits.map((hit) => [hit.method, hit.path.split('?')[0]])).toEqual([
            ['GET', '/voice'],
            ['GET', '/call-status'],
        ]);
        for (const hit of hits) expect(signedCorrectly(hit)).toBe(true);
        const query = new URLSearchParams(hits[0]?.path.split('?')[1]);
        expect(query.get('x')).toBe('1');
        expect(query.get('CallSid')).toBe(call.sid);
        expect(query.get('AnsweredBy')).toBe('human');
    });

    it('runs inline Twiml without fetching anything', async () => {
        const call = await client.calls.create({
            to: freshNumber(),
            from: FROM,
            twiml: '<Response><Say>inline</Say></Response>',
        });
        await sandbox.idle();
        expect(hitsFor(call.sid)).toEqual([]);
        expect((await client.calls(call.sid).fetch()).status).toBe('completed');
    });

    it.each([
        ['malformed TwiML', `/voice/malformed`, 12100],
        ['a root other than <Response>', `/voice/wrong-root`, 12100],
        ['an HTTP 500', `/voice/error`, 11200],
        ['a content type Twilio cannot use', `/voice/json`, 12300],
    ])('fails the call on %s, with the debugger error', async (_what, path, code) => {
        const call = await client.calls.create({
            to: freshNumber(),
            from: FROM,
            url: `${hooks.url}${path}`,
            statusCallback: `${hooks.url}/call-status`,
        });
        await sandbox.idle();
        expect((await client.calls(call.sid).fetch()).status).toBe('failed');
        const stored = sandbox.calls.find((c) => c.sid === call.sid);
        expect(stored?.errorCode).toBe(code);
        expect(stored?.history.map((h) => h.status)).toEqual(['queued', 'ringing', 'failed']);
        const completed = hitsFor(call.sid).filter((hit) => hit.path === '/call-status');
        expect(completed.map((hit) => hit.form.get('CallStatus'))).toEqual(['failed']);
    });

    it('fails the call when its Url cannot be reached (11200) or its inline Twiml is malformed (12100)', async () => {
        const unreachable = await client.calls.create({
            to: freshNumber(),
            from: FROM,
            url: `${refusedUrl}/voice`,
        });
        const inline = await client.calls.create({ to: freshNumber(), from: FROM, twiml: '<Response><Say>' });
        await sandbox.idle();
        const stored = (sid: string) => sandbox.calls.find((c) => c.sid === sid);
        expect(stored(unreachable.sid)).toMatchObject({ status: 'failed', errorCode: 11200 });
        expect(stored(unreachable.sid)?.errorMessage).toContain('ECONNREFUSED');
        expect(stored(inline.sid)).toMatchObject({ status: 'failed', errorCode: 12100 });
    });

    it.each([
        ['a To that is not a number', { to: '555-1234', from: FROM, url: 'https://x.test/v' }, 21211],
        ['an empty To', { to: '', from: FROM, url: 'https://x.test/v' }, 21201],
        ['an empty From', { to: '+15557654321', from: '', url: 'https://x.test/v' }, 21213],
        ['an invalid From', { to: '+15557654321', from: 'nobody', url: 'https://x.test/v' }, 21212],
        ['no Url, Twiml or ApplicationSid', { to: '+15557654321', from: FROM }, 21205],
        ['a Url that is not a URL', { to: '+15557654321', from: FROM, url: 'voice.xml' }, 21205],
        [
            'an ApplicationSid',
            { to: '+15557654321', from: FROM, applicationSid: `AP${'0'.repeat(32)}` },
            21218,
        ],
        [
            'an unknown StatusCallbackEvent',
            { to: '+15557654321', from: FROM, url: 'https://x.test/v', statusCallbackEvent: ['hung-up'] },
            20001,
        ],
    ])('rejects %s with 400 and code %d', async (_what, params, code) => {
        const stored = sandbox.calls.length;
        await expect(client.calls.create(params)).rejects.toMatchObject({ status: 400, code });
        expect(sandbox.calls).toHaveLength(stored);
    });

    it('answers 404 (20404) for an unknown call', async () => {
        await expect(client.calls(`CA${'0'.repeat(32)}`).fetch()).rejects.toMatchObject({
            status: 404,
            code: 20404,
        });
    });

    it('lists calls by To with paging and StartTime filters', async () => {
        const to = freshNumber();
        const before = new Date(Date.now() - 2000);
        const sids: string[] = [];
        for (let i = 0; i < 5; i += 1) {
            sids.push((await client.calls.create({ to, from: FROM, twiml: '<Response/>' })).sid);
        }
        await sandbox.idle();
        const newestFirst = [...sids].reverse();
        expect((await client.calls.list({ to, pageSize: 2 })).map((c) => c.sid)).toEqual(newestFirst);
        expect((await client.calls.list({ to, limit: 3, pageSize: 2 })).map((c) => c.sid)).toEqual(
            newestFirst.slice(0, 3),
        );
        expect(await client.calls.list({ to, startTimeAfter: before })).toHaveLength(5);
        expect(await client.calls.list({ to, startTimeBefore: before })).toHaveLength(0);
        expect(await client.calls.list({ to, status: 'completed' })).toHaveLength(5);
        expect(await client.calls.list({ to, status: 'failed' })).toHaveLength(0);
    });
});

// ---- inbound messages ----------------------------------------------------------------------------------

describe('simulateInboundSms', () => {
    it('posts a signed, Twilio-shaped inbound webhook and returns the TwiML answer', async () => {
        const result = await simulateInboundSms({
            appUrl: `${hooks.url}/sms`,
            from: '+15551112222',
            to: SANDBOX_NUMBER,
            body: 'hello app',
            accountSid: SID,
            authToken: TOKEN,
        });
        expect(result).toMatchObject({ status: 200, contentType: 'text/xml', twiml: REPLY });
        expect(result.replies).toEqual([
            { body: 'Got it & thanks', to: undefined, from: undefined, mediaUrls: [] },
        ]);
        const [hit] = hitsFor(result.messageSid);
        expect(hit === undefined ? false : signedCorrectly(hit)).toBe(true);
        expect(Object.fromEntries(hit?.form ?? [])).toMatchObject({
            MessageSid: result.messageSid,
            SmsSid: result.messageSid,
            SmsMessageSid: result.messageSid,
            AccountSid: SID,
            From: '+15551112222',
            To: SANDBOX_NUMBER,
            Body: 'hello app',
            NumMedia: '0',
            NumSegments: '1',
            SmsStatus: 'received',
            FromCountry: 'US',
            ToCountry: 'US',
            ApiVersion: '2010-04-01',
        });
        expect(result.messageSid).toMatch(/^SM[0-9a-f]{32}$/);
    });

    it('sends media as MediaUrlN / MediaContentTypeN and signs for a public URL when asked', async () => {
        const result = await simulateInboundSms({
            appUrl: `${hooks.url}/sms`,
            signatureUrl: 'https://myapp.example.net/sms',
            from: '+15551112222',
            to: SANDBOX_NUMBER,
            body: '',
            mediaUrls: ['https://example.com/cat.jpg', 'https://example.com/doc.pdf'],
            accountSid: SID,
            authToken: TOKEN,
        });
        expect(result.messageSid).toMatch(/^MM/);
        const [hit] = hitsFor(result.messageSid);
        expect(hit === undefined ? false : signedCorrectly(hit, 'https://myapp.example.net/sms')).toBe(true);
        expect(hit === undefined ? true : signedCorrectly(hit)).toBe(false);
        expect(Object.fromEntries(hit?.form ?? [])).toMatchObject({
            NumMedia: '2',
            MediaUrl0: 'https://example.com/cat.jpg',
            MediaContentType0: 'image/jpeg',
            MediaUrl1: 'https://example.com/doc.pdf',
            MediaContentType1: 'application/pdf',
        });
    });

    it('is accepted by the app’s own inboundSms function, and rejected with another token', async () => {
        useSettings({ TWILIO_AUTH_TOKEN: TOKEN, SMS_REPLY: 'Sandbox reply' });
        const app = createServer((req: IncomingMessage, res: ServerResponse) => {
            void (async () => {
                const chunks: Buffer[] = [];
                for await (const chunk of req) chunks.push(chunk as Buffer);
                const headers: Record<string, string> = {};
                for (const [name, value] of Object.entries(req.headers)) {
                    if (typeof value === 'string') headers[name] = value;
                }
                const request = new HttpRequest({
                    method: req.method ?? 'POST',
                    url: `${appUrl}${req.url ?? '/'}`,
                    headers,
                    body: { string: Buffer.concat(chunks).toString('utf8') },
                });
                const response = await inboundSms(request, testContext('inboundSms').context);
                res.writeHead(response.status ?? 200, response.headers as Record<string, string>);
                res.end(typeof response.body === 'string' ? response.body : '');
            })();
        });
        const appUrl = `http://127.0.0.1:${String(await listen(app))}`;
        try {
            const sms = { appUrl: `${appUrl}/api/sms`, from: '+15551112222', to: SANDBOX_NUMBER, body: 'hi' };
            const accepted = await simulateInboundSms({ ...sms, accountSid: SID, authToken: TOKEN });
            expect(accepted.status).toBe(200);
            expect(accepted.twiml).toContain('<Message>Sandbox reply</Message>');
            const rejected = await simulateInboundSms({ ...sms, accountSid: SID, authToken: 'f'.repeat(32) });
            expect(rejected.status).toBe(403);
        } finally {
            app.closeAllConnections();
            await new Promise((resolve) => app.close(resolve));
        }
    });

    it('rejects when the app cannot be reached', async () => {
        await expect(
            simulateInboundSms({
                appUrl: `${refusedUrl}/api/sms`,
                from: '+15551112222',
                to: SANDBOX_NUMBER,
                body: 'x',
                accountSid: SID,
                authToken: TOKEN,
            }),
        ).rejects.toThrow();
    });
});

describe('sandbox.receiveSms', () => {
    it('records the inbound message and sends the TwiML reply as an outbound-reply', async () => {
        const from = freshNumber();
        const result = await sandbox.receiveSms({ appUrl: `${hooks.url}/sms`, from, body: 'ping' });
        await sandbox.idle();
        const inbound = sandbox.messages.find((m) => m.sid === result.messageSid);
        expect(inbound).toMatchObject({ direction: 'inbound', status: 'received', from, to: SANDBOX_NUMBER });
        const reply = sandbox.messages.find((m) => m.direction === 'outbound-reply' && m.to === from);
        expect(reply).toMatchObject({ from: SANDBOX_NUMBER, body: 'Got it & thanks', status: 'delivered' });
        const listed = await client.messages.list({ to: from });
        expect(listed.map((m) => [m.direction, m.body])).toEqual([['outbound-reply', 'Got it & thanks']]);
    });
});

// ---- what it keeps and logs -----------------------------------------------------------------------------

describe('sandbox views and logging', () => {
    it('serves /sandbox/messages and /sandbox/calls newest first, with history and callbacks', async () => {
        const message = await client.messages.create({
            to: freshNumber(),
            from: FROM,
            body: 'viewed',
            statusCallback: `${hooks.url}/status`,
        });
        await sandbox.idle();
        const messages = (await (await fetch(`${sandbox.url}/sandbox/messages`)).json()) as {
            messages: { sid: string; status: string; history: { status: string }[]; callbacks: unknown[] }[];
        };
        expect(messages.messages[0]).toMatchObject({ sid: message.sid, status: 'delivered' });
        expect(messages.messages[0]?.history.map((h) => h.status)).toEqual(['queued', 'sent', 'delivered']);
        expect(messages.messages[0]?.callbacks).toHaveLength(3);

        const calls = (await (await fetch(`${sandbox.url}/sandbox/calls`)).json()) as {
            calls: { sid: string }[];
        };
        expect(calls.calls[0]?.sid).toBe(sandbox.calls[0]?.sid);
        const requests = await fetch(`${sandbox.url}/sandbox/requests`);
        expect(requests.status).toBe(200);
    });

    it('logs one line per event, with numbers masked and no message bodies', () => {
        const text = logs.join('\n');
        expect(text).toMatch(/sandbox: SM[0-9a-f]{4}… queued → \+1555\*\*\*\d{4} \(\d+ chars\)/);
        expect(text).not.toContain(FROM);
        expect(text).not.toContain('+15551112222');
        expect(text).not.toContain('5551234567');
        for (const body of ['Hello, sandbox!', 'track me', 'hello app', 'nobody listens']) {
            expect(text).not.toContain(body);
        }
        expect(text).not.toContain(TOKEN);
        expect(text).not.toContain(KEY_SECRET);
        expect(text).not.toContain(CONFIGURED);
    });
});

// ---- the TwiML check ------------------------------------------------------------------------------------

describe('parseTwiml', () => {
    it.each([
        [
            'a declaration, attributes, entities and CDATA',
            '<?xml version="1.0"?>\n<Response><Say voice="alice">a &amp; b &#169; &#x263A;</Say><Play><![CDATA[https://x/a.mp3?a=1&b=2]]></Play></Response>',
        ],
        ['an empty root', '<Response/>'],
        [
            'comments and a BOM',
            '\uFEFF<!-- c --><Response><!-- inside --><Hangup /></Response>\n<!-- after -->',
        ],
        ['single-quoted attributes', "<Response><Dial timeout='10'>+15551230000</Dial></Response>"],
    ])('accepts %s', (_what, xml) => {
        expect(parseTwiml(xml)).toMatchObject({ ok: true, root: { name: 'Response' } });
    });

    it('decodes text and attributes', () => {
        const parsed = parseTwiml('<Response><Say loop="2">a &lt;b&gt; &amp; &quot;c&quot;</Say></Response>');
        expect(parsed).toEqual({
            ok: true,
            root: {
                name: 'Response',
                attributes: {},
                children: [{ name: 'Say', attributes: { loop: '2' }, children: ['a <b> & "c"'] }],
            },
        });
    });

    it.each([
        ['an empty document', ''],
        ['plain text', 'Hello'],
        ['an unclosed element', '<Response><Say>hi</Response>'],
        ['a missing end tag', '<Response>'],
        ['a bare ampersand', '<Response><Say>a & b</Say></Response>'],
        ['an unknown entity', '<Response><Say>&nbsp;</Say></Response>'],
        ['an unquoted attribute', '<Response><Say loop=2>hi</Say></Response>'],
        ['a duplicate attribute', '<Response><Say a="1" a="2">hi</Say></Response>'],
        ['two roots', '<Response/><Response/>'],
        ['text after the root', '<Response/>trailing'],
        ['a DOCTYPE', '<!DOCTYPE r [<!ENTITY x "y">]><Response/>'],
        ['a late XML declaration', '<!-- c --><?xml version="1.0"?><Response/>'],
        ['a root other than Response', '<Say>hi</Say>'],
        ['HTML', '<html><body>Error</body></html>'],
    ])('rejects %s', (_what, xml) => {
        expect(parseTwiml(xml)).toMatchObject({ ok: false, error: expect.any(String) as unknown });
    });
});
