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

// Loaded on first use: not every function needs it on a cold start.
const optOutsModule = lazy(() => import('../shared/api/optOuts'));

/** GET /api/opt-outs: who opted out of SMS from which sender, filtered by sender and/or recipient, paged. */
export async function listOptOuts(
    request: HttpRequest,
    context: InvocationContext,
): Promise<HttpResponseInit> {
    const loaded = dependenciesOr500(context);
    if (!loaded.ok) return loaded.response;
    return (await optOutsModule()).listOptOuts(request, loaded.deps.optOuts());
}

export const listOptOutsOptions = {
    route: ROUTES.optOuts,
    methods: ['GET'],
    authLevel: 'function',
    handler: listOptOuts,
} satisfies HttpFunctionOptions;

app.http('listOptOuts', listOptOutsOptions);
