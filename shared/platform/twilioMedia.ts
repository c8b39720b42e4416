/**
 * What fetching a file from Twilio with the account's REST credentials takes, wherever it is done: an
 * inbound message's media (shared/media/fetch.ts) and a call's recording (shared/voice/recordings.ts).
 * Each caller keeps its own rules (how redirects are followed, which types it takes, its size bound and
 * how an answer maps to its outcome); what is the same is here:
 *
 * - **Credentials as the REST client's** (shared/platform/twilioClient.ts): HTTP Basic with the API key SID
 *   or the account SID as user. A 401 re-reads the secret once (rate-limited by the secret provider) and
 *   retries when it changed, as a rotated key or token is picked up elsewhere.
 * - **Bounded bodies**: refused from `Content-Length` when it says more than the bound, and counted while
 *   reading whatever it says (a wrong or missing length cannot make the app hold more).
 * - **Failures named without a URL, a header or a credential**: a transport error by its kind and code.
 *
 * `fetch` is Node's own; nothing here logs or imports an SDK.
 */

import type { SecretProvider } from './secrets';

/** The REST credentials a Twilio file is fetched with. */
export interface TwilioFileCredentials {
    /** The API key SID, else the account SID. */
    user: string;
    /** The key's secret, else the auth token. */
    secret: SecretProvider;
}

/** Twilio's answer, or why there is none that is worth reading (the credentials, as a sentence). */
export type CredentialedAnswer =
    { kind: 'answer'; response: Response } | { kind: 'no-credentials'; reason: string };

/**
 * Twilio's answer to `request`, made with `credentials` as an `Authorization` header, and made once more
 * when it answered 401 and the secret, read again, has changed. A 401 with the same secret, or a secret
 * that cannot be read, is `no-credentials` (its body cancelled).
 *
 * @throws what `request` throws (a transport error, a timeout): name it with {@link transportReason}.
 */
export async function fetchWithCredentials(
    credentials: TwilioFileCredentials,
    request: (authorization: string) => Promise<Response>,
): Promise<CredentialedAnswer> {
    let secret: string;
    try {
        secret = await credentials.secret.get();
    } catch {
        return { kind: 'no-credentials', reason: 'the Twilio credentials could not be read' };
    }
    const response = await request(basic(credentials.user, secret));
    if (response.status !== 401) return { kind: 'answer', response };
    await response.body?.cancel();
    const fresh = await credentials.secret.refresh().catch(() => secret);
    if (fresh === secret) return { kind: 'no-credentials', reason: 'Twilio refused the credentials (401)' };
    return { kind: 'answer', response: await request(basic(credentials.user, fresh)) };
}

/** The `Authorization` header of HTTP Basic with `user` and `secret`. */
export function basic(user: string, secret: string): string {
    return `Basic ${Buffer.from(`${user}:${secret}`, 'utf8').toString('base64')}`;
}

/**
 * The body, or undefined when it is over `limit` bytes: said so by `Content-Length` (the body is then
 * cancelled unread), or found while reading (the rest is not read).
 */
export async function readBounded(response: Response, limit: number): Promise<Uint8Array | undefined> {
    const declared = Number(response.headers.get('content-length') ?? Number.NaN);
    if (declared > limit) {
        await response.body?.cancel();
        return undefined;
    }
    if (response.body === null) return new Uint8Array(0);
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const chunks: Uint8Array[] = [];
    let size = 0;
    for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        size += value.byteLength;
        if (size > limit) {
            await reader.cancel();
            return undefined;
        }
        chunks.push(value);
    }
    return Buffer.concat(chunks);
}

/**
 * A transport failure as a sentence: `words.timedOut` for a timeout or an abort, else `words.failed` with
 * the error's code (`ECONNREFUSED`) when it has a plain one. Never the URL or anything else the error holds.
 */
export function transportReason(error: unknown, words: { timedOut: string; failed: string }): string {
    // Duck-typed: errors from Node's own fetch may come from another realm than this module's `Error`.
    const name = (error as { name?: unknown } | null)?.name;
    if (name === 'TimeoutError' || name === 'AbortError') return words.timedOut;
    const cause = (error as { cause?: { code?: unknown } } | null)?.cause;
    const code = typeof cause?.code === 'string' ? cause.code : undefined;
    return code === undefined || !/^[A-Z0-9_]{1,40}$/.test(code) ? words.failed : `${words.failed} (${code})`;
}
