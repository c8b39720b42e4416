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

// Loaded on the first read: not every function needs it on a cold start.
const readModule = lazy(() => import('../shared/api/read'));

/** GET /api/messages: outbound and inbound messages, newest first, filtered and paged. */
export async function listMessages(
    request: HttpRequest,
    context: InvocationContext,
): Promise<HttpResponseInit> {
    const loaded = dependenciesOr500(context);
    if (!loaded.ok) return loaded.response;
    return (await readModule()).listMessages(request, loaded.deps.ledger());
}

export const listMessagesOptions = {
    route: ROUTES.messages,
    methods: ['GET'],
    authLevel: 'function',
    handler: listMessages,
} satisfies HttpFunctionOptions;

app.http('listMessages', listMessagesOptions);
