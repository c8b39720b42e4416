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

/**
 * PUT /api/opt-outs/{sender}/{recipient}: records an opt-out by hand (an import from Twilio's opt-out list);
 * 201, or 200 with the one already recorded.
 */
export async function addOptOut(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
    const loaded = dependenciesOr500(context);
    if (!loaded.ok) return loaded.response;
    return (await optOutsModule()).addOptOut(request, loaded.deps.optOuts());
}

export const addOptOutOptions = {
    route: ROUTES.optOut,
    methods: ['PUT'],
    authLevel: 'function',
    handler: addOptOut,
} satisfies HttpFunctionOptions;

app.http('addOptOut', addOptOutOptions);
