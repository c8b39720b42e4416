/**
 * A Twilio recording's audio, fetched for `GET /api/recordings/{sid}` with the account's REST credentials,
 * so that nobody is ever handed Twilio's media URL (which, with "HTTP Basic authentication for media" on,
 * needs the account's credentials, and without it is a public URL that must not leak).
 *
 * - The URL is `{TWILIO_API_URL or https://api.twilio.com}/2010-04-01/Accounts/{AC}/Recordings/{RE}.mp3`
 *   (`.wav` for WAV), as Twilio documents the media of a Recording resource. Twilio may answer it with a
 *   redirect to a pre-signed storage URL; `fetch` follows it and, the origin being another one, does not
 *   send the credentials there.
 * - Credentials as the REST client's (shared/platform/twilioClient.ts): the API key (its SID as user, its
 *   secret as password) when one is configured, else the account SID and the auth token. A 401 re-reads
 *   that secret once (rate-limited by the secret provider) and retries when it changed, as a rotated key or
 *   token is picked up elsewhere (shared/platform/twilioMedia.ts, as for inbound media).
 * - Buffered, never streamed, with a size bound ({@link MAX_RECORDING_BYTES}, from `Content-Length` and
 *   again while reading): the Node worker only streams HTTP responses with `app.setup({ enableHttpStream:
 *   true })`, which switches every function of the app to the HTTP proxy mode (request bodies as streams,
 *   chunked requests accepted, other limits) — a change of the webhooks' and the API's request handling that
 *   this one route does not justify. A voicemail's MP3 is a few hundred kilobytes a minute.
 * - Outcomes are values, never thrown: `not-found` for Twilio's 404, `upstream` naming what failed (a status,
 *   a transport error, a timeout, an oversized body) without Twilio's URL or any credential.
 *
 * No heavy import: `fetch` is Node's own. Nothing here logs.
 */

import type { AppDependencies } from '../platform/dependencies';
import type { SecretProvider } from '../platform/secrets';
import { fetchWithCredentials, readAnswerBody, transportReason } from '../platform/twilioMedia';

/** A recording SID: `RE` and 32 lowercase hexadecimal characters, as Twilio writes them. */
export const RECORDING_SID = /^RE[0-9a-f]{32}$/;
/** The largest recording served (40 MiB: over an hour of Twilio's MP3, 40 minutes of its WAV). */
export const MAX_RECORDING_BYTES = 40 * 1024 * 1024;
/** How long the fetch from Twilio may take, body included. */
export const RECORDING_FETCH_TIMEOUT_MS = 30_000;
const TWILIO_API = 'https://api.twilio.com';

export type RecordingFormat = 'mp3' | 'wav';

export type RecordingFetch =
    | { kind: 'ok'; contentType: string; body: Uint8Array }
    | { kind: 'not-found' }
    /** Twilio could not be asked (no account SID or credentials configured): the app's fault, a 500. */
    | { kind: 'not-configured'; reason: string }
    /** Twilio answered otherwise, or not at all: a 502 naming `reason`. */
    | { kind: 'upstream'; reason: string };

export interface RecordingFetchOptions {
    /** Default {@link MAX_RECORDING_BYTES}. */
    maxBytes?: number;
    /** Default {@link RECORDING_FETCH_TIMEOUT_MS}. */
    timeoutMs?: number;
    /** Default the global `fetch`. */
    fetch?: typeof fetch;
}

/** Fetches recording `sid` (checked against {@link RECORDING_SID}) as `format` from Twilio. */
export async function fetchRecording(
    deps: Pick<AppDependencies, 'config' | 'authToken' | 'apiKeySecret'>,
    sid: string,
    format: RecordingFormat,
    options: RecordingFetchOptions = {},
): Promise<RecordingFetch> {
    if (!RECORDING_SID.test(sid)) return { kind: 'not-found' };
    const accountSid = deps.config.accountSid;
    if (accountSid === undefined) {
        return { kind: 'not-configured', reason: 'TWILIO_ACCOUNT_SID is required to fetch recordings' };
    }
    const key = deps.config.apiKey;
    const user = key === undefined ? accountSid : key.sid;
    const secrets: SecretProvider | undefined = key === undefined ? deps.authToken : deps.apiKeySecret;
    if (secrets === undefined) {
        return {
            kind: 'not-configured',
            reason: 'Set KEY_VAULT_URL or TWILIO_AUTH_TOKEN (or TWILIO_API_KEY_SID) to fetch recordings',
        };
    }
    const base = (deps.config.twilioApiUrl ?? TWILIO_API).replace(/\/+$/, '');
    const url = `${base}/2010-04-01/Accounts/${accountSid}/Recordings/${sid}.${format}`;
    const doFetch = options.fetch ?? fetch;
    const maxBytes = options.maxBytes ?? MAX_RECORDING_BYTES;
    const signal = AbortSignal.timeout(options.timeoutMs ?? RECORDING_FETCH_TIMEOUT_MS);
    try {
        // `fetch` follows Twilio's redirect itself, and drops `Authorization` when it leaves the origin.
        const answer = await fetchWithCredentials({ user, secret: secrets }, (authorization) =>
            doFetch(url, { headers: { Authorization: authorization }, redirect: 'follow', signal }),
        );
        if (answer.kind === 'no-credentials') return { kind: 'upstream', reason: answer.reason };
        const response = answer.response;
        if (response.status === 404) {
            await response.body?.cancel();
            return { kind: 'not-found' };
        }
        if (response.status !== 200) {
            await response.body?.cancel();
            return { kind: 'upstream', reason: `Twilio answered HTTP ${String(response.status)}` };
        }
        const body = await readAnswerBody(response, maxBytes);
        if (body === undefined) {
            return { kind: 'upstream', reason: `the recording is over ${String(maxBytes)} bytes` };
        }
        const contentType =
            response.headers.get('content-type') ?? (format === 'wav' ? 'audio/x-wav' : 'audio/mpeg');
        return { kind: 'ok', contentType, body };
    } catch (error) {
        return {
            kind: 'upstream',
            reason: transportReason(error, {
                timedOut: 'Twilio did not answer in time',
                failed: 'Twilio could not be reached',
            }),
        };
    }
}
