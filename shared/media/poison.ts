/**
 * Media copy jobs the host moved to `<INBOUND_MEDIA_QUEUE>-poison`, recorded on their message: the record
 * gets `media` with status `dead-lettered` and the reason, unless the last attempt recorded that already
 * (shared/media/copy.ts does, with the items it had stored) or the media were copied after all. The items
 * already in the media container are listed from it, so the record says what was kept.
 *
 * Total over the item's shape: a job that cannot be read names no message to record it on, and is logged
 * as an error line with a hash of its content (never the content: it holds URLs), so it is seen, not
 * dropped. Only the ledger or storage can make it throw, and then the host retries.
 */

import { createHash } from 'node:crypto';
import type { ContainerClient } from '@azure/storage-blob';
import type { InboundMedia, Ledger, MediaItem } from '../ledger/contract';
import type { MediaLogger } from './copy';
import { MAX_MEDIA_ITEMS, parseMediaJob } from './job';

export type MediaPoisonOutcome =
    | { kind: 'dead-lettered'; sid: string }
    | { kind: 'already-final'; sid: string }
    | { kind: 'unreadable'; hash: string };

/** The reason a poisoned job's record carries. */
export const POISON_REASON =
    'the media copy failed on every delivery and was moved to the poison queue (see the function logs)';

/** Records the poisoned job `item` (queue message `poisonMessageId`) on its message. */
export async function recordPoisonedMediaJob(
    item: unknown,
    poisonMessageId: string,
    deps: { ledger: Ledger; container: () => Promise<ContainerClient>; log: MediaLogger },
): Promise<MediaPoisonOutcome> {
    const parsed = parseMediaJob(item);
    if (!parsed.ok) {
        // Wrapped: JSON.stringify of a bare undefined is undefined, of an object always text.
        const text = typeof item === 'string' ? item : JSON.stringify({ item });
        const hash = createHash('sha256').update(text).digest('hex').slice(0, 16);
        deps.log.error(
            `event=media.dead-lettered id=${poisonMessageId} status=unreadable: a poisoned media job names no message (${parsed.error}; content hash ${hash})`,
        );
        return { kind: 'unreadable', hash };
    }
    const { sid } = parsed.job;
    const current = await deps.ledger.get(sid);
    if (current?.media !== undefined) {
        deps.log.log(
            `event=media.poisoned id=${sid} sid=${sid} status=${current.media.status}: already recorded`,
        );
        return { kind: 'already-final', sid };
    }
    const items = await storedItems(sid, await deps.container());
    const media: InboundMedia = { status: 'dead-lettered', items, reason: POISON_REASON };
    await deps.ledger.update(sid, (record) =>
        record === undefined || record.media !== undefined ? undefined : { ...record, media },
    );
    deps.log.error(
        `event=media.dead-lettered id=${sid} sid=${sid} status=dead-lettered: ${String(items.length)} item(s) were stored before`,
    );
    return { kind: 'dead-lettered', sid };
}

/** The items of `sid` already in the container (`<sid>/<index>` blobs), at most {@link MAX_MEDIA_ITEMS}. */
async function storedItems(sid: string, container: ContainerClient): Promise<MediaItem[]> {
    const items: MediaItem[] = [];
    for await (const blob of container.listBlobsFlat({ prefix: `${sid}/`, includeMetadata: true })) {
        const index = Number(blob.name.slice(sid.length + 1));
        if (!Number.isInteger(index) || index < 0 || index >= MAX_MEDIA_ITEMS) continue;
        items.push({
            index,
            outcome: 'stored',
            blob: blob.name,
            contentType: blob.properties.contentType ?? 'application/octet-stream',
            size: blob.properties.contentLength ?? 0,
            ...(blob.metadata?.mediasid === undefined ? {} : { mediaSid: blob.metadata.mediasid }),
        });
        if (items.length >= MAX_MEDIA_ITEMS) break;
    }
    return items.sort((a, b) => a.index - b.index);
}
