import { ConfigError } from '../../shared/errors';
import { createSecretProvider, createStaticSecretProvider } from '../../shared/secrets';
import { createTwilioClientFactory, RATE_LIMIT_RETRY } from '../../shared/twilioClient';
import { startFakeTwilioApi, type FakeTwilioApi } from '../fakes/twilioApi';

const SID = 'AC0123456789abcdef0123456789abcdef';
const TOKEN = 'token-one-0123456789abcdef012345';
const ROTATED = 'token-two-0123456789abcdef012345';

let api: FakeTwilioApi;

beforeAll(async () => {
    api = await startFakeTwilioApi(SID, TOKEN);
});
afterEach(() => {
    api.requests.length = 0;
    api.setCredentials(SID, TOKEN);
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
