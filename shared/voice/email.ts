/**
 * E-mail through Azure Communication Services, sent as the app's identity: the ACS Email REST API's Send
 * (`POST {endpoint}/emails:send?api-version=2023-03-31`, a bearer token for
 * `https://communication.azure.com/.default`), answered `202 Accepted` with an `Operation-Location` and the
 * operation `{id, status}`. Raw `fetch`: one request needs no SDK, and the credential is the app's own
 * (shared/platform/dependencies.ts), so `@azure/identity` loads only when a token is first needed.
 *
 * - The caller names the operation (`Operation-Id`, a UUID): the same notification always carries the same
 *   id, so an operation can be matched to the voicemail it was for.
 * - Every outcome is a value: `ok` with the operation id, or a `reason` naming what failed (no token, the
 *   service's refusal with its status and error code, a transport error, a timeout) — never the recipient,
 *   the content or the token.
 *
 * Nothing here logs: the message holds an address and what the caller left.
 */

import { createHash, randomUUID } from 'node:crypto';
import type { TokenCredential } from '@azure/core-auth';

/** The token scope of Communication Services' data plane. */
export const COMMUNICATION_SCOPE = 'https://communication.azure.com/.default';
export const EMAIL_API_VERSION = '2023-03-31';
/** How long one send may take, token included. */
export const EMAIL_SEND_TIMEOUT_MS = 15_000;

export interface EmailMessage {
    /** One recipient's address. */
    to: string;
    subject: string;
    plainText: string;
    /** A UUID naming the send operation (`Operation-Id`). */
    operationId: string;
}

export type EmailOutcome = { ok: true; operationId: string } | { ok: false; reason: string };

/** Sends one e-mail; never throws. */
export type EmailSender = (message: EmailMessage) => Promise<EmailOutcome>;

export interface EmailSenderOptions {
    /** `https://<resource>.communication.azure.com` (no trailing slash). */
    endpoint: string;
    /** The MailFrom address. */
    sender: string;
    credential: TokenCredential;
    fetch?: typeof fetch;
    timeoutMs?: number;
}

/** A sender for one Communication Services resource and MailFrom address. */
export function createEmailSender(options: EmailSenderOptions): EmailSender {
    const doFetch = options.fetch ?? fetch;
    const url = `${options.endpoint.replace(/\/+$/, '')}/emails:send?api-version=${EMAIL_API_VERSION}`;
    return async (message) => {
        const signal = AbortSignal.timeout(options.timeoutMs ?? EMAIL_SEND_TIMEOUT_MS);
        let token: string;
        try {
            const issued = await options.credential.getToken(COMMUNICATION_SCOPE, { abortSignal: signal });
            if (issued === null) return { ok: false, reason: 'no token for Communication Services' };
            token = issued.token;
        } catch (error) {
            return {
                ok: false,
                reason: `no token for Communication Services (${nameOf(error)})`,
            };
        }
        let response: Response;
        try {
            response = await doFetch(url, {
                method: 'POST',
                headers: {
                    Authorization: `Bearer ${token}`,
                    'Content-Type': 'application/json',
                    'Operation-Id': message.operationId,
                    'x-ms-client-request-id': randomUUID(),
                },
                body: JSON.stringify({
                    senderAddress: options.sender,
                    recipients: { to: [{ address: message.to }] },
                    content: { subject: message.subject, plainText: message.plainText },
                    userEngagementTrackingDisabled: true,
                }),
                redirect: 'error',
                signal,
            });
        } catch (error) {
            return { ok: false, reason: `Communication Services could not be reached (${nameOf(error)})` };
        }
        const text = await response.text().catch(() => '');
        if (response.status !== 202) {
            const code = errorCode(response, text);
            return {
                ok: false,
                reason: `Communication Services refused the e-mail: HTTP ${String(response.status)}${code === undefined ? '' : ` ${code}`}`,
            };
        }
        return { ok: true, operationId: operationIdOf(response, text) ?? message.operationId };
    };
}

/**
 * A UUID for `seed`, always the same for the same seed (the hash's first 16 bytes with the version and
 * variant bits of a name-based UUID): one notification, one operation id, however often it is attempted.
 */
export function operationIdFor(seed: string): string {
    const bytes = createHash('sha256').update(seed, 'utf8').digest().subarray(0, 16);
    bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x50;
    bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
    const hex = bytes.toString('hex');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The service's error code (`x-ms-error-code`, else the body's `error.code`), if it is a plain word. */
function errorCode(response: Response, text: string): string | undefined {
    let code = response.headers.get('x-ms-error-code') ?? undefined;
    if (code === undefined) {
        try {
            const body = JSON.parse(text) as { error?: { code?: unknown } } | null;
            code = typeof body?.error?.code === 'string' ? body.error.code : undefined;
        } catch {
            code = undefined;
        }
    }
    return code !== undefined && /^[A-Za-z0-9_.-]{1,64}$/.test(code) ? code : undefined;
}

/** The operation's id from the body's `id`, else the last segment of `Operation-Location`. */
function operationIdOf(response: Response, text: string): string | undefined {
    try {
        const body = JSON.parse(text) as { id?: unknown } | null;
        if (typeof body?.id === 'string' && /^[A-Za-z0-9-]{1,64}$/.test(body.id)) return body.id;
    } catch {
        // Fall back to the header.
    }
    const location = response.headers.get('operation-location');
    if (location === null || !URL.canParse(location)) return undefined;
    const last = new URL(location).pathname.split('/').pop() ?? '';
    return /^[A-Za-z0-9-]{1,64}$/.test(last) ? last : undefined;
}

function nameOf(error: unknown): string {
    // Duck-typed: errors from Node's own fetch may come from another realm than this module's `Error`.
    const { name, cause } = (error ?? {}) as { name?: unknown; cause?: { code?: unknown } };
    if (name === 'TimeoutError' || name === 'AbortError') return 'timed out';
    const code = cause?.code;
    if (typeof code === 'string' && /^[A-Z0-9_]{1,40}$/.test(code)) return code;
    return typeof name === 'string' && /^[A-Za-z]{1,40}$/.test(name) ? name : 'error';
}
