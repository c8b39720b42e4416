/**
 * The opt-out API through its function files (listOptOuts, addOptOut, removeOptOut) with real
 * `HttpRequest`s, the store on Azurite's Table service: list filters and pages, manual additions (with an
 * imported date), removals, and a 400 naming the parameter at fault for each kind of bad input.
 */

import { HttpRequest, type HttpResponseInit } from '@azure/functions';
import { addOptOut } from '../../functions/addOptOut';
import { listOptOuts } from '../../functions/listOptOuts';
import { removeOptOut } from '../../functions/removeOptOut';
import { startAzurite, type Azurite } from '../../local/azurite';
import { parseConfig } from '../../shared/platform/config';
import { createDependencies, setDependencies } from '../../shared/platform/dependencies';
import { testContext } from '../support/webhooks';

const BASE = 'https://app.example.com/api/opt-outs';
const NUMBER = '+15005550006';
const SERVICE = 'MG0123456789abcdef0123456789abcdef';

let azurite: Azurite;

beforeAll(async () => {
    azurite = await startAzurite({ ports: 'free' });
    setDependencies(
        createDependencies(
            parseConfig({ AzureWebJobsStorage: azurite.connectionString, LEDGER_TABLE: 'optoutapi' }),
        ),
    );
}, 60_000);

afterAll(async () => {
    setDependencies();
    await azurite.stop();
});

function request(method: string, url: string, params: Record<string, string> = {}, body?: string) {
    return new HttpRequest({
        method,
        url,
        params,
        headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
        ...(body === undefined ? {} : { body: { string: body } }),
    });
}

const put = (sender: string, recipient: string, body?: string) =>
    addOptOut(
        request('PUT', `${BASE}/${sender}/${recipient}`, { sender, recipient }, body),
        testContext().context,
    );
const del = (sender: string, recipient: string) =>
    removeOptOut(
        request('DELETE', `${BASE}/${sender}/${recipient}`, { sender, recipient }),
        testContext().context,
    );
const list = (query: string) => listOptOuts(request('GET', `${BASE}${query}`), testContext().context);

function json(response: HttpResponseInit): Record<string, unknown> {
    return response.jsonBody as Record<string, unknown>;
}

describe('PUT /api/opt-outs/{sender}/{recipient}', () => {
    it('adds an opt-out (201), then answers the one recorded (200), unchanged', async () => {
        const created = await put(NUMBER, '+15551110001');
        expect(created.status).toBe(201);
        expect(json(created)).toEqual({
            sender: NUMBER,
            recipient: '+15551110001',
            since: expect.any(String) as string,
            source: 'api',
        });
        const again = await put(NUMBER, '+15551110001', JSON.stringify({ since: '2020-01-01T00:00:00Z' }));
        expect(again.status).toBe(200);
        expect(json(again)).toEqual(json(created));
    });

    it('takes an imported date, and a Messaging Service SID in any case', async () => {
        const response = await put(
            SERVICE.toUpperCase().replace(/^MG/, 'MG'),
            '+15551110002',
            '{"since":"2024-05-01T08:30:00Z"}',
        );
        expect(response.status).toBe(201);
        expect(json(response)).toEqual({
            sender: SERVICE,
            recipient: '+15551110002',
            since: '2024-05-01T08:30:00.000Z',
            source: 'api',
        });
    });

    it('answers 400 naming what is at fault, and 413 for an oversized body', async () => {
        const cases: [Promise<HttpResponseInit>, string[]][] = [
            [put('whatsapp:+15005550006', '+15551110003'), ['sender']],
            [put(NUMBER, '12345'), ['recipient']],
            [put('ACME', 'nobody'), ['sender', 'recipient']],
            [put(NUMBER, '+15551110003', '{"since":"yesterday"}'), ['since']],
            [put(NUMBER, '+15551110003', '{"since":"2999-01-01T00:00:00Z"}'), ['since']],
            [put(NUMBER, '+15551110003', '{"source":"keyword"}'), ['source']],
            [put(NUMBER, '+15551110003', '[1]'), ['(body)']],
            [put(NUMBER, '+15551110003', '{not json'), ['(body)']],
        ];
        for (const [pending, fields] of cases) {
            const response = await pending;
            expect(response.status).toBe(400);
            expect((json(response).errors as { field: string }[]).map((e) => e.field)).toEqual(fields);
        }
        expect((await put(NUMBER, '+15551110003', JSON.stringify({ since: 'x'.repeat(2000) }))).status).toBe(
            413,
        );
        expect(json(await list('?recipient=%2B15551110003')).optOuts).toEqual([]);
    });
});

describe('DELETE /api/opt-outs/{sender}/{recipient}', () => {
    it('removes an opt-out (204), then answers 404', async () => {
        await put(NUMBER, '+15551110004');
        expect((await del(NUMBER, '+15551110004')).status).toBe(204);
        const gone = await del(NUMBER, '+15551110004');
        expect(gone.status).toBe(404);
        expect(json(gone)).toEqual({ error: 'not_found', sender: NUMBER, recipient: '+15551110004' });
        expect((await del('not-a-sender', '+15551110004')).status).toBe(400);
    });
});

describe('GET /api/opt-outs', () => {
    it('lists by sender, recipient or both, in key order, paged with nextPageUrl', async () => {
        for (const recipient of ['+15551110010', '+15551110011', '+15551110012']) {
            await put('12345', recipient);
            await put(SERVICE, recipient);
        }
        const first = await list('?sender=12345&pageSize=2');
        expect(first.status).toBe(200);
        expect((json(first).optOuts as { recipient: string }[]).map((o) => o.recipient)).toEqual([
            '+15551110010',
            '+15551110011',
        ]);
        const next = new URL(json(first).nextPageUrl as string);
        expect(next.searchParams.get('sender')).toBe('12345');
        const second = await list(next.search);
        expect((json(second).optOuts as { recipient: string }[]).map((o) => o.recipient)).toEqual([
            '+15551110012',
        ]);
        expect(json(second).continuationToken).toBeUndefined();

        const byRecipient = await list('?recipient=%2B15551110011');
        expect((json(byRecipient).optOuts as { sender: string }[]).map((o) => o.sender)).toEqual([
            '12345',
            SERVICE,
        ]);
        const both = await list(`?sender=${SERVICE}&recipient=%2B15551110012`);
        expect(json(both).optOuts).toEqual([
            {
                sender: SERVICE,
                recipient: '+15551110012',
                since: expect.any(String) as string,
                source: 'api',
            },
        ]);
    });

    it('answers 400 naming the parameter at fault', async () => {
        const token = json(await list('?sender=12345&pageSize=1')).continuationToken as string;
        const cases: [string, string[]][] = [
            ['?sender=whatsapp:%2B1555', ['sender']],
            ['?recipient=12345', ['recipient']],
            ['?pageSize=0', ['pageSize']],
            ['?pageSize=1001', ['pageSize']],
            ['?pageSize=ten', ['pageSize']],
            ['?sender=x&recipient=y&pageSize=-1', ['sender', 'recipient', 'pageSize']],
            ['?continuationToken=%25%25', ['continuationToken']],
            [`?sender=${SERVICE}&continuationToken=${token}`, ['continuationToken']],
        ];
        for (const [query, fields] of cases) {
            const response = await list(query);
            expect(response.status).toBe(400);
            expect((json(response).errors as { field: string }[]).map((e) => e.field)).toEqual(fields);
        }
    });
});
