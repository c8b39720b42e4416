/**
 * Twilio webhook validation for Azure Functions v4 `HttpRequest`s.
 *
 * The HMAC itself is twilio's own `validateRequest` / `validateRequestWithBody` (its light `webhooks`
 * module, not the whole package); this module does the Azure part: reading the body once, rebuilding the
 * URL that Twilio signed behind App Service / Front Door / a proxy, and retrying once after a token
 * rotation without letting forged requests drive Key Vault traffic.
 */

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
}

export interface WebhookLogger {
    warn(...args: unknown[]): void;
    error(...args: unknown[]): void;
}

const FORM_CONTENT_TYPE = 'application/x-www-form-urlencoded';

/**
 * Reads the request once and checks its `X-Twilio-Signature`.
 *
 * Missing signature → 400; signature that does not match → 403 (after one rate-limited token refresh, in
 * case the token was rotated); no token configured → 500; token unreadable → 503. Only what the signature
 * covers is returned: form parameters of a form-encoded body, or the raw body of a JSON one (covered by
 * `bodySHA256`); any other body is ignored.
 */
export async function validateTwilioWebhook(
    request: HttpRequest,
    options: WebhookValidationOptions,
    log: WebhookLogger,
): Promise<WebhookCheck> {
    const rawBody = request.method === 'GET' || request.method === 'HEAD' ? '' : await request.text();
    const url = signedUrl(request, options.publicBaseUrl);
    const query = queryOf(url);
    const isForm = (request.headers.get('content-type') ?? '').toLowerCase().startsWith(FORM_CONTENT_TYPE);
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
    const check = (authToken: string, candidateUrl = url): boolean => {
        try {
            return query.has('bodySHA256')
                ? webhooks.validateRequestWithBody(authToken, signature, candidateUrl, rawBody)
                : webhooks.validateRequest(authToken, signature, candidateUrl, formParams(form));
        } catch {
            // validateRequest parses the URL; a URL it cannot parse cannot have been signed by Twilio.
            return false;
        }
    };
    if (check(token)) return { ok: true, webhook };
    // The library's HttpRequest normalises the URL, percent-encoding `'` in the query; Twilio signs the URL
    // as configured, where it is usually written bare.
    const unescaped = unescapeApostrophes(url);
    if (unescaped !== url && check(token, unescaped)) return { ok: true, webhook };

    // The token may have been rotated in Key Vault since it was cached. The provider re-reads at most once
    // a minute however many forged requests arrive, so this cannot be used to flood Key Vault.
    const refreshed = await options.authToken.refresh().catch(() => token);
    if (refreshed !== token && (check(refreshed) || (unescaped !== url && check(refreshed, unescaped)))) {
        return { ok: true, webhook };
    }

    log.warn(`Rejected a webhook with an invalid Twilio signature for ${pathOf(url)}`);
    return reject(403, 'Twilio signature validation failed');
}

/**
 * The URL Twilio signed: `publicBaseUrl` + the path and query exactly as received; without it, the
 * forwarded protocol and host when a proxy set them; otherwise the request URL. The path and query are cut
 * from the raw URL text because `new URL()` would re-encode characters Twilio signed as they were.
 */
export function signedUrl(
    request: Pick<HttpRequest, 'url' | 'headers'>,
    publicBaseUrl: string | undefined,
): string {
    const raw = request.url;
    const schemeEnd = raw.indexOf('://');
    const pathStart = schemeEnd === -1 ? -1 : raw.indexOf('/', schemeEnd + 3);
    const pathAndQuery = pathStart === -1 ? '/' : raw.slice(pathStart);
    if (publicBaseUrl !== undefined) {
        return publicBaseUrl + pathAndQuery;
    }
    const forwardedHost = firstValue(request.headers.get('x-forwarded-host'));
    if (forwardedHost !== undefined) {
        const proto = firstValue(request.headers.get('x-forwarded-proto')) ?? raw.slice(0, schemeEnd);
        return `${proto}://${forwardedHost}${pathAndQuery}`;
    }
    return raw;
}

function unescapeApostrophes(url: string): string {
    const start = url.indexOf('?');
    return start === -1 ? url : url.slice(0, start) + url.slice(start).replace(/%27/g, "'");
}

function firstValue(header: string | null): string | undefined {
    const value = header?.split(',')[0]?.trim();
    return value === undefined || value === '' ? undefined : value;
}

function queryOf(url: string): URLSearchParams {
    const start = url.indexOf('?');
    if (start === -1) return new URLSearchParams();
    const end = url.indexOf('#', start);
    return new URLSearchParams(url.slice(start + 1, end === -1 ? undefined : end));
}

function pathOf(url: string): string {
    const query = url.indexOf('?');
    return query === -1 ? url : url.slice(0, query);
}

/** Form parameters as twilio's validator takes them: a repeated key becomes an array of its values. */
function formParams(form: URLSearchParams): Record<string, string | string[]> {
    // No prototype: a parameter named `__proto__` must be a key like any other, not a prototype setter
    // that would drop it from the signed data.
    const params = Object.create(null) as Record<string, string | string[]>;
    for (const key of new Set(form.keys())) {
        // Copied into a local array: twilio's validator tests `instanceof Array`, which fails for an array
        // made in another realm (as under jest's VM sandbox) and would silently drop repeated keys.
        const values = [...form.getAll(key)];
        params[key] = values.length === 1 ? (values[0] ?? '') : values;
    }
    return params;
}

function reject(status: number, message: string, headers: Record<string, string> = {}): WebhookCheck {
    return {
        ok: false,
        response: { status, headers: { 'Content-Type': 'text/plain', ...headers }, body: message },
    };
}
