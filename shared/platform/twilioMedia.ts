/**
 * What fetching a file from Twilio with the account's REST credentials takes, wherever it is done: an
 * inbound message's media (shared/media/fetch.ts) and a call's recording (shared/voice/recordings.ts).
 * Each caller keeps its own rules (how redirects are followed, which types it takes, its size bound and
 * how an answer maps to its outcome); what is the same is here:
 *
 * - **Credentials as the REST client's** (shared/platform/twilioClient.ts): HTTP Basic with the API key SID
 *   or the account SID as user. A 401 re-reads the secret once (rate-limited by the secret provider) and
 *   retries when it changed, as a rotated key or token is picked up elsewhere.
 * - **Bounded bodies** ({@link readAnswerBody}): read as request bodies are (shared/platform/httpBody.ts):
 *   refused from `Content-Length` when it says more than the bound, and counted while reading whatever it
 *   says (a wrong or missing length cannot make the app hold more).
 * - **Failures named without a URL, a header or a credential**: a transport error by its kind and code.
 *
 * `fetch` is Node's own; nothing here logs or imports an SDK.
 */

import { readBodyBytes } from './httpBody';
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
 * A fetched answer's body, or undefined when it is over `limit` bytes (shared/platform/httpBody.ts
 * `readBodyBytes`); a body refused unread by its `Content-Length` is cancelled, so the connection is not
 * held for it.
 */
export async function readAnswerBody(response: Response, limit: number): Promise<Uint8Array | undefined> {
    const body = await readBodyBytes(response, limit);
    // A body refused while reading is cancelled already (its stream is locked: the cancel is refused).
    if (body === undefined) await response.body?.cancel().catch(() => undefined);
    return body;
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
