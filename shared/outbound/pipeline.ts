/**
 * The outbound pipeline: one queue message in, at most one Twilio create out, every outcome in the ledger.
 *
 * validate → claim the id in the ledger (optimistic concurrency, so two copies of one message cannot both
 * send) → call Twilio → record the SID. Retry-or-give-up is decided in one place (shared/outbound/sendErrors.ts).
 * When an earlier attempt's outcome is unknown (it died, or the request timed out after it may have
 * reached Twilio), the message is looked up at Twilio before anything is sent again.
 *
 * Each delivery logs one outcome line (shared/platform/outcomes.ts) with the message's id and the delivery count:
 * sent, failed, rejected, conflict, already-sent, already-final, found-at-twilio, retrying (before the
 * error is rethrown) or dead-lettered (the last attempt, when it records that).
 */

import { randomUUID } from 'node:crypto';
import type { Ledger, LedgerRecord } from '../ledger/contract';
import { newRecord } from '../ledger/rules';
import { applyStatus, isTerminal } from '../ledger/status';
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
import { classifySendError, describeSendError } from './sendErrors';

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

/** The history status that notes a refused queue copy of another request under a record's id. */
export const CONFLICTING_COPY = 'conflicting-copy';

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
        let deadLettered = false as boolean; // set by the ledger's mutate callback
        await deps.ledger.update(id, (current) => {
            deadLettered = false;
            if (
                current === undefined ||
                current.sid !== undefined ||
                isTerminal(current.type, current.status)
            ) {
                return undefined;
            }
            // Another invocation holds a live claim (a duplicate copy is sending right now): its outcome,
            // not this attempt's failure, decides; the poison function looks again later.
            if (current.claim !== undefined && Date.parse(current.claim.leaseUntil) > now().getTime())
                return undefined;
            deadLettered = true;
            return deadLetter(current, describeSendError(error), now());
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
    const record = await deps.ledger.get(id);
    if (record?.claim === undefined || record.sid !== undefined) return undefined;
    const client = await deps.twilio.get();
    const found = await findEarlierSend(
        deps.ledger,
        id,
        client,
        request,
        Date.parse(record.claim.at) - LOOKUP_SKEW_MS,
    );
    if (found === undefined) return undefined;
    await recordSid(deps, id, record.claim.token, found, deps.now ?? (() => new Date()));
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
    let earlierClaim: string | undefined;
    let conflict = false as boolean; // set by the ledger's mutate callback
    // The token first: if Key Vault is unreachable, fail before claiming, so the retry is not held off by
    // a claim that never called Twilio.
    let client = await deps.twilio.get();

    const claimed = await ledger.update(id, (current) => {
        const at = now();
        earlierClaim = undefined;
        conflict = current?.fingerprint !== undefined && current.fingerprint !== fingerprint;
        if (current !== undefined && conflict) return noteConflictingCopy(current, at);
        if (current !== undefined) {
            if (current.sid !== undefined || isTerminal(current.type, current.status)) return undefined;
            if (current.claim !== undefined) {
                if (Date.parse(current.claim.leaseUntil) > at.getTime()) return undefined;
                earlierClaim = current.claim.at;
            }
        }
        const base = current ?? queuedRecord(id, request, fingerprint, at);
        return {
            ...base,
            // A record from before fingerprints were kept takes this request's.
            fingerprint: base.fingerprint ?? fingerprint,
            status: 'sending',
            attempts: base.attempts + 1,
            claim: {
                token,
                at: at.toISOString(),
                leaseUntil: new Date(at.getTime() + leaseMs).toISOString(),
            },
            updatedAt: at.toISOString(),
        };
    });
    if (claimed === undefined) throw new Error(`The ledger returned no record for ${id}`);
    if (conflict) {
        // Not sent: this queue copy is another request than the one recorded under its id.
        log.warn(outcomeLine({ event: `${subject}.conflict`, id, attempt }));
        return { kind: 'conflict', id };
    }
    if (claimed.sid !== undefined) {
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
    }
    if (claimed.claim?.token !== token) {
        if (isTerminal(claimed.type, claimed.status)) {
            log.log(outcomeLine({ event: `${subject}.already-final`, id, status: claimed.status, attempt }));
            return { kind: 'already-final', id, status: claimed.status };
        }
        throw new TransientSendError(`Outbound ${id} is being sent by another invocation; retrying later`);
    }

    if (earlierClaim !== undefined) {
        // An earlier attempt claimed this message and never recorded an outcome: it may have reached
        // Twilio. Resending blindly could send twice, so ask Twilio first.
        const found = await findEarlierSend(
            ledger,
            id,
            client,
            request,
            Date.parse(earlierClaim) - LOOKUP_SKEW_MS,
        );
        if (found !== undefined) {
            await recordSid(deps, id, token, found, now);
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

    const { defaults, defaultVoiceUrl: voiceUrl } = parseOptions(deps);
    const context = {
        id,
        defaults,
        statusCallbackUrl: (messageId: string) => statusCallbackUrl(deps.publicBaseUrl, messageId),
    };
    let created: { sid: string; status: string; from: string };
    for (let attempt = 1; ; attempt++) {
        try {
            created =
                request.type === 'sms'
                    ? await client.messages.create(toMessageCreateParams(request, context))
                    : await client.calls.create(
                          await toCallCreateParams(request, { ...context, defaultVoiceUrl: voiceUrl }),
                      );
            break;
        } catch (error) {
            const verdict = classifySendError(error);
            if (verdict.kind === 'auth' && attempt === 1) {
                // The token may have been rotated: re-read it once (rate-limited) and retry with it.
                const fresh = await deps.twilio.refreshAfterAuthFailure();
                if (fresh !== undefined) {
                    client = fresh;
                    continue;
                }
            }
            if (verdict.kind === 'permanent') {
                await ledger.update(id, (current) =>
                    current === undefined
                        ? undefined
                        : releaseClaim(
                              {
                                  ...(applyStatus(current, {
                                      status: 'failed',
                                      at: now().toISOString(),
                                      source: 'app',
                                      errorCode: verdict.code,
                                      errorMessage: verdict.message,
                                  }) ?? current),
                              },
                              token,
                          ),
                );
                // Twilio's reason stays in the record (errorMessage); the line carries its code.
                log.warn(
                    outcomeLine({
                        event: `${subject}.failed`,
                        id,
                        status: 'failed',
                        code: verdict.code,
                        attempt,
                    }),
                );
                return { kind: 'failed', id, code: verdict.code, message: verdict.message };
            }
            const mayHaveBeenCreated = verdict.kind === 'transient' ? verdict.mayHaveBeenCreated : false;
            await ledger.update(id, (current) => {
                if (current?.claim?.token !== token) return undefined;
                const at = now().toISOString();
                return {
                    ...current,
                    errorMessage: describeSendError(error),
                    // Twilio may have the message: keep the claim but end its lease now, so the next
                    // attempt looks it up before sending. Otherwise nothing was created: drop the claim.
                    claim: mayHaveBeenCreated ? { ...current.claim, leaseUntil: at } : undefined,
                    updatedAt: at,
                };
            });
            throw new TransientSendError(`Outbound ${id}: ${describeSendError(error)}; will retry`, {
                cause: error,
            });
        }
    }
    await recordSid(deps, id, token, created, now);
    log.log(outcomeLine({ event: `${subject}.sent`, id, sid: created.sid, status: created.status, attempt }));
    return { kind: 'sent', id, sid: created.sid, status: created.status };
}

/** Records the SID (and the sender Twilio used, when the message named none) of a send. */
async function recordSid(
    deps: Pick<OutboundDependencies, 'ledger'>,
    id: string,
    token: string,
    send: { sid: string; status: string; from: string | null },
    now: () => Date,
): Promise<void> {
    const { sid, status } = send;
    await deps.ledger.update(id, (current) => {
        if (current === undefined) return undefined;
        if (current.sid !== undefined && current.sid !== sid) {
            // A status callback (carrying our id) got here first with the same send; keep what it recorded.
            return undefined;
        }
        const from = current.from ?? (send.from === null || send.from === '' ? undefined : send.from);
        const withSid = releaseClaim(
            { ...current, sid, ...(from === undefined ? {} : { from }), errorMessage: undefined },
            token,
        );
        return (
            applyStatus(withSid, { status, at: now().toISOString(), source: 'twilio', sid }) ?? {
                ...withSid,
                updatedAt: now().toISOString(),
            }
        );
    });
}

/**
 * Looks for a message or call Twilio already has for this request: outbound, to the same number (from the
 * same sender, with the same body), created after `sinceMs`, and not recorded under another id — so a
 * same-text message sent for another record is never taken for ours. Oldest match first.
 */
async function findEarlierSend(
    ledger: Ledger,
    id: string,
    client: Twilio,
    request: OutboundRequest,
    sinceMs: number,
): Promise<{ sid: string; status: string; from: string } | undefined> {
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

function queuedRecord(id: string, request: OutboundRequest, fingerprint: string, at: Date): LedgerRecord {
    return newRecord({ ...summarize(request), id, fingerprint, direction: 'outbound', status: 'queued' }, at);
}

/**
 * The record with a note that a queue copy of another request under its id was refused (once: the note
 * is deduplicated like any status event); undefined when it is already noted.
 */
function noteConflictingCopy(record: LedgerRecord, at: Date): LedgerRecord | undefined {
    return applyStatus(record, {
        status: CONFLICTING_COPY,
        at: at.toISOString(),
        source: 'app',
        detail: 'a queue copy of another request under this id was not sent (its fingerprint differs)',
    });
}

function releaseClaim(record: LedgerRecord, token: string): LedgerRecord {
    return record.claim?.token === token ? { ...record, claim: undefined } : record;
}

function deadLetter(record: LedgerRecord, reason: string, at: Date): LedgerRecord {
    const moved =
        applyStatus(record, { status: 'dead-lettered', at: at.toISOString(), source: 'app' }) ?? record;
    return { ...moved, claim: undefined, errorMessage: reason, updatedAt: at.toISOString() };
}

async function reject(
    deps: OutboundDependencies,
    id: string,
    errors: readonly { field: string; message: string }[],
    value: unknown,
    attempt: number,
): Promise<OutboundOutcome> {
    const text = describeFieldErrors(errors);
    const at = (deps.now ?? (() => new Date()))();
    await deps.ledger.update(id, (current) => {
        // An invalid copy never overwrites a message that was accepted under the same id.
        if (current !== undefined) return undefined;
        const partial = typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
        const record = newRecord(
            {
                id,
                direction: 'outbound',
                type: partial.type === 'call' ? 'call' : 'sms',
                status: 'queued',
                to: typeof partial.to === 'string' ? partial.to : undefined,
                attempts: 1,
            },
            at,
        );
        return {
            ...(applyStatus(record, { status: 'rejected', at: at.toISOString(), source: 'app' }) ?? record),
            errorCode: 'validation',
            errorMessage: text,
        };
    });
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

export { deadLetter };
