/**
 * The media copy: one job from `INBOUND_MEDIA_QUEUE` (shared/media/job.ts) copies an inbound MMS's media
 * from Twilio to the media container and records each item's outcome on the message's ledger record.
 *
 * The story, in order:
 *
 * 1. The job is checked (a malformed one is logged and acknowledged: nothing could make it valid). A record
 *    whose media are already `copied` ends it there (a redelivery after success: one table read).
 * 2. Each item, one at a time (so a job holds at most one item's 5 MB): a refusal the webhook decided is
 *    kept; the URL is checked again (never fetched when it is not Twilio's); a blob already stored for this
 *    media SID, as long as its recorded size, is kept without fetching (a redelivery after a partial
 *    copy); else the media is fetched (shared/media/fetch.ts) and uploaded as blob `<MessageSid>/<index>`
 *    with its content type, and its media SID and size as metadata.
 * 3. With `DELETE_MEDIA_AFTER_COPY`, each stored item is deleted at Twilio (a 404 counts as deleted, so a
 *    redelivery deletes nothing twice).
 * 4. The record gets `media` (status `copied`, the items) in one update, once: an update finding it
 *    `copied` already changes nothing.
 *
 * A transient failure (Twilio 5xx / 429, a transport error, storage unreachable, credentials unreadable)
 * throws, and the host redelivers the job; what was stored stays stored, so the next attempt goes on
 * where this one stopped. On the attempt at `maxDequeueCount` the record is marked `dead-lettered` with
 * the reason and the items stored so far before throwing, since the host moves the job to the poison
 * queue next (inboundMediaPoison records it there too, when this attempt could not).
 *
 * Log lines follow shared/platform/outcomes.ts's format (`event=media.<what> id=… sid=… status=…
 * attempt=…`): never a URL, a phone number or a body.
 */

import type { ContainerClient } from '@azure/storage-blob';
import type { InboundMedia, Ledger, MediaItem } from '../ledger/contract';
import {
    mediaBlobName,
    mediaSidOf,
    mediaUrlProblem,
    parseMediaJob,
    type MediaJobItem,
    type MediaUrlPolicy,
} from './job';
import { deleteMedia, fetchMedia, type MediaCredentials, type MediaFetchOptions } from './fetch';

export interface MediaLogger {
    log(...args: unknown[]): void;
    warn(...args: unknown[]): void;
    error(...args: unknown[]): void;
}

export interface MediaCopyDependencies {
    ledger: Ledger;
    /** The media container, created on first use. */
    container: () => Promise<ContainerClient>;
    /** The REST credentials, or why there are none (the job is then retried, and dead-lettered in the end). */
    credentials: MediaCredentials | string;
    policy: MediaUrlPolicy;
    deleteAfterCopy: boolean;
    /** host.json `maxDequeueCount`: the attempt after which the host poisons the job. */
    maxDequeueCount: number;
    log: MediaLogger;
    fetchOptions?: MediaFetchOptions;
}

/** The queue message's identity, from the trigger's metadata. */
export interface MediaDelivery {
    id: string;
    dequeueCount: number;
}

export type MediaCopyOutcome =
    | { kind: 'copied'; sid: string; media: InboundMedia }
    | { kind: 'already-copied'; sid: string }
    | { kind: 'invalid'; error: string };

/** A failure the next delivery may not meet: the job is thrown back to the queue. */
export class MediaRetryError extends Error {
    override readonly name = 'MediaRetryError';
}

/**
 * Runs one media copy job.
 *
 * @throws MediaRetryError (or the ledger's or storage's own error) for a transient failure: the host then
 *   redelivers the job.
 */
export async function processMediaJob(
    item: unknown,
    delivery: MediaDelivery,
    deps: MediaCopyDependencies,
): Promise<MediaCopyOutcome> {
    const parsed = parseMediaJob(item);
    const attempt = Number.isInteger(delivery.dequeueCount) ? delivery.dequeueCount : 1;
    if (!parsed.ok) {
        deps.log.warn(`event=media.rejected id=${delivery.id} attempt=${String(attempt)}: ${parsed.error}`);
        return { kind: 'invalid', error: parsed.error };
    }
    const { sid, items } = parsed.job;
    const line = (event: string, status: string) =>
        `event=media.${event} id=${sid} sid=${sid} status=${status} attempt=${String(attempt)}`;
    const recorded = await deps.ledger.get(sid);
    if (recorded?.media?.status === 'copied') {
        deps.log.log(`${line('already-copied', 'copied')}: a redelivery; nothing fetched`);
        return { kind: 'already-copied', sid };
    }

    const decided: MediaItem[] = [];
    try {
        for (const jobItem of items) decided.push(await copyItem(sid, jobItem, deps));
        if (deps.deleteAfterCopy) await deleteCopied(decided, items, deps);
    } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        if (attempt >= deps.maxDequeueCount) {
            const media: InboundMedia = {
                status: 'dead-lettered',
                items: decided,
                reason: `the media copy failed ${String(attempt)} times: ${reason}`,
            };
            await deps.ledger.update(sid, (current) =>
                current === undefined || current.media !== undefined ? undefined : { ...current, media },
            );
            deps.log.error(`${line('dead-lettered', 'dead-lettered')}: ${reason}`);
        } else {
            deps.log.warn(`${line('retrying', 'pending')}: ${reason}`);
        }
        throw error instanceof MediaRetryError ? error : new MediaRetryError(reason, { cause: error });
    }

    const media: InboundMedia = { status: 'copied', items: decided };
    const after = await deps.ledger.update(sid, (current) =>
        current === undefined || current.media?.status === 'copied' ? undefined : { ...current, media },
    );
    const stored = decided.filter((d) => d.outcome === 'stored').length;
    const summary = `${String(stored)} of ${String(decided.length)} stored`;
    if (after === undefined) {
        deps.log.warn(`${line('unrecorded', 'copied')}: ${summary}, but the message has no ledger record`);
    } else {
        const refused = decided
            .filter((d) => d.outcome === 'refused')
            .map((d) => `${String(d.index)}:${d.refusal ?? ''}`);
        deps.log.log(
            `${line('copied', 'copied')}: ${summary}${refused.length === 0 ? '' : `; refused ${refused.join(' ')}`}`,
        );
    }
    return { kind: 'copied', sid, media };
}

/** One item's outcome: kept, refused or stored. @throws MediaRetryError for a transient failure */
async function copyItem(sid: string, item: MediaJobItem, deps: MediaCopyDependencies): Promise<MediaItem> {
    const { index } = item;
    if ('refusal' in item) return { index, outcome: 'refused', refusal: item.refusal, detail: item.detail };
    const problem = mediaUrlProblem(item.url, sid, deps.policy);
    if (problem !== undefined) return { index, outcome: 'refused', refusal: 'foreign-url', detail: problem };
    const mediaSid = mediaSidOf(item.url);
    const name = mediaBlobName(sid, index);
    const blob = (await deps.container()).getBlockBlobClient(name);

    const existing = await storedBlob(blob);
    if (existing !== undefined && existing.mediaSid === mediaSid) {
        return {
            index,
            outcome: 'stored',
            contentType: existing.contentType,
            blob: name,
            size: existing.size,
            mediaSid,
        };
    }
    if (typeof deps.credentials === 'string') throw new MediaRetryError(deps.credentials);
    const fetched = await fetchMedia(item.url, deps.credentials, deps.fetchOptions);
    if (fetched.kind === 'transient') throw new MediaRetryError(fetched.reason);
    if (fetched.kind === 'refused') {
        return { index, outcome: 'refused', refusal: fetched.refusal, detail: fetched.detail, mediaSid };
    }
    const size = fetched.body.byteLength;
    await blob.uploadData(fetched.body, {
        blobHTTPHeaders: { blobContentType: fetched.contentType },
        metadata: { mediasid: mediaSid, size: String(size) },
    });
    return { index, outcome: 'stored', contentType: fetched.contentType, blob: name, size, mediaSid };
}

/**
 * The blob stored for an item by an earlier attempt, when it is whole: its recorded size is its length
 * (an upload is committed at once, so this guards against a blob written by something else).
 */
async function storedBlob(
    blob: ReturnType<ContainerClient['getBlockBlobClient']>,
): Promise<{ mediaSid: string; contentType: string; size: number } | undefined> {
    try {
        const properties = await blob.getProperties();
        const size = Number(properties.metadata?.size ?? Number.NaN);
        const mediaSid = properties.metadata?.mediasid;
        if (mediaSid === undefined || size !== properties.contentLength) return undefined;
        return { mediaSid, contentType: properties.contentType ?? 'application/octet-stream', size };
    } catch (error) {
        if ((error as { statusCode?: unknown }).statusCode === 404) return undefined;
        throw error;
    }
}

/** Deletes each stored item at Twilio. @throws MediaRetryError when Twilio could not be reached */
async function deleteCopied(
    decided: MediaItem[],
    items: readonly MediaJobItem[],
    deps: MediaCopyDependencies,
): Promise<void> {
    if (typeof deps.credentials === 'string') throw new MediaRetryError(deps.credentials);
    for (const item of decided) {
        const jobItem = items.find((candidate) => candidate.index === item.index);
        if (item.outcome !== 'stored' || jobItem === undefined || 'refusal' in jobItem) continue;
        const deleted = await deleteMedia(jobItem.url, deps.credentials, deps.fetchOptions);
        if (deleted.kind === 'transient') throw new MediaRetryError(deleted.reason);
        item.deletedAtTwilio = deleted.kind === 'deleted';
        if (deleted.kind === 'refused') item.detail = deleted.reason;
    }
}
