/**
 * Twilio webhook validation for Azure Functions v4 `HttpRequest`s.
 *
 * The HMAC itself is twilio's own `validateRequest` / `validateRequestWithBody` (its light `webhooks`
 * module, not the whole package); this module does the Azure part: reading the body once, within bounds,
 * rebuilding the URL that Twilio signed behind App Service / Front Door / a proxy, and retrying once after a
 * token rotation without letting forged requests drive Key Vault traffic.
 */

import { timingSafeEqual } from 'node:crypto';
import { parse as parseQuery, stringify as stringifyQuery } from 'node:querystring';
import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import { lazy } from './lazy';
import type { SecretProvider } from './secrets';

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
 * Reads the request once and checks its `X-Twilio-Signature`.
 *
 * A body over {@link MAX_WEBHOOK_BODY_BYTES}, or more than {@link MAX_WEBHOOK_PARAMETERS} parameters →
 * 413, before any parsing or signature work. Then: missing signature → 400; signature that does not
 * match → 403 (after one rate-limited token refresh, in case the token was rotated); no token configured
 * → 500; token unreadable → 503. Only what the signature covers is returned: form parameters of a
 * form-encoded body, or the raw body of a JSON one (covered by `bodySHA256`); any other body is ignored.
 *
 * The work is linear in the body: the parameters are grouped in one pass and their sorted string is
 * built once, then signed for each distinct URL form twilio's validator would try, so a forged request
 * costs about what a genuine one does.
 */
export async function validateTwilioWebhook(
    request: HttpRequest,
    options: WebhookValidationOptions,
    log: WebhookLogger,
): Promise<WebhookCheck> {
    const body = await readBody(request, MAX_WEBHOOK_BODY_BYTES);
    if (body === undefined) {
        return reject(413, `Webhook body over ${String(MAX_WEBHOOK_BODY_BYTES)} bytes`);
    }
    const rawBody = body;
    const url = signedUrl(request, options.publicBaseUrl, options.trustedForwardedHosts);
    const queryText = queryTextOf(url);
    const isForm = (request.headers.get('content-type') ?? '').toLowerCase().startsWith(FORM_CONTENT_TYPE);
    const parameters =
        countParameters(queryText, MAX_WEBHOOK_PARAMETERS) +
        (isForm ? countParameters(rawBody, MAX_WEBHOOK_PARAMETERS) : 0);
    if (parameters > MAX_WEBHOOK_PARAMETERS) {
        return reject(413, `More than ${String(MAX_WEBHOOK_PARAMETERS)} webhook parameters`);
    }
    const query = new URLSearchParams(queryText);
    const form = isForm ? new URLSearchParams(rawBody) : new URLSearchParams();
    const webhook: TwilioWebhook = { query, form, rawBody, url };

    if (!options.enabled) {
        log.warn('TWILIO_WEBHOOK_VALIDATION is off: accepting a webhook without checking its signature');
        return { ok: true, webhook };
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
    let check: (authToken: string) => boolean;
    if (query.has('bodySHA256')) {
        // The signature covers the URL only (short) and the body through its hash, computed once a URL
        // form has matched: linear in the body whatever the signature.
        check = (authToken) =>
            urls.some((candidate) => {
                try {
                    return webhooks.validateRequestWithBody(authToken, signature, candidate, rawBody);
                } catch {
                    // A URL twilio cannot parse cannot have been signed by Twilio.
                    return false;
                }
            });
    } else {
        const signed = sortedParameterString(groupParams(form));
        const candidates = signatureUrlCandidates(urls);
        check = (authToken) =>
            candidates.some((candidate) =>
                sameSignature(
                    signature,
                    webhooks.getExpectedTwilioSignature(authToken, candidate + signed, {}),
                ),
            );
    }
    if (check(token)) return { ok: true, webhook };

    // The token may have been rotated in Key Vault since it was cached. The provider re-reads at most once
    // a minute however many forged requests arrive, so this cannot be used to flood Key Vault.
    const refreshed = await options.authToken.refresh().catch(() => token);
    if (refreshed !== token && check(refreshed)) {
        return { ok: true, webhook };
    }

    log.warn(`Rejected a webhook with an invalid Twilio signature for ${pathOf(url)}`);
    return reject(403, 'Twilio signature validation failed');
}

/**
 * The body as text (UTF-8, as `request.text()` decodes it), or `undefined` when it is over `limit` bytes:
 * refused by `Content-Length` before reading when the header says so, and otherwise counted while
 * reading, so a body without (or lying about) its length is never held in memory beyond the limit.
 */
export async function readBody(
    request: Pick<HttpRequest, 'method' | 'headers' | 'body'>,
    limit: number,
): Promise<string | undefined> {
    if (request.method === 'GET' || request.method === 'HEAD') return '';
    const declared = request.headers.get('content-length');
    if (declared !== null && /^\d+$/.test(declared.trim()) && Number(declared.trim()) > limit)
        return undefined;
    const stream = request.body;
    if (stream === null) return '';
    const reader = stream.getReader();
    const chunks: Uint8Array[] = [];
    let size = 0;
    for (;;) {
        const { done, value } = (await reader.read()) as { done: boolean; value?: Uint8Array };
        if (done) break;
        if (value === undefined) continue;
        size += value.byteLength;
        if (size > limit) {
            // Stops the source: the rest of the body is never read.
            await reader.cancel().catch(() => undefined);
            return undefined;
        }
        chunks.push(value);
    }
    return new TextDecoder().decode(Buffer.concat(chunks, size));
}

/**
 * How many parameters `URLSearchParams` would parse from `text` (its non-empty `&`-separated pieces),
 * counting no further than `limit + 1`: a body of a million `&`s costs a scan, never a parse.
 */
export function countParameters(text: string, limit: number): number {
    let count = 0;
    let start = 0;
    while (start <= text.length && count <= limit) {
        const end = text.indexOf('&', start);
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
