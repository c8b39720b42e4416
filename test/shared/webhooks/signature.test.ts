import { HttpRequest } from '@azure/functions';
import {
    createSecretProvider,
    createStaticSecretProvider,
    type SecretProvider,
} from '../../../shared/platform/secrets';
import { signedUrl, validateTwilioWebhook, type WebhookCheck } from '../../../shared/webhooks/signature';
import {
    bodySha256,
    signedWebhookRequest,
    testContext,
    twilioSignature,
    webhookRequest,
    type Params,
} from '../../support/webhooks';

const TOKEN = 'f3c0a5b1d2e4f60718293a4b5c6d7e8f';
const OTHER_TOKEN = '0123456789abcdef0123456789abcdef';
const SMS_URL = 'https://myapp.azurewebsites.net/api/sms';
const SMS_PARAMS: Params = {
    MessageSid: 'SM0123456789abcdef0123456789abcdef',
    AccountSid: 'AC0123456789abcdef0123456789abcdef',
    From: '+15551230000',
    To: '+15557654321',
    Body: 'Hello from a test',
};

function options(
    authToken: SecretProvider | undefined,
    publicBaseUrl?: string,
    trustedForwardedHosts: readonly string[] = [],
) {
    return { authToken, enabled: true, publicBaseUrl, trustedForwardedHosts };
}

async function check(
    request: HttpRequest,
    opts = options(createStaticSecretProvider(TOKEN)),
): Promise<WebhookCheck> {
    return validateTwilioWebhook(request, opts, testContext().context);
}

function status(result: WebhookCheck): number {
    return result.ok ? 200 : (result.response.status ?? 200);
}

describe("Twilio's published test vectors pass through our validation layer", () => {
    const url = 'https://mycompany.com/myapp.php?foo=1&bar=2';
    const params = {
        CallSid: 'CA1234567890ABCDE',
        Caller: '+14158675309',
        Digits: '1234',
        From: '+14158675309',
        To: '+18005551212',
    };

    it('accepts the form-encoded vector', async () => {
        const request = webhookRequest({ url, params, signature: 'RSOYDt4T1cUTdK1PDd93/VVr8B8=' });
        const result = await check(request, options(createStaticSecretProvider('12345')));
        expect(result.ok).toBe(true);
    });

    it('accepts the repeated-keys vector, duplicates included', async () => {
        const repeated = { Sid: 'CA123', SidAccount: 'AC123', Digits: ['5678', '1234', '1234'] };
        const request = webhookRequest({ url, params: repeated, signature: 'IK+Dwps556ElfBT0I3Rgjkr1wJU=' });
        const result = await check(request, options(createStaticSecretProvider('12345')));
        expect(result.ok).toBe(true);
        expect(twilioSignature('12345', url, repeated)).toBe('IK+Dwps556ElfBT0I3Rgjkr1wJU=');
    });

    it('agrees with the algorithm as written in the test helper', () => {
        expect(twilioSignature('12345', url, params)).toBe('RSOYDt4T1cUTdK1PDd93/VVr8B8=');
    });

    it('accepts the JSON-body vector (bodySHA256) and rejects a changed body', async () => {
        const body = '{"property": "value", "boolean": true}';
        const hash = '0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620';
        expect(bodySha256(body)).toBe(hash);
        const bodyUrl = `${url}&bodySHA256=${hash}`;
        const signature = 'a9nBmqA0ju/hNViExpshrM61xv4=';
        const good = webhookRequest({ url: bodyUrl, body, contentType: 'application/json', signature });
        const result = await check(good, options(createStaticSecretProvider('12345')));
        expect(result.ok).toBe(true);
        expect(result.ok && result.webhook.rawBody).toBe(body);

        const tampered = webhookRequest({
            url: bodyUrl,
            body: '{"property": "other", "boolean": true}',
            contentType: 'application/json',
            signature,
        });
        expect(status(await check(tampered, options(createStaticSecretProvider('12345'))))).toBe(403);
    });
});

describe('validateTwilioWebhook', () => {
    it('accepts a signed form webhook and returns its parameters, read once', async () => {
        const request = signedWebhookRequest(TOKEN, { url: SMS_URL, params: SMS_PARAMS });
        const result = await check(request);
        expect(result.ok).toBe(true);
        if (!result.ok) return;
        expect(result.webhook.form.get('Body')).toBe('Hello from a test');
        expect(result.webhook.url).toBe(SMS_URL);
        expect(request.bodyUsed).toBe(true);
    });

    it('keeps repeated keys and special characters', async () => {
        const params = { ...SMS_PARAMS, MediaUrl: ['https://a.example/1.jpg', 'https://a.example/0.jpg'] };
        const body = { ...params, Body: 'ünïcødé + 100% & <tags> "quoted" ☎' };
        const request = signedWebhookRequest(TOKEN, { url: SMS_URL, params: body });
        const result = await check(request);
        expect(result.ok).toBe(true);
        expect(result.ok && result.webhook.form.getAll('MediaUrl')).toEqual(params.MediaUrl);
        expect(result.ok && result.webhook.form.get('Body')).toBe(body.Body);
    });

    it('accepts a signed GET whose parameters are in the query string', async () => {
        const url =
            'https://myapp.azurewebsites.net/api/voice?CallSid=CA1&From=%2B15551230000&Message%5B0%5D=Hi%20there';
        const result = await check(signedWebhookRequest(TOKEN, { url, method: 'GET' }));
        expect(result.ok).toBe(true);
        expect(result.ok && result.webhook.query.get('Message[0]')).toBe('Hi there');
    });

    it.each([
        ['a changed parameter', { ...SMS_PARAMS, Body: 'Hello from an attacker' }],
        ['an added parameter', { ...SMS_PARAMS, Extra: '1' }],
        ['a removed parameter', Object.fromEntries(Object.entries(SMS_PARAMS).filter(([k]) => k !== 'From'))],
    ])('rejects %s with 403', async (_name, params) => {
        const signature = twilioSignature(TOKEN, SMS_URL, SMS_PARAMS);
        const request = webhookRequest({ url: SMS_URL, params, signature });
        expect(status(await check(request))).toBe(403);
    });

    it.each([
        ['another path', 'https://myapp.azurewebsites.net/api/voice'],
        ['another host', 'https://evil.example.net/api/sms'],
        ['another scheme', 'http://myapp.azurewebsites.net/api/sms'],
        ['an added query', 'https://myapp.azurewebsites.net/api/sms?x=1'],
    ])('rejects a signature made for %s with 403', async (_name, otherUrl) => {
        const signature = twilioSignature(TOKEN, otherUrl, SMS_PARAMS);
        const request = webhookRequest({ url: SMS_URL, params: SMS_PARAMS, signature });
        expect(status(await check(request))).toBe(403);
    });

    it('rejects a changed query string with 403', async () => {
        const signature = twilioSignature(TOKEN, `${SMS_URL}?id=1`, SMS_PARAMS);
        const request = webhookRequest({ url: `${SMS_URL}?id=2`, params: SMS_PARAMS, signature });
        expect(status(await check(request))).toBe(403);
    });

    it('rejects a signature from another token, or truncated, with 403', async () => {
        const other = signedWebhookRequest(OTHER_TOKEN, { url: SMS_URL, params: SMS_PARAMS });
        expect(status(await check(other))).toBe(403);
        const truncated = twilioSignature(TOKEN, SMS_URL, SMS_PARAMS).slice(0, 20);
        expect(
            status(await check(webhookRequest({ url: SMS_URL, params: SMS_PARAMS, signature: truncated }))),
        ).toBe(403);
    });

    it('rejects a missing or empty signature with 400', async () => {
        expect(status(await check(webhookRequest({ url: SMS_URL, params: SMS_PARAMS })))).toBe(400);
        expect(status(await check(webhookRequest({ url: SMS_URL, params: SMS_PARAMS, signature: '' })))).toBe(
            400,
        );
    });

    it('ignores a body that is neither form-encoded nor covered by bodySHA256', async () => {
        // A URL-only signature (as for a GET) must not vouch for a body it does not cover.
        const signature = twilioSignature(TOKEN, SMS_URL, {});
        const request = webhookRequest({
            url: SMS_URL,
            body: 'Body=injected',
            contentType: 'text/plain',
            signature,
        });
        const result = await check(request);
        expect(result.ok).toBe(true);
        expect(result.ok && [...result.webhook.form.keys()]).toEqual([]);
    });

    it('answers 500 and logs when no auth token is configured, never accepting the request', async () => {
        const { context, logs } = testContext();
        const request = signedWebhookRequest(TOKEN, { url: SMS_URL, params: SMS_PARAMS });
        const result = await validateTwilioWebhook(request, options(undefined), context);
        expect(status(result)).toBe(500);
        expect(
            logs.some((l) => l.level === 'error' && l.message.includes('no auth token is configured')),
        ).toBe(true);
    });

    it('answers 503 when the token cannot be read', async () => {
        const failing: SecretProvider = {
            get: () => Promise.reject(new Error('vault unreachable')),
            refresh: () => Promise.reject(new Error('vault unreachable')),
        };
        const request = signedWebhookRequest(TOKEN, { url: SMS_URL, params: SMS_PARAMS });
        const result = await check(request, options(failing));
        expect(status(result)).toBe(503);
        expect(!result.ok && result.response.headers).toMatchObject({ 'Retry-After': '5' });
    });

    it('accepts unsigned requests with a warning when validation is switched off', async () => {
        const { context, logs } = testContext();
        const request = webhookRequest({ url: SMS_URL, params: SMS_PARAMS });
        const result = await validateTwilioWebhook(
            request,
            { authToken: undefined, enabled: false, publicBaseUrl: undefined },
            context,
        );
        expect(result.ok).toBe(true);
        expect(logs.filter((l) => l.level === 'warning')).toHaveLength(1);
    });
});

describe('the URL Twilio signed, behind proxies', () => {
    it('uses X-Forwarded-Proto and X-Forwarded-Host over an internal http://…:80 URL when the host is trusted', async () => {
        const request = () =>
            signedWebhookRequest(TOKEN, {
                url: 'http://10.0.0.4:80/api/sms',
                signedUrl: SMS_URL,
                params: SMS_PARAMS,
                headers: { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'MyApp.azurewebsites.net:443' },
            });
        const token = createStaticSecretProvider(TOKEN);
        // Matched case-insensitively, any port; the URL keeps the header as sent (twilio's validator tries
        // it with and without the port, and normalised).
        expect(status(await check(request(), options(token, undefined, ['myapp.azurewebsites.net'])))).toBe(
            200,
        );
        expect(status(await check(request(), options(token)))).toBe(403);
    });

    it('refuses a request signed for another deployment unless its forwarded host is trusted', async () => {
        // Twilio signed this for another app on the same account; the attacker replays it here with that
        // app's host in X-Forwarded-Host.
        const other = 'https://other-app.azurewebsites.net';
        const request = () =>
            signedWebhookRequest(TOKEN, {
                url: SMS_URL,
                signedUrl: `${other}/api/sms`,
                params: SMS_PARAMS,
                headers: { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'other-app.azurewebsites.net' },
            });
        const token = createStaticSecretProvider(TOKEN);
        expect(status(await check(request(), options(token)))).toBe(403);
        expect(status(await check(request(), options(token, 'https://myapp.azurewebsites.net')))).toBe(403);
        expect(
            status(await check(request(), options(token, undefined, ['fd.contoso.com', 'api.contoso.com']))),
        ).toBe(403);
        expect(
            status(await check(request(), options(token, undefined, ['other-app.azurewebsites.net']))),
        ).toBe(200);
    });

    it('ignores an X-Forwarded-Proto that is not http or https', () => {
        const request = new HttpRequest({
            method: 'GET',
            url: 'http://10.0.0.4/api/voice',
            headers: { 'x-forwarded-proto': 'javascript', 'x-forwarded-host': 'fd.contoso.com' },
        });
        expect(signedUrl(request, undefined, ['fd.contoso.com'])).toBe('http://fd.contoso.com/api/voice');
    });

    it('uses PUBLIC_BASE_URL over the request URL and forwarded headers', async () => {
        const request = () =>
            signedWebhookRequest(TOKEN, {
                url: 'http://localhost:7071/api/sms',
                signedUrl: 'https://sms.contoso.com/api/sms',
                params: SMS_PARAMS,
                headers: { 'X-Forwarded-Host': 'ignored.example.com' },
            });
        const token = createStaticSecretProvider(TOKEN);
        expect(status(await check(request(), options(token, undefined)))).toBe(403);
        expect(status(await check(request(), options(token, 'https://sms.contoso.com')))).toBe(200);
    });

    it.each([
        ['signed with :443, received without', 'https://myapp.azurewebsites.net:443/api/sms', SMS_URL],
        ['signed without a port, received with :443', SMS_URL, 'https://myapp.azurewebsites.net:443/api/sms'],
    ])('accepts %s', async (_name, signed, received) => {
        const request = signedWebhookRequest(TOKEN, {
            url: 'http://10.0.0.4/api/sms',
            signedUrl: signed,
            params: SMS_PARAMS,
        });
        expect(
            (
                await check(
                    request,
                    options(createStaticSecretProvider(TOKEN), received.replace('/api/sms', '')),
                )
            ).ok,
        ).toBe(true);
    });

    it('keeps the path and query as received and takes the first of several forwarded values', () => {
        const request = new HttpRequest({
            method: 'GET',
            url: 'http://127.0.0.1:7071/api/voice?Message%5B0%5D=a%20b&x=%2B1',
            headers: {
                'x-forwarded-proto': 'https, http',
                'x-forwarded-host': 'a.example.com, b.example.com',
            },
        });
        expect(signedUrl(request, undefined, ['a.example.com'])).toBe(
            'https://a.example.com/api/voice?Message%5B0%5D=a%20b&x=%2B1',
        );
        // A trusted forwarded host is the per-request truth, over the configured origin.
        expect(signedUrl(request, 'https://public.example.com', ['a.example.com'])).toBe(
            'https://a.example.com/api/voice?Message%5B0%5D=a%20b&x=%2B1',
        );
        // Untrusted (only b.example.com is listed, and the first value is a.example.com): ignored.
        expect(signedUrl(request, 'https://public.example.com', ['b.example.com'])).toBe(
            'https://public.example.com/api/voice?Message%5B0%5D=a%20b&x=%2B1',
        );
        expect(signedUrl(request, undefined)).toBe(
            'http://127.0.0.1:7071/api/voice?Message%5B0%5D=a%20b&x=%2B1',
        );
    });

    it('falls back to the request URL with no proxy headers and no PUBLIC_BASE_URL', () => {
        const request = new HttpRequest({ method: 'GET', url: 'http://localhost:7071/api/voice?a=1' });
        expect(signedUrl(request, undefined)).toBe('http://localhost:7071/api/voice?a=1');
    });
});

describe('token rotation', () => {
    it('re-reads the token once on a bad signature and accepts a request signed with the new token', async () => {
        let current = TOKEN;
        let reads = 0;
        let clock = 1_000_000;
        const provider = createSecretProvider({
            read: () => {
                reads += 1;
                return Promise.resolve(current);
            },
            ttlMs: 3_600_000,
            now: () => clock,
        });
        expect(
            (
                await check(
                    signedWebhookRequest(TOKEN, { url: SMS_URL, params: SMS_PARAMS }),
                    options(provider),
                )
            ).ok,
        ).toBe(true);
        expect(reads).toBe(1);

        current = OTHER_TOKEN;
        clock += 61_000;
        const rotated = signedWebhookRequest(OTHER_TOKEN, { url: SMS_URL, params: SMS_PARAMS });
        expect((await check(rotated, options(provider))).ok).toBe(true);
        expect(reads).toBe(2);
    });

    it('lets 1,000 forged requests cause at most one extra Key Vault read per minute', async () => {
        let reads = 0;
        let clock = 5_000_000;
        const provider = createSecretProvider({
            read: () => {
                reads += 1;
                return Promise.resolve(TOKEN);
            },
            ttlMs: 3_600_000,
            now: () => clock,
        });
        const forged = () =>
            check(signedWebhookRequest(OTHER_TOKEN, { url: SMS_URL, params: SMS_PARAMS }), options(provider));

        const first = await Promise.all(Array.from({ length: 500 }, forged));
        expect(first.every((r) => status(r) === 403)).toBe(true);
        expect(reads).toBe(1); // the first read; a refresh right after it is refused

        clock += 60_001;
        const second = await Promise.all(Array.from({ length: 500 }, forged));
        expect(second.every((r) => status(r) === 403)).toBe(true);
        expect(reads).toBe(2);
    });
});
