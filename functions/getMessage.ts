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

/** GET /api/messages/{id}: the ledger record of one message or call, or 404. */
export async function getMessage(
    request: HttpRequest,
    context: InvocationContext,
): Promise<HttpResponseInit> {
    const loaded = dependenciesOr500(context);
    if (!loaded.ok) return loaded.response;
    const { getMessage: read } = await api();
    return read(request.params.id ?? '', loaded.deps.ledger());
}

export const getMessageOptions = {
    route: 'messages/{id}',
    methods: ['GET'],
    authLevel: 'function',
    handler: getMessage,
} satisfies HttpFunctionOptions;

app.http('getMessage', getMessageOptions);
