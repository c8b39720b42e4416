import { parseConfig } from '../../shared/platform/config';
import { createDependencies } from '../../shared/platform/dependencies';
import { ConfigError } from '../../shared/platform/errors';
import {
    createSecretProvider,
    createStaticSecretProvider,
    type SecretProvider,
} from '../../shared/platform/secrets';
import { createTwilioClientFactory, RATE_LIMIT_RETRY } from '../../shared/platform/twilioClient';
import { validateTwilioWebhook } from '../../shared/webhooks/signature';
import { startFakeTwilioApi, type FakeTwilioApi } from '../fakes/twilioApi';
import { signedWebhookRequest, testContext } from '../support/webhooks';

const SID = 'AC0123456789abcdef0123456789abcdef';
const TOKEN = 'token-one-0123456789abcdef012345';
const ROTATED = 'token-two-0123456789abcdef012345';
const KEY_SID = 'SK0123456789abcdef0123456789abcdef';
const KEY_SECRET = 'key-secret-one-0123456789abcdef';
const ROTATED_KEY_SECRET = 'key-secret-two-0123456789abcdef';

/** A provider that counts its reads (`get` after the TTL and `refresh`), over a value the test changes. */
function countingProvider(initial: string, clock: { now: number }) {
    const state = { value: initial, reads: 0 };
    const provider: SecretProvider = createSecretProvider({
        read: () => {
            state.reads += 1;
            return Promise.resolve(state.value);
        },
        ttlMs: 3_600_000,
        minRefreshIntervalMs: 60_000,
        now: () => clock.now,
    });
    return { provider, state };
}

/** A provider that fails the test if anything reads it. */
const untouchable = (what: string): SecretProvider => ({
    get: () => Promise.reject(new Error(`${what} must not be read`)),
    refresh: () => Promise.reject(new Error(`${what} must not be refreshed`)),
});

const sms = { to: '+15557654321', from: '+15551230000', body: 'with a key' };

let api: FakeTwilioApi;

beforeAll(async () => {
    api = await startFakeTwilioApi(SID, TOKEN);
});
afterEach(() => {
    api.requests.length = 0;
    api.setCredentials(SID, TOKEN);
    api.setApiKey(KEY_SID, undefined);
    api.rateLimitNext(0);
});
afterAll(async () => {
    await api.close();
});

describe('createTwilioClientFactory', () => {
    it('sends the real twilio client to TWILIO_API_URL with the account SID and token', async () => {
        const factory = createTwilioClientFactory({
            accountSid: SID,
            secrets: createStaticSecretProvider(TOKEN),
            apiUrl: api.url,
        });
        const client = await factory.get();
        const message = await client.messages.create({
            to: '+15557654321',
            from: '+15551230000',
            body: 'hi',
        });

        expect(message.sid).toMatch(/^SM[0-9a-f]{32}$/);
        expect(message.status).toBe('queued');
        expect(api.requests).toHaveLength(1);
        const [request] = api.requests;
        expect(request?.method).toBe('POST');
        expect(request?.path).toBe(`/2010-04-01/Accounts/${SID}/Messages.json`);
        expect(request?.basicAuth).toBe(`${SID}:${TOKEN}`);
        expect(Object.fromEntries(request?.form ?? [])).toEqual({
            To: '+15557654321',
            From: '+15551230000',
            Body: 'hi',
        });
    });

    it('surfaces Twilio errors as the SDK does (status and code)', async () => {
        const factory = createTwilioClientFactory({
            accountSid: SID,
            secrets: createStaticSecretProvider('wrong-token'),
            apiUrl: api.url,
        });
        const client = await factory.get();
        await expect(
            client.messages.create({ to: '+15557654321', from: '+15551230000', body: 'x' }),
        ).rejects.toMatchObject({ status: 401, code: 20003 });
    });

    describe('429 (Twilio 20429): the SDK retries, a few times', () => {
        const send = async () => {
            const factory = createTwilioClientFactory({
                accountSid: SID,
                secrets: createStaticSecretProvider(TOKEN),
                apiUrl: api.url,
            });
            return (await factory.get()).messages.create({
                to: '+15557654321',
                from: '+15551230000',
                body: 'rate limited',
            });
        };

        it('a 429 answered once, then success: the create succeeds, on the second request', async () => {
            api.rateLimitNext(1);
            const message = await send();
            expect(message.sid).toMatch(/^SM[0-9a-f]{32}$/);
            expect(api.requests).toHaveLength(2);
            expect(api.requests.map((r) => r.form.get('Body'))).toEqual(['rate limited', 'rate limited']);
        });

        it('a persistent 429: the error surfaces after 1 + maxRetries requests', async () => {
            expect(RATE_LIMIT_RETRY.maxRetries).toBe(3);
            api.rateLimitNext(100);
            await expect(send()).rejects.toMatchObject({ status: 429, code: 20429 });
            expect(api.requests).toHaveLength(1 + RATE_LIMIT_RETRY.maxRetries);
        });

        it("without TWILIO_API_URL, the SDK's own RequestClient gets the same retry options", async () => {
            const factory = createTwilioClientFactory({
                accountSid: SID,
                secrets: createStaticSecretProvider(TOKEN),
            });
            const { httpClient } = await factory.get();
            expect(httpClient).toMatchObject({ autoRetry: true, maxRetries: 3, maxRetryDelay: 1_000 });
        });
    });

    it('reuses one client while the token is unchanged and rebuilds it when the token changes', async () => {
        let token = TOKEN;
        let clock = 0;
        const secrets = createSecretProvider({
            read: () => Promise.resolve(token),
            ttlMs: 1_000,
            now: () => clock,
        });
        const factory = createTwilioClientFactory({ accountSid: SID, secrets, apiUrl: api.url });

        const first = await factory.get();
        expect(await factory.get()).toBe(first);

        token = ROTATED;
        clock += 1_001;
        const second = await factory.get();
        expect(second).not.toBe(first);
        api.setCredentials(SID, ROTATED);
        await second.messages.create({ to: '+15557654321', from: '+15551230000', body: 'after rotation' });
        expect(api.requests.at(-1)?.basicAuth).toBe(`${SID}:${ROTATED}`);
    });

    it('after a 401, gives a new client only when a re-read finds a new token', async () => {
        let token = TOKEN;
        let clock = 0;
        const secrets = createSecretProvider({
            read: () => Promise.resolve(token),
            ttlMs: 3_600_000,
            minRefreshIntervalMs: 60_000,
            now: () => clock,
        });
        const factory = createTwilioClientFactory({ accountSid: SID, secrets, apiUrl: api.url });
        await factory.get();

        clock += 60_001;
        expect(await factory.refreshAfterAuthFailure()).toBeUndefined();

        token = ROTATED;
        expect(await factory.refreshAfterAuthFailure()).toBeUndefined(); // rate-limited: read 0 s ago
        clock += 60_001;
        const fresh = await factory.refreshAfterAuthFailure();
        expect(fresh).toBeDefined();
        expect(await factory.get()).toBe(fresh);
    });

    it('refuses to build a client without an account SID or a token source', async () => {
        await expect(
            createTwilioClientFactory({
                accountSid: undefined,
                secrets: createStaticSecretProvider(TOKEN),
            }).get(),
        ).rejects.toThrow(ConfigError);
        await expect(
            createTwilioClientFactory({ accountSid: SID, secrets: undefined }).get(),
        ).rejects.toThrow(/KEY_VAULT_URL or TWILIO_AUTH_TOKEN/);
    });
});

describe('createTwilioClientFactory with an API key', () => {
    it('creates with the key (SID as user, secret as password, account in the path), never the auth token', async () => {
        api.setApiKey(KEY_SID, KEY_SECRET);
        const factory = createTwilioClientFactory({
            accountSid: SID,
            secrets: untouchable('the auth token'),
            apiKey: { sid: KEY_SID, secret: createStaticSecretProvider(KEY_SECRET) },
            apiUrl: api.url,
        });
        const client = await factory.get();
        const first = await client.messages.create(sms);
        await client.messages.create(sms);

        expect(first.sid).toMatch(/^SM[0-9a-f]{32}$/);
        expect(first.accountSid).toBe(SID);
        expect(api.requests.map((r) => [r.path, r.basicAuth, r.authenticatedWith])).toEqual([
            [`/2010-04-01/Accounts/${SID}/Messages.json`, `${KEY_SID}:${KEY_SECRET}`, { apiKey: KEY_SID }],
            [`/2010-04-01/Accounts/${SID}/Messages.json`, `${KEY_SID}:${KEY_SECRET}`, { apiKey: KEY_SID }],
        ]);
        expect(api.requests.some((r) => r.basicAuth?.includes(TOKEN) === true)).toBe(false);
    });

    it('the fake refuses a key it does not know, or a key used for another account', async () => {
        const other = 'ACfedcba9876543210fedcba9876543210';
        api.setApiKey(KEY_SID, KEY_SECRET);
        const unknownKey = createTwilioClientFactory({
            accountSid: SID,
            secrets: undefined,
            apiKey: {
                sid: 'SKfedcba9876543210fedcba9876543210',
                secret: createStaticSecretProvider(KEY_SECRET),
            },
            apiUrl: api.url,
        });
        await expect((await unknownKey.get()).messages.create(sms)).rejects.toMatchObject({
            status: 401,
            code: 20003,
        });
        const otherAccount = createTwilioClientFactory({
            accountSid: other,
            secrets: undefined,
            apiKey: { sid: KEY_SID, secret: createStaticSecretProvider(KEY_SECRET) },
            apiUrl: api.url,
        });
        await expect((await otherAccount.get()).messages.create(sms)).rejects.toMatchObject({ status: 401 });
        expect(api.requests.map((r) => r.authenticatedWith)).toEqual(['rejected', 'rejected']);
    });

    it('after a 401, re-reads the key secret once (not the auth token) and sends with the rotated secret', async () => {
        const clock = { now: 0 };
        const key = countingProvider(KEY_SECRET, clock);
        api.setApiKey(KEY_SID, KEY_SECRET);
        const factory = createTwilioClientFactory({
            accountSid: SID,
            secrets: untouchable('the auth token'),
            apiKey: { sid: KEY_SID, secret: key.provider },
            apiUrl: api.url,
        });
        const before = await factory.get();
        await before.messages.create(sms);
        expect(key.state.reads).toBe(1);

        // The key secret is rotated at Twilio and in the vault; the cached one is now refused.
        api.setApiKey(KEY_SID, ROTATED_KEY_SECRET);
        key.state.value = ROTATED_KEY_SECRET;
        clock.now += 60_001;
        await expect(before.messages.create(sms)).rejects.toMatchObject({ status: 401, code: 20003 });

        const after = await factory.refreshAfterAuthFailure();
        expect(key.state.reads).toBe(2);
        expect(after).toBeDefined();
        expect(after).not.toBe(before);
        await after?.messages.create(sms);
        expect(api.requests.at(-1)).toMatchObject({
            basicAuth: `${KEY_SID}:${ROTATED_KEY_SECRET}`,
            authenticatedWith: { apiKey: KEY_SID },
        });

        // More 401s right after cannot turn into more vault reads: the refresh is rate-limited.
        expect(await factory.refreshAfterAuthFailure()).toBeUndefined();
        expect(await factory.refreshAfterAuthFailure()).toBeUndefined();
        expect(key.state.reads).toBe(2);
        expect(await factory.get()).toBe(after);
    });
});

describe('the app with TWILIO_API_KEY_SID configured', () => {
    const settings = {
        TWILIO_ACCOUNT_SID: SID,
        TWILIO_AUTH_TOKEN: TOKEN,
        TWILIO_API_KEY_SID: KEY_SID,
        TWILIO_API_KEY_SECRET: KEY_SECRET,
    };

    it('REST calls use the key; webhooks still validate with the auth token', async () => {
        api.setApiKey(KEY_SID, KEY_SECRET);
        const deps = createDependencies(parseConfig({ ...settings, TWILIO_API_URL: api.url }));

        await (await deps.twilio.get()).messages.create(sms);
        expect(api.requests.map((r) => r.authenticatedWith)).toEqual([{ apiKey: KEY_SID }]);

        const url = 'https://myapp.azurewebsites.net/api/sms';
        const params = { MessageSid: 'SM0123456789abcdef0123456789abcdef', From: '+15551230000', Body: 'hi' };
        const validate = (signingKey: string) =>
            validateTwilioWebhook(
                signedWebhookRequest(signingKey, { url, params }),
                { authToken: deps.authToken, enabled: true, publicBaseUrl: undefined },
                testContext().context,
            );
        expect((await validate(TOKEN)).ok).toBe(true);
        // The key secret is not the webhook signing key.
        const forged = await validate(KEY_SECRET);
        expect(forged.ok ? 200 : forged.response.status).toBe(403);
    });

    it('without a key, REST calls use the auth token as before', async () => {
        const { TWILIO_API_KEY_SID: _, TWILIO_API_KEY_SECRET: __, ...tokenOnly } = settings;
        const deps = createDependencies(parseConfig({ ...tokenOnly, TWILIO_API_URL: api.url }));
        await (await deps.twilio.get()).messages.create(sms);
        expect(api.requests.map((r) => r.authenticatedWith)).toEqual(['authToken']);
        expect(deps.apiKeySecret).toBeUndefined();
    });
});
