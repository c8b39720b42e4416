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

// Loaded on the first request: no other function needs it.
const recordingsModule = lazy(() => import('../shared/voice/recordings'));

const SID = /^RE[0-9a-f]{32}$/;

/**
 * GET /api/recordings/{sid}: a recording's audio (MP3, or WAV with `?format=wav`), fetched from Twilio with
 * the account's credentials, so that no one is handed Twilio's media URL. 400 naming `sid` or `format`,
 * 404 when Twilio has no such recording, 502 naming what failed upstream.
 */
export async function getRecording(
    request: HttpRequest,
    context: InvocationContext,
): Promise<HttpResponseInit> {
    const sid = request.params.sid ?? '';
    if (!SID.test(sid)) return invalid('sid', 'must be "RE" followed by 32 lowercase hexadecimal characters');
    const format = request.query.get('format') ?? 'mp3';
    if (format !== 'mp3' && format !== 'wav') return invalid('format', 'must be "mp3" or "wav"');
    const loaded = dependenciesOr500(context);
    if (!loaded.ok) return loaded.response;
    const fetched = await (await recordingsModule()).fetchRecording(loaded.deps, sid, format);
    switch (fetched.kind) {
        case 'ok':
            return {
                status: 200,
                headers: {
                    'Content-Type': fetched.contentType,
                    'Content-Length': String(fetched.body.byteLength),
                    // A voice is personal data: never kept by a cache on the way.
                    'Cache-Control': 'private, no-store',
                    'Content-Disposition': `inline; filename="${sid}.${format}"`,
                },
                body: fetched.body,
            };
        case 'not-found':
            return { status: 404, jsonBody: { error: 'not_found', sid } };
        case 'not-configured':
            context.error(`event=recording.unavailable sid=${sid} route=recordings: ${fetched.reason}`);
            return { status: 500, body: 'The app is misconfigured; see the function logs' };
        case 'upstream':
            context.warn(`event=recording.upstream-failed sid=${sid} route=recordings: ${fetched.reason}`);
            return { status: 502, jsonBody: { error: 'upstream_failed', sid, message: fetched.reason } };
    }
}

function invalid(field: string, message: string): HttpResponseInit {
    return { status: 400, jsonBody: { error: 'invalid_request', errors: [{ field, message }] } };
}

export const getRecordingOptions = {
    route: ROUTES.recording,
    methods: ['GET'],
    authLevel: 'function',
    handler: getRecording,
} satisfies HttpFunctionOptions;

app.http('getRecording', getRecordingOptions);
