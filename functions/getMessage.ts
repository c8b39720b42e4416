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

/** GET /api/messages/{id}: the ledger record of one message or call, or 404. */
export async function getMessage(
    request: HttpRequest,
    context: InvocationContext,
): Promise<HttpResponseInit> {
    const loaded = dependenciesOr500(context);
    if (!loaded.ok) return loaded.response;
    return (await readModule()).getMessage(request.params.id ?? '', loaded.deps.ledger());
}

export const getMessageOptions = {
    route: ROUTES.message,
    methods: ['GET'],
    authLevel: 'function',
    handler: getMessage,
} satisfies HttpFunctionOptions;

app.http('getMessage', getMessageOptions);
