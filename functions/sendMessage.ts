import {
    app,
    type HttpFunctionOptions,
    type HttpRequest,
    type HttpResponseInit,
    type InvocationContext,
} from '@azure/functions';
import { acceptOutboundRequest } from '../shared/api/handlers';

/** POST /api/messages: validates an SMS/MMS, records it as queued and enqueues it; 202 with its id. */
export async function sendMessage(
    request: HttpRequest,
    context: InvocationContext,
): Promise<HttpResponseInit> {
    return acceptOutboundRequest(request, context, 'sms');
}

export const sendMessageOptions = {
    route: 'messages',
    methods: ['POST'],
    authLevel: 'function',
    handler: sendMessage,
} satisfies HttpFunctionOptions;

app.http('sendMessage', sendMessageOptions);
