/**
 * The one place that decides what a failed Twilio create means: retry (and whether Twilio may have
 * created the message or call anyway), refresh the auth token, or give up.
 *
 * Errors are recognised by shape, so this module loads nothing of `twilio`:
 * - HTTP errors: the SDK throws `RestException` (`status`, numeric `code`, `message`, `moreInfo`) or, for
 *   RFC 9457 problem bodies, `TwilioServiceException` (`status`, `code`, `title`, `detail`). Its
 *   `RequestClient` accepts every status, so an HTTP error never surfaces as an axios error.
 * - Transport errors: the SDK's `RequestClient` rethrows axios' errors: `code` `ECONNREFUSED`,
 *   `ECONNRESET`, `ENOTFOUND`, `EAI_AGAIN`, `ETIMEDOUT`, `ECONNABORTED` (axios' own timeout, "timeout of
 *   …ms exceeded"), `ERR_…`, with the system error as `cause`.
 *
 * `mayHaveBeenCreated` says whether the request may have reached Twilio and been acted on: `false` only
 * when it certainly was not (refused before sending, or Twilio answered 429/503); when `true` the caller
 * looks the message up before sending again.
 */

import { ConfigError, SecretUnavailableError } from '../platform/errors';
import { OutboundValidationError } from './message';
import { maskPhone } from '../platform/redact';

export type SendErrorClass =
    /** Worth retrying later. */
    | { kind: 'transient'; reason: string; mayHaveBeenCreated: boolean; status?: number; code?: string }
    /** Will fail the same way again: record it and give up. `message` has phone numbers masked. */
    | { kind: 'permanent'; code?: string; status?: number; message: string }
    /** Twilio did not accept the credentials: re-read the auth token once and retry, else give up. */
    | { kind: 'auth'; status: number; code?: string; message: string };

/**
 * Twilio pushed back, and the next try should wait longer than a queue redelivery: `rate-limit` (HTTP 429
 * / 20429, with Twilio's `Retry-After` when it sent one) or `queue-full` (21611, 30001).
 */
export type BackPressure = 'rate-limit' | 'queue-full';

/** Codes whose refusal means a full queue at Twilio (see {@link TRANSIENT_REFUSALS}). */
const QUEUE_FULL_CODES: ReadonlySet<string> = new Set(['21611', '30001']);

/** Whether a verdict is Twilio's back-pressure, and which kind; undefined for any other error. */
export function backPressureOf(verdict: SendErrorClass): BackPressure | undefined {
    if (verdict.kind !== 'transient') return undefined;
    if (verdict.code !== undefined && QUEUE_FULL_CODES.has(verdict.code)) return 'queue-full';
    return verdict.status === 429 ? 'rate-limit' : undefined;
}

interface HttpFailure {
    status: number;
    code: number | undefined;
    message: string;
}

/** Connection never established: the request was not sent. */
const NOT_SENT_CODES: ReadonlySet<string> = new Set([
    'ECONNREFUSED',
    'ENOTFOUND',
    'EAI_AGAIN',
    'EAI_FAIL',
    'EHOSTUNREACH',
    'ENETUNREACH',
    'ENETDOWN',
    'EHOSTDOWN',
    'EADDRNOTAVAIL',
    // TLS: the certificate was refused before anything was sent.
    'CERT_HAS_EXPIRED',
    'CERT_NOT_YET_VALID',
    'DEPTH_ZERO_SELF_SIGNED_CERT',
    'SELF_SIGNED_CERT_IN_CHAIN',
    'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
    'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** The request may have been sent: its outcome is unknown. */
const TIMEOUT_CODES: ReadonlySet<string> = new Set([
    'ECONNABORTED',
    'ETIMEDOUT',
    'ESOCKETTIMEDOUT',
    'UND_ERR_HEADERS_TIMEOUT',
    'UND_ERR_BODY_TIMEOUT',
]);
const DROPPED_CODES: ReadonlySet<string> = new Set(['ECONNRESET', 'EPIPE', 'ERR_STREAM_PREMATURE_CLOSE']);

const MAX_DESCRIPTION = 300;

/**
 * Twilio error codes answered with a 4xx that are not about the request itself, so the same request can
 * succeed later. Twilio refused each one before creating anything.
 * - 21611: the sender's queue already holds more than 10 hours of messages at its throughput; it drains.
 * - 30001: queue overflow (the account's or sender's queue is full); it drains too.
 * Both are back-pressure: the queue takes hours to drain, so the next try waits minutes.
 */
const TRANSIENT_REFUSALS: ReadonlyMap<number, string> = new Map([
    [21611, "the sender's queue is full"],
    [30001, 'queue overflow'],
]);

function property(value: unknown, name: string): unknown {
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[name] : undefined;
}

const stringOrUndefined = (value: unknown): string | undefined =>
    typeof value === 'string' && value !== '' ? value : undefined;

/** A RestException / TwilioServiceException (or anything shaped like one): an HTTP answer from Twilio. */
function httpFailure(error: unknown): HttpFailure | undefined {
    if (typeof error !== 'object' || error === null) return undefined;
    let status = property(error, 'status');
    if (property(error, 'isAxiosError') === true) {
        // Only when a response came back; the SDK's client does not do that, but a custom one might.
        status = property(property(error, 'response'), 'status');
        if (typeof status !== 'number') return undefined;
        const data = property(property(error, 'response'), 'data');
        const code = property(data, 'code');
        return {
            status,
            code: typeof code === 'number' ? code : undefined,
            message: stringOrUndefined(property(data, 'message')) ?? `HTTP ${status}`,
        };
    }
    if (typeof status !== 'number' || !Number.isInteger(status)) return undefined;
    const code = property(error, 'code');
    if (code !== undefined && typeof code !== 'number') return undefined;
    const message =
        stringOrUndefined(property(error, 'detail')) ??
        stringOrUndefined(property(error, 'title')) ??
        stringOrUndefined(property(error, 'message')) ??
        `HTTP ${status}`;
    return { status, code: code === 0 ? undefined : code, message };
}

/** The transport error code (`ECONNREFUSED`, …) of an axios or system error, looking into `cause` / `errors`. */
function networkCode(error: unknown): string | undefined {
    for (let current = error, depth = 0; current !== undefined && depth < 4; depth++) {
        const code = property(current, 'code');
        if (typeof code === 'string' && code !== '' && code !== 'ERR_BAD_RESPONSE') return code;
        const errors = property(current, 'errors');
        if (Array.isArray(errors)) {
            const inner = networkCode(errors[0]);
            if (inner !== undefined) return inner;
        }
        current = property(current, 'cause');
    }
    return undefined;
}

/** Phone numbers in free text (Twilio's error messages often carry the To number) masked as `maskPhone` does. */
export function maskPhoneNumbers(text: string): string {
    return text.replace(/(?<![\w+])(?:whatsapp:)?\+?\d{7,15}(?![\w])/g, (number) =>
        number.startsWith('whatsapp:') ? `whatsapp:${maskPhone(number.slice(9))}` : maskPhone(number),
    );
}

function classifyHttp(failure: HttpFailure): SendErrorClass {
    const { status } = failure;
    const code = failure.code === undefined ? undefined : String(failure.code);
    const message = maskPhoneNumbers(failure.message);
    const withCode = <T extends object>(value: T): T & { code?: string } =>
        code === undefined ? value : { ...value, code };
    if (status === 401 || failure.code === 20003) return withCode({ kind: 'auth', status, message });
    const refusal = failure.code === undefined ? undefined : TRANSIENT_REFUSALS.get(failure.code);
    if (refusal !== undefined) {
        return withCode({
            kind: 'transient',
            reason: `HTTP ${status} code ${String(failure.code)}: ${refusal}`,
            mayHaveBeenCreated: false,
            status,
        });
    }
    if (status === 429 || status === 503) {
        // Twilio refused to take it on (rate limit / unavailable): nothing was created.
        return withCode({ kind: 'transient', reason: `HTTP ${status}`, mayHaveBeenCreated: false, status });
    }
    if (status >= 500 && status <= 599) {
        return withCode({ kind: 'transient', reason: `HTTP ${status}`, mayHaveBeenCreated: true, status });
    }
    if (status === 408) {
        // A request timeout answered by a proxy on the way: the outcome is unknown.
        return withCode({ kind: 'transient', reason: 'HTTP 408', mayHaveBeenCreated: true, status });
    }
    if (status >= 400 && status <= 499) return withCode({ kind: 'permanent', status, message });
    return withCode({ kind: 'transient', reason: `HTTP ${status}`, mayHaveBeenCreated: true, status });
}

/**
 * What a failed `messages.create` / `calls.create` means:
 *
 * - HTTP 429, 503 → transient, not created; other 5xx (and 408) → transient, may have been created.
 * - HTTP 401 or code 20003 → `auth`.
 * - Code 21611 (the sender's queue holds more than 10 hours of messages) or 30001 (queue overflow) →
 *   transient, not created. With 429, these are back-pressure ({@link backPressureOf}).
 * - Other 4xx (21211 invalid To, 21610 unsubscribed, 21614, 21408, 21608, 21602, 21617, 21606, 21205, …)
 *   → permanent, with Twilio's code as a string.
 * - Connection refused, DNS failure, unreachable network, TLS certificate refused → transient, not
 *   created. Reset, broken pipe, timeout → transient, may have been created.
 * - {@link OutboundValidationError} (the request cannot be sent with this configuration) → permanent.
 * - The auth token or a setting is unavailable ({@link SecretUnavailableError}, {@link ConfigError}) →
 *   transient, not created (nothing was sent).
 * - Anything else → transient, may have been created (safe: the caller looks the message up before
 *   resending).
 */
export function classifySendError(error: unknown): SendErrorClass {
    if (error instanceof OutboundValidationError) return { kind: 'permanent', message: error.message };
    if (error instanceof SecretUnavailableError) {
        return { kind: 'transient', reason: 'auth token unavailable', mayHaveBeenCreated: false };
    }
    if (error instanceof ConfigError) {
        return { kind: 'transient', reason: 'configuration', mayHaveBeenCreated: false };
    }
    const failure = httpFailure(error);
    if (failure !== undefined) return classifyHttp(failure);

    const code = networkCode(error);
    if (code !== undefined) {
        if (NOT_SENT_CODES.has(code))
            return { kind: 'transient', reason: code, mayHaveBeenCreated: false, code };
        if (TIMEOUT_CODES.has(code))
            return { kind: 'transient', reason: `timeout (${code})`, mayHaveBeenCreated: true, code };
        if (DROPPED_CODES.has(code))
            return { kind: 'transient', reason: `connection lost (${code})`, mayHaveBeenCreated: true, code };
        return { kind: 'transient', reason: `network error (${code})`, mayHaveBeenCreated: true, code };
    }
    if (error instanceof Error && /\btime(?:d ?)?out\b/i.test(error.message)) {
        return { kind: 'transient', reason: 'timeout', mayHaveBeenCreated: true };
    }
    return { kind: 'transient', reason: 'unknown error', mayHaveBeenCreated: true };
}

/** How long delayed retries wait: the first wait of each kind, and the cap. */
export interface BackoffPolicy {
    /** A 429 without a usable `Retry-After`. */
    rateLimitMs: number;
    /** A full sender queue (21611, 30001): the first wait; it doubles with each attempt. */
    queueFullMs: number;
    /** No wait is longer. */
    maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { rateLimitMs: 60_000, queueFullMs: 300_000, maxMs: 1_800_000 };

/**
 * How long to wait before the next try after Twilio pushed back: Twilio's `Retry-After` for a rate limit
 * (else `rateLimitMs`); for a full queue `queueFullMs`, doubling with each earlier attempt
 * (`attempts` counts this one); never more than `maxMs`, never less than a second.
 */
export function backPressureDelayMs(
    kind: BackPressure,
    input: { retryAfterMs: number | undefined; attempts: number },
    policy: BackoffPolicy = DEFAULT_BACKOFF,
): number {
    const wait =
        kind === 'rate-limit'
            ? (input.retryAfterMs ?? policy.rateLimitMs)
            : policy.queueFullMs * 2 ** Math.min(Math.max(input.attempts - 1, 0), 20);
    return Math.max(1_000, Math.min(wait, policy.maxMs));
}

/**
 * A `Retry-After` header value in milliseconds: delay-seconds or an HTTP date (relative to `now`);
 * undefined when absent or unreadable.
 */
export function parseRetryAfter(value: string | undefined, now: Date): number | undefined {
    if (value === undefined) return undefined;
    const text = value.trim();
    if (/^\d+$/.test(text)) return Number(text) * 1000;
    // An HTTP date names its day and month; without letters, Date.parse would take "-5" for a year.
    const at = /[a-z]{3}/i.test(text) ? Date.parse(text) : NaN;
    return Number.isNaN(at) ? undefined : Math.max(0, at - now.getTime());
}

function shorten(text: string): string {
    const oneLine = text.replace(/\s+/g, ' ').trim();
    return oneLine.length <= MAX_DESCRIPTION ? oneLine : `${oneLine.slice(0, MAX_DESCRIPTION - 1)}…`;
}

/**
 * A short, log-safe description: Twilio's status, code and message with phone numbers masked, or the
 * transport error code and message. Never the request (its URL, parameters, body or credentials).
 */
export function describeSendError(error: unknown): string {
    const failure = httpFailure(error);
    if (failure !== undefined) {
        const code = failure.code === undefined ? '' : ` code ${failure.code}`;
        return shorten(`Twilio HTTP ${failure.status}${code}: ${maskPhoneNumbers(failure.message)}`);
    }
    const message = error instanceof Error ? maskPhoneNumbers(error.message) : '';
    const code = networkCode(error);
    if (code !== undefined) return shorten(`network error ${code}${message === '' ? '' : `: ${message}`}`);
    if (error instanceof Error) return shorten(`${error.name}: ${message}`);
    return `non-Error thrown (${error === null ? 'null' : typeof error})`;
}
