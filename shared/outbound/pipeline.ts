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
 * Each delivery logs one outcome line (shared/platform/outcomes.ts) with the message's id and the delivery count:
 * sent, failed, rejected, conflict, already-sent, already-final, found-at-twilio, retrying (before the
 * error is rethrown) or dead-lettered (the last attempt, when it records that).
 */

import { randomUUID } from 'node:crypto';
import type { Ledger } from '../ledger/contract';
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
import { classifySendError, describeSendError, type SendErrorClass } from './sendErrors';
import {
    abandonedClaim,
    claim,
    deadLetterAfterLastAttempt,
    permanentFailure,
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
    | { kind: 'conflict'; id: string };

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
    const parsed = parseOutbound(decoded.value, undefined, parseOptions(deps));
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
        return await send(deps, id, request, fingerprint, now, attempt);
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

/** One attempt at one message: claim it, look for an earlier send when needed, send, record the outcome. */
async function send(
    deps: OutboundDependencies,
    id: string,
    request: OutboundRequest,
    fingerprint: string,
    now: () => Date,
    attempt: number,
): Promise<OutboundOutcome> {
    const { ledger, log } = deps;
    const subject = subjectOf(request.type);
    const token = randomUUID();
    const leaseMs = deps.claimLeaseMs ?? DEFAULT_CLAIM_LEASE_MS;
    const summary = summarize(request);
    // The token first: if Key Vault is unreachable, fail before claiming, so the retry is not held off by
    // a claim that never called Twilio.
    const client = await deps.twilio.get();

    let claimed = undefined as ClaimResult | undefined; // set by the ledger's mutate callback
    const stored = await ledger.update(id, (current) => {
        const step = claim(current, { id, summary, fingerprint, token, now: now(), leaseMs });
        claimed = step.result;
        return step.next;
    });
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

    const created = await createAtTwilio(deps, client, id, request);
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
    const mayHaveBeenCreated = verdict.kind === 'transient' && verdict.mayHaveBeenCreated;
    await ledger.update(id, (current) =>
        transientFailure(current, { token, now: now(), reason, mayHaveBeenCreated }),
    );
    throw new TransientSendError(`Outbound ${id}: ${reason}; will retry`, { cause: error });
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
): Promise<{ ok: true; send: TwilioSend } | { ok: false; error: unknown; verdict: SendErrorClass }> {
    const { defaults, defaultVoiceUrl: voiceUrl } = parseOptions(deps);
    const context = {
        id,
        defaults,
        statusCallbackUrl: (messageId: string) => statusCallbackUrl(deps.publicBaseUrl, messageId),
    };
    for (let tries = 1; ; tries++) {
        try {
            const send =
                request.type === 'sms'
                    ? await client.messages.create(toMessageCreateParams(request, context))
                    : await client.calls.create(
                          await toCallCreateParams(request, { ...context, defaultVoiceUrl: voiceUrl }),
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
            return { ok: false, error, verdict };
        }
    }
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
