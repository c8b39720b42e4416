import {
    app,
    type HttpFunctionOptions,
    type HttpRequest,
    type HttpResponseInit,
    type InvocationContext,
} from '@azure/functions';
import { readMessage } from '../shared/api/handlers';

/** GET /api/messages/{id}: the ledger record of one message or call, or 404. */
export async function getMessage(
    request: HttpRequest,
    context: InvocationContext,
): Promise<HttpResponseInit> {
    return readMessage(request, context);
}

export const getMessageOptions = {
    route: 'messages/{id}',
    methods: ['GET'],
    authLevel: 'function',
    handler: getMessage,
} satisfies HttpFunctionOptions;

app.http('getMessage', getMessageOptions);
