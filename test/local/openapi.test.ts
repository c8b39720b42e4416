/**
 * The API's OpenAPI document as a contract, against the running app: the local host serves the API's
 * functions (from the TypeScript sources) on Azurite and the Twilio sandbox; the test fetches the
 * document from the app, sends every example request in it (each request body and parameter example, by
 * name), and checks that each answer's status is documented for its operation, is the status of the
 * response example of that name, and that its body validates against the document's response schema,
 * with the documented headers (Location, Retry-After). Errors that have no example (a body over the
 * limit, a body that is not JSON) are provoked here and checked the same way.
 */

import { mkdtempSync, rmSync, symlinkSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, startAzurite, type Azurite } from '../../local/azurite';
import { startAppProcess, type AppProcess } from '../../local/host/appProcess';
import { SANDBOX_NUMBER } from '../../local/sandbox/resources';
import { generateTestCredentials, startTwilioSandbox, type TwilioSandbox } from '../../local/sandbox/sandbox';
import { MAX_API_BODY_BYTES } from '../../shared/api/send';
import { REPO_ROOT } from '../support/childProcess';
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

const REGISTER = path.join(REPO_ROOT, 'test', 'support', 'register.js');

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
    'openApi',
    'outbound',
    'outboundPoison',
    'status',
    'voice',
];

let azurite: Azurite | undefined;
let sandbox: TwilioSandbox | undefined;
let app: AppProcess | undefined;
let appDir: string;
let appUrl = '';
let document: Json;
let validator: SchemaValidator;

beforeAll(async () => {
    azurite = await startAzurite({ ports: 'free' });
    const credentials = generateTestCredentials();
    sandbox = await startTwilioSandbox({ ...credentials, callbackDelayMs: 0 });
    // An app folder whose `main` names the API's function sources, so the host runs them as the worker
    // would, without a build (the functions folder is a link: the sources resolve from the repo).
    appDir = mkdtempSync(path.join(tmpdir(), 'openapi-contract-'));
    symlinkSync(path.join(REPO_ROOT, 'functions'), path.join(appDir, 'functions'), 'dir');
    symlinkSync(path.join(REPO_ROOT, 'node_modules'), path.join(appDir, 'node_modules'), 'dir');
    copyFileSync(path.join(REPO_ROOT, 'host.json'), path.join(appDir, 'host.json'));
    writeFileSync(
        path.join(appDir, 'package.json'),
        JSON.stringify({ main: `functions/{${FUNCTIONS.join(',')}}.ts` }),
    );
    const port = await freePort();
    app = await startAppProcess({
        appDir,
        port,
        env: {
            PATH: process.env.PATH,
            // The example settings, as npm start's first run copies them; what follows wins over them.
            LOCAL_SETTINGS_FILE: path.join(REPO_ROOT, 'local.settings.json.example'),
            AzureWebJobsStorage: azurite.connectionString,
            TWILIO_ACCOUNT_SID: credentials.accountSid,
            TWILIO_AUTH_TOKEN: credentials.authToken,
            TWILIO_API_URL: sandbox.url,
            TWILIO_FROM_NUMBER: SANDBOX_NUMBER,
            PUBLIC_BASE_URL: `http://localhost:${String(port)}`,
            KEY_VAULT_URL: '',
        },
        stdio: 'pipe',
        entry: path.join(REPO_ROOT, 'local', 'host', 'main.ts'),
        execArgv: ['-r', REGISTER],
    });
    appUrl = app.url;
    const served = await fetch(`${appUrl}/api/openapi/openapi.json`);
    expect(served.status).toBe(200);
    document = (await served.json()) as Json;
    validator = schemaValidator(document);
}, 90_000);

afterAll(async () => {
    await app?.stop();
    await sandbox?.close();
    await azurite?.stop();
    rmSync(appDir, { recursive: true, force: true });
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
    const text = await response.text();
    const json = (response.headers.get('content-type') ?? '').includes('json');
    return {
        status: response.status,
        headers: response.headers,
        body: json ? (JSON.parse(text) as unknown) : text,
    };
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
    const [[type, { schema }]] = media as [[string, MediaType]];
    expect(got.headers.get('content-type') ?? '').toContain(type);
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
