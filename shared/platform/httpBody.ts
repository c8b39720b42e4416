/**
 * Reading an HTTP body with a size limit: a request's, for the functions whose callers are not trusted to
 * send small bodies (the HTTP API, 413 as JSON; the Twilio webhooks, 413 as plain text), and a fetch
 * answer's, for the files fetched from Twilio (shared/platform/twilioMedia.ts).
 */

import type { HttpRequest, HttpResponseInit } from '@azure/functions';

export type BodyRead = { ok: true; text: string } | { ok: false; response: HttpResponseInit };

/**
 * What {@link readBodyBytes} needs of a request or a fetch `Response`; `method` lets a GET or HEAD
 * request skip the body.
 */
export type BodySource =
    | (Pick<HttpRequest, 'headers' | 'body'> & { readonly method?: string })
    | Pick<Response, 'headers' | 'body'>;

/**
 * The body's bytes, or `undefined` when it is over `maxBytes`: refused by its `Content-Length` before
 * anything is read, and otherwise while reading, so an over-long body without (or lying about) its length
 * is never held beyond the limit. One pass: a body that arrives as one chunk is returned as it came, and
 * several chunks are copied once into a buffer of their total size.
 */
export async function readBodyBytes(request: BodySource, maxBytes: number): Promise<Buffer | undefined> {
    if ('method' in request && (request.method === 'GET' || request.method === 'HEAD')) return EMPTY;
    const declared = request.headers.get('content-length')?.trim();
    if (declared !== undefined && /^\d+$/.test(declared) && Number(declared) > maxBytes) return undefined;
    // Typed `any` by @azure/functions; a web ReadableStream of bytes at run time.
    const stream = request.body as ReadableStream<Uint8Array> | null;
    if (stream === null) return EMPTY;
    const reader = stream.getReader();
    const chunks: Uint8Array[] = [];
    let total = 0;
    for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        total += value.byteLength;
        if (total > maxBytes) {
            // Stops the source: the rest of the body is never read.
            await reader.cancel().catch(() => undefined);
            return undefined;
        }
        chunks.push(value);
    }
    if (chunks.length === 1) {
        const [only] = chunks as [Uint8Array];
        return Buffer.from(only.buffer, only.byteOffset, only.byteLength);
    }
    return Buffer.concat(chunks, total);
}

/** Bytes as UTF-8 text, as `request.text()` decodes them: invalid bytes become U+FFFD, a leading BOM is dropped. */
export function decodeBody(bytes: Uint8Array): string {
    return new TextDecoder().decode(bytes);
}

/**
 * The body as UTF-8 text (as `request.text()` decodes it), or a 413 answered as JSON when it is over
 * `maxBytes` (see {@link readBodyBytes}).
 */
export async function readLimitedBody(request: BodySource, maxBytes: number): Promise<BodyRead> {
    const bytes = await readBodyBytes(request, maxBytes);
    if (bytes !== undefined) return { ok: true, text: decodeBody(bytes) };
    return {
        ok: false,
        response: {
            status: 413,
            jsonBody: {
                error: 'payload_too_large',
                message: `the body must be at most ${String(maxBytes)} bytes`,
            },
        },
    };
}

const EMPTY = Buffer.alloc(0);
