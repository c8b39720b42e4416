/**
 * The API's OpenAPI document as a contract, against the running app: the local host serves the API's
 * functions (from the TypeScript sources) on Azurite and the Twilio sandbox; the test fetches the
 * document from the app, sends every example request in it (each request body and parameter example, by
 * name), and checks that each answer's status is documented for its operation, is the status of the
 * response example of that name, and that its body validates against the document's response schema,
 * with the documented headers (Location, Retry-After). Errors that have no example (a body over the
 * limit, a body that is not JSON) are provoked here and checked the same way.
 *
 * State the examples need is made here: the media examples' inbound MMS has its item 0 stored in the media
 * container, as the inboundMedia function leaves a copied item (blob `<MessageSid>/<n>` with its content
 * type; test/integration/media.test.ts drives the copy itself). A binary answer (a file) is checked for a
 * documented content type and, for the media, the stored bytes; JSON Schema has nothing to say about it.
 * Not sent: a recording's 200 and 502 (the sandbox names recordings with SIDs of its own, so a fixed
 * example SID cannot be one, and it answers its recordings' audio without failing); the recordings
 * integration test (test/integration/recordings.test.ts) covers both.
 */

import { ContainerClient } from '@azure/storage-blob';
import { MEDIA_EXAMPLE_SID } from '../../shared/api/operations';
import { MAX_OPT_OUT_BODY_BYTES } from '../../shared/api/optOuts';
import { MAX_API_BODY_BYTES } from '../../shared/api/send';
import { mediaBlobName } from '../../shared/media/job';
import { startLocalApp, type LocalApp } from '../support/localApp';
import { schemaValidator, type SchemaValidator } from '../support/openapiValidator';

type Json = Record<string, unknown>;

interface MediaType {
    schema?: Json;
    examples?: Record<string, { value: unknown }>;
}
interface Response {
    headers?: Record<string, unknown>;
    content?: Record<string, MediaType>;
}
interface Parameter {
    name: string;
    in: 'path' | 'query' | 'header';
    examples?: Record<string, { value: unknown }>;
}
interface Operation {
    operationId: string;
    parameters: Parameter[];
    requestBody?: { content: Record<string, MediaType> };
    responses: Record<string, Response>;
}

/**
 * The functions the API needs: its own (a new operation's function goes here), the queue function that
 * sends, and the routes Twilio calls back. Named rather than all of functions/, so this contract does not
 * depend on settings only other functions bind to.
 */
const FUNCTIONS = [
    'sendMessage',
    'sendCall',
    'getMessage',
    'listMessages',
    'listOptOuts',
    'addOptOut',
    'removeOptOut',
    'getMessageMedia',
    'getRecording',
    'openApi',
    'outbound',
    'outboundPoison',
    'status',
    'voice',
];

let local: LocalApp | undefined;
let appUrl = '';
let document: Json;
let validator: SchemaValidator;

const MEDIA_CONTAINER = 'contract-media';
/** The stored media item of the media examples: a PNG's signature and a few bytes, not text. */
const MEDIA_BYTES = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0xff, 0x10, 0x80]);

beforeAll(async () => {
    // The host runs the API's function sources as the worker would, without a build.
    local = await startLocalApp({
        prefix: 'openapi-contract-',
        functions: FUNCTIONS,
        env: { MEDIA_CONTAINER },
    });
    // The media examples' item, as the copy job would have left it (their message SID is fixed).
    const media = new ContainerClient(local.azurite.connectionString, MEDIA_CONTAINER);
    await media.createIfNotExists();
    await media.uploadBlockBlob(mediaBlobName(MEDIA_EXAMPLE_SID, 0), MEDIA_BYTES, MEDIA_BYTES.length, {
        blobHTTPHeaders: { blobContentType: 'image/png' },
    });
    appUrl = local.app.url;
    const served = await fetch(`${appUrl}/api/openapi/openapi.json`);
    expect(served.status).toBe(200);
    document = (await served.json()) as Json;
    validator = schemaValidator(document);
}, 90_000);

afterAll(async () => {
    await local?.stop();
});

/** Every operation of the document with its path and method, in the document's order. */
function operations(): { path: string; method: string; operation: Operation }[] {
    return Object.entries(document.paths as Record<string, Record<string, Operation>>).flatMap(
        ([p, methods]) =>
            Object.entries(methods).map(([method, operation]) => ({ path: p, method, operation })),
    );
}

/** The names of an operation's request examples: of its body and of its parameters. */
function exampleNames(operation: Operation): string[] {
    const names = new Set<string>();
    for (const media of Object.values(operation.requestBody?.content ?? {})) {
        for (const name of Object.keys(media.examples ?? {})) names.add(name);
    }
    for (const parameter of operation.parameters) {
        for (const name of Object.keys(parameter.examples ?? {})) names.add(name);
    }
    return [...names];
}

/** The response example named `name`: its status and value. */
function responseExample(operation: Operation, name: string): { status: number; value: unknown } | undefined {
    for (const [status, response] of Object.entries(operation.responses)) {
        for (const media of Object.values(response.content ?? {})) {
            const example = media.examples?.[name];
            if (example !== undefined) return { status: Number(status), value: example.value };
        }
    }
    return undefined;
}

/** The server URL the document gives first: this app's own. */
function baseUrl(): string {
    const [server] = document.servers as { url: string }[];
    return server?.url ?? '';
}

interface Answer {
    status: number;
    headers: Headers;
    /** Parsed JSON, the text, or for a binary answer (not JSON, not text) the bytes. */
    body: unknown;
}

/** Sends example `name` of `operation` as the document gives it. */
async function send(p: string, method: string, operation: Operation, name: string): Promise<Answer> {
    let route = p;
    const query = new URLSearchParams();
    const headers: Record<string, string> = {};
    for (const parameter of operation.parameters) {
        const example = parameter.examples?.[name];
        if (example === undefined) continue;
        const value = String(example.value);
        if (parameter.in === 'path') route = route.replace(`{${parameter.name}}`, encodeURIComponent(value));
        else if (parameter.in === 'query') query.set(parameter.name, value);
        else headers[parameter.name] = value;
    }
    const body = operation.requestBody?.content['application/json']?.examples?.[name]?.value;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const search = query.size === 0 ? '' : `?${query.toString()}`;
    return answer(
        await fetch(`${baseUrl()}${route}${search}`, {
            method: method.toUpperCase(),
            headers,
            ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        }),
    );
}

async function answer(response: globalThis.Response): Promise<Answer> {
    const type = response.headers.get('content-type') ?? '';
    if (!type.includes('json') && !type.startsWith('text/')) {
        return {
            status: response.status,
            headers: response.headers,
            body: Buffer.from(await response.arrayBuffer()),
        };
    }
    const text = await response.text();
    return {
        status: response.status,
        headers: response.headers,
        body: type.includes('json') ? (JSON.parse(text) as unknown) : text,
    };
}

/** Whether a content type (`image/png; charset=…`) is in a media type or range (`image/*`, `*\/*`). */
function inMediaRange(contentType: string, range: string): boolean {
    const type = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
    const [main, sub] = range.toLowerCase().split('/');
    return (
        range === '*/*' || (sub === '*' ? type.startsWith(`${main ?? ''}/`) : type === range.toLowerCase())
    );
}

/** The answer against the document: a documented status, its headers, and a body valid against its schema. */
function checkAgainstDocument(operation: Operation, got: Answer): void {
    const documented = operation.responses[String(got.status)];
    expect([operation.operationId, got.status, documented !== undefined]).toEqual([
        operation.operationId,
        got.status,
        true,
    ]);
    for (const header of Object.keys(documented?.headers ?? {})) {
        expect([header, got.headers.get(header) !== null]).toEqual([header, true]);
    }
    const media = Object.entries(documented?.content ?? {});
    if (media.length === 0) return;
    const contentType = got.headers.get('content-type') ?? '';
    const matched = media.find(([range]) => inMediaRange(contentType, range));
    expect([operation.operationId, got.status, contentType, matched !== undefined]).toEqual([
        operation.operationId,
        got.status,
        contentType,
        true,
    ]);
    const schema = matched?.[1].schema;
    // A file: its bytes are what the document says nothing more about (the media test compares them).
    if (schema?.format === 'binary') {
        expect(got.body).toBeInstanceOf(Buffer);
        return;
    }
    expect([operation.operationId, got.status, validator.errors(schema, got.body)]).toEqual([
        operation.operationId,
        got.status,
        [],
    ]);
}

describe('every example in the document, sent to the running app', () => {
    it('answers as the document says, with the status of the response example of that name', async () => {
        const sent: string[] = [];
        for (const { path: p, method, operation } of operations()) {
            for (const name of exampleNames(operation)) {
                const got = await send(p, method, operation, name);
                checkAgainstDocument(operation, got);
                const expected = responseExample(operation, name);
                if (expected !== undefined) {
                    expect([operation.operationId, name, got.status]).toEqual([
                        operation.operationId,
                        name,
                        expected.status,
                    ]);
                    if (got.status >= 400) expect(got.body).toEqual(expected.value);
                    else {
                        const id = (expected.value as { id?: unknown }).id;
                        if (id !== undefined) expect((got.body as { id?: unknown }).id).toBe(id);
                    }
                }
                if (got.status === 202) {
                    const { id } = got.body as { id: string };
                    expect(got.headers.get('location')).toBe(
                        `${baseUrl()}/messages/${encodeURIComponent(id)}`,
                    );
                }
                sent.push(`${operation.operationId}.${name} ${String(got.status)}`);
            }
        }
        // Every operation had examples, and every error the examples provoke was seen.
        for (const { operation } of operations()) {
            expect([
                operation.operationId,
                sent.some((s) => s.startsWith(`${operation.operationId}.`)),
            ]).toEqual([operation.operationId, true]);
        }
        expect(sent).toEqual(
            expect.arrayContaining([
                'SendMessage.mms 202',
                'SendMessage.retried 202',
                'SendMessage.keyReused 422',
                'SendMessage.invalidFields 400',
                'SendMessage.invalidKey 400',
                'ListMessages.byRecipient 200',
                'ListMessages.invalidDate 400',
                'PlaceCall.say 202',
                'PlaceCall.twoContents 400',
                'GetMessage.sent 200',
                'GetMessage.unknown 404',
                'AddOptOut.added 201',
                'AddOptOut.imported 201',
                'AddOptOut.invalidSince 400',
                'AddOptOut.invalidSender 400',
                'RemoveOptOut.removed 204',
                'RemoveOptOut.unknown 404',
                'ListOptOuts.bySender 200',
                'ListOptOuts.invalidRecipient 400',
                'GetMessageMedia.stored 200',
                'GetMessageMedia.invalidIndex 400',
                'GetMessageMedia.notStored 404',
                'GetRecording.invalidFormat 400',
                'GetRecording.unknown 404',
            ]),
        );
    }, 60_000);

    it('lists what the examples sent, and gets the call placed', async () => {
        const list = await answer(await fetch(`${baseUrl()}/messages?to=%2B15557654321`));
        const ops = operations();
        const listOp = ops.find((o) => o.operation.operationId === 'ListMessages')?.operation;
        if (listOp === undefined) throw new Error('no ListMessages');
        checkAgainstDocument(listOp, list);
        expect((list.body as { messages: { id: string }[] }).messages.map((m) => m.id).sort()).toEqual([
            'order-1042-shipped',
            'reminder-call-77',
        ]);
        const getOp = ops.find((o) => o.operation.operationId === 'GetMessage')?.operation;
        if (getOp === undefined) throw new Error('no GetMessage');
        const call = await answer(await fetch(`${baseUrl()}/messages/reminder-call-77`));
        checkAgainstDocument(getOp, call);
        expect(call.body).toMatchObject({ id: 'reminder-call-77', type: 'call', direction: 'outbound' });
    });
});

describe('the binary answers', () => {
    it('a media item is the stored bytes, with the stored content type, kept by no cache', async () => {
        const got = await fetch(`${baseUrl()}/messages/${MEDIA_EXAMPLE_SID}/media/0`);
        expect(got.status).toBe(200);
        expect(got.headers.get('content-type')).toBe('image/png');
        expect(got.headers.get('cache-control')).toBe('private, no-store');
        expect(Buffer.from(await got.arrayBuffer())).toEqual(MEDIA_BYTES);
    });

    it('the imported opt-out keeps the since its body gave', async () => {
        const got = await answer(await fetch(`${baseUrl()}/opt-outs?recipient=%2B15557650003`));
        expect(got.body).toEqual({
            optOuts: [
                {
                    sender: '+15551230000',
                    recipient: '+15557650003',
                    since: '2024-05-01T08:30:00.000Z',
                    source: 'api',
                },
            ],
        });
    });
});

describe('errors without an example, provoked', () => {
    const sendOperation = () =>
        operations().find((o) => o.operation.operationId === 'SendMessage')?.operation;

    it(`a body over ${String(MAX_API_BODY_BYTES)} bytes: 413 as documented`, async () => {
        const operation = sendOperation();
        if (operation === undefined) throw new Error('no SendMessage');
        const got = await answer(
            await fetch(`${baseUrl()}/messages`, {
                method: 'POST',
                headers: { 'Content-Type': 'application/json' },
                body: JSON.stringify({ to: '+15557654321', body: 'x'.repeat(MAX_API_BODY_BYTES) }),
            }),
        );
        expect(got.status).toBe(413);
        checkAgainstDocument(operation, got);
    });

    it(`an opt-out body over ${String(MAX_OPT_OUT_BODY_BYTES)} bytes: 413 as documented`, async () => {
        const operation = operations().find((o) => o.operation.operationId === 'AddOptOut')?.operation;
        if (operation === undefined) throw new Error('no AddOptOut');
        const got = await answer(
            await fetch(`${baseUrl()}/opt-outs/%2B15551230000/%2B15557650004`, {
                method: 'PUT',
                headers: { 'Content-Type': 'application/json' },
                body: JSON.stringify({ since: 'x'.repeat(MAX_OPT_OUT_BODY_BYTES) }),
            }),
        );
        expect(got.status).toBe(413);
        checkAgainstDocument(operation, got);
    });

    it('a body that is not JSON: 400 naming (body), as documented', async () => {
        const operation = sendOperation();
        if (operation === undefined) throw new Error('no SendMessage');
        const got = await answer(
            await fetch(`${baseUrl()}/messages`, {
                method: 'POST',
                headers: { 'Content-Type': 'application/json' },
                body: '{"to":',
            }),
        );
        expect(got.status).toBe(400);
        checkAgainstDocument(operation, got);
        expect(got.body).toEqual({
            error: 'invalid_request',
            errors: [{ field: '(body)', message: 'must be a JSON object' }],
        });
    });
});

describe('the connector document the app serves', () => {
    it("names this app's host, and validates what the app answers", async () => {
        const served = await fetch(`${appUrl}/api/openapi/swagger.json`);
        const swagger = (await served.json()) as Json;
        expect(swagger).toMatchObject({ swagger: '2.0', host: new URL(appUrl).host, schemes: ['http'] });
        const connectorValidator = schemaValidator(swagger);
        const record = await answer(await fetch(`${baseUrl()}/messages/order-1042-shipped`));
        expect(connectorValidator.errors({ $ref: '#/definitions/Message' }, record.body)).toEqual([]);
    });
});
