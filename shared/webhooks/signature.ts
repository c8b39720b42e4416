/**
 * Twilio webhook validation for Azure Functions v4 `HttpRequest`s.
 *
 * The HMAC is twilio's own algorithm (its light `webhooks` module, not the whole package; for a large form
 * body the same HMAC over the parameters' bytes, see webhookForm.ts); this module does the Azure part:
 * reading the body once, within bounds, rebuilding the URL that Twilio signed behind App Service / Front
 * Door / a proxy, keeping large forged bodies from monopolising the worker's one thread, and retrying once
 * after a token rotation without letting forged requests drive Key Vault traffic.
 */

import { createHmac, timingSafeEqual } from 'node:crypto';
import { parse as parseQuery, stringify as stringifyQuery } from 'node:querystring';
import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import { decodeBody, readBodyBytes } from '../platform/httpBody';
import { lazy } from '../platform/lazy';
import type { SecretProvider } from '../platform/secrets';
import { createAdmission, type Release } from './admission';
import { formInputBytes, parseFormBytes, signedParameterBytes, type Pause } from './form';

const loadWebhooks = lazy(() => import('twilio/lib/webhooks/webhooks'));

export const SIGNATURE_HEADER = 'x-twilio-signature';

/** A webhook request whose signature has been checked (or whose check is switched off). */
export interface TwilioWebhook {
    /** Parameters from the URL's query string. */
    readonly query: URLSearchParams;
    /** Parameters from a form-encoded body; empty for GET and for JSON bodies. */
    readonly form: URLSearchParams;
    /** The body as received. */
    readonly rawBody: string;
    /** The URL the signature was checked against. */
    readonly url: string;
}

export type WebhookCheck = { ok: true; webhook: TwilioWebhook } | { ok: false; response: HttpResponseInit };

export interface WebhookValidationOptions {
    /** Source of the auth token; `undefined` when none is configured. */
    readonly authToken: SecretProvider | undefined;
    /** `false` only for local experiments: every request is then logged as unchecked. */
    readonly enabled: boolean;
    /** The origin Twilio calls (e.g. `https://myapp.azurewebsites.net`), when known. */
    readonly publicBaseUrl: string | undefined;
    /** Host names whose `X-Forwarded-Host` / `-Proto` are believed (`TRUSTED_FORWARDED_HOSTS`); none by default. */
    readonly trustedForwardedHosts?: readonly string[];
}

export interface WebhookLogger {
    warn(...args: unknown[]): void;
    error(...args: unknown[]): void;
}

const FORM_CONTENT_TYPE = 'application/x-www-form-urlencoded';

/** The largest webhook body read: Twilio's own webhooks are a few KB. */
export const MAX_WEBHOOK_BODY_BYTES = 1024 * 1024;
/**
 * The most parameters a webhook may carry, query string and form body together (Twilio sends a few
 * dozen). The query counts too because its parameters are signed and sorted like the form's.
 */
export const MAX_WEBHOOK_PARAMETERS = 1000;

/**
 * Form bodies over this size take the large-body path: parsed from their bytes in slices, one at a time
 * per process (see webhookAdmission.ts), and turned into `URLSearchParams` only once accepted. Twilio's
 * own webhooks, a few KB, never take it.
 */
export const LARGE_WEBHOOK_BYTES = 64 * 1024;
/** Large webhooks that may wait for their turn; beyond them: 503 with `Retry-After`. */
export const MAX_LARGE_WEBHOOKS_WAITING = 16;

const largeWebhooks = createAdmission(MAX_LARGE_WEBHOOKS_WAITING);
/** Bytes of the signed data hashed between two pauses (~0.2 ms). */
const HMAC_SLICE_BYTES = 256 * 1024;
/** Lets I/O callbacks (another request) run: setImmediate runs after the poll phase. */
const pauseForIo: Pause = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Reads the request once and checks its `X-Twilio-Signature`.
 *
 * A body over {@link MAX_WEBHOOK_BODY_BYTES}, or more than {@link MAX_WEBHOOK_PARAMETERS} parameters →
 * 413, before any parsing or signature work. Then: missing signature → 400; signature that does not
 * match → 403 (after one rate-limited token refresh, in case the token was rotated); no token configured
 * → 500; token unreadable → 503. Only what the signature covers is returned: form parameters of a
 * form-encoded body, or the raw body of a JSON one (covered by `bodySHA256`); any other body is ignored.
 *
 * The work is linear in the body: the parameters are grouped in one pass and their sorted data is built
 * once, then signed for each distinct URL form twilio's validator would try, so a forged request costs
 * about what a genuine one does. A form body over {@link LARGE_WEBHOOK_BYTES} is parsed from its bytes
 * and signed in slices that let other requests run in between, one such body at a time per process;
 * when {@link MAX_LARGE_WEBHOOKS_WAITING} are already waiting → 503 with `Retry-After`.
 */
export async function validateTwilioWebhook(
    request: HttpRequest,
    options: WebhookValidationOptions,
    log: WebhookLogger,
): Promise<WebhookCheck> {
    const bytes = await readBodyBytes(request, MAX_WEBHOOK_BODY_BYTES);
    if (bytes === undefined) {
        return reject(413, `Webhook body over ${String(MAX_WEBHOOK_BODY_BYTES)} bytes`);
    }
    let decoded: string | undefined;
    // Decoded when needed: a large forged form is checked from its bytes and never needs the text.
    const text = () => (decoded ??= decodeBody(bytes));
    const url = signedUrl(request, options.publicBaseUrl, options.trustedForwardedHosts);
    const queryText = queryTextOf(url);
    const isForm = (request.headers.get('content-type') ?? '').toLowerCase().startsWith(FORM_CONTENT_TYPE);
    const largeForm = isForm && bytes.length > LARGE_WEBHOOK_BYTES ? formInputBytes(bytes, text) : undefined;
    const parameters =
        countParameters(queryText, MAX_WEBHOOK_PARAMETERS) +
        (isForm ? countParameters(largeForm ?? text(), MAX_WEBHOOK_PARAMETERS) : 0);
    if (parameters > MAX_WEBHOOK_PARAMETERS) {
        return reject(413, `More than ${String(MAX_WEBHOOK_PARAMETERS)} webhook parameters`);
    }
    const query = new URLSearchParams(queryText);
    // A small form is parsed once, into the form the handler gets; a large one only once it is accepted.
    const smallForm = isForm && largeForm === undefined ? new URLSearchParams(text()) : undefined;
    const accept = (): WebhookCheck => ({
        ok: true,
        webhook: {
            query,
            form: smallForm ?? (isForm ? new URLSearchParams(text()) : new URLSearchParams()),
            rawBody: text(),
            url,
        },
    });

    if (!options.enabled) {
        log.warn('TWILIO_WEBHOOK_VALIDATION is off: accepting a webhook without checking its signature');
        return accept();
    }
    if (options.authToken === undefined) {
        log.error(
            'Cannot validate the Twilio webhook: no auth token is configured (set KEY_VAULT_URL or TWILIO_AUTH_TOKEN)',
        );
        return reject(500, 'Webhook validation is not configured');
    }
    const signature = request.headers.get(SIGNATURE_HEADER);
    if (signature === null || signature === '') {
        return reject(400, 'Missing X-Twilio-Signature header');
    }

    let token: string;
    try {
        token = await options.authToken.get();
    } catch (error) {
        log.error(
            `Cannot validate the Twilio webhook: ${error instanceof Error ? error.message : String(error)}`,
        );
        return reject(503, 'Webhook validation is temporarily unavailable', { 'Retry-After': '5' });
    }
    const webhooks = await loadWebhooks();
    // The library's HttpRequest normalises the URL, percent-encoding `'` in the query; Twilio signs the URL
    // as configured, where it is usually written bare.
    const unescaped = unescapeApostrophes(url);
    const urls = unescaped === url ? [url] : [url, unescaped];
    let check: (authToken: string) => Promise<boolean>;
    let release: Release | undefined;
    if (query.has('bodySHA256')) {
        // The signature covers the URL only (short) and the body through its hash, computed once a URL
        // form has matched: linear in the body whatever the signature.
        check = (authToken) =>
            Promise.resolve(
                urls.some((candidate) => {
                    try {
                        return webhooks.validateRequestWithBody(authToken, signature, candidate, text());
                    } catch {
                        // A URL twilio cannot parse cannot have been signed by Twilio.
                        return false;
                    }
                }),
            );
    } else if (largeForm !== undefined) {
        release = await largeWebhooks.acquire();
        if (release === undefined) {
            log.warn(
                `Refused a large webhook for ${pathOf(url)}: ${String(MAX_LARGE_WEBHOOKS_WAITING)} are already waiting to be checked`,
            );
            return reject(503, 'Too many large webhooks are being checked', { 'Retry-After': '1' });
        }
        const candidates = signatureUrlCandidates(urls);
        let signed: Promise<Buffer> | undefined;
        const signedData = async () => {
            await pauseForIo();
            const parsed = await parseFormBytes(largeForm, { pause: pauseForIo });
            await pauseForIo();
            return signedParameterBytes(parsed);
        };
        check = async (authToken) => {
            const data = await (signed ??= signedData());
            for (const candidate of candidates) {
                const expected = await signatureOf(authToken, candidate, data, pauseForIo);
                if (sameSignature(signature, expected)) return true;
            }
            return false;
        };
    } else {
        const signed = sortedParameterString(groupParams(smallForm ?? []));
        const candidates = signatureUrlCandidates(urls);
        check = (authToken) =>
            Promise.resolve(
                candidates.some((candidate) =>
                    sameSignature(
                        signature,
                        webhooks.getExpectedTwilioSignature(authToken, candidate + signed, {}),
                    ),
                ),
            );
    }
    let valid: boolean;
    try {
        valid = await check(token);
    } finally {
        release?.();
    }
    if (valid) return accept();

    // The token may have been rotated in Key Vault since it was cached. The provider re-reads at most once
    // a minute however many forged requests arrive, so this cannot be used to flood Key Vault.
    const refreshed = await options.authToken.refresh().catch(() => token);
    if (refreshed !== token && (await check(refreshed))) {
        return accept();
    }

    log.warn(`Rejected a webhook with an invalid Twilio signature for ${pathOf(url)}`);
    return reject(403, 'Twilio signature validation failed');
}

/**
 * Twilio's signature (HMAC-SHA1 with the auth token, base64) of `url` followed by `data`, the UTF-8 of the
 * signed parameters, hashed in slices with `pause` between them. Equal to twilio's
 * `getExpectedTwilioSignature(token, url + dataText, {})`: UTF-8 encodes `url + dataText` as `url`'s bytes
 * then `dataText`'s, because the data begins with a decoded name, which never begins with a lone
 * surrogate that could pair with one ending the URL.
 */
export async function signatureOf(
    authToken: string,
    url: string,
    data: Uint8Array,
    pause?: Pause,
    sliceBytes = HMAC_SLICE_BYTES,
): Promise<string> {
    const hmac = createHmac('sha1', authToken).update(url, 'utf8');
    for (let start = 0; start < data.length; start += sliceBytes) {
        if (start > 0 && pause !== undefined) await pause();
        hmac.update(data.subarray(start, start + sliceBytes));
    }
    return hmac.digest('base64');
}

/**
 * How many parameters `URLSearchParams` would parse from `text` (its non-empty `&`-separated pieces),
 * counting no further than `limit + 1`: a body of a million `&`s costs a scan, never a parse. `text` may
 * also be the UTF-8 bytes of the text: `&` is one byte, and never part of another character's.
 */
export function countParameters(text: string | Uint8Array, limit: number): number {
    const nextAmpersand: (from: number) => number =
        typeof text === 'string'
            ? (from) => text.indexOf('&', from)
            : (
                  (bytes: Buffer) => (from: number) =>
                      bytes.indexOf(0x26, from)
              )(Buffer.from(text.buffer, text.byteOffset, text.byteLength));
    let count = 0;
    let start = 0;
    while (start <= text.length && count <= limit) {
        const end = nextAmpersand(start);
        const stop = end === -1 ? text.length : end;
        if (stop > start) count++;
        if (end === -1) break;
        start = end + 1;
    }
    return count;
}

/**
 * Parameters as twilio's validator takes them, grouped in one pass over `entries`: a repeated key becomes
 * an array of its values, in order.
 */
export function groupParams(entries: Iterable<[string, string]>): Record<string, string | string[]> {
    // No prototype: a parameter named `__proto__` must be a key like any other, not a prototype setter
    // that would drop it from the signed data.
    const params = Object.create(null) as Record<string, string | string[]>;
    for (const [key, value] of entries) {
        const seen = params[key];
        if (seen === undefined) params[key] = value;
        // A local array: twilio's validator tests `instanceof Array`, which fails for an array made in
        // another realm (as under jest's VM sandbox) and would silently drop repeated keys.
        else if (typeof seen === 'string') params[key] = [seen, value];
        else seen.push(value);
    }
    return params;
}

/**
 * The parameter part of the data Twilio signs, as twilio's `getExpectedTwilioSignature` builds it after
 * the URL: each name in sorted order followed by its value; a repeated name once per distinct value,
 * values sorted. Built once per request, then appended to each URL form tried.
 */
export function sortedParameterString(params: Readonly<Record<string, string | readonly string[]>>): string {
    let data = '';
    for (const key of Object.keys(params).sort()) {
        const value = params[key] ?? '';
        if (typeof value === 'string') data += key + value;
        else for (const v of [...new Set(value)].sort()) data += key + v;
    }
    return data;
}

/**
 * Every distinct URL form under which twilio's `validateRequest` would accept a signature for `urls`:
 * each as received and normalised by `new URL()`, with and without the scheme's default port, and with
 * the query re-encoded as Node's legacy `querystring` does. twilio computes all six forms for every call,
 * most of them identical; signing each distinct one once keeps a forged request's cost near a genuine one's.
 */
export function signatureUrlCandidates(urls: readonly string[]): string[] {
    const candidates = new Set<string>();
    for (const url of urls) {
        candidates.add(withoutPort(url));
        candidates.add(withPort(url));
    }
    for (const url of urls) {
        let normalized: string;
        try {
            normalized = new URL(url).toString();
        } catch {
            continue;
        }
        const forms = [withoutPort(normalized), withPort(normalized)];
        for (const form of forms) candidates.add(form);
        for (const form of forms) candidates.add(withLegacyQuery(form));
    }
    return [...candidates];
}

const URL_AUTHORITY = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)/i;

function splitAuthority(url: string) {
    const match = URL_AUTHORITY.exec(url);
    if (match === null) return undefined;
    const [prefix, scheme = '', authority = ''] = match;
    const userInfoEnd = authority.lastIndexOf('@');
    const hostAndPort = authority.slice(userInfoEnd + 1);
    // In an IPv6 literal the colons before the closing bracket are the address's own.
    const portStart = hostAndPort.indexOf(':', hostAndPort.lastIndexOf(']') + 1);
    return {
        scheme,
        userInfo: authority.slice(0, userInfoEnd + 1),
        host: portStart === -1 ? hostAndPort : hostAndPort.slice(0, portStart),
        port: portStart === -1 ? '' : hostAndPort.slice(portStart),
        rest: url.slice(prefix.length),
    };
}

function withPort(url: string): string {
    const parts = splitAuthority(url);
    if (parts === undefined || parts.port !== '') return url;
    const port = parts.scheme.toLowerCase() === 'https://' ? ':443' : ':80';
    return parts.scheme + parts.userInfo + parts.host + port + parts.rest;
}

function withoutPort(url: string): string {
    const parts = splitAuthority(url);
    return parts === undefined ? url : parts.scheme + parts.userInfo + parts.host + parts.rest;
}

function withLegacyQuery(url: string): string {
    const start = url.indexOf('?');
    if (start === -1 || start === url.length - 1) return url;
    return `${url.slice(0, start)}?${stringifyQuery(parseQuery(url.slice(start + 1)))}`;
}

function sameSignature(received: string, expected: string): boolean {
    const a = Buffer.from(received);
    const b = Buffer.from(expected);
    return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * The URL Twilio signed, rebuilt from the path and query exactly as received (cut from the raw URL text,
 * because `new URL()` would re-encode characters Twilio signed as they were) and an origin:
 *
 * - `X-Forwarded-Proto` / `X-Forwarded-Host`, only when that host (any port) is one of
 *   `trustedForwardedHosts` — a proxy the operator listed (Front Door, API Management). Any client can
 *   send these headers, so an unlisted forwarded host is ignored: trusting it would let a request Twilio
 *   signed for another deployment on the same account validate here;
 * - otherwise `publicBaseUrl` (`PUBLIC_BASE_URL`, or `https://$WEBSITE_HOSTNAME` in Azure);
 * - otherwise the request URL.
 */
export function signedUrl(
    request: Pick<HttpRequest, 'url' | 'headers'>,
    publicBaseUrl: string | undefined,
    trustedForwardedHosts: readonly string[] = [],
): string {
    const raw = request.url;
    const schemeEnd = raw.indexOf('://');
    const pathStart = schemeEnd === -1 ? -1 : raw.indexOf('/', schemeEnd + 3);
    const pathAndQuery = pathStart === -1 ? '/' : raw.slice(pathStart);
    const forwardedHost = firstValue(request.headers.get('x-forwarded-host'));
    if (forwardedHost !== undefined && isTrustedHost(forwardedHost, trustedForwardedHosts)) {
        const forwardedProto = firstValue(request.headers.get('x-forwarded-proto'))?.toLowerCase();
        const proto =
            forwardedProto === 'https' || forwardedProto === 'http'
                ? forwardedProto
                : raw.slice(0, schemeEnd);
        return `${proto}://${forwardedHost}${pathAndQuery}`;
    }
    if (publicBaseUrl !== undefined) {
        return publicBaseUrl + pathAndQuery;
    }
    return raw;
}

const HOST_AND_PORT = /^([^:[\]]+)(?::\d{1,5})?$/;

function isTrustedHost(forwardedHost: string, trusted: readonly string[]): boolean {
    if (trusted.length === 0) return false;
    const name = HOST_AND_PORT.exec(forwardedHost)?.[1]?.toLowerCase();
    return name !== undefined && trusted.includes(name);
}

function unescapeApostrophes(url: string): string {
    const start = url.indexOf('?');
    return start === -1 ? url : url.slice(0, start) + url.slice(start).replace(/%27/g, "'");
}

function firstValue(header: string | null): string | undefined {
    const value = header?.split(',')[0]?.trim();
    return value === undefined || value === '' ? undefined : value;
}

function queryTextOf(url: string): string {
    const start = url.indexOf('?');
    if (start === -1) return '';
    const end = url.indexOf('#', start);
    return url.slice(start + 1, end === -1 ? undefined : end);
}

function pathOf(url: string): string {
    const query = url.indexOf('?');
    return query === -1 ? url : url.slice(0, query);
}

function reject(status: number, message: string, headers: Record<string, string> = {}): WebhookCheck {
    return {
        ok: false,
        response: { status, headers: { 'Content-Type': 'text/plain', ...headers }, body: message },
    };
}
