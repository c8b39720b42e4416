import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { QueueServiceClient } from '@azure/storage-queue';
import {
    freePort,
    freePorts,
    isPortFree,
    PortInUseError,
    startAzurite,
    stopChild,
    type Azurite,
} from '../../local/azurite';
import { startAppProcess, type AppProcess } from '../../local/host/appProcess';
import { isProcessAlive } from '../../local/settings';
import { REPO_ROOT, spawnTypeScript } from '../support/childProcess';
import { ProcessOutput } from '../support/processOutput';

const FIXTURE = path.join(REPO_ROOT, 'test', 'fixtures', 'queueApp');

let azurite: Azurite;
let host: ChildProcess;
let output: ProcessOutput;
let baseUrl: string;
let queues: QueueServiceClient;

beforeAll(async () => {
    azurite = await startAzurite({ ports: 'free' });
    queues = QueueServiceClient.fromConnectionString(azurite.connectionString);
    const port = await freePort();
    host = spawnTypeScript(
        'local/host/main.ts',
        { AzureWebJobsStorage: azurite.connectionString, RECORD_QUEUE: 'records' },
        ['--app', FIXTURE, '--port', String(port)],
    );
    output = new ProcessOutput(host);
    await output.waitFor((line) => line.startsWith('Local host listening on'));
    baseUrl = `http://localhost:${String(port)}`;
}, 60_000);

afterAll(async () => {
    await stopChild(host);
    await azurite.stop();
});

interface QueueRecord {
    raw: unknown;
    decoded: unknown;
    meta: { [key: string]: unknown };
}

function records(): QueueRecord[] {
    return output
        .matching((l) => l.includes('[record] RECORD '))
        .map((l) => JSON.parse(l.slice(l.indexOf('RECORD ') + 7)) as QueueRecord);
}

describe('local host: loading', () => {
    it('lists every function with its route, methods and queue, and says function keys are not enforced', () => {
        const text = output.lines.join('\n');
        expect(text).toContain(`items: [GET,PUT] ${baseUrl}/api/items/{id:int}/{rest?}`);
        expect(text).toContain(`enqueue: [POST] ${baseUrl}/api/enqueue`);
        expect(text).toContain(`record: queueTrigger on 'records'`);
        expect(text).toContain(`message: [GET] ${baseUrl}/api/messages/{id}`);
        expect(text).toContain(`alwaysFails: queueTrigger on 'fails'`);
        expect(text).toContain('Function keys are not enforced');
    });
});

describe('local host: HTTP', () => {
    it('routes templates with parameters and passes method, query, headers and body through', async () => {
        const response = await fetch(`${baseUrl}/api/ITEMS/42/extra?x=1&y=two`, {
            method: 'PUT',
            headers: { 'X-Test': 'yes' },
            body: 'payload',
        });
        expect(response.status).toBe(201);
        expect(response.headers.get('x-invocation')).toMatch(/^[0-9a-f-]{36}$/);
        expect(response.headers.get('set-cookie')).toBe('session=a%20b; Path=/; HttpOnly');
        expect(await response.json()).toEqual({
            method: 'PUT',
            params: { id: '42', rest: 'extra' },
            query: { x: '1', y: 'two' },
            header: 'yes',
            body: 'payload',
            url: `${baseUrl}/api/ITEMS/42/extra?x=1&y=two`,
        });
    });

    it('answers 404 for unknown routes and route constraints that do not match', async () => {
        expect((await fetch(`${baseUrl}/api/nothing`)).status).toBe(404);
        expect((await fetch(`${baseUrl}/api/items/abc`)).status).toBe(404);
    });

    it('joins repeated query keys with commas, comparing keys without case, as the host passes them', async () => {
        const response = await fetch(`${baseUrl}/api/items/1?to=A&TO=B&x=1&to=C&empty=&To=`);
        expect(response.status).toBe(200);
        const { query } = (await response.json()) as { query: Record<string, string> };
        expect(query).toEqual({ to: 'A,B,C,', x: '1', empty: '' });
    });

    it('answers 404 with an empty body, as the Functions host does, for a method the route does not accept', async () => {
        for (const method of ['DELETE', 'POST', 'PATCH']) {
            const response = await fetch(`${baseUrl}/api/items/1`, { method });
            expect(response.status).toBe(404);
            expect(response.headers.get('allow')).toBeNull();
            expect(await response.text()).toBe('');
        }
    });

    it('answers 500 and logs the failure when a handler throws', async () => {
        expect((await fetch(`${baseUrl}/api/boom`)).status).toBe(500);
        await output.waitFor((l) => l.includes(`Executed 'Functions.boom' (Failed`));
        await output.waitFor((l) => l.includes('handler failure'));
    });

    it.each(['text', 'number'])(
        'answers 500 and logs a failed invocation when a handler returns a %s, as the worker does',
        async (kind) => {
            const name = kind === 'text' ? 'returnsText' : 'returnsNumber';
            const response = await fetch(`${baseUrl}/api/returns/${kind}`);
            expect(response.status).toBe(500);
            expect(await response.text()).toBe('');
            await output.waitFor((l) => l.includes(`Executed 'Functions.${name}' (Failed`));
            expect(output.lines.some((l) => l.includes(`Executed 'Functions.${name}' (Succeeded`))).toBe(
                false,
            );
        },
    );

    it('answers 200 with an empty body when a handler returns nothing', async () => {
        const response = await fetch(`${baseUrl}/api/returns/nothing`);
        expect(response.status).toBe(200);
        expect(await response.text()).toBe('');
    });

    it('hands the function an empty body for a request without Content-Length (chunked), as Azure does', async () => {
        const chunked = await rawPut(`${baseUrl}/api/items/1`, ['chunked ', 'body'], {});
        expect(chunked.contentLength).toBeUndefined();
        expect(chunked.status).toBe(201);
        expect((JSON.parse(chunked.body) as { body: string }).body).toBe('');
        const declared = await rawPut(`${baseUrl}/api/items/1`, ['declared ', 'body'], {
            'Content-Length': '13',
        });
        expect((JSON.parse(declared.body) as { body: string }).body).toBe('declared body');
    });
});

/** PUTs `chunks` (chunked unless `headers` declare a length) and reads the whole answer. */
function rawPut(
    url: string,
    chunks: string[],
    headers: Record<string, string>,
): Promise<{ status: number; contentLength: unknown; body: string }> {
    return new Promise((resolve, reject) => {
        const req = httpRequest(url, { method: 'PUT', headers });
        req.on('response', (res) => {
            const parts: Buffer[] = [];
            res.on('data', (chunk: Buffer) => parts.push(chunk));
            res.on('end', () => {
                resolve({
                    status: res.statusCode ?? 0,
                    contentLength: req.getHeader('content-length'),
                    body: Buffer.concat(parts).toString('utf8'),
                });
            });
        });
        req.on('error', reject);
        for (const chunk of chunks) req.write(chunk);
        req.end();
    });
}

describe('local host: malformed requests and the Functions host limits', () => {
    it.each([
        '/api/messages/%E0%A4%A',
        '/api/messages/%ZZ',
        '/api/messages/%C3%28',
        '/api/items/1/%E0%A4%A',
        '/api/enqueue%',
        '/api/voice%',
    ])('answers 400 for malformed percent-encoding in the path: %s', async (target) => {
        const response = await fetch(`${baseUrl}${target}`, {
            method: target.startsWith('/api/enqueue') ? 'POST' : 'GET',
        });
        expect(response.status).toBe(400);
        const failed = (l: string) => l.includes('Local host failed to serve') && l.includes(target);
        expect(output.lines.some(failed)).toBe(false);
    });

    it('still decodes well-formed percent-encoding in route parameters', async () => {
        const response = await fetch(`${baseUrl}/api/messages/order%3A42%20%E0%A4%A8`);
        expect(response.status).toBe(200);
        expect(await response.json()).toEqual({ id: 'order:42 \u0928' });
    });

    it('never logs a query string, even when the host itself fails to serve the request', async () => {
        const response = await fetch(`${baseUrl}/api/badcookie?To=%2B15557654321&token=query-secret`);
        expect(response.status).toBe(500);
        const [failure] = await output.waitFor((l) => l.includes('Local host failed to serve'));
        expect(failure).toContain('GET /api/badcookie');
        await fetch(`${baseUrl}/api/messages/%E0%A4%A?To=%2B15557654321&token=query-secret`);
        await fetch(`${baseUrl}/api/items/1/x?To=%2B15557654321&token=query-secret`);
        const text = output.lines.join('\n');
        expect(text).not.toMatch(/5557654321|query-secret|To=/);
    });

    it('answers 414 for a request target over 4,096 bytes, and serves one of exactly 4,096', async () => {
        const at = (length: number) => {
            const prefix = '/api/items/1/x?pad=';
            return `${baseUrl}${prefix}${'a'.repeat(length - prefix.length)}`;
        };
        expect((await fetch(at(4_097))).status).toBe(414);
        expect((await fetch(at(4_096))).status).toBe(200);
    });

    it('answers 413 for a declared body over 100 MB (104,857,600 bytes) before reading it', async () => {
        expect(await declaredBody(baseUrl, 104_857_601)).toBe(413);
    });
});

describe('local host: FUNCTIONS_REQUEST_BODY_SIZE_LIMIT', () => {
    let limited: ChildProcess;
    let limitedUrl: string;

    beforeAll(async () => {
        const port = await freePort();
        limited = spawnTypeScript(
            'local/host/main.ts',
            {
                AzureWebJobsStorage: azurite.connectionString,
                RECORD_QUEUE: 'records-limited',
                FUNCTIONS_REQUEST_BODY_SIZE_LIMIT: '1024',
            },
            ['--app', FIXTURE, '--port', String(port)],
        );
        await new ProcessOutput(limited).waitFor((line) => line.startsWith('Local host listening on'));
        limitedUrl = `http://localhost:${String(port)}`;
    }, 60_000);

    afterAll(async () => {
        await stopChild(limited);
    });

    it('serves a body of exactly the limit', async () => {
        const body = 'b'.repeat(1024);
        const response = await fetch(`${limitedUrl}/api/items/1`, { method: 'PUT', body });
        expect(response.status).toBe(201);
        expect(((await response.json()) as { body: string }).body).toBe(body);
    });

    it('answers 413 for a declared body over the limit, and for a streamed one as soon as it passes it', async () => {
        expect(await declaredBody(limitedUrl, 1025)).toBe(413);
        expect(await streamedBody(limitedUrl, 1025)).toBe(413);
    });
});

/** PUTs with `Content-Length: length` and sends no body: the status the host answers meanwhile. */
function declaredBody(base: string, length: number): Promise<number> {
    return new Promise((resolve, reject) => {
        const req = httpRequest(`${base}/api/items/1`, {
            method: 'PUT',
            headers: { 'Content-Length': String(length) },
        });
        req.on('response', (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
            req.destroy();
        });
        req.on('error', reject);
        req.flushHeaders();
    });
}

/** PUTs a chunked body of `length` bytes without ending it: the status the host answers meanwhile. */
function streamedBody(base: string, length: number): Promise<number> {
    return new Promise((resolve, reject) => {
        const req = httpRequest(`${base}/api/items/1`, { method: 'PUT' });
        req.on('response', (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
            req.destroy();
        });
        req.on('error', reject);
        req.write('s'.repeat(length));
    });
}

describe('local host: storage queues', () => {
    it('delivers a plain JSON message and a base64 one with the trigger metadata', async () => {
        const queue = queues.getQueueClient('records');
        const body = { kind: 'plain', n: 1 };
        const plain = await queue.sendMessage(JSON.stringify(body));
        const encoded = await queue.sendMessage(
            Buffer.from(JSON.stringify({ kind: 'base64', n: 2 })).toString('base64'),
        );
        await output.waitFor((l) => l.includes('[record] RECORD '), 2);

        const byId = new Map(records().map((r) => [r.meta.id, r]));
        const first = byId.get(plain.messageId);
        const second = byId.get(encoded.messageId);
        expect(first?.raw).toEqual(body);
        expect(second?.decoded).toEqual({ kind: 'base64', n: 2 });
        // The host's format for a DateTimeOffset (Newtonsoft.Json): no milliseconds when there are none, +00:00.
        const hostTime = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d*[1-9])?\+00:00$/;
        for (const [record, sent] of [
            [first, plain],
            [second, encoded],
        ] as const) {
            expect(record?.meta).toMatchObject({ id: sent.messageId, dequeueCount: 1 });
            for (const name of ['insertionTime', 'expirationTime', 'nextVisibleTime']) {
                expect(record?.meta[name]).toMatch(hostTime);
            }
            expect(Date.parse(String(record?.meta.insertionTime))).toBe(sent.insertedOn.getTime());
            expect(Date.parse(String(record?.meta.expirationTime))).toBe(sent.expiresOn.getTime());
            expect(typeof record?.meta.popReceipt).toBe('string');
            expect(Date.parse(String(record?.meta.nextVisibleTime))).toBeGreaterThan(
                sent.insertedOn.getTime(),
            );
            expect(record?.meta.sys).toMatchObject({ methodName: 'record' });
        }
        await waitForEmpty('records');
    });

    it('parses any JSON text on the queue as the worker does, and leaves other text as it is', async () => {
        const queue = queues.getQueueClient('records');
        const texts = ['12345', 'true', 'null', '"text"', ' [1, 2] ', 'not json', '{broken'];
        const sent = new Map<string, string>();
        for (const text of texts) sent.set((await queue.sendMessage(text)).messageId, text);
        await output.waitFor(
            (l) => l.includes('[record] RECORD ') && [...sent.keys()].some((id) => l.includes(id)),
            texts.length,
        );
        const raw = new Map(
            records()
                .filter((r) => sent.has(String(r.meta.id)))
                .map((r) => [sent.get(String(r.meta.id)), r.raw]),
        );
        expect(Object.fromEntries(raw)).toEqual({
            '12345': 12345,
            true: true,
            null: null,
            '"text"': 'text',
            ' [1, 2] ': [1, 2],
            'not json': 'not json',
            '{broken': '{broken',
        });
        await waitForEmpty('records');
    });

    it('retries a failing function, then moves the message to <queue>-poison after maxDequeueCount attempts', async () => {
        await queues.getQueueClient('fails').sendMessage('{"order":7}');
        const attempts = await output.waitFor((l) => l.includes('[alwaysFails] FAIL '), 3);
        expect(attempts.map((l) => JSON.parse(l.slice(l.indexOf('FAIL ') + 5)) as unknown)).toEqual([
            { item: { order: 7 }, dequeueCount: 1 },
            { item: { order: 7 }, dequeueCount: 2 },
            { item: { order: 7 }, dequeueCount: 3 },
        ]);
        await output.waitFor((l) => l.includes("Moving message to queue 'fails-poison'"));
        const poisoned = await queues
            .getQueueClient('fails-poison')
            .receiveMessages({ numberOfMessages: 32 });
        expect(poisoned.receivedMessageItems.map((m) => m.messageText)).toEqual(['{"order":7}']);
        await waitForEmpty('fails');
        expect(output.matching((l) => l.includes('[alwaysFails] FAIL '))).toHaveLength(3);
    });

    it('writes queue output bindings, which trigger the queue function', async () => {
        const response = await fetch(`${baseUrl}/api/enqueue`, {
            method: 'POST',
            body: JSON.stringify({ kind: 'output', n: 3 }),
        });
        expect(response.status).toBe(202);
        await output.waitFor((l) => l.includes('[record] RECORD ') && l.includes('"output"'));
        expect(records().find((r) => (r.raw as { kind?: string } | null)?.kind === 'output')?.raw).toEqual({
            kind: 'output',
            n: 3,
        });
    });
});

/** Waits until a queue reports no messages (bounded; a queue that never empties fails the test). */
async function waitForEmpty(name: string): Promise<void> {
    const queue = queues.getQueueClient(name);
    for (let i = 0; i < 100; i++) {
        const properties = await queue.getProperties();
        if (properties.approximateMessagesCount === 0) return;
        await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`Queue ${name} did not empty`);
}

describe('local host: a port already in use', () => {
    it('says so in one line naming the port and --port, and exits 1', () => {
        const port = Number(new URL(baseUrl).port);
        const result = spawnSync(
            process.execPath,
            [
                '-r',
                REGISTER,
                path.join(REPO_ROOT, 'local/host/main.ts'),
                '--app',
                FIXTURE,
                '--port',
                String(port),
            ],
            {
                env: {
                    PATH: process.env.PATH,
                    AzureWebJobsStorage: azurite.connectionString,
                    RECORD_QUEUE: 'taken',
                },
                encoding: 'utf8',
            },
        );
        expect(result.status).toBe(1);
        const lines = result.stderr.split('\n').filter((l) => l.trim() !== '');
        expect(lines).toEqual([
            `Port ${String(port)} is already in use: pick another with --port (e.g. --port ${String(port + 1)}).`,
        ]);
    });
});

const REGISTER = path.join(REPO_ROOT, 'test', 'support', 'register.js');

/**
 * The local host in a process of its own, as `npm start` and `npm run dev` run it: Node options reach that
 * process only, and a reload is a fresh process serving the rebuilt files on the same port. The app is a
 * copy in a temporary folder (node_modules linked) so the test can change a function and reload it.
 */
describe('local host: its own process (npm start, npm run dev)', () => {
    let appDir: string;
    let app: AppProcess | undefined;
    let port: number;
    let inspectorPort: number;

    const writeFunction = (reply: string) => {
        writeFileSync(
            path.join(appDir, 'functions', 'hello.js'),
            `const { app } = require('@azure/functions');\n` +
                `app.get('hello', { route: 'hello', handler: () => ({ body: ${JSON.stringify(reply)} }) });\n`,
        );
    };

    const inspectorTargets = async () =>
        (await (await fetch(`http://127.0.0.1:${String(inspectorPort)}/json/list`)).json()) as {
            url: string;
        }[];

    beforeAll(async () => {
        appDir = mkdtempSync(path.join(tmpdir(), 'host-reload-'));
        mkdirSync(path.join(appDir, 'functions'));
        symlinkSync(path.join(REPO_ROOT, 'node_modules'), path.join(appDir, 'node_modules'), 'dir');
        writeFileSync(path.join(appDir, 'package.json'), '{"main": "functions/*.js"}');
        writeFileSync(path.join(appDir, 'host.json'), '{"version": "2.0"}');
        writeFunction('first build');
        [port = 0, inspectorPort = 0] = await freePorts(2);
    });

    afterAll(async () => {
        await app?.stop();
        rmSync(appDir, { recursive: true, force: true });
    });

    it('starts the host with the inspector in its process, and reloads the functions in a fresh one', async () => {
        app = await startAppProcess({
            appDir,
            port,
            env: {
                PATH: process.env.PATH,
                LOCAL_SETTINGS_FILE: path.join(appDir, 'none.json'),
                AzureWebJobsStorage: azurite.connectionString,
            },
            nodeArgs: [`--inspect=127.0.0.1:${String(inspectorPort)}`],
            stdio: 'pipe',
            entry: path.join(REPO_ROOT, 'local', 'host', 'main.ts'),
            execArgv: ['-r', REGISTER],
        });
        const first = new ProcessOutput(app.child);
        expect(app.url).toBe(`http://localhost:${String(port)}`);
        expect(await (await fetch(`${app.url}/api/hello`)).text()).toBe('first build');
        const [target] = await inspectorTargets();
        expect(target?.url).toContain('main.ts');
        const firstPid = app.child.pid ?? 0;

        writeFunction('second build');
        await app.reload();
        const second = new ProcessOutput(app.child);
        expect(isProcessAlive(firstPid)).toBe(false);
        expect(app.child.pid).not.toBe(firstPid);
        expect(await (await fetch(`${app.url}/api/hello`)).text()).toBe('second build');
        expect((await inspectorTargets()).map((t) => t.url)).toEqual([expect.stringContaining('main.ts')]);
        expect(first.lines.join('\n')).toContain('Local host listening on');

        const lastPid = app.child.pid ?? 0;
        await app.stop();
        app = undefined;
        expect(isProcessAlive(lastPid)).toBe(false);
        expect(await isPortFree(port, 'localhost')).toBe(true);
        expect(await isPortFree(inspectorPort)).toBe(true);
        expect(second.lines.join('\n')).toContain('hello: [GET]');
    });

    it('rejects with PortInUseError, leaving no process, when the port is taken', async () => {
        const taken = Number(new URL(baseUrl).port);
        const started = startAppProcess({
            appDir,
            port: taken,
            env: { PATH: process.env.PATH, AzureWebJobsStorage: azurite.connectionString },
            stdio: 'pipe',
            entry: path.join(REPO_ROOT, 'local', 'host', 'main.ts'),
            execArgv: ['-r', REGISTER],
        });
        await expect(started).rejects.toThrow(PortInUseError);
        await expect(started).rejects.toThrow(`Port ${String(taken)} (the app) is already in use`);
    });
});
