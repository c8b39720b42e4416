import {
    app,
    type HttpFunctionOptions,
    type HttpRequest,
    type HttpResponseInit,
    type InvocationContext,
} from '@azure/functions';
import { readMessages } from '../shared/api/handlers';

/** GET /api/messages: outbound and inbound messages, newest first, filtered and paged. */
export async function listMessages(
    request: HttpRequest,
    context: InvocationContext,
): Promise<HttpResponseInit> {
    return readMessages(request, context);
}

export const listMessagesOptions = {
    route: 'messages',
    methods: ['GET'],
    authLevel: 'function',
    handler: listMessages,
} satisfies HttpFunctionOptions;

app.http('listMessages', listMessagesOptions);
