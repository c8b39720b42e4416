/**
 * `GET /api/messages/{id}/media/{n}`: a copied media item read back from the media container, buffered
 * with the size bound the copy applied (the Node worker only streams HTTP responses with
 * `app.setup({ enableHttpStream: true })`, which changes how every function of the app handles requests;
 * shared/voice/recordings.ts buffers the same way). Outcomes are values; nothing here logs.
 */

import type { ContainerClient } from '@azure/storage-blob';
import { MAX_MEDIA_BYTES, mediaBlobName } from './job';

const MESSAGE_SID = /^(MM|SM)[0-9a-fA-F]{32}$/;

export type StoredMedia =
    | { kind: 'ok'; contentType: string; body: Uint8Array }
    | { kind: 'not-found' }
    /** Larger than any copy stores: something else wrote the blob. */
    | { kind: 'too-large' };

/** Item `index` of message `id`, from the container; `not-found` for an id that is no message SID. */
export async function readStoredMedia(
    container: () => Promise<ContainerClient>,
    id: string,
    index: number,
): Promise<StoredMedia> {
    if (!MESSAGE_SID.test(id)) return { kind: 'not-found' };
    const blob = (await container()).getBlobClient(mediaBlobName(id, index));
    let properties;
    try {
        properties = await blob.getProperties();
    } catch (error) {
        if ((error as { statusCode?: unknown }).statusCode === 404) return { kind: 'not-found' };
        throw error;
    }
    const size = properties.contentLength ?? 0;
    if (size > MAX_MEDIA_BYTES) return { kind: 'too-large' };
    // The length read is the one checked: a blob replaced in between is read no further than this.
    const body = size === 0 ? Buffer.alloc(0) : await blob.downloadToBuffer(0, size);
    return { kind: 'ok', contentType: properties.contentType ?? 'application/octet-stream', body };
}
