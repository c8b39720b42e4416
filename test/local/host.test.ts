import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { QueueServiceClient } from '@azure/storage-queue';
import { freePort, startAzurite, stopChild, type Azurite } from '../../local/azurite';
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

interface Record {
    raw: unknown;
    decoded: unknown;
    meta: { [key: string]: unknown };
}

function records(): Record[] {
    return output
        .matching((l) => l.includes('[record] RECORD '))
        .map((l) => JSON.parse(l.slice(l.indexOf('RECORD ') + 7)) as Record);
}

describe('local host: loading', () => {
    it('lists every function with its route, methods and queue, and says function keys are not enforced', () => {
        const text = output.lines.join('\n');
        expect(text).toContain(`items: [GET,PUT] ${baseUrl}/api/items/{id:int}/{rest?}`);
        expect(text).toContain(`enqueue: [POST] ${baseUrl}/api/enqueue`);
        expect(text).toContain(`record: queueTrigger on 'records'`);
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

    it('answers 405 with Allow for a method the function does not accept', async () => {
        const response = await fetch(`${baseUrl}/api/items/1`, { method: 'DELETE' });
        expect(response.status).toBe(405);
        expect(response.headers.get('allow')).toBe('GET, PUT');
    });

    it('answers 500 and logs the failure when a handler throws', async () => {
        expect((await fetch(`${baseUrl}/api/boom`)).status).toBe(500);
        await output.waitFor((l) => l.includes(`Executed 'Functions.boom' (Failed`));
        await output.waitFor((l) => l.includes('handler failure'));
    });
});

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
        for (const [record, sent] of [
            [first, plain],
            [second, encoded],
        ] as const) {
            expect(record?.meta).toMatchObject({ id: sent.messageId, dequeueCount: 1 });
            expect(record?.meta.insertionTime).toBe(sent.insertedOn.toISOString());
            expect(record?.meta.expirationTime).toBe(sent.expiresOn.toISOString());
            expect(typeof record?.meta.popReceipt).toBe('string');
            expect(Date.parse(String(record?.meta.nextVisibleTime))).toBeGreaterThan(
                sent.insertedOn.getTime(),
            );
        }
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
        expect(records().find((r) => (r.raw as { kind?: string }).kind === 'output')?.raw).toEqual({
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
