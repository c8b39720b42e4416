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

/** POST /api/calls: validates a call request, records it as queued and enqueues it; 202 with its id. */
export async function sendCall(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
    const loaded = dependenciesOr500(context);
    if (!loaded.ok) return loaded.response;
    const send = await sendModule();
    return send.sendCall(request, send.sendDependencies(loaded.deps, context));
}

export const sendCallOptions = {
    route: ROUTES.calls,
    methods: ['POST'],
    authLevel: 'function',
    handler: sendCall,
} satisfies HttpFunctionOptions;

app.http('sendCall', sendCallOptions);
