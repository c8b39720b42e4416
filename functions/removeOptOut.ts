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

/** DELETE /api/opt-outs/{sender}/{recipient}: lifts an opt-out; 204, or 404 when there was none. */
export async function removeOptOut(
    request: HttpRequest,
    context: InvocationContext,
): Promise<HttpResponseInit> {
    const loaded = dependenciesOr500(context);
    if (!loaded.ok) return loaded.response;
    return (await optOutsModule()).removeOptOut(request.params, loaded.deps.optOuts());
}

export const removeOptOutOptions = {
    route: ROUTES.optOut,
    methods: ['DELETE'],
    authLevel: 'function',
    handler: removeOptOut,
} satisfies HttpFunctionOptions;

app.http('removeOptOut', removeOptOutOptions);
