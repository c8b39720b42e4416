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

// Loaded on the first send: it pulls in zod and the outbound pipeline, which no webhook needs.
const sendModule = lazy(() => import('../shared/api/send'));

/** POST /api/messages: validates an SMS/MMS, records it as queued and enqueues it; 202 with its id. */
export async function sendMessage(
    request: HttpRequest,
    context: InvocationContext,
): Promise<HttpResponseInit> {
    const loaded = dependenciesOr500(context);
    if (!loaded.ok) return loaded.response;
    const send = await sendModule();
    return send.sendMessage(request, send.sendDependencies(loaded.deps, context));
}

export const sendMessageOptions = {
    route: ROUTES.messages,
    methods: ['POST'],
    authLevel: 'function',
    handler: sendMessage,
} satisfies HttpFunctionOptions;

app.http('sendMessage', sendMessageOptions);
