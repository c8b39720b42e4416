import {
    app,
    type HttpFunctionOptions,
    type HttpRequest,
    type HttpResponseInit,
    type InvocationContext,
} from '@azure/functions';
import { dependenciesOr500 } from '../shared/dependencies';
import { lazy } from '../shared/lazy';

const api = lazy(() => import('../shared/messagesApi'));
const pipeline = lazy(() => import('../shared/outboundPipeline'));

/** POST /api/calls: validates a call request, records it as queued and enqueues it; 202 with its id. */
export async function sendCall(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
    const loaded = dependenciesOr500(context);
    if (!loaded.ok) return loaded.response;
    const { deps } = loaded;
    const [{ acceptOutbound }, { parseOptions }] = await Promise.all([api(), pipeline()]);
    return acceptOutbound(request, 'call', {
        ledger: deps.ledger(),
        enqueue: deps.enqueueOutbound,
        parseOptions: parseOptions(deps.config),
    });
}

export const sendCallOptions = {
    route: 'calls',
    methods: ['POST'],
    authLevel: 'function',
    handler: sendCall,
} satisfies HttpFunctionOptions;

app.http('sendCall', sendCallOptions);
