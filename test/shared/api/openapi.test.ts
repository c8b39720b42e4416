/**
 * The API's documents against the code they describe: the request schemas accept and refuse what the
 * API's validation does (a set of samples per kind, the opt-out body against addOptOut, and the list
 * query's parameters against listMessages itself), the binary answers (media, recordings) are files, every example is valid where it should be, the Swagger 2.0 document is what a
 * custom connector imports, and the served function answers each document with its own address.
 * test/local/openapi.test.ts drives the running app with the examples.
 */

import { HttpRequest } from '@azure/functions';
import { openApi } from '../../../functions/openApi';
import { addOptOut } from '../../../shared/api/optOuts';
import { listMessages } from '../../../shared/api/read';
import { API_SET_FIELDS, OPERATIONS, REQUEST_FIELDS } from '../../../shared/api/operations';
import { connectorDocument, openApiDocument, requestSchema } from '../../../shared/api/openapi';
import { parseOutbound } from '../../../shared/outbound/message';
import { ROUTES } from '../../../shared/platform/routes';
import { createMemoryLedger } from '../../support/memoryLedger';
import { createMemoryOptOuts } from '../../support/memoryMessaging';
import { schemaValidator } from '../../support/openapiValidator';
import { testContext } from '../../support/webhooks';

type Json = Record<string, unknown>;

const document = openApiDocument();
const connector = connectorDocument();
const validator = schemaValidator(document);
const paramValidator = schemaValidator(document, { coerceTypes: true });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

const TO = '+15557654321';
const FROM = '+15551230000';
const WA = 'whatsapp:+15557654321';
const SID = `MG${'0123456789abcdef'.repeat(2)}`;

/** Whether the API accepts `body` on POST /messages (`sms`) or /calls (`call`), as send.ts checks it. */
function apiAccepts(body: Json, kind: 'sms' | 'call'): boolean {
    if (API_SET_FIELDS.some((field) => field in body)) return false;
    return parseOutbound(body, kind).ok;
}

const SMS_SAMPLES: readonly [string, Json][] = [
    ['a text', { to: TO, body: 'Hi' }],
    ['a WhatsApp text', { to: WA, from: 'whatsapp:+15551230000', body: 'Hi' }],
    ['media only', { to: TO, mediaUrl: ['https://example.com/a.png'] }],
    ['ten media URLs', { to: TO, mediaUrl: Array.from({ length: 10 }, (_, i) => `https://e.example/${i}`) }],
    ['a sender and a service', { to: TO, from: FROM, messagingServiceSid: SID, body: 'Hi' }],
    ['every option', { to: TO, body: 'Hi', statusCallback: 'http://example.com/cb', validityPeriod: 36000 }],
    ['maxPrice as text', { to: TO, body: 'Hi', maxPrice: '0.50' }],
    ['maxPrice as a number', { to: TO, body: 'Hi', maxPrice: 0.5 }],
    ['type, version and id', { type: 'sms', version: 1, id: 'a.b~c:d-1', to: TO, body: 'Hi' }],
    ['1600 characters', { to: TO, body: 'x'.repeat(1600) }],
    ['no +', { to: '5557654321', body: 'Hi' }],
    ['a leading 0', { to: '+05557654321', body: 'Hi' }],
    ['no recipient', { body: 'Hi' }],
    ['1601 characters', { to: TO, body: 'x'.repeat(1601) }],
    ['http media', { to: TO, mediaUrl: ['http://example.com/a.png'] }],
    [
        'eleven media URLs',
        { to: TO, mediaUrl: Array.from({ length: 11 }, (_, i) => `https://e.example/${i}`) },
    ],
    ['validity 0', { to: TO, body: 'Hi', validityPeriod: 0 }],
    ['validity 36001', { to: TO, body: 'Hi', validityPeriod: 36001 }],
    ['validity 1.5', { to: TO, body: 'Hi', validityPeriod: 1.5 }],
    ['maxPrice text', { to: TO, body: 'Hi', maxPrice: 'cheap' }],
    ['a short service SID', { to: TO, body: 'Hi', messagingServiceSid: 'MG123' }],
    ['an ftp callback', { to: TO, body: 'Hi', statusCallback: 'ftp://example.com/cb' }],
    ['an unknown field', { to: TO, body: 'Hi', subject: 'Hello' }],
    ['version 2', { to: TO, body: 'Hi', version: 2 }],
    ['type call', { to: TO, body: 'Hi', type: 'call' }],
    ['an id with a space', { to: TO, body: 'Hi', id: 'a b' }],
    ['a fingerprint', { to: TO, body: 'Hi', fingerprint: `v1.${'a'.repeat(43)}` }],
    ['a number as body', { to: TO, body: 42 }],
];

const CALL_SAMPLES: readonly [string, Json][] = [
    ['the app voice route', { to: TO }],
    ['say', { to: TO, say: 'Hello' }],
    ['a TwiML URL', { to: TO, url: 'https://example.com/twiml' }],
    ['inline TwiML', { to: TO, twiml: '<Response><Say>Hi</Say></Response>' }],
    ['twimlets messages', { to: TO, message: ['Hello', 'https://example.com/a.mp3'] }],
    ['every option', { to: TO, from: FROM, timeout: 5, record: true, machineDetection: 'DetectMessageEnd' }],
    ['a WhatsApp recipient', { to: WA }],
    ['an empty say', { to: TO, say: '' }],
    ['a blank say', { to: TO, say: '   ' }],
    ['no messages', { to: TO, message: [] }],
    ['21 messages', { to: TO, message: Array.from({ length: 21 }, () => 'Hi') }],
    ['TwiML without Response', { to: TO, twiml: '<Say>Hi</Say>' }],
    ['timeout 4', { to: TO, timeout: 4 }],
    ['timeout 601', { to: TO, timeout: 601 }],
    ['record as text', { to: TO, record: 'yes' }],
    ['lower-case detection', { to: TO, machineDetection: 'enable' }],
    ['a body', { to: TO, body: 'Hi' }],
    ['a mailto URL', { to: TO, url: 'mailto:someone@example.com' }],
];

/**
 * Where the document is looser than the code, on purpose (JSON Schema cannot say it, so the field's
 * description does): the code refuses these, the document accepts them.
 */
const LOOSER: readonly [string, 'sms' | 'call', Json][] = [
    ['an emoji counts 2 (UTF-16)', 'sms', { to: TO, body: '😀'.repeat(1600) }],
    ['body or media is required', 'sms', { to: TO }],
    ['a blank body counts as none', 'sms', { to: TO, body: '   ' }],
    ['maxPrice must be over 0', 'sms', { to: TO, body: 'Hi', maxPrice: 0 }],
    ['a WhatsApp recipient needs a WhatsApp sender', 'sms', { to: WA, from: FROM, body: 'Hi' }],
    ['at most one of url, twiml, say, message', 'call', { to: TO, url: 'https://example.com/t', say: 'Hi' }],
    ['inline TwiML within 4000 characters', 'call', { to: TO, say: 'x'.repeat(4001) }],
];

describe('the request schemas are the validation', () => {
    it.each([
        ...SMS_SAMPLES.map(([n, b]) => [n, 'sms', b] as const),
        ...CALL_SAMPLES.map(([n, b]) => [n, 'call', b] as const),
    ])('%s (%s): the document and the API agree', (_name, kind, body) => {
        const schema = ref(kind === 'sms' ? 'SendMessageRequest' : 'PlaceCallRequest');
        expect(validator.valid(schema, body)).toBe(apiAccepts(body, kind));
    });

    it('the samples hold both answers for each kind', () => {
        for (const [kind, samples] of [
            ['sms', SMS_SAMPLES],
            ['call', CALL_SAMPLES],
        ] as const) {
            const answers = new Set(samples.map(([, body]) => apiAccepts(body, kind)));
            expect([kind, [...answers].sort()]).toEqual([kind, [false, true]]);
        }
    });

    it.each(LOOSER)('looser where the description says so: %s', (_name, kind, body) => {
        const schema = ref(kind === 'sms' ? 'SendMessageRequest' : 'PlaceCallRequest');
        expect(validator.valid(schema, body)).toBe(true);
        expect(apiAccepts(body, kind)).toBe(false);
    });

    it('describes every field of the zod schemas, and nothing they do not have', () => {
        for (const kind of ['sms', 'call', 'optOut'] as const) {
            const properties = Object.keys(requestSchema(kind).properties as Json).sort();
            const described = Object.keys(REQUEST_FIELDS[kind]).filter((f) => !API_SET_FIELDS.includes(f));
            expect(properties).toEqual(described.sort());
        }
    });

    it('pins the type to the route and leaves out what the API sets', () => {
        const schemas = (document.components as { schemas: Record<string, Json> }).schemas;
        const sms = schemas.SendMessageRequest?.properties as Record<string, Json>;
        const call = schemas.PlaceCallRequest?.properties as Record<string, Json>;
        expect(sms.type).toMatchObject({ type: 'string', enum: ['sms'] });
        expect(call.type).toMatchObject({ type: 'string', enum: ['call'] });
        expect(sms.fingerprint).toBeUndefined();
        expect(schemas.SendMessageRequest).toMatchObject({ required: ['to'], additionalProperties: false });
    });
});

describe("the opt-out body is addOptOut's check", () => {
    const NOW = new Date('2026-12-01T10:00:00.000Z');
    let n = 0;

    /** addOptOut's status for `body` (a new recipient each time, so a valid body is a 201). */
    async function apiStatus(body: unknown): Promise<number> {
        const sender = FROM;
        const recipient = `+1555765${String(1000 + n++)}`;
        const request = new HttpRequest({
            method: 'PUT',
            url: `https://app.example.com/api/opt-outs/${sender}/${recipient}`,
            params: { sender, recipient },
            headers: { 'Content-Type': 'application/json' },
            body: { string: JSON.stringify(body) },
        });
        const response = await addOptOut(request, createMemoryOptOuts(), () => NOW);
        return response.status ?? 200;
    }

    it.each<[string, unknown]>([
        ['an empty object', {}],
        ['a time in UTC', { since: '2024-05-01T08:30:00Z' }],
        ['milliseconds and an offset', { since: '2024-05-01T08:30:00.123+02:00' }],
        ['1970', { since: '1970-01-01T00:00:00Z' }],
        ['a day without a time', { since: '2024-05-01' }],
        ['a word', { since: 'yesterday' }],
        ['a number', { since: 1714552200000 }],
        ['null', { since: null }],
        ['an unknown field', { source: 'keyword' }],
        ['since and an unknown field', { since: '2024-05-01T08:30:00Z', cause: 'x' }],
        ['an array', [1]],
    ])('%s: the document and the API agree', async (_name, body) => {
        expect((await apiStatus(body)) === 201).toBe(validator.valid(ref('AddOptOutRequest'), body));
    });

    it.each<[string, unknown]>([
        ['a time in the future (after the request)', { since: '2026-12-01T10:00:01Z' }],
        ['a time before 1970', { since: '1969-12-31T23:59:59Z' }],
    ])('looser where the description says so: %s', async (_name, body) => {
        expect(validator.valid(ref('AddOptOutRequest'), body)).toBe(true);
        expect(await apiStatus(body)).toBe(400);
    });

    it('is optional in both documents', () => {
        const put = (document.paths as Record<string, Record<string, Json>>)['/opt-outs/{sender}/{recipient}']
            ?.put as { requestBody: Json };
        expect(put.requestBody).toMatchObject({ required: false });
        const put2 = (connector.paths as Record<string, Record<string, { parameters: Json[] }>>)[
            '/opt-outs/{sender}/{recipient}'
        ]?.put;
        expect(put2?.parameters.find((p) => p.in === 'body')).toMatchObject({
            required: false,
            schema: { $ref: '#/definitions/AddOptOutRequest' },
        });
    });
});

describe("the list query's parameters are listMessages' checks", () => {
    const ledger = createMemoryLedger({ storeBody: false });
    const list = OPERATIONS.find((o) => o.operationId === 'ListMessages');
    const parameters = list?.parameters ?? [];

    async function apiAnswer(query: Record<string, string>): Promise<number> {
        const url = new URL('https://app.example.com/api/messages');
        for (const [name, value] of Object.entries(query)) url.searchParams.set(name, value);
        const response = await listMessages(new HttpRequest({ method: 'GET', url: url.href }), ledger);
        return response.status ?? 200;
    }
    const documentAccepts = (query: Record<string, string>): boolean =>
        Object.entries(query).every(([name, value]) => {
            const parameter = parameters.find((p) => p.name === name);
            return parameter !== undefined && paramValidator.valid(parameter.schema, value);
        });

    it.each<[string, Record<string, string>]>([
        ['no filter', {}],
        ['to and from', { to: TO, from: FROM }],
        ['an empty to', { to: '' }],
        ['a 257-character from', { from: 'x'.repeat(257) }],
        ['a 256-character to', { to: 'x'.repeat(256) }],
        ['pageSize 1', { pageSize: '1' }],
        ['pageSize 1000', { pageSize: '1000' }],
        ['pageSize 0', { pageSize: '0' }],
        ['pageSize 1001', { pageSize: '1001' }],
        ['pageSize ten', { pageSize: 'ten' }],
        ['pageSize 1.5', { pageSize: '1.5' }],
        ['a day', { dateSent: '2026-02-28' }],
        ['a leap day', { dateSent: '2024-02-29' }],
        ['February 30', { dateSent: '2026-02-30' }],
        ['month 13', { dateSentAfter: '2026-13-01' }],
        ['a day without dashes', { dateSentBefore: '20260101' }],
        ['a range', { dateSentAfter: '2026-01-01', dateSentBefore: '2026-01-20' }],
    ])('%s: the document and the API agree', async (_name, query) => {
        expect((await apiAnswer(query)) === 200).toBe(documentAccepts(query));
    });

    it.each([
        ['days before 1970', { dateSent: '1969-12-31' }],
        ['dateSent with a range', { dateSent: '2026-01-01', dateSentAfter: '2026-01-01' }],
    ])('looser where the description says so: %s', async (_name, query: Record<string, string>) => {
        expect(documentAccepts(query)).toBe(true);
        expect(await apiAnswer(query)).toBe(400);
    });
});

describe('the examples', () => {
    const operations3 = Object.values(document.paths as Record<string, Record<string, Json>>).flatMap(
        (path) => Object.values(path),
    );

    it('are named once per operation and answer a documented status', () => {
        for (const operation of OPERATIONS) {
            const names = operation.examples.map((e) => e.name);
            expect(new Set(names).size).toBe(names.length);
            for (const example of operation.examples) {
                expect([
                    operation.operationId,
                    example.name,
                    operation.responses[example.status] !== undefined,
                ]).toEqual([operation.operationId, example.name, true]);
            }
        }
    });

    it('sent with a 2xx answer are valid requests; a field-check 400 is not', () => {
        for (const operation of OPERATIONS) {
            for (const example of operation.examples) {
                const ok = example.status < 300;
                for (const [name, value] of Object.entries(example.parameters ?? {})) {
                    const parameter = operation.parameters.find((p) => p.name === name);
                    expect([operation.operationId, example.name, name, parameter !== undefined]).toEqual([
                        operation.operationId,
                        example.name,
                        name,
                        true,
                    ]);
                    if (ok && parameter !== undefined)
                        expect(paramValidator.errors(parameter.schema, value)).toEqual([]);
                }
                if (example.body !== undefined && operation.requestBody !== undefined) {
                    const errors = validator.errors(ref(operation.requestBody.schemaName), example.body);
                    if (ok) expect([example.name, errors]).toEqual([example.name, []]);
                }
            }
        }
        const send = OPERATIONS.find((o) => o.operationId === 'SendMessage');
        const invalid = send?.examples.find((e) => e.name === 'invalidFields');
        expect(validator.valid(ref('SendMessageRequest'), invalid?.body)).toBe(false);
    });

    it('of answers are valid against the response schema, in both documents', () => {
        const connectorValidator = schemaValidator(connector);
        let checked = 0;
        for (const operation of OPERATIONS) {
            for (const example of operation.examples) {
                const schema = operation.responses[example.status]?.schema;
                if (example.response === undefined || schema === undefined) continue;
                expect([example.name, validator.errors(ref(schema), example.response)]).toEqual([
                    example.name,
                    [],
                ]);
                expect(
                    connectorValidator.errors({ $ref: `#/definitions/${schema}` }, example.response),
                ).toEqual([]);
                checked++;
            }
        }
        expect(checked).toBeGreaterThanOrEqual(10);
    });

    it('reach the document: request bodies, parameters and answers carry them by name', () => {
        const send = operations3.find((o) => o.operationId === 'SendMessage') as Json;
        const content = (send.requestBody as { content: Record<string, { examples: Json }> }).content;
        expect(Object.keys(content['application/json']?.examples ?? {})).toEqual([
            'mms',
            'retried',
            'keyReused',
            'invalidFields',
            'invalidKey',
        ]);
        const responses = send.responses as Record<string, { content?: Record<string, { examples?: Json }> }>;
        expect(Object.keys(responses['400']?.content?.['application/json']?.examples ?? {})).toEqual([
            'invalidFields',
            'invalidKey',
        ]);
    });
});

describe('the OpenAPI 3 document', () => {
    it('lists each operation on its route, with ids, summaries and the function-key schemes', () => {
        expect(document.openapi).toBe('3.0.3');
        const paths = document.paths as Record<
            string,
            Record<string, { operationId: string; summary: string }>
        >;
        expect(
            Object.entries(paths).flatMap(([path, methods]) =>
                Object.entries(methods).map(
                    ([method, o]) => `${method.toUpperCase()} ${path} ${o.operationId}`,
                ),
            ),
        ).toEqual([
            `POST /${ROUTES.messages} SendMessage`,
            `GET /${ROUTES.messages} ListMessages`,
            `POST /${ROUTES.calls} PlaceCall`,
            `GET /messages/{id} GetMessage`,
            `GET /${ROUTES.optOuts} ListOptOuts`,
            `PUT /opt-outs/{sender}/{recipient} AddOptOut`,
            `DELETE /opt-outs/{sender}/{recipient} RemoveOptOut`,
            `GET /messages/{id}/media/{n} GetMessageMedia`,
            `GET /recordings/{sid} GetRecording`,
        ]);
        expect((document.components as Json).securitySchemes).toMatchObject({
            functionKey: { type: 'apiKey', in: 'header', name: 'x-functions-key' },
            functionKeyQuery: { type: 'apiKey', in: 'query', name: 'code' },
        });
        expect(document.servers).toEqual([
            expect.objectContaining({ url: 'https://{app}.azurewebsites.net/api' }),
        ]);
    });

    it('documents Location on a 202 and Retry-After on a 409 and a 503', () => {
        const send = (document.paths as Record<string, Record<string, Json>>)['/messages']?.post;
        const responses = send?.responses as Record<string, { headers?: Json }>;
        expect(Object.keys(responses['202']?.headers ?? {})).toEqual(['Location']);
        expect(Object.keys(responses['409']?.headers ?? {})).toEqual(['Retry-After']);
        expect(Object.keys(responses['503']?.headers ?? {})).toEqual(['Retry-After']);
        expect(Object.keys(responses).sort()).toEqual([
            '202',
            '400',
            '401',
            '409',
            '413',
            '422',
            '500',
            '503',
        ]);
    });
});

describe('the binary answers: media and recordings', () => {
    const get = (doc: Json, path: string) =>
        (doc.paths as Record<string, Record<string, Json>>)[path]?.get as {
            produces?: string[];
            responses: Record<string, Json>;
        };

    it.each([
        ['/messages/{id}/media/{n}', ['image/*', 'audio/*', 'video/*', 'text/*', 'application/*']],
        ['/recordings/{sid}', ['audio/mpeg', 'audio/x-wav']],
    ])('%s: a file in OpenAPI 3 and Swagger 2.0, errors as JSON', (path, types) => {
        const ok3 = get(document, path).responses['200'] as { content: Record<string, Json> };
        expect(Object.keys(ok3.content)).toEqual(types);
        for (const media of Object.values(ok3.content)) {
            expect(media).toEqual({ schema: { type: 'string', format: 'binary' } });
        }
        expect(Object.keys((get(document, path).responses['404'] as { content: Json }).content)).toEqual([
            'application/json',
        ]);
        const op2 = get(connector, path);
        expect(op2.responses['200']).toMatchObject({ schema: { type: 'file' } });
        expect(op2.produces).toEqual([...types, 'application/json', 'text/plain']);
    });
});

describe('the Swagger 2.0 connector document', () => {
    const text = JSON.stringify(connector);

    it('is Swagger 2.0 under 1 MB with one security definition, the function-key header', () => {
        expect(connector.swagger).toBe('2.0');
        expect(Buffer.byteLength(text)).toBeLessThan(1024 * 1024);
        expect(Object.keys(connector.securityDefinitions as Json)).toEqual(['functionKey']);
        expect(connector.securityDefinitions).toMatchObject({
            functionKey: { type: 'apiKey', in: 'header', name: 'x-functions-key' },
        });
        expect(connector).toMatchObject({ host: 'your-function-app.azurewebsites.net', basePath: '/api' });
        expect(text).not.toContain('anyOf');
        expect(text).not.toContain('#/components/');
    });

    it('has the operations of the OpenAPI 3 document, each with a summary and visibility', () => {
        const ids = (doc: Json) =>
            Object.values(doc.paths as Record<string, Record<string, { operationId: string }>>)
                .flatMap((path) => Object.values(path))
                .map((o) => o.operationId)
                .sort();
        expect(ids(connector)).toEqual(ids(document));
        for (const path of Object.values(connector.paths as Record<string, Record<string, Json>>)) {
            for (const operation of Object.values(path)) {
                expect([typeof operation.summary, operation['x-ms-visibility']]).toEqual([
                    'string',
                    'important',
                ]);
                for (const parameter of operation.parameters as Json[]) {
                    expect(parameter['x-ms-summary']).toEqual(expect.any(String));
                }
            }
        }
    });

    it('labels every request field for the designer, and offers no field the route implies', () => {
        const definitions = connector.definitions as Record<string, { properties: Record<string, Json> }>;
        for (const name of ['SendMessageRequest', 'PlaceCallRequest']) {
            const properties = definitions[name]?.properties ?? {};
            expect(properties.type).toBeUndefined();
            expect(properties.version).toBeUndefined();
            for (const [field, property] of Object.entries(properties)) {
                expect([field, typeof property['x-ms-summary']]).toEqual([field, 'string']);
            }
        }
        expect(definitions.SendMessageRequest?.properties.maxPrice).toMatchObject({
            type: 'string',
            'x-ms-visibility': 'internal',
        });
        expect(definitions.Message?.properties.status?.['x-ms-summary']).toBe('Status');
    });
});

describe('GET /api/openapi/{document}', () => {
    async function get(document: string) {
        const request = new HttpRequest({
            method: 'GET',
            url: `https://myapp.azurewebsites.net/api/openapi/${document}`,
            params: { document },
        });
        return openApi(request, testContext('openApi').context);
    }

    it("answers the OpenAPI 3 document with this app's address first", async () => {
        const response = await get('openapi.json');
        expect(response.status).toBe(200);
        const body = response.jsonBody as { servers: { url: string }[]; paths: Json };
        expect(body.servers.map((s) => s.url)).toEqual([
            'https://myapp.azurewebsites.net/api',
            'https://{app}.azurewebsites.net/api',
        ]);
        expect(body.paths).toEqual(document.paths);
    });

    it("answers the connector document with this app's host", async () => {
        const response = await get('swagger.json');
        expect(response.jsonBody).toMatchObject({
            swagger: '2.0',
            host: 'myapp.azurewebsites.net',
            schemes: ['https'],
        });
    });

    it('answers 404 for any other document', async () => {
        expect((await get('openapi.yaml')).status).toBe(404);
        expect((await get('__proto__')).status).toBe(404);
    });
});
