/**
 * The outbound pipeline: one queue message in, at most one Twilio create out, every outcome in the ledger.
 *
 * validate → claim the id in the ledger (optimistic concurrency, so two copies of one message cannot both
 * send) → call Twilio → record the SID. Retry-or-give-up is decided in one place (shared/outbound/sendErrors.ts).
 * When an earlier attempt's outcome is unknown (it died, or the request timed out after it may have
 * reached Twilio), the message is looked up at Twilio before anything is sent again.
 *
 * Every change to the record is a pure transition of shared/outbound/transitions.ts (claim, record the
 * SID, permanent and transient failure, rejected, dead-letter), run as a `Ledger.update` mutator; this
 * module sequences them with Twilio and logs the outcome.
 *
 * **Back-pressure.** When Twilio pushes back (a 429 that outlasted the client's own quick retries, 21611,
 * 30001) and the function was given `requeue`, the next try waits minutes, not a queue redelivery: a
 * copy of the message carrying a fresh token ({@link RETRY_TOKEN_FIELD}) is enqueued with a visibility
 * delay (`Retry-After`, else a growing wait), *then* the ledger's claim is replaced by a delay marker
 * naming that token (transitions.ts `delayRetry`), and the current copy is acknowledged. Because the
 * marker is written only once its copy is on the queue, any other copy of the id that turns up is
 * superseded and dropped (a crash between the enqueue and the acknowledgement leaves one, redelivered
 * after `visibilityTimeout`); a crash before the marker is written leaves the old claim, whose copy is
 * redelivered and claims as usual (the delayed copy then finds the send done, or a live claim). A message
 * still not accepted when its age limit (its `validityPeriod`, else `maxAgeMs`, from its first attempt)
 * is reached ends `failed` with Twilio's last code.
 *
 * Each delivery logs one outcome line (shared/platform/outcomes.ts) with the message's id and the delivery count:
 * sent, failed, rejected, conflict, already-sent, already-final, found-at-twilio, retrying (before the
 * error is rethrown), delayed (the message was re-enqueued for later) or dead-lettered
 * (the last attempt, when it records that). A superseded copy logs a plain line, no outcome.
 */

import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { Ledger } from '../ledger/contract';
import type { OptOutStore } from '../messaging/optOuts';
import { sendUnlessOptedOut, startOptOutCheck } from '../messaging/outbound';
import {
    decodeQueueItem,
    describeFieldErrors,
    parseOutbound,
    requestFingerprint,
    summarize,
    toCallCreateParams,
    toMessageCreateParams,
    type OutboundRequest,
    type ParseOptions,
} from './message';
import { outcomeLine, subjectOf } from '../platform/outcomes';
import { defaultVoiceUrl, statusCallbackUrl } from '../platform/routes';
import type { Twilio, TwilioClientFactory } from '../platform/twilioClient';
import {
    backPressureDelayMs,
    backPressureOf,
    classifySendError,
    DEFAULT_BACKOFF,
    describeSendError,
    parseRetryAfter,
    type BackoffPolicy,
    type BackPressure,
    type SendErrorClass,
} from './sendErrors';
import {
    abandonedClaim,
    claim,
    deadLetterAfterLastAttempt,
    delayRetry,
    permanentFailure,
    rearmDelay,
    recordSid,
    rejected,
    transientFailure,
    type ClaimResult,
    type TwilioSend,
} from './transitions';

export { CONFLICTING_COPY, deadLetter } from './transitions';

/** How long a claim keeps other copies of a message from sending; longer than a Twilio create can take. */
export const DEFAULT_CLAIM_LEASE_MS = 60_000;
/**
 * How far before a claim a message found at Twilio may have been created and still be ours: Twilio's
 * timestamps are whole seconds from another clock than ours.
 */
const LOOKUP_SKEW_MS = 30_000;
/** How many of the newest messages/calls to a number are compared when looking for an earlier send. */
const LOOKUP_LIMIT = 50;
/** How long a message may go unaccepted by Twilio, from its first attempt, when it has no validityPeriod. */
export const DEFAULT_MAX_AGE_MS = 4 * 3600_000;
/**
 * The field of a re-enqueued copy that carries its delay token (the ledger's delay marker names the copy
 * that may try next). Not part of the message: it is taken off before validation.
 */
export const RETRY_TOKEN_FIELD = 'retryToken';

export interface OutboundLogger {
    log(...args: unknown[]): void;
    warn(...args: unknown[]): void;
    error(...args: unknown[]): void;
}

export interface OutboundDependencies {
    ledger: Ledger;
    twilio: TwilioClientFactory;
    fromNumber: string | undefined;
    messagingServiceSid: string | undefined;
    /** Origin Twilio reaches the app at; gives the default status callback and call URL. */
    publicBaseUrl: string | undefined;
    /** The queue's `maxDequeueCount` (host.json): the attempt that fails at it is the last. */
    maxDequeueCount: number;
    log: OutboundLogger;
    now?: () => Date;
    claimLeaseMs?: number;
    /**
     * Puts `text` on the outbound queue, visible after `delaySeconds`: how a delayed retry waits. Without
     * it, back-pressure is retried as any transient error (rethrown, redelivered by the host).
     */
    requeue?: (text: string, delaySeconds: number) => Promise<void>;
    /** The age limit for a message without a validityPeriod ({@link DEFAULT_MAX_AGE_MS}). */
    maxAgeMs?: number;
    /** How long delayed retries wait (sendErrors.ts {@link DEFAULT_BACKOFF}). */
    backoff?: BackoffPolicy;
    /**
     * Who opted out of SMS from which sender: an SMS/MMS to an opted-out recipient ends `failed` (21610)
     * without a Twilio request, and Twilio's 21610 is recorded (shared/messaging/outbound.ts). Without it
     * nothing is checked.
     */
    optOuts?: OptOutStore;
}

export interface QueueMessageInfo {
    /** The queue message id. */
    id: string;
    dequeueCount: number;
}

export type OutboundOutcome =
    | { kind: 'sent'; id: string; sid: string; status: string }
    | { kind: 'already-sent'; id: string; sid: string }
    | { kind: 'found-at-twilio'; id: string; sid: string }
    | { kind: 'already-final'; id: string; status: string }
    | { kind: 'rejected'; id: string; errors: string }
    | { kind: 'failed'; id: string; code: string | undefined; message: string }
    /** A copy whose request differs from the one recorded under its id: never sent. */
    | { kind: 'conflict'; id: string }
    /** Twilio pushed back: a copy waits on the queue until `until` (ISO 8601); this one is done. */
    | { kind: 'delayed'; id: string; until: string; code: string | undefined }
    /** The ledger's delay marker names another copy of the message: this one was dropped. */
    | { kind: 'superseded'; id: string };

/** A failure worth retrying: the queue function rethrows it so the host redelivers the message. */
export class TransientSendError extends Error {
    override readonly name = 'TransientSendError';
}

/** The sender defaults and default call URL that validation and the create parameters use. */
export function parseOptions(settings: {
    fromNumber: string | undefined;
    messagingServiceSid: string | undefined;
    publicBaseUrl: string | undefined;
}): ParseOptions {
    return {
        defaults: {
            ...(settings.fromNumber === undefined ? {} : { fromNumber: settings.fromNumber }),
            ...(settings.messagingServiceSid === undefined
                ? {}
                : { messagingServiceSid: settings.messagingServiceSid }),
        },
        defaultVoiceUrl: defaultVoiceUrl(settings.publicBaseUrl),
        ownBaseUrls: settings.publicBaseUrl === undefined ? [] : [settings.publicBaseUrl],
    };
}

/** The ledger id for a queue message: the producer's `id`, or one derived from the queue message. */
export function outboundId(value: unknown, queueMessageId: string): string {
    const id = typeof value === 'object' && value !== null ? (value as { id?: unknown }).id : undefined;
    return typeof id === 'string' && /^[A-Za-z0-9._~:-]{1,200}$/.test(id) ? id : `queue-${queueMessageId}`;
}

/**
 * Processes one outbound queue message.
 *
 * @returns what happened; permanent failures and invalid messages are outcomes, not exceptions.
 * @throws TransientSendError (or the underlying error) when the host should redeliver the message.
 */
export async function processOutbound(
    item: unknown,
    queueMessage: QueueMessageInfo,
    deps: OutboundDependencies,
): Promise<OutboundOutcome> {
    const now = deps.now ?? (() => new Date());
    const attempt = queueMessage.dequeueCount;
    const decoded = decodeQueueItem(item);
    if (!decoded.ok) {
        return reject(
            deps,
            `queue-${queueMessage.id}`,
            [{ field: '(message)', message: decoded.error }],
            undefined,
            attempt,
        );
    }
    const id = outboundId(decoded.value, queueMessage.id);
    const { message: content, retryToken } = splitRetryToken(decoded.value);
    const parsed = parseOutbound(content, undefined, parseOptions(deps));
    if (!parsed.ok) return reject(deps, id, parsed.errors, decoded.value, attempt);
    const request = parsed.value;
    const fingerprint = requestFingerprint(request);
    if (request.fingerprint !== undefined && request.fingerprint !== fingerprint) {
        // The API wrote the fingerprint of what it accepted; this copy says something else.
        const message = 'does not match the message: the message was changed after the API accepted it';
        return reject(deps, id, [{ field: 'fingerprint', message }], decoded.value, attempt);
    }

    const subject = subjectOf(request.type);
    try {
        return await send(deps, { id, request, content, fingerprint, retryToken }, now, attempt);
    } catch (error) {
        const code = failureCode(error);
        if (attempt < deps.maxDequeueCount) {
            deps.log.warn(outcomeLine({ event: `${subject}.retrying`, id, code, attempt }));
            throw error;
        }
        // This was the last attempt: the host moves the message to the poison queue next. If the attempt
        // may have reached Twilio, ask Twilio once more; otherwise record the failure now, while the reason
        // is at hand (the poison function confirms it).
        const found = await recoverAbandonedSend(deps, id, request, attempt).catch(() => undefined);
        if (found !== undefined) return found;
        const reason = describeSendError(error);
        let deadLettered = false as boolean; // set by the ledger's mutate callback
        await deps.ledger.update(id, (current) => {
            const next = deadLetterAfterLastAttempt(current, { now: now(), reason });
            deadLettered = next !== undefined;
            return next;
        });
        // Only the invocation that wrote `dead-lettered` says so; otherwise the poison function decides.
        if (deadLettered)
            deps.log.error(outcomeLine({ event: `${subject}.dead-lettered`, id, code, attempt }));
        throw error;
    }
}

/**
 * The `code` of an outcome line for a failed attempt: Twilio's error code, the transport error code, or
 * `http-<status>` (the cause of a {@link TransientSendError} when it has one).
 */
function failureCode(error: unknown): string | undefined {
    const root = error instanceof TransientSendError && error.cause !== undefined ? error.cause : error;
    if (root instanceof TransientSendError) return undefined;
    const verdict = classifySendError(root);
    return verdict.code ?? (verdict.status === undefined ? undefined : `http-${String(verdict.status)}`);
}

/**
 * For a record left with a claim and no SID (an attempt that may have reached Twilio and never recorded
 * its outcome): the send Twilio has for it, recorded in the ledger and logged as `found-at-twilio`;
 * undefined when Twilio has none. `attempt` is the delivery count for the log line, when there is one.
 */
export async function recoverAbandonedSend(
    deps: Pick<OutboundDependencies, 'ledger' | 'twilio' | 'log' | 'now'>,
    id: string,
    request: OutboundRequest,
    attempt?: number,
): Promise<OutboundOutcome | undefined> {
    const abandoned = abandonedClaim(await deps.ledger.get(id));
    if (abandoned === undefined) return undefined;
    const client = await deps.twilio.get();
    const found = await findEarlierSend(deps.ledger, id, client, request, Date.parse(abandoned.at));
    if (found === undefined) return undefined;
    await saveSid(deps.ledger, id, abandoned.token, found, deps.now ?? (() => new Date()));
    deps.log.log(
        outcomeLine({
            event: `${subjectOf(request.type)}.found-at-twilio`,
            id,
            sid: found.sid,
            status: found.status,
            attempt,
        }),
    );
    return { kind: 'found-at-twilio', id, sid: found.sid };
}

/** The message without its delay token, and the token (when it is a re-enqueued copy). */
export function splitRetryToken(value: unknown): { message: unknown; retryToken: string | undefined } {
    if (typeof value !== 'object' || value === null || !(RETRY_TOKEN_FIELD in value)) {
        return { message: value, retryToken: undefined };
    }
    const { [RETRY_TOKEN_FIELD]: token, ...message } = value as Record<string, unknown>;
    return { message, retryToken: typeof token === 'string' ? token : undefined };
}

/** What one attempt works on: the validated request, and the message content a re-enqueued copy carries. */
interface Attempt {
    id: string;
    request: OutboundRequest;
    /** The queue message, without its delay token. */
    content: unknown;
    fingerprint: string;
    /** The delay token this copy carries, if it was re-enqueued. */
    retryToken: string | undefined;
}

/** Enqueues a copy of the message carrying `token`, visible in `delayMs` (whole seconds, at least one). */
async function enqueueCopy(
    requeue: NonNullable<OutboundDependencies['requeue']>,
    content: unknown,
    token: string,
    delayMs: number,
): Promise<void> {
    const text = JSON.stringify({ ...(content as Record<string, unknown>), [RETRY_TOKEN_FIELD]: token });
    await requeue(text, Math.max(1, Math.ceil(delayMs / 1000)));
}

/** One attempt at one message: claim it, look for an earlier send when needed, send, record the outcome. */
async function send(
    deps: OutboundDependencies,
    attemptOf: Attempt,
    now: () => Date,
    attempt: number,
): Promise<OutboundOutcome> {
    const { ledger, log } = deps;
    const { id, request, fingerprint } = attemptOf;
    const subject = subjectOf(request.type);
    const token = randomUUID();
    const leaseMs = deps.claimLeaseMs ?? DEFAULT_CLAIM_LEASE_MS;
    const summary = summarize(request);
    // The token first: if Key Vault is unreachable, fail before claiming, so the retry is not held off by
    // a claim that never called Twilio.
    const client = await deps.twilio.get();

    let claimed = undefined as ClaimResult | undefined; // set by the ledger's mutate callback
    // The opt-out read is on another partition and decides nothing the claim needs: it runs beside the
    // claim, so the check adds no round trip before the create (its answer is awaited before it).
    const optOutCheck = startOptOutCheck(deps.optOuts, request, parseOptions(deps).defaults);
    const stored = await ledger.update(
        id,
        (current) => {
            const step = claim(current, {
                id,
                summary,
                fingerprint,
                token,
                now: now(),
                leaseMs,
                copyToken: attemptOf.retryToken,
                sender: senderNumber(request, parseOptions(deps).defaults),
            });
            claimed = step.result;
            return step.next;
            // A first delivery of a message the API did not record has no record yet: insert without reading
            // first. A wrong guess costs one request (the insert's 409, then a read), never a wrong write.
        },
        {
            expectAbsent:
                attemptOf.request.fingerprint === undefined &&
                attemptOf.retryToken === undefined &&
                attempt <= 1,
        },
    );
    if (stored === undefined || claimed === undefined)
        throw new Error(`The ledger returned no record for ${id}`);
    switch (claimed.kind) {
        case 'conflict':
            // Not sent: this queue copy is another request than the one recorded under its id.
            log.warn(outcomeLine({ event: `${subject}.conflict`, id, attempt }));
            return { kind: 'conflict', id };
        case 'already-sent':
            log.log(
                outcomeLine({
                    event: `${subject}.already-sent`,
                    id,
                    sid: claimed.sid,
                    status: claimed.status,
                    attempt,
                }),
            );
            return { kind: 'already-sent', id, sid: claimed.sid };
        case 'already-final':
            log.log(outcomeLine({ event: `${subject}.already-final`, id, status: claimed.status, attempt }));
            return { kind: 'already-final', id, status: claimed.status };
        case 'held':
            throw new TransientSendError(
                `Outbound ${id} is being sent by another invocation; retrying later`,
            );
        case 'superseded':
            // The copy the delay marker names is on the queue (it was enqueued before the marker was
            // written): this one is a duplicate, and acknowledging it loses nothing.
            log.log(`Outbound ${id}: a superseded copy of a delayed message, dropped (attempt ${attempt})`);
            return { kind: 'superseded', id };
        case 'early':
            return rearm(deps, attemptOf, claimed.marker.token, claimed.marker.until, now, attempt);
        case 'claimed':
            break;
    }

    if (claimed.earlierClaimAt !== undefined) {
        // An earlier attempt claimed this message and never recorded an outcome: it may have reached
        // Twilio. Resending blindly could send twice, so ask Twilio first.
        const found = await findEarlierSend(ledger, id, client, request, Date.parse(claimed.earlierClaimAt));
        if (found !== undefined) {
            await saveSid(ledger, id, token, found, now);
            // A warning: an attempt that died after reaching Twilio is worth noticing.
            log.warn(
                outcomeLine({
                    event: `${subject}.found-at-twilio`,
                    id,
                    sid: found.sid,
                    status: found.status,
                    attempt,
                }),
            );
            return { kind: 'found-at-twilio', id, sid: found.sid };
        }
    }

    const created = await sendUnlessOptedOut(optOutCheck, { id, now, log }, () =>
        createAtTwilio(deps, client, id, request),
    );
    const firstAttemptAt = claimed.firstAttemptAt;
    if (created.ok) {
        await saveSid(ledger, id, token, created.send, now);
        const { sid, status } = created.send;
        log.log(outcomeLine({ event: `${subject}.sent`, id, sid, status, attempt }));
        return { kind: 'sent', id, sid, status };
    }
    const { error, verdict } = created;
    if (verdict.kind === 'permanent') {
        const { code, message } = verdict;
        await ledger.update(id, (current) => permanentFailure(current, { token, now: now(), code, message }));
        // Twilio's reason stays in the record (errorMessage); the line carries its code.
        log.warn(outcomeLine({ event: `${subject}.failed`, id, status: 'failed', code, attempt }));
        return { kind: 'failed', id, code, message };
    }
    const reason = describeSendError(error);
    const backPressure = backPressureOf(verdict);
    if (backPressure !== undefined && deps.requeue !== undefined) {
        const code = verdict.code ?? (verdict.status === undefined ? undefined : `http-${verdict.status}`);
        return delayAfterBackPressure(deps, attemptOf, {
            kind: backPressure,
            retryAfterMs: created.retryAfterMs,
            code,
            reason,
            token,
            firstAttemptAt,
            attempts: stored.attempts,
            now,
            attempt,
        });
    }
    const mayHaveBeenCreated = verdict.kind === 'transient' && verdict.mayHaveBeenCreated;
    await ledger.update(id, (current) =>
        transientFailure(current, { token, now: now(), reason, mayHaveBeenCreated }),
    );
    throw new TransientSendError(`Outbound ${id}: ${reason}; will retry`, { cause: error });
}

/**
 * Twilio pushed back on this attempt: wait before the next try — a copy of the message enqueued with a
 * visibility delay, then the claim replaced by a delay marker naming it — or, when the message has reached
 * its age limit, `failed` with Twilio's code.
 */
async function delayAfterBackPressure(
    deps: OutboundDependencies,
    attemptOf: Attempt,
    input: {
        kind: BackPressure;
        retryAfterMs: number | undefined;
        code: string | undefined;
        reason: string;
        token: string;
        firstAttemptAt: string;
        attempts: number;
        now: () => Date;
        attempt: number;
    },
): Promise<OutboundOutcome> {
    const { ledger, log } = deps;
    const { id, request } = attemptOf;
    const { token, now, code, attempt } = input;
    const subject = subjectOf(request.type);
    const validityMs =
        request.type === 'sms' && request.validityPeriod !== undefined
            ? request.validityPeriod * 1000
            : undefined;
    const deadline = Date.parse(input.firstAttemptAt) + (validityMs ?? deps.maxAgeMs ?? DEFAULT_MAX_AGE_MS);
    const at = now();
    const leftMs = deadline - at.getTime();
    if (leftMs < 1_000) {
        const message = `not accepted by Twilio within the message's age limit; last error: ${input.reason}`;
        await ledger.update(id, (current) => permanentFailure(current, { token, now: now(), code, message }));
        log.warn(outcomeLine({ event: `${subject}.failed`, id, status: 'failed', code, attempt }));
        return { kind: 'failed', id, code, message };
    }
    const wait = backPressureDelayMs(
        input.kind,
        { retryAfterMs: input.retryAfterMs, attempts: input.attempts },
        deps.backoff ?? DEFAULT_BACKOFF,
    );
    // The last try is at the age limit, not after it.
    const delayMs = Math.min(wait, leftMs);
    const until = new Date(at.getTime() + Math.ceil(delayMs / 1000) * 1000).toISOString();
    const next = randomUUID();
    // The copy first, the marker naming it second: a marker never names a copy that is not on the queue.
    await enqueueCopy(
        deps.requeue as NonNullable<OutboundDependencies['requeue']>,
        attemptOf.content,
        next,
        delayMs,
    );
    const marker = { token: next, until, firstAttemptAt: input.firstAttemptAt };
    await ledger.update(id, (current) =>
        delayRetry(current, { token, marker, reason: `${input.reason}; next try at ${until}`, now: now() }),
    );
    log.warn(outcomeLine({ event: `${subject}.delayed`, id, code, attempt }));
    return { kind: 'delayed', id, until, code };
}

/**
 * The copy a delay marker names arrived before the marker's time: a fresh copy is enqueued for the rest of
 * the wait, and the marker moved to it (again the copy first), so this one can be acknowledged.
 */
async function rearm(
    deps: OutboundDependencies,
    attemptOf: Attempt,
    markerToken: string,
    until: string,
    now: () => Date,
    attempt: number,
): Promise<OutboundOutcome> {
    const { id, request } = attemptOf;
    if (deps.requeue === undefined) {
        throw new TransientSendError(`Outbound ${id} is delayed until ${until}; retrying later`);
    }
    const next = randomUUID();
    await enqueueCopy(deps.requeue, attemptOf.content, next, Date.parse(until) - now().getTime());
    await deps.ledger.update(id, (current) =>
        rearmDelay(current, { token: markerToken, nextToken: next, now: now() }),
    );
    deps.log.log(outcomeLine({ event: `${subjectOf(request.type)}.delayed`, id, attempt }));
    return { kind: 'delayed', id, until, code: undefined };
}

/**
 * Creates the message or call at Twilio: the send, or the error and how it classifies. An authentication
 * failure re-reads the token once (it may have been rotated; the re-read is rate-limited) and tries again.
 */
async function createAtTwilio(
    deps: OutboundDependencies,
    client: Twilio,
    id: string,
    request: OutboundRequest,
): Promise<
    | { ok: true; send: TwilioSend }
    | { ok: false; error: unknown; verdict: SendErrorClass; retryAfterMs: number | undefined }
> {
    const { defaults, defaultVoiceUrl: voiceUrl } = parseOptions(deps);
    const context = {
        id,
        defaults,
        statusCallbackUrl: (messageId: string) => statusCallbackUrl(deps.publicBaseUrl, messageId),
    };
    for (let tries = 1; ; tries++) {
        const seen: ResponseSeen = {};
        try {
            watchRetryAfter(client);
            const send = await lastResponse.run(seen, async () =>
                request.type === 'sms'
                    ? client.messages.create(toMessageCreateParams(request, context))
                    : client.calls.create(
                          await toCallCreateParams(request, { ...context, defaultVoiceUrl: voiceUrl }),
                      ),
            );
            return { ok: true, send };
        } catch (error) {
            const verdict = classifySendError(error);
            if (verdict.kind === 'auth' && tries === 1) {
                const fresh = await deps.twilio.refreshAfterAuthFailure();
                if (fresh !== undefined) {
                    client = fresh;
                    continue;
                }
            }
            const now = (deps.now ?? (() => new Date()))();
            return { ok: false, error, verdict, retryAfterMs: parseRetryAfter(seen.retryAfter, now) };
        }
    }
}

/** What the last HTTP answer to one create said that its RestException does not carry. */
interface ResponseSeen {
    retryAfter?: string;
}

/** The create in progress, as the HTTP client's response interceptor sees it. */
const lastResponse = new AsyncLocalStorage<ResponseSeen>();
const watchedClients = new WeakSet();

/** What of an axios instance the interceptor needs; every part checked, since it is read by shape. */
interface AxiosLike {
    interceptors?: { response?: { use?: (onFulfilled: (response: unknown) => unknown) => unknown } };
}

/**
 * Reads `Retry-After` off the create's last HTTP answer. The SDK's RestException keeps the status, code
 * and message but not the headers, so a response interceptor on the client's axios instance (the SDK's
 * `RequestClient.axios`, after its own 429 retries) copies it into the invocation's {@link lastResponse}
 * store, which is per create, so concurrent invocations sharing one client never see each other's. A
 * client without that shape (a test's wrapper) gives no Retry-After: the default wait is used.
 */
function watchRetryAfter(client: Twilio): void {
    const http = (client as { httpClient?: { axios?: unknown } }).httpClient;
    const axios = http?.axios as AxiosLike | undefined;
    const responses = axios?.interceptors?.response;
    if (axios === undefined || typeof responses?.use !== 'function' || watchedClients.has(axios)) return;
    // One interceptor per axios instance, however many wrappers of its client there are.
    watchedClients.add(axios);
    responses.use.call(responses, (response: unknown) => {
        const seen = lastResponse.getStore();
        const headers = (response as { headers?: Record<string, unknown> } | undefined)?.headers;
        const value = headers?.['retry-after'];
        if (seen !== undefined) seen.retryAfter = typeof value === 'string' ? value : undefined;
        return response;
    });
}

/**
 * The number the create names as its sender, as shared/outbound/message.ts builds the create: the
 * message's `from`, else (a message without a Messaging Service of its own, the app without a default
 * one) the default number. Undefined when Twilio picks the sender (a Messaging Service): its answer
 * brings it.
 */
function senderNumber(request: OutboundRequest, defaults: ParseOptions['defaults']): string | undefined {
    if (request.from !== undefined) return request.from;
    if (request.type === 'call') return defaults.fromNumber;
    return request.messagingServiceSid === undefined && defaults.messagingServiceSid === undefined
        ? defaults.fromNumber
        : undefined;
}

/** Records the SID (and the sender Twilio used, when the message named none) of a send. */
async function saveSid(
    ledger: Ledger,
    id: string,
    token: string,
    send: TwilioSend,
    now: () => Date,
): Promise<void> {
    await ledger.update(id, (current) => recordSid(current, { token, send, now: now() }));
}

/**
 * Looks for a message or call Twilio already has for this request: outbound, to the same number (from the
 * same sender, with the same body), created no earlier than shortly before `claimedAtMs` (Twilio's
 * clock), and not recorded under another id — so a same-text message sent for another record is never
 * taken for ours. Oldest match first.
 */
async function findEarlierSend(
    ledger: Ledger,
    id: string,
    client: Twilio,
    request: OutboundRequest,
    claimedAtMs: number,
): Promise<{ sid: string; status: string; from: string } | undefined> {
    const sinceMs = claimedAtMs - LOOKUP_SKEW_MS;
    const filter = {
        to: request.to,
        ...(request.from === undefined ? {} : { from: request.from }),
        limit: LOOKUP_LIMIT,
    };
    const candidates =
        request.type === 'sms'
            ? (await client.messages.list(filter)).filter(
                  (m) => request.body === undefined || m.body === request.body,
              )
            : await client.calls.list(filter);
    const recent = candidates
        .filter((c) => c.dateCreated.getTime() >= sinceMs && c.direction.startsWith('outbound'))
        .reverse();
    for (const candidate of recent) {
        const owner = await ledger.idForSid(candidate.sid);
        // A record keyed by the SID itself holds callbacks that matched no send of ours (statusCallback.ts):
        // it says nothing about whose send this is.
        if (owner === undefined || owner === id || owner === candidate.sid) {
            return { sid: candidate.sid, status: candidate.status, from: candidate.from };
        }
    }
    return undefined;
}

/** Records an invalid queue copy as `rejected` (never over an accepted message) and logs it. */
async function reject(
    deps: OutboundDependencies,
    id: string,
    errors: readonly { field: string; message: string }[],
    value: unknown,
    attempt: number,
): Promise<OutboundOutcome> {
    const text = describeFieldErrors(errors);
    const now = (deps.now ?? (() => new Date()))();
    await deps.ledger.update(id, (current) => rejected(current, { id, value, errors: text, now }));
    const partial = typeof value === 'object' && value !== null ? (value as { type?: unknown }) : {};
    // The field errors stay in the record (errorMessage): a payload's field names are not for the log.
    deps.log.warn(
        outcomeLine({
            event: `${partial.type === 'call' ? 'call' : 'message'}.rejected`,
            id,
            code: 'validation',
            attempt,
        }),
    );
    return { kind: 'rejected', id, errors: text };
}
