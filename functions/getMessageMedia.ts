import {
    app,
    type HttpFunctionOptions,
    type HttpRequest,
    type HttpResponseInit,
    type InvocationContext,
} from '@azure/functions';
import { dependenciesOr500 } from '../shared/platform/dependencies';
import { lazy } from '../shared/platform/lazy';
import { ROUTES } from '../shared/platform/routes';

// Loaded on the first request: it pulls in the Blob SDK, which no webhook needs.
const serveModule = lazy(() => import('../shared/media/serve'));

/**
 * GET /api/messages/{id}/media/{n}: media item `n` (0-9) of inbound message `id`, as copied to the media
 * container, with its content type. 400 naming `n` when it is not a whole number from 0 to 9, 404 when
 * the message has no such item stored.
 */
export async function getMessageMedia(
    request: HttpRequest,
    context: InvocationContext,
): Promise<HttpResponseInit> {
    const id = request.params.id ?? '';
    const n = request.params.n ?? '';
    if (!/^\d$/.test(n)) {
        return {
            status: 400,
            jsonBody: {
                error: 'invalid_request',
                errors: [{ field: 'n', message: 'must be a whole number from 0 to 9' }],
            },
        };
    }
    const loaded = dependenciesOr500(context);
    if (!loaded.ok) return loaded.response;
    const stored = await (await serveModule()).readStoredMedia(loaded.deps.mediaContainer, id, Number(n));
    switch (stored.kind) {
        case 'ok':
            return {
                status: 200,
                headers: {
                    'Content-Type': stored.contentType,
                    'Content-Length': String(stored.body.byteLength),
                    // A sender's photo is personal data: never kept by a cache on the way.
                    'Cache-Control': 'private, no-store',
                    'X-Content-Type-Options': 'nosniff',
                },
                body: stored.body,
            };
        case 'not-found':
            return { status: 404, jsonBody: { error: 'not_found', id, n: Number(n) } };
        case 'too-large':
            context.error(
                `event=media.oversized id=${id} route=messages: a stored media blob is over the limit`,
            );
            return {
                status: 500,
                body: 'The stored media is larger than the app serves; see the function logs',
            };
    }
}

export const getMessageMediaOptions = {
    route: ROUTES.messageMedia,
    methods: ['GET'],
    authLevel: 'function',
    handler: getMessageMedia,
} satisfies HttpFunctionOptions;

app.http('getMessageMedia', getMessageMediaOptions);
