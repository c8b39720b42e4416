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

/** GET /api/messages: outbound and inbound messages, newest first, filtered and paged. */
export async function listMessages(
    request: HttpRequest,
    context: InvocationContext,
): Promise<HttpResponseInit> {
    const loaded = dependenciesOr500(context);
    if (!loaded.ok) return loaded.response;
    const { listMessages: list } = await api();
    return list(request, loaded.deps.ledger());
}

export const listMessagesOptions = {
    route: 'messages',
    methods: ['GET'],
    authLevel: 'function',
    handler: listMessages,
} satisfies HttpFunctionOptions;

app.http('listMessages', listMessagesOptions);
