/**
 * Requests made the way Twilio makes them to your app: form-encoded parameters (in the body for POST, in
 * the query for GET), signed with `X-Twilio-Signature` by twilio's own public helper, with Twilio's
 * headers. Used for status callbacks, TwiML fetches and simulated inbound messages.
 */

import { randomBytes } from 'node:crypto';
import { getExpectedTwilioSignature } from 'twilio/lib/webhooks/webhooks';

export type TwilioParams = Record<string, string | string[]>;

export interface TwilioRequestOptions {
    url: string;
    method: 'GET' | 'POST';
    params: TwilioParams;
    authToken: string;
    fetch: typeof fetch;
    /** The URL to sign when it differs from `url` (the app's public origin behind a proxy). */
    signatureUrl?: string | undefined;
    signal?: AbortSignal | undefined;
    /** Twilio gives up on a webhook after 15 s. */
    timeoutMs?: number | undefined;
}

export interface TwilioRequestResult {
    status: number;
    /** The `Content-Type` answered, `''` when none. */
    contentType: string;
    body: string;
}

const DEFAULT_TIMEOUT_MS = 15_000;

/** Form encoding with repeated keys kept (`MediaUrl=a&MediaUrl=b`), in insertion order. */
export function encodeParams(params: TwilioParams): string {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) {
        for (const item of typeof value === 'string' ? [value] : value) search.append(key, item);
    }
    return search.toString();
}

/**
 * Sends one signed request and reads the answer. Rejects when no answer arrives (connection refused,
 * timeout, abort); any HTTP status resolves.
 *
 * Credentials in the URL (`https://user:pass@host/…`) are sent as Basic auth, as Twilio does, and left
 * out of the signed URL, which must be what the receiving app can rebuild from its own request.
 */
export async function sendTwilioRequest(options: TwilioRequestOptions): Promise<TwilioRequestResult> {
    const { url, credentials } = splitCredentials(options.url);
    const signedBase = options.signatureUrl ?? url;
    const encoded = encodeParams(options.params);
    const withQuery = (base: string) =>
        encoded === '' ? base : `${base}${base.includes('?') ? '&' : '?'}${encoded}`;

    const isGet = options.method === 'GET';
    const requestUrl = isGet ? withQuery(url) : url;
    // twilio's helper takes repeated keys as arrays; the arrays are copied here, in this module's realm,
    // because it tests `instanceof Array`.
    const signedParams: Record<string, string | string[]> = {};
    if (!isGet) {
        for (const [key, value] of Object.entries(options.params)) {
            signedParams[key] = typeof value === 'string' ? value : [...value];
        }
    }
    const signature = getExpectedTwilioSignature(
        options.authToken,
        isGet ? withQuery(signedBase) : signedBase,
        signedParams,
    );

    const headers: Record<string, string> = {
        Accept: '*/*',
        'Cache-Control': 'max-age=259200',
        'User-Agent': 'TwilioProxy/1.1',
        'X-Twilio-Signature': signature,
        'I-Twilio-Idempotency-Token': randomBytes(16).toString('hex'),
    };
    if (credentials !== undefined) {
        headers.Authorization = `Basic ${Buffer.from(credentials).toString('base64')}`;
    }
    if (!isGet) headers['Content-Type'] = 'application/x-www-form-urlencoded; charset=UTF-8';

    const timeout = AbortSignal.timeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    const signal = options.signal === undefined ? timeout : AbortSignal.any([options.signal, timeout]);
    const response = await options.fetch(requestUrl, {
        method: options.method,
        headers,
        body: isGet ? undefined : encoded,
        signal,
    });
    return {
        status: response.status,
        contentType: response.headers.get('content-type') ?? '',
        body: await response.text(),
    };
}

/**
 * Why a request got no answer, in a line: `ECONNREFUSED (connect ECONNREFUSED 127.0.0.1:80)`,
 * `timed out`, … Duck-typed: `fetch` errors may come from another realm (as under jest), where
 * `instanceof Error` is false.
 */
export function describeRequestError(error: unknown): string {
    const { name, message, cause, code } = errorFields(error);
    if (name === 'TimeoutError') return 'timed out';
    if (name === 'AbortError') return 'aborted';
    if (cause !== undefined) {
        const inner = errorFields(cause);
        const text = inner.message ?? (typeof cause === 'string' ? cause : 'unknown cause');
        return inner.code === undefined ? text : `${inner.code} (${text})`;
    }
    const text = message ?? String(error);
    return code === undefined ? text : `${code} (${text})`;
}

/** An error's message, whatever realm it comes from. */
export function messageOf(error: unknown): string {
    return errorFields(error).message ?? String(error);
}

function errorFields(error: unknown): { name?: string; message?: string; code?: string; cause?: unknown } {
    if (typeof error !== 'object' || error === null) return {};
    const record = error as Record<string, unknown>;
    const text = (key: string) => (typeof record[key] === 'string' ? record[key] : undefined);
    return {
        name: text('name'),
        message: text('message'),
        code: text('code'),
        cause: record.cause ?? undefined,
    };
}

/** `scheme://host/path` with no credentials or query: what may go into a log line. */
export function loggableUrl(url: string): string {
    try {
        const parsed = new URL(url);
        return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
    } catch {
        return '(invalid URL)';
    }
}

function splitCredentials(url: string): { url: string; credentials: string | undefined } {
    const match = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#@]*)@/i.exec(url);
    if (match === null) return { url, credentials: undefined };
    const [whole, scheme = '', userInfo = ''] = match;
    const colon = userInfo.indexOf(':');
    const user = colon === -1 ? userInfo : userInfo.slice(0, colon);
    const password = colon === -1 ? '' : userInfo.slice(colon + 1);
    return {
        url: scheme + url.slice(whole.length),
        credentials: `${decodeURIComponent(user)}:${decodeURIComponent(password)}`,
    };
}
