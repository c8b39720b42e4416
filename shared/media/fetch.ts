/**
 * One media item fetched from Twilio with the account's REST credentials, the way Twilio serves media
 * with "HTTP Basic authentication for media" on: the media URL on `api.twilio.com` answers a redirect to a
 * short-lived pre-signed URL on Twilio's CDN (`mms.twiliocdn.com`, an S3 origin before), which needs no
 * credentials.
 *
 * - **Redirects by hand** (`redirect: 'manual'`), at most {@link MAX_REDIRECTS}, never from https to
 *   plain http (an http media URL can only be the configured `TWILIO_API_URL` stand-in's): the `Authorization` header goes to the media URL's own origin
 *   and never to another one. The pre-signed URL carries its own authorisation; Basic credentials there
 *   would be a leak of the account's key to a third party. Not left to `fetch`'s own redirect handling,
 *   whose stripping of `Authorization` across origins is recent in Node's undici, and is the one property
 *   here that must hold.
 * - **Bounded**: {@link MAX_MEDIA_BYTES} per item, refused from `Content-Length` when it says more, and
 *   counted while reading whatever it says (a wrong or missing length cannot make the app hold more).
 * - **Credentials as the REST client's** (shared/platform/twilioClient.ts): the API key when configured
 *   (its SID as user), else the account SID and auth token. A 401 re-reads the secret once (rate-limited
 *   by the secret provider) and retries when it changed (shared/platform/twilioMedia.ts, as for recordings).
 * - **Outcomes are values**: `ok` with the bytes and the served type; `refused` (too large, a type Twilio
 *   does not accept, 404, another 4xx) is final for the item; `transient` (5xx, 429, a transport error, a
 *   timeout, 401 with credentials that did not change) is worth a redelivery. No reason carries a URL, a
 *   header or a credential.
 *
 * `fetch` is Node's own; nothing here logs or imports an SDK.
 */

import type { MediaRefusal } from '../ledger/contract';
import type { SecretProvider } from '../platform/secrets';
import {
    basic,
    fetchWithCredentials,
    transportReason as twilioTransportReason,
    type TwilioFileCredentials,
    readAnswerBody,
} from '../platform/twilioMedia';
import { baseContentType, contentTypeDetail, isAcceptedMediaType, MAX_MEDIA_BYTES } from './job';

/** The most redirects followed from a media URL (Twilio's is one hop to its CDN). */
export const MAX_REDIRECTS = 3;
/** How long one item's fetch may take, body included. */
export const MEDIA_FETCH_TIMEOUT_MS = 30_000;

/** The REST credentials media are fetched (and deleted) with. */
export type MediaCredentials = TwilioFileCredentials;

export type MediaFetch =
    | { kind: 'ok'; contentType: string; body: Uint8Array }
    | { kind: 'refused'; refusal: MediaRefusal; detail: string }
    | { kind: 'transient'; reason: string };

export interface MediaFetchOptions {
    /** Default {@link MAX_MEDIA_BYTES}. */
    maxBytes?: number;
    /** Default {@link MEDIA_FETCH_TIMEOUT_MS}. */
    timeoutMs?: number;
    /** Default the global `fetch`. */
    fetch?: typeof fetch;
}

/**
 * The media credentials from the app's settings and secrets, or why there are none (a ConfigError's
 * sentence: the job is then retried, since settings are fixed by a redeploy, not by dropping media).
 */
export function mediaCredentials(deps: {
    accountSid: string | undefined;
    apiKeySid: string | undefined;
    authToken: SecretProvider | undefined;
    apiKeySecret: SecretProvider | undefined;
}): MediaCredentials | string {
    if (deps.accountSid === undefined) return 'TWILIO_ACCOUNT_SID is required to fetch inbound media';
    if (deps.apiKeySid !== undefined) {
        return deps.apiKeySecret === undefined
            ? 'the API key secret is not configured'
            : { user: deps.apiKeySid, secret: deps.apiKeySecret };
    }
    if (deps.authToken === undefined) {
        return 'Set KEY_VAULT_URL or TWILIO_AUTH_TOKEN (or TWILIO_API_KEY_SID) to fetch inbound media';
    }
    return { user: deps.accountSid, secret: deps.authToken };
}

/** Fetches one media item from its (already checked) Twilio media URL. */
export async function fetchMedia(
    url: string,
    credentials: MediaCredentials,
    options: MediaFetchOptions = {},
): Promise<MediaFetch> {
    const maxBytes = options.maxBytes ?? MAX_MEDIA_BYTES;
    const signal = AbortSignal.timeout(options.timeoutMs ?? MEDIA_FETCH_TIMEOUT_MS);
    const doFetch = options.fetch ?? fetch;
    try {
        const answer = await fetchWithCredentials(credentials, (authorization) =>
            follow(doFetch, url, 'GET', authorization, signal),
        );
        if (answer.kind === 'no-credentials') return { kind: 'transient', reason: answer.reason };
        const response = answer.response;
        if (response.status !== 200) {
            await response.body?.cancel();
            return statusOutcome(response.status);
        }
        const contentType = baseContentType(response.headers.get('content-type'));
        if (!isAcceptedMediaType(contentType)) {
            await response.body?.cancel();
            return { kind: 'refused', refusal: 'content-type', detail: contentTypeDetail(contentType) };
        }
        const body = await readAnswerBody(response, maxBytes);
        return body === undefined ? tooLarge(maxBytes) : { kind: 'ok', contentType, body };
    } catch (error) {
        // A redirect Twilio would never send (too many, to plain http): the same answer every time.
        if (error instanceof MediaRedirectError) {
            return { kind: 'refused', refusal: 'upstream', detail: transportReason(error) };
        }
        return { kind: 'transient', reason: transportReason(error) };
    }
}

/**
 * Deletes a media item at Twilio (`DELETE …/Media/{ME}.json`, no redirect): `deleted` for 204, and for 404
 * (already gone, e.g. by an earlier attempt); `refused` for another 4xx; `transient` otherwise.
 */
export async function deleteMedia(
    url: string,
    credentials: MediaCredentials,
    options: Pick<MediaFetchOptions, 'fetch' | 'timeoutMs'> = {},
): Promise<{ kind: 'deleted' } | { kind: 'refused' | 'transient'; reason: string }> {
    const doFetch = options.fetch ?? fetch;
    const signal = AbortSignal.timeout(options.timeoutMs ?? MEDIA_FETCH_TIMEOUT_MS);
    try {
        const secret = await credentials.secret.get();
        const response = await doFetch(`${url}.json`, {
            method: 'DELETE',
            headers: { Authorization: basic(credentials.user, secret) },
            redirect: 'manual',
            signal,
        });
        await response.body?.cancel();
        if (response.status === 204 || response.status === 404) return { kind: 'deleted' };
        const reason = `Twilio answered the delete with HTTP ${String(response.status)}`;
        return response.status >= 400 &&
            response.status < 500 &&
            response.status !== 429 &&
            response.status !== 401
            ? { kind: 'refused', reason }
            : { kind: 'transient', reason };
    } catch (error) {
        return { kind: 'transient', reason: transportReason(error) };
    }
}

/**
 * `url` fetched, following redirects by hand: `authorization` only on requests to `url`'s own origin; a
 * redirect from https to anything but https is refused.
 */
async function follow(
    doFetch: typeof fetch,
    url: string,
    method: 'GET',
    authorization: string,
    signal: AbortSignal,
): Promise<Response> {
    const origin = new URL(url).origin;
    let current = url;
    for (let hop = 0; ; hop++) {
        const headers: Record<string, string> =
            new URL(current).origin === origin ? { Authorization: authorization } : {};
        const response = await doFetch(current, { method, headers, redirect: 'manual', signal });
        if (![301, 302, 303, 307, 308].includes(response.status)) return response;
        await response.body?.cancel();
        const location = response.headers.get('location');
        if (location === null || hop >= MAX_REDIRECTS)
            throw new MediaRedirectError('too many or empty redirects');
        const next = new URL(location, current);
        // Never from https down to plain http; an http media URL is the configured stand-in's (tests, npm start).
        if (next.protocol !== 'https:' && !(next.protocol === 'http:' && new URL(url).protocol === 'http:')) {
            throw new MediaRedirectError('a redirect to a non-https URL');
        }
        current = next.href;
    }
}

class MediaRedirectError extends Error {
    override readonly name = 'MediaRedirectError';
}

function statusOutcome(status: number): MediaFetch {
    if (status === 404)
        return { kind: 'refused', refusal: 'not-found', detail: 'Twilio has no such media (404)' };
    const detail = `Twilio answered HTTP ${String(status)}`;
    if (status === 429 || status >= 500 || status < 200) return { kind: 'transient', reason: detail };
    return { kind: 'refused', refusal: 'upstream', detail };
}

function tooLarge(maxBytes: number): MediaFetch {
    return { kind: 'refused', refusal: 'too-large', detail: `the media is over ${String(maxBytes)} bytes` };
}

/** A transport failure named by its kind and code, never by its URL. */
function transportReason(error: unknown): string {
    if (error instanceof MediaRedirectError) return `Twilio's media redirect was refused: ${error.message}`;
    return twilioTransportReason(error, {
        timedOut: 'the media fetch timed out',
        failed: 'the media fetch failed',
    });
}
