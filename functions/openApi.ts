import {
    app,
    type HttpFunctionOptions,
    type HttpRequest,
    type HttpResponseInit,
    type InvocationContext,
} from '@azure/functions';
import { lazy } from '../shared/platform/lazy';
import { ROUTES } from '../shared/platform/routes';

// Loaded on the first request for a document: it pulls in zod to convert the request schemas.
const openApiModule = lazy(() => import('../shared/api/openapi'));

/** The documents this function serves, by the last segment of its route. */
export const API_DOCUMENTS = {
    /** OpenAPI 3.0.3: API Management and OpenAPI tools. */
    'openapi.json': 'openApiDocument',
    /** Swagger 2.0 with the connector extensions: Logic Apps and Power Automate custom connectors. */
    'swagger.json': 'connectorDocument',
} as const;

/**
 * GET /api/openapi/openapi.json and /api/openapi/swagger.json: the API's description, with this app's
 * own address as the first server (host for Swagger 2.0). Anonymous: it describes the API and holds no
 * data or secret, and a connector or API Management imports it from its URL without a key.
 */
export async function openApi(request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> {
    const name = (request.params.document ?? '').toLowerCase();
    const builder = Object.hasOwn(API_DOCUMENTS, name)
        ? API_DOCUMENTS[name as keyof typeof API_DOCUMENTS]
        : undefined;
    if (builder === undefined)
        return { status: 404, jsonBody: { error: 'not_found', document: name.slice(0, 50) } };
    const documents = await openApiModule();
    return { status: 200, jsonBody: documents[builder]({ origin: new URL(request.url).origin }) };
}

export const openApiOptions = {
    route: ROUTES.openApi,
    methods: ['GET'],
    authLevel: 'anonymous',
    handler: openApi,
} satisfies HttpFunctionOptions;

app.http('openApi', openApiOptions);
