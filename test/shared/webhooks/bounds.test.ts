import { HttpRequest, type HttpRequestInit } from '@azure/functions';
import { getExpectedTwilioSignature, validateRequest } from 'twilio/lib/webhooks/webhooks';
import { readBodyBytes } from '../../../shared/platform/httpBody';
import { createStaticSecretProvider } from '../../../shared/platform/secrets';
import {
    countParameters,
    groupParams,
    LARGE_WEBHOOK_BYTES,
    MAX_LARGE_WEBHOOKS_WAITING,
    MAX_WEBHOOK_BODY_BYTES,
    MAX_WEBHOOK_PARAMETERS,
    signatureUrlCandidates,
    sortedParameterString,
    validateTwilioWebhook,
    type WebhookCheck,
} from '../../../shared/webhooks/signature';
import {
    formBody,
    signedWebhookRequest,
    testContext,
    twilioSignature,
    webhookRequest,
    type Params,
} from '../../support/webhooks';

const TOKEN = 'f3c0a5b1d2e4f60718293a4b5c6d7e8f';
const URL_ = 'https://myapp.azurewebsites.net/api/voice';
const FORM = 'application/x-www-form-urlencoded';

const check = (request: HttpRequest, authToken: string | null = TOKEN): Promise<WebhookCheck> =>
    validateTwilioWebhook(
        request,
        {
            authToken: authToken === null ? undefined : createStaticSecretProvider(authToken),
            enabled: true,
            publicBaseUrl: undefined,
        },
        testContext().context,
    );
const status = (result: WebhookCheck): number => (result.ok ? 200 : (result.response.status ?? 200));

/** `count` parameters whose form encoding is exactly `bytes` long. */
function formOf(count: number, bytes: number): Params {
    const params: Params = {};
    const names = Array.from({ length: count }, (_, i) => `P${String(i).padStart(4, '0')}`);
    const overhead = names.reduce((n, name) => n + name.length + 2, 0) - 1;
    const each = Math.floor((bytes - overhead) / count);
    let rest = bytes - overhead - each * count;
    for (const name of names) {
        params[name] = 'v'.repeat(each + (rest > 0 ? 1 : 0));
        rest--;
    }
    return params;
}

/**
 * A request whose body is a stream, as the library builds one for a streamed HTTP invocation
 * (`createStreamRequest` hands it a native `Request`); `pulled` counts what the stream produced.
 */
function streamedRequest(totalBytes: number, headers: Record<string, string> = {}) {
    const chunk = new Uint8Array(64 * 1024).fill(0x61);
    const state = { pulled: 0, cancelled: false };
    const body = new ReadableStream<Uint8Array>({
        pull(controller) {
            if (state.pulled >= totalBytes) {
                controller.close();
                return;
            }
            const size = Math.min(chunk.byteLength, totalBytes - state.pulled);
            state.pulled += size;
            controller.enqueue(chunk.subarray(0, size));
        },
        cancel() {
            state.cancelled = true;
        },
    });
    const nativeRequest = new Request(URL_, {
        method: 'POST',
        body,
        duplex: 'half',
        headers: { 'content-type': FORM, 'x-twilio-signature': 'forged', ...headers },
    });
    const request = new HttpRequest({ nativeRequest } as unknown as HttpRequestInit);
    return { request, state };
}

describe('webhook bodies are bounded before any parsing or signature work', () => {
    it('refuses a Content-Length over 1 MiB with 413 without reading the body', async () => {
        const request = webhookRequest({
            url: URL_,
            params: { CallSid: 'CA1' },
            signature: 'anything',
            headers: { 'Content-Length': String(MAX_WEBHOOK_BODY_BYTES + 1) },
        });
        expect(status(await check(request))).toBe(413);
        expect(request.bodyUsed).toBe(false);
    });

    it('refuses a body over 1 MiB without Content-Length, counting while reading', async () => {
        const body = 'a'.repeat(MAX_WEBHOOK_BODY_BYTES + 1);
        const request = webhookRequest({ url: URL_, body, contentType: FORM, signature: 'anything' });
        expect(request.headers.get('content-length')).toBeNull();
        expect(status(await check(request))).toBe(413);
    });

    it('stops reading a streamed body at the limit, whatever Content-Length claims', async () => {
        const { request, state } = streamedRequest(8 * MAX_WEBHOOK_BODY_BYTES, { 'content-length': '100' });
        expect(status(await check(request))).toBe(413);
        expect(state.cancelled).toBe(true);
        expect(state.pulled).toBeLessThan(MAX_WEBHOOK_BODY_BYTES + 3 * 64 * 1024);

        const unsized = streamedRequest(8 * MAX_WEBHOOK_BODY_BYTES);
        expect(status(await check(unsized.request))).toBe(413);
        expect(unsized.state.cancelled).toBe(true);
    });

    it('reads a streamed body within the limit whole', async () => {
        const { request } = streamedRequest(MAX_WEBHOOK_BODY_BYTES);
        const bytes = await readBodyBytes(request, MAX_WEBHOOK_BODY_BYTES);
        expect(bytes?.toString('latin1')).toBe('a'.repeat(MAX_WEBHOOK_BODY_BYTES));
    });

    it('accepts and validates a body of exactly 1 MiB with 1,000 parameters', async () => {
        const params = formOf(MAX_WEBHOOK_PARAMETERS, MAX_WEBHOOK_BODY_BYTES);
        const request = signedWebhookRequest(TOKEN, { url: URL_, params });
        const result = await check(request);
        expect(status(result)).toBe(200);
        expect(result.ok && Buffer.byteLength(result.webhook.rawBody)).toBe(MAX_WEBHOOK_BODY_BYTES);
        expect(result.ok && [...result.webhook.form.keys()]).toHaveLength(MAX_WEBHOOK_PARAMETERS);
        // …and the same body, signed with another token, is still checked (403), not waved through.
        expect(status(await check(signedWebhookRequest('another token', { url: URL_, params })))).toBe(403);
    });

    it('refuses 1,001 parameters with 413, counting the query string with the form', async () => {
        const over = signedWebhookRequest(TOKEN, { url: URL_, params: formOf(1_001, 20_000) });
        expect(status(await check(over))).toBe(413);

        const query = Array.from({ length: 500 }, (_, i) => `q${String(i)}=1`).join('&');
        const split = (formCount: number) =>
            signedWebhookRequest(TOKEN, { url: `${URL_}?${query}`, params: formOf(formCount, 10_000) });
        expect(status(await check(split(501)))).toBe(413);
        expect(status(await check(split(500)))).toBe(200);
    });

    it('answers 413 before 400, 500 or 503: the bound comes first', async () => {
        const huge = () => webhookRequest({ url: URL_, body: 'a=1&'.repeat(2_000), contentType: FORM });
        expect(status(await check(huge()))).toBe(413); // no signature at all
        expect(status(await check(huge(), null))).toBe(413); // no token configured
        expect(status(await check(webhookRequest({ url: URL_, params: { a: '1' } }), null))).toBe(500);
    });

    it('counts parameters as URLSearchParams parses them, and stops counting past the limit', () => {
        for (const text of ['', '&', '&&a&&', 'a', 'a=1&', '=', '=&=', 'a=1&b=2&a=3', '&&&x=&&y']) {
            expect([text, countParameters(text, 1_000)]).toEqual([
                text,
                [...new URLSearchParams(text).keys()].length,
            ]);
        }
        expect(countParameters('a&'.repeat(100_000), 1_000)).toBe(1_001);
    });
});

describe('parameters are grouped in one pass', () => {
    it('visits each entry once and keeps every key, repeated keys as arrays in order', () => {
        const entries: [string, string][] = [];
        for (let i = 0; i < 5_000; i++) entries.push([`k${String(i)}`, String(i)]);
        entries.push(['k7', 'again'], ['__proto__', 'p'], ['k7', 'third']);
        let visits = 0;
        const counting: Iterable<[string, string]> = {
            *[Symbol.iterator]() {
                for (const entry of entries) {
                    visits++;
                    yield entry;
                }
            },
        };
        const params = groupParams(counting);
        expect(visits).toBe(entries.length);
        expect(Object.keys(params)).toHaveLength(5_001);
        expect(params.k7).toEqual(['7', 'again', 'third']);
        expect(Array.isArray(params.k7) && params.k7 instanceof Array).toBe(true);
        expect(params.__proto__).toBe('p');
        expect(params.k4999).toBe('4999');
    });
});

describe("the signature check is twilio's validateRequest, done once per distinct URL form", () => {
    const paramSets: Params[] = [
        {},
        { CallSid: 'CA1234567890ABCDE', Caller: '+14158675309', Digits: '1234', From: '+14158675309' },
        { Sid: 'CA123', SidAccount: 'AC123', Digits: ['5678', '1234', '1234'] },
        { __proto__x: 'a', constructor: 'b', '10': 'c', '2': 'd', 'a b': 'ü☎😀', '': 'empty name' },
        { Z: ['b', 'a', 'b'], z: '', 'Message[0]': "O'Brien & co" },
    ];

    it("builds the same signed data as twilio's getExpectedTwilioSignature", () => {
        for (const params of paramSets) {
            const grouped = groupParams(
                Object.entries(params).flatMap(([k, v]) =>
                    (Array.isArray(v) ? v : [v]).map((value): [string, string] => [k, value]),
                ),
            );
            expect(getExpectedTwilioSignature(TOKEN, URL_ + sortedParameterString(grouped), {})).toBe(
                getExpectedTwilioSignature(TOKEN, URL_, params),
            );
        }
    });

    it('tries two URL forms, not six, for a plain https URL', () => {
        expect(signatureUrlCandidates(['https://myapp.azurewebsites.net/api/sms'])).toEqual([
            'https://myapp.azurewebsites.net/api/sms',
            'https://myapp.azurewebsites.net:443/api/sms',
        ]);
    });

    it('accepts exactly the signatures twilio accepts, for URLs signed in every form twilio allows', () => {
        const received = [
            'https://myapp.azurewebsites.net/api/sms',
            'https://myapp.azurewebsites.net:443/api/sms?id=1',
            'http://localhost:7071/api/voice?Message=It%27s%20me&x=a+b',
            'https://user@gw.contoso.com/twilio/api/voice?b=c%20d&e=f!g*h(i)~',
            'http://[::1]:8080/api/voice?q=%7E&r=%2b',
            'https://HOST.Example.com/api/voice?Message%5B0%5D=Hi',
        ];
        const signedForms = (url: string): string[] => {
            const normalized = new URL(url).toString();
            return [
                url,
                normalized,
                url.replace(/^(https?:\/\/[^/]*?)(:\d+)?(\/)/, (_m, a: string, _p, s: string) => a + s),
                url.replace(/^(https:\/\/[^/:]+)(\/)/, '$1:443$2'),
                url.replace(/^(http:\/\/[^/:]+)(\/)/, '$1:80$2'),
                url.replace(/%27/g, "'"),
                normalized.replace('%20', '+'),
                'https://other.example.com/api/sms',
                `${url}&extra=1`,
            ];
        };
        let accepted = 0;
        let refused = 0;
        for (const url of received) {
            const unescaped = url.replace(/%27/g, "'");
            const candidates = signatureUrlCandidates(unescaped === url ? [url] : [url, unescaped]);
            for (const params of paramSets) {
                const signed = sortedParameterString(params);
                for (const form of signedForms(url)) {
                    const signature = twilioSignature(TOKEN, form, params);
                    const twilio =
                        validateRequest(TOKEN, signature, url, params) ||
                        validateRequest(TOKEN, signature, unescaped, params);
                    const ours = candidates.some(
                        (c) => getExpectedTwilioSignature(TOKEN, c + signed, {}) === signature,
                    );
                    expect([url, form, ours]).toEqual([url, form, twilio]);
                    if (twilio) accepted++;
                    else refused++;
                }
            }
        }
        expect(accepted).toBeGreaterThan(100);
        expect(refused).toBeGreaterThan(20);
    });
});

describe('a large form body (over LARGE_WEBHOOK_BYTES) is checked from its bytes, one at a time', () => {
    const padding = 'x'.repeat(LARGE_WEBHOOK_BYTES);

    it("accepts exactly what twilio's validateRequest accepts: repeated keys, __proto__, %27, escapes", async () => {
        const url = "https://myapp.azurewebsites.net/api/voice?Message=It's%20me";
        const received = 'https://myapp.azurewebsites.net/api/voice?Message=It%27s%20me';
        const params: Params = {
            Digits: ['5678', '1234', '1234'],
            __proto__x: 'a',
            Body: "ünïcødé + 100% & <tags> O'Brien ☎😀",
            Padding: padding,
        };
        const body = `${formBody(params)}&__proto__=p&bad=%E0%A4%A&stray=%zz%C3%B6`;
        const entries = [...new URLSearchParams(body)];
        const grouped = groupParams(entries);
        let accepted = 0;
        for (const [signedFor, token] of [
            [url, TOKEN],
            [received, TOKEN],
            [url, 'another token'],
        ] as const) {
            const signature = getExpectedTwilioSignature(
                token,
                signedFor + sortedParameterString(grouped),
                {},
            );
            const request = webhookRequest({ url: received, body, contentType: FORM, signature });
            const result = await check(request);
            const twilio =
                validateRequest(TOKEN, signature, received, grouped) ||
                validateRequest(TOKEN, signature, url, grouped);
            expect([signedFor, token, status(result)]).toEqual([signedFor, token, twilio ? 200 : 403]);
            if (result.ok) expect([...result.webhook.form]).toEqual(entries);
            if (result.ok) accepted++;
        }
        expect(accepted).toBe(2);
    });

    it('answers 503 with Retry-After beyond the line of waiting large webhooks; small ones never wait', async () => {
        const large = () =>
            check(webhookRequest({ url: URL_, params: { Padding: padding }, signature: 'forged' }));
        const larges = Array.from({ length: MAX_LARGE_WEBHOOKS_WAITING + 8 }, large);
        const small = await check(signedWebhookRequest(TOKEN, { url: URL_, params: { CallSid: 'CA1' } }));
        expect(status(small)).toBe(200);
        const results = await Promise.all(larges);
        const refused = results.filter((r) => status(r) === 503);
        expect(refused.length).toBeGreaterThan(0);
        expect(results.every((r) => [403, 503].includes(status(r)))).toBe(true);
        expect(!refused[0]?.ok && refused[0]?.response.headers).toMatchObject({ 'Retry-After': '1' });
        // The line empties: the next large webhook is checked again.
        expect(status(await large())).toBe(403);
    });
});
