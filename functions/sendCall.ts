import {
    app,
    type HttpFunctionOptions,
    type HttpRequest,
    type HttpResponseInit,
    type InvocationContext,
} from '@azure/functions';
import { acceptOutboundRequest } from '../shared/api/handlers';

/** POST /api/calls: validates a call request, records it as queued and enqueues it; 202 with its id. */
export async function sendCall(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
    return acceptOutboundRequest(request, context, 'call');
}

export const sendCallOptions = {
    route: 'calls',
    methods: ['POST'],
    authLevel: 'function',
    handler: sendCall,
} satisfies HttpFunctionOptions;

app.http('sendCall', sendCallOptions);
