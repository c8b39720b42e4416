import { createHash, createHmac } from 'node:crypto';
import { HttpRequest, InvocationContext, type LogLevel } from '@azure/functions';

export type Params = Record<string, string | string[]>;

/**
 * Twilio's request-signing algorithm, written out from its documentation (not taken from the SDK), so a
 * test fails if the app's use of the SDK validator drifts from what Twilio actually sends: the URL, then
 * each parameter name followed by its value, names sorted (a repeated name once per distinct value, values
 * sorted), HMAC-SHA1 with the auth token, base64.
 */
export function twilioSignature(authToken: string, url: string, params: Params = {}): string {
    let data = url;
    for (const key of Object.keys(params).sort()) {
        const value = params[key];
        const values = Array.isArray(value) ? [...new Set(value)].sort() : [value ?? ''];
        for (const v of values) data += key + v;
    }
    return createHmac('sha1', authToken).update(Buffer.from(data, 'utf-8')).digest('base64');
}

/** The `bodySHA256` query value Twilio adds for a JSON body. */
export function bodySha256(body: string): string {
    return createHash('sha256').update(body, 'utf-8').digest('hex');
}

/** A form body in Twilio's encoding, repeated keys kept. */
export function formBody(params: Params): string {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) {
        for (const v of Array.isArray(value) ? value : [value]) search.append(key, v);
    }
    return search.toString();
}

export interface WebhookRequestInit {
    url: string;
    method?: string;
    params?: Params;
    /** Overrides the form body built from `params` (e.g. a JSON body). */
    body?: string;
    contentType?: string;
    headers?: Record<string, string>;
    /** The signature header; omitted when `undefined`. */
    signature?: string | undefined;
}

/** A real `HttpRequest` as the Functions worker would build it for a Twilio webhook. */
export function webhookRequest(init: WebhookRequestInit): HttpRequest {
    const method = init.method ?? 'POST';
    const headers: Record<string, string> = { ...init.headers };
    if (init.signature !== undefined) headers['X-Twilio-Signature'] = init.signature;
    let body: string | undefined;
    if (method !== 'GET') {
        body = init.body ?? formBody(init.params ?? {});
        headers['Content-Type'] = init.contentType ?? 'application/x-www-form-urlencoded; charset=UTF-8';
    }
    return new HttpRequest({
        method,
        url: init.url,
        headers,
        body: body === undefined ? undefined : { string: body },
    });
}

/** A signed webhook request: the signature is computed for `signedUrl` (default: `url`). */
export function signedWebhookRequest(
    authToken: string,
    init: Omit<WebhookRequestInit, 'signature'> & { signedUrl?: string },
): HttpRequest {
    const method = init.method ?? 'POST';
    const signedParams = method === 'GET' || init.body !== undefined ? {} : (init.params ?? {});
    const signature = twilioSignature(authToken, init.signedUrl ?? init.url, signedParams);
    return webhookRequest({ ...init, signature });
}

export interface CapturedLog {
    level: LogLevel;
    message: string;
}

/** A real `InvocationContext` whose log lines are kept for assertions. */
export function testContext(functionName = 'test'): { context: InvocationContext; logs: CapturedLog[] } {
    const logs: CapturedLog[] = [];
    const context = new InvocationContext({
        functionName,
        invocationId: 'test-invocation',
        logHandler: (level, ...args) => {
            logs.push({ level, message: args.map(String).join(' ') });
        },
    });
    return { context, logs };
}

/** The response body as text, whatever form the handler returned it in. */
export function bodyText(body: unknown): string {
    if (typeof body === 'string') return body;
    throw new Error(`Expected a string body, got ${typeof body}`);
}
