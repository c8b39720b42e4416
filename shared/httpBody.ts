/**
 * Reading an HTTP request body with a size limit, for the functions whose callers are not trusted to
 * send small bodies.
 */

import type { HttpRequest, HttpResponseInit } from '@azure/functions';

export type BodyRead = { ok: true; text: string } | { ok: false; response: HttpResponseInit };

/**
 * The body as UTF-8 text (as `request.text()` decodes it), or a 413 when it is over `maxBytes`: refused
 * by its `Content-Length` before anything is read, and otherwise while reading, so an over-long body
 * without a length is never held whole.
 */
export async function readLimitedBody(
    request: Pick<HttpRequest, 'headers' | 'body'>,
    maxBytes: number,
): Promise<BodyRead> {
    const tooLarge: BodyRead = {
        ok: false,
        response: {
            status: 413,
            jsonBody: {
                error: 'payload_too_large',
                message: `the body must be at most ${String(maxBytes)} bytes`,
            },
        },
    };
    const declared = Number(request.headers.get('content-length') ?? NaN);
    if (declared > maxBytes) return tooLarge;
    const stream = request.body;
    if (stream === null) return { ok: true, text: '' };
    // Typed `any` by @azure/functions; a web ReadableStream of bytes at run time.
    const reader = (stream as ReadableStream<Uint8Array>).getReader();
    const chunks: Uint8Array[] = [];
    let total = 0;
    for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        total += value.byteLength;
        if (total > maxBytes) {
            await reader.cancel().catch(() => undefined);
            return tooLarge;
        }
        chunks.push(value);
    }
    // TextDecoder, as fetch's text() does: invalid bytes become U+FFFD and a leading BOM is dropped.
    return { ok: true, text: new TextDecoder().decode(Buffer.concat(chunks)) };
}
