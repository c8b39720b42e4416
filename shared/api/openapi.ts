/**
 * The HTTP API's documents, written from the one operation list (shared/api/operations.ts):
 *
 * - {@link openApiDocument}: OpenAPI 3.0.3, for API Management (which imports 3.0.x) and any OpenAPI
 *   tool. 3.0 rather than 3.1 because every consumer takes 3.0.
 * - {@link connectorDocument}: Swagger 2.0 with the custom-connector extensions (`x-ms-summary`,
 *   `x-ms-visibility`, `x-ms-connector-metadata`), because Logic Apps and Power Automate custom connectors
 *   import OpenAPI 2.0 only, pick the first security definition, and take documents under 1 MB.
 *
 * The request bodies are the zod schemas that validate them (shared/outbound/message.ts, the opt-out body
 * of shared/api/optOuts.ts), converted with
 * `z.toJSONSchema` for input (`io: 'input'`, target `openapi-3.0`); their refinements carry the JSON Schema
 * they stand for as metadata. Both documents are built on first use (zod is loaded then) and cached; the
 * app serves them with its own address in `servers` / `host`, and the build writes them to dist/ with a
 * placeholder (`scripts/openapi.js`).
 */

import type { z } from 'zod';
import {
    API_SET_FIELDS,
    OPERATIONS,
    OTHER_SCHEMAS,
    REQUEST_FIELDS,
    RESPONSE_SCHEMAS,
    TAGS,
    type ApiOperation,
    type ExampleDoc,
    type JsonSchema,
    type ParameterDoc,
    type RequestKind,
    type ResponseDoc,
} from './operations';
import { optOutBodySchema } from './optOuts';
import { outboundSchemas } from '../outbound/message';
import { ROUTE_PREFIX } from '../platform/routes';

/** The app's address in the documents written at build time: replace `your-function-app`. */
export const PLACEHOLDER_HOST = 'your-function-app.azurewebsites.net';
const API_TITLE = 'Twilio via Azure Functions';
const API_VERSION = '1.0.0';
const API_DESCRIPTION =
    'Send SMS/MMS and place calls through Twilio, with a ledger, idempotent sends, retries and no duplicates; get and list messages, their media and call recordings; manage opt-outs. Authenticate with a function key (x-functions-key header, or the code query parameter).';

type Document = Record<string, unknown>;

/** Where the documents say the API is: an origin (`https://app.example.com`), no path. */
export interface ServerAddress {
    origin: string;
}

// ---- Request schemas from zod --------------------------------------------------------------------------

/** Each request body's title and description. */
const REQUEST_BODIES: Readonly<Record<RequestKind, { title: string; description: string }>> = {
    sms: {
        title: 'Message',
        description: 'An SMS/MMS: body or at least one media URL. Unknown fields are refused.',
    },
    call: {
        title: 'Call',
        description:
            'A call: at most one of url, twiml, say, message (none: the app’s voice route). Unknown fields are refused.',
    },
    optOut: {
        title: 'Opt-out',
        description: 'When the recipient opted out; the body may also be empty. Unknown fields are refused.',
    },
};

function zodSchema(kind: RequestKind): z.ZodType {
    return kind === 'optOut' ? optOutBodySchema() : outboundSchemas()[kind];
}

/**
 * The JSON Schema of a request body, from the zod schema that validates it: the API-set fields dropped,
 * an outbound request's `type` pinned to the route's kind, and each property given its title and
 * description (throws for a property {@link REQUEST_FIELDS} does not describe).
 */
export function requestSchema(kind: RequestKind): JsonSchema {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- zod loads with the first document
    const zod = (require('zod') as { z: typeof z }).z;
    const json = zod.toJSONSchema(zodSchema(kind), {
        target: 'openapi-3.0',
        io: 'input',
        unrepresentable: 'throw',
    }) as JsonSchema;
    const properties = withoutFields(json.properties as Record<string, JsonSchema>, API_SET_FIELDS);
    if (kind !== 'optOut') properties.type = { type: 'string', enum: [kind] };
    for (const [name, property] of Object.entries(properties)) {
        const doc = REQUEST_FIELDS[kind][name];
        if (doc === undefined)
            throw new Error(`operations.ts REQUEST_FIELDS.${kind} does not describe ${name}`);
        properties[name] = {
            ...property,
            title: doc.title,
            description: doc.description,
            ...(doc.visibility === undefined ? {} : { 'x-ms-visibility': doc.visibility }),
        };
    }
    const { $schema: _schema, ...rest } = json;
    return { ...rest, ...REQUEST_BODIES[kind], properties };
}

function withoutFields<T>(properties: Record<string, T>, fields: readonly string[]): Record<string, T> {
    return Object.fromEntries(Object.entries(properties).filter(([name]) => !fields.includes(name)));
}

// ---- Shared walking --------------------------------------------------------------------------------------

/** `schema` with every `$ref: '<Name>'` made a reference into the document, and extensions applied. */
function finishSchema(schema: unknown, refBase: string, connector: boolean): unknown {
    if (Array.isArray(schema)) return schema.map((item) => finishSchema(item, refBase, connector));
    if (typeof schema !== 'object' || schema === null) return schema;
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(schema)) {
        if (key === '$ref' && typeof value === 'string') out.$ref = `${refBase}${value}`;
        else if (key === 'x-ms-visibility' && !connector) continue;
        else if (key === 'properties' || key === 'definitions') {
            out[key] = Object.fromEntries(
                Object.entries(value as Record<string, unknown>).map(([name, child]) => [
                    name,
                    finishSchema(child, refBase, connector),
                ]),
            );
        } else if (key === 'anyOf' && connector) {
            // Swagger 2.0 has no anyOf: a connector sends text, so the string branch (maxPrice) stands in.
            const branches = value as JsonSchema[];
            const chosen = branches.find((branch) => branch.type === 'string') ?? branches[0] ?? {};
            Object.assign(out, finishSchema(chosen, refBase, connector));
        } else out[key] = finishSchema(value, refBase, connector);
    }
    if (connector && typeof out.title === 'string' && out['x-ms-summary'] === undefined) {
        out['x-ms-summary'] = out.title;
    }
    return out;
}

function pathOf(operation: ApiOperation): string {
    return `/${operation.route}`;
}

function examplesFor(operation: ApiOperation, test: (example: ExampleDoc) => boolean): ExampleDoc[] {
    return operation.examples.filter(test);
}

/** Which examples answered with `status`: the contract test pairs request and response examples by name. */
function responseExamples(operation: ApiOperation, status: number): ExampleDoc[] {
    return examplesFor(operation, (e) => e.status === status && e.response !== undefined);
}

// ---- OpenAPI 3.0 -------------------------------------------------------------------------------------------

const REF3 = '#/components/schemas/';

function parameter3(operation: ApiOperation, parameter: ParameterDoc): Document {
    const examples = examplesFor(operation, (e) => e.parameters?.[parameter.name] !== undefined);
    return {
        name: parameter.name,
        in: parameter.in,
        required: parameter.required,
        description: parameter.description,
        schema: parameter.schema,
        ...(examples.length === 0
            ? {}
            : {
                  examples: Object.fromEntries(
                      examples.map((e) => [
                          e.name,
                          { summary: e.summary, value: e.parameters?.[parameter.name] },
                      ]),
                  ),
              }),
    };
}

function response3(operation: ApiOperation, status: number, response: ResponseDoc): Document {
    const examples = responseExamples(operation, status);
    const mediaType = response.mediaType ?? 'application/json';
    if (response.binary !== undefined) {
        const binary = { schema: { type: 'string', format: 'binary' } };
        return {
            description: response.description,
            ...(response.headers === undefined ? {} : { headers: response.headers }),
            content: Object.fromEntries(response.binary.map((type) => [type, binary])),
        };
    }
    return {
        description: response.description,
        ...(response.headers === undefined ? {} : { headers: response.headers }),
        ...(response.schema === undefined
            ? {}
            : {
                  content: {
                      [mediaType]: {
                          schema: { $ref: `${REF3}${response.schema}` },
                          ...(examples.length === 0
                              ? {}
                              : {
                                    examples: Object.fromEntries(
                                        examples.map((e) => [
                                            e.name,
                                            { summary: e.summary, value: e.response },
                                        ]),
                                    ),
                                }),
                      },
                  },
              }),
    };
}

function operation3(operation: ApiOperation): Document {
    const bodyExamples = examplesFor(operation, (e) => e.body !== undefined);
    return {
        operationId: operation.operationId,
        tags: [operation.tag],
        summary: operation.summary,
        description: operation.description,
        parameters: operation.parameters.map((p) => parameter3(operation, p)),
        ...(operation.requestBody === undefined
            ? {}
            : {
                  requestBody: {
                      required: operation.requestBody.optional !== true,
                      description: operation.requestBody.description,
                      content: {
                          'application/json': {
                              schema: { $ref: `${REF3}${operation.requestBody.schemaName}` },
                              examples: Object.fromEntries(
                                  bodyExamples.map((e) => [e.name, { summary: e.summary, value: e.body }]),
                              ),
                          },
                      },
                  },
              }),
        responses: Object.fromEntries(
            Object.entries(operation.responses).map(([status, response]) => [
                status,
                response3(operation, Number(status), response),
            ]),
        ),
    };
}

function componentSchemas(refBase: string, connector: boolean): Record<string, unknown> {
    const schemas: Record<string, unknown> = {};
    for (const operation of OPERATIONS) {
        if (operation.requestBody !== undefined) {
            schemas[operation.requestBody.schemaName] = requestSchema(operation.requestBody.kind);
        }
    }
    Object.assign(schemas, RESPONSE_SCHEMAS, OTHER_SCHEMAS);
    return finishSchema(schemas, refBase, connector) as Record<string, unknown>;
}

function groupByPath<T>(build: (operation: ApiOperation) => T): Record<string, Record<string, T>> {
    const paths: Record<string, Record<string, T>> = {};
    for (const operation of OPERATIONS) {
        (paths[pathOf(operation)] ??= {})[operation.method] = build(operation);
    }
    return paths;
}

let openApiCache: Document | undefined;

/**
 * The OpenAPI 3.0.3 document. Without `server` its first server is the placeholder app address (a
 * `servers` variable); with it, that address first and the placeholder after.
 */
export function openApiDocument(server?: ServerAddress): Document {
    openApiCache ??= {
        openapi: '3.0.3',
        info: {
            title: API_TITLE,
            version: API_VERSION,
            description: API_DESCRIPTION,
            license: { name: 'MIT', url: 'https://opensource.org/licenses/MIT' },
        },
        servers: [placeholderServer()],
        security: [{ functionKey: [] }, { functionKeyQuery: [] }],
        tags: TAGS,
        paths: groupByPath(operation3),
        components: {
            securitySchemes: {
                functionKey: {
                    type: 'apiKey',
                    in: 'header',
                    name: 'x-functions-key',
                    description: 'A function key or the host key of the function app.',
                },
                functionKeyQuery: {
                    type: 'apiKey',
                    in: 'query',
                    name: 'code',
                    description: 'The same key as a query parameter.',
                },
            },
            schemas: componentSchemas(REF3, false),
        },
    };
    if (server === undefined) return openApiCache;
    return {
        ...openApiCache,
        servers: [{ url: `${server.origin}/${ROUTE_PREFIX}`, description: 'This app' }, placeholderServer()],
    };
}

function placeholderServer(): Document {
    return {
        url: `https://{app}.azurewebsites.net/${ROUTE_PREFIX}`,
        description: 'The function app (its default host name)',
        variables: { app: { default: PLACEHOLDER_HOST.split('.')[0], description: 'The function app name' } },
    };
}

// ---- Swagger 2.0 for custom connectors --------------------------------------------------------------------

const REF2 = '#/definitions/';

/** A request body's fields a connector does not offer: implied by the route. */
const CONNECTOR_HIDDEN_FIELDS: readonly string[] = ['type', 'version'];

function parameter2(parameter: ParameterDoc): Document {
    return {
        name: parameter.name,
        in: parameter.in,
        required: parameter.required,
        description: parameter.description,
        'x-ms-summary': parameter.title,
        ...(parameter.visibility === undefined ? {} : { 'x-ms-visibility': parameter.visibility }),
        ...parameter.schema,
    };
}

function response2(operation: ApiOperation, status: number, response: ResponseDoc): Document {
    const [example] = responseExamples(operation, status);
    const mediaType = response.mediaType ?? 'application/json';
    return {
        description: response.description,
        // Swagger 2.0's file download: `type: file`, allowed in a response schema only (not a definition).
        ...(response.binary === undefined ? {} : { schema: { type: 'file' } }),
        ...(response.schema === undefined ? {} : { schema: { $ref: `${REF2}${response.schema}` } }),
        ...(response.headers === undefined
            ? {}
            : {
                  headers: Object.fromEntries(
                      Object.entries(response.headers).map(([name, header]) => [
                          name,
                          { description: header.description, ...header.schema },
                      ]),
                  ),
              }),
        ...(example === undefined ? {} : { examples: { [mediaType]: example.response } }),
    };
}

function operation2(operation: ApiOperation): Document {
    const produces = [
        ...new Set(
            Object.values(operation.responses).flatMap(
                (r) => r.binary ?? [r.mediaType ?? 'application/json'],
            ),
        ),
    ];
    return {
        operationId: operation.operationId,
        tags: [operation.tag],
        summary: operation.summary,
        description: operation.description,
        'x-ms-visibility': operation.visibility,
        ...(operation.requestBody === undefined ? {} : { consumes: ['application/json'] }),
        produces,
        parameters: [
            ...operation.parameters.map(parameter2),
            ...(operation.requestBody === undefined
                ? []
                : [
                      {
                          name: 'body',
                          in: 'body',
                          required: operation.requestBody.optional !== true,
                          description: operation.requestBody.description,
                          'x-ms-summary': 'Body',
                          schema: { $ref: `${REF2}${operation.requestBody.schemaName}` },
                      },
                  ]),
        ],
        responses: Object.fromEntries(
            Object.entries(operation.responses).map(([status, response]) => [
                status,
                response2(operation, Number(status), response),
            ]),
        ),
    };
}

let connectorCache: Document | undefined;

/**
 * The Swagger 2.0 document for a custom connector. Without `server`, `host` is the placeholder and the
 * scheme https; with it, that origin's host and scheme.
 */
export function connectorDocument(server?: ServerAddress): Document {
    if (connectorCache === undefined) {
        const definitions = componentSchemas(REF2, true);
        for (const operation of OPERATIONS) {
            const body = operation.requestBody;
            if (body === undefined) continue;
            const schema = definitions[body.schemaName] as { properties: Record<string, unknown> };
            schema.properties = withoutFields(schema.properties, CONNECTOR_HIDDEN_FIELDS);
        }
        connectorCache = {
            swagger: '2.0',
            info: {
                title: API_TITLE,
                version: API_VERSION,
                description: API_DESCRIPTION,
                license: { name: 'MIT', url: 'https://opensource.org/licenses/MIT' },
            },
            host: PLACEHOLDER_HOST,
            basePath: `/${ROUTE_PREFIX}`,
            schemes: ['https'],
            consumes: ['application/json'],
            produces: ['application/json'],
            // A connector uses the first security definition only: the header, which it stores with the connection.
            securityDefinitions: {
                functionKey: {
                    type: 'apiKey',
                    in: 'header',
                    name: 'x-functions-key',
                    description: 'A function key or the host key of the function app.',
                },
            },
            security: [{ functionKey: [] }],
            tags: TAGS,
            paths: groupByPath(operation2),
            definitions,
            'x-ms-connector-metadata': [{ propertyName: 'Categories', propertyValue: 'Communication' }],
        };
    }
    if (server === undefined) return connectorCache;
    const url = new URL(server.origin);
    return { ...connectorCache, host: url.host, schemes: [url.protocol.replace(':', '')] };
}
