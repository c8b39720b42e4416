/**
 * The Table ledger on a real Table service (Azurite, started on free ports for this file): what is its
 * own — the entities it writes, the day index following the record, ETag retries, its continuation tokens,
 * full pages, long ranges and the lazy SDK load. What every ledger must do is the contract suite
 * (test/support/ledgerContract.ts, run by test/integration/ledgerContract.test.ts).
 */

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { TableClient } from '@azure/data-tables';
import { startAzurite, type Azurite } from '../../local/azurite';
import {
    LedgerQueryError,
    type Ledger,
    type LedgerRecord,
    type ListPage,
    type ListQuery,
} from '../../shared/ledger/contract';
import { createLedger, MAX_DAYS_PER_LIST_CALL } from '../../shared/ledger/table';
import { REPO_ROOT } from '../support/childProcess';
import { LIST_FIXTURE, sampleRecord } from '../support/ledgerContract';

let azurite: Azurite;
let tableCount = 0;

beforeAll(async () => {
    azurite = await startAzurite({ ports: 'free' });
}, 60_000);

afterAll(async () => {
    await azurite.stop();
});

/** A fresh table (each test sees only its own records) with a ledger and a raw client on it. */
function setup(options: { storeBody?: boolean; now?: string } = {}) {
    tableCount++;
    const tableName = `ledger${String(tableCount)}`;
    let now = new Date(options.now ?? '2024-05-04T12:00:00.000Z');
    const ledger = createLedger({
        connectionString: azurite.connectionString,
        tableName,
        storeBody: options.storeBody ?? false,
        now: () => now,
    });
    const raw = TableClient.fromConnectionString(azurite.connectionString, tableName, {
        allowInsecureConnection: true,
    });
    const setNow = (iso: string) => {
        now = new Date(iso);
    };
    return { ledger, raw, setNow };
}

const record = sampleRecord;

/** The record as a ledger without `storeBody` keeps it. */
function withoutBody(value: LedgerRecord): LedgerRecord {
    const copy = { ...value };
    delete copy.body;
    return copy;
}

/** Every raw entity in the table, by kind. */
async function rawEntities(raw: TableClient) {
    const records: Record<string, unknown>[] = [];
    const index: Record<string, unknown>[] = [];
    for await (const entity of raw.listEntities()) {
        (entity.partitionKey?.startsWith('d') === true ? index : records).push(entity);
    }
    return { records, index };
}

const ids = (page: ListPage) => page.items.map((r) => r.id);

async function expectQueryError(promise: Promise<unknown>, message: RegExp): Promise<void> {
    const error: unknown = await promise.then(
        () => undefined,
        (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(LedgerQueryError);
    expect((error as Error).message).toMatch(message);
}

describe('ledger: loading', () => {
    it('does not load @azure/data-tables until the ledger is first used', async () => {
        const script = `
            const loaded = () => Object.keys(require.cache).some((f) => /[\\\\/]@azure[\\\\/]data-tables[\\\\/]/.test(f));
            const { createLedger } = require('./shared/ledger/table.ts');
            require('./shared/ledger/contract.ts');
            require('./shared/ledger/rules.ts');
            require('./shared/ledger/status.ts');
            const ledger = createLedger({ connectionString: process.argv[1], tableName: 'lazyload', storeBody: false });
            const atLoad = loaded();
            ledger.get('x').then((r) => {
                console.log(JSON.stringify({ atLoad, afterUse: loaded(), found: r !== undefined }));
                process.exit(0);
            });
        `;
        const { stdout } = await promisify(execFile)(
            process.execPath,
            ['-r', './test/support/register.js', '-e', script, azurite.connectionString],
            { cwd: REPO_ROOT, timeout: 30_000 },
        );
        expect(JSON.parse(stdout)).toEqual({ atLoad: false, afterUse: true, found: false });
    });
});

describe('ledger: create and get', () => {
    it('creates once: of 20 concurrent creates of one id exactly one is "created", and its record is kept', async () => {
        const { ledger, raw } = setup();
        const at = '2024-05-04T10:00:00.000Z';
        const results = await Promise.all(
            Array.from({ length: 20 }, (_, i) => ledger.create(record('same-id', at, { attempts: i }))),
        );
        expect(results.filter((r) => r === 'created')).toHaveLength(1);
        expect(results.filter((r) => r === 'exists')).toHaveLength(19);
        const winner = results.indexOf('created');
        const expected = withoutBody(record('same-id', at, { attempts: winner }));
        expect(await ledger.get('same-id')).toEqual(expected);
        const { records, index } = await rawEntities(raw);
        expect(records).toHaveLength(1);
        expect(index).toHaveLength(1);
        expect(index[0]?.id).toBe('same-id');
    });
});

describe('ledger: bodies', () => {
    it('does not store the body when storeBody is off, only its length; the index entry holds neither', async () => {
        const { ledger, raw } = setup({ storeBody: false });
        await ledger.create(record('m1', '2024-05-04T10:00:00.000Z'));
        await ledger.update('m1', (r) => r && { ...r, body: 'changed', status: 'sent' });
        const { records, index } = await rawEntities(raw);
        for (const entity of records) {
            expect(entity).not.toHaveProperty('body');
            expect(entity.bodyLength).toBe(5);
        }
        // The index entry names the record and holds what list filters on, nothing more.
        expect(
            index.map(({ id, rev, toAddress, fromAddress, body, bodyLength }) => ({
                id,
                rev,
                toAddress,
                fromAddress,
                body,
                bodyLength,
            })),
        ).toEqual([
            {
                id: 'm1',
                rev: 1,
                toAddress: '+15551230001',
                fromAddress: '+15559870001',
                body: undefined,
                bodyLength: undefined,
            },
        ]);
        expect(await ledger.get('m1')).not.toHaveProperty('body');
        expect((await ledger.list({ pageSize: 5 })).items[0]).not.toHaveProperty('body');
    });

    it('stores the body when storeBody is on', async () => {
        const { ledger, raw } = setup({ storeBody: true });
        await ledger.create(record('m1', '2024-05-04T10:00:00.000Z'));
        const { records, index } = await rawEntities(raw);
        expect(records.map((e) => e.body)).toEqual(['hello']);
        expect(index.map((e) => e.body)).toEqual([undefined]);
        expect((await ledger.get('m1'))?.body).toBe('hello');
        expect((await ledger.list({ pageSize: 5 })).items[0]?.body).toBe('hello');
    });
});

describe('ledger: update', () => {
    it('keeps every one of 20 concurrent updates (ETag retries), in the record and its index copy', async () => {
        const { ledger } = setup();
        const start = '2024-05-04T10:00:00.000Z';
        await ledger.create(record('busy', start));
        const results = await Promise.all(
            Array.from({ length: 20 }, (_, i) =>
                ledger.update('busy', (current) =>
                    current === undefined
                        ? undefined
                        : {
                              ...current,
                              attempts: current.attempts + 1,
                              history: [
                                  ...current.history,
                                  { status: `e${String(i)}`, at: start, source: 'app' },
                              ],
                          },
                ),
            ),
        );
        expect(results.map((r) => r?.attempts).sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual(
            Array.from({ length: 20 }, (_, i) => i + 1),
        );
        const stored = await ledger.get('busy');
        expect(stored?.attempts).toBe(20);
        const expected = ['queued', ...Array.from({ length: 20 }, (_, i) => `e${String(i)}`)];
        expect(stored?.history.map((e) => e.status).sort()).toEqual(expected.sort());
        // The index copy ends at the last revision, whichever order the index writes landed in.
        const [listed] = (await ledger.list({ pageSize: 1 })).items;
        expect(listed).toEqual(stored);
    });

    it('inserts through update when absent, and retries a concurrent insert (409)', async () => {
        const { ledger } = setup();
        const at = '2024-05-04T10:00:00.000Z';
        const results = await Promise.all(
            Array.from({ length: 10 }, () =>
                ledger.update('new', (current) =>
                    current === undefined
                        ? record('new', at)
                        : { ...current, attempts: current.attempts + 1 },
                ),
            ),
        );
        expect(results.map((r) => r?.attempts).sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        expect((await ledger.get('new'))?.attempts).toBe(9);
    });

    it('returns the current record for "no change", and undefined when absent and left absent', async () => {
        const { ledger, raw } = setup();
        await ledger.create(record('same', '2024-05-04T10:00:00.000Z'));
        const before = await raw.getEntity('rc2FtZQ', 'record');
        const seen: (LedgerRecord | undefined)[] = [];
        const result = await ledger.update('same', (current) => {
            seen.push(current);
            return undefined;
        });
        const expected = withoutBody(record('same', '2024-05-04T10:00:00.000Z'));
        expect(result).toEqual(expected);
        // Once on what this process remembers of the record, and once on what a read finds: a "no change"
        // decided on a remembered copy is checked against the stored record.
        expect(seen).toEqual([expected, expected]);
        expect((await raw.getEntity('rc2FtZQ', 'record')).etag).toBe(before.etag);
        expect(await ledger.update('absent', () => undefined)).toBeUndefined();
        expect(await ledger.get('absent')).toBeUndefined();
    });
});

describe('ledger: the day index follows the record', () => {
    it('shows a status change in list', async () => {
        const { ledger } = setup();
        await ledger.create(record('m', '2024-05-04T10:00:00.000Z'));
        await ledger.update('m', (r) => r && { ...r, status: 'sent', sid: 'SM1' });
        const [item] = (await ledger.list({ pageSize: 5 })).items;
        expect(item).toMatchObject({ id: 'm', status: 'sent', sid: 'SM1' });
        expect(item).toEqual(await ledger.get('m'));
    });

    it('lists the record as it is now, even when the index entry was not rewritten', async () => {
        const { ledger, raw } = setup();
        await ledger.create(record('m', '2024-05-04T10:00:00.000Z'));
        // A change the index entry does not hold (status): only the record is written.
        const stored = await raw.getEntity<{ rev: number }>('rbQ', 'record');
        await raw.updateEntity(
            { partitionKey: 'rbQ', rowKey: 'record', rev: stored.rev + 1, status: 'sent' },
            'Merge',
        );
        expect((await ledger.list({ pageSize: 5 })).items[0]?.status).toBe('sent');
        expect((await ledger.list({ pageSize: 5 })).items[0]).toEqual(await ledger.get('m'));
    });

    it('rewrites the index entry when to or from changes, and never lists a record under a stale entry', async () => {
        const { ledger, raw } = setup();
        await ledger.create(record('m', '2024-05-04T10:00:00.000Z'));
        await ledger.update('m', (r) => r && { ...r, to: '+15550000002' });
        expect(ids(await ledger.list({ pageSize: 5, to: '+15550000002' }))).toEqual(['m']);
        expect(ids(await ledger.list({ pageSize: 5, to: '+15551230001' }))).toEqual([]);
        // What a crash between the two writes leaves: the record at a new `to`, the entry at the old one.
        const stored = await raw.getEntity<{ rev: number }>('rbQ', 'record');
        await raw.updateEntity(
            { partitionKey: 'rbQ', rowKey: 'record', rev: stored.rev + 1, toAddress: '+15550000003' },
            'Merge',
        );
        // The entry still says +15550000002, but the record decides.
        expect(ids(await ledger.list({ pageSize: 5, to: '+15550000002' }))).toEqual([]);
        // The next update that reads the record, even one that changes nothing, brings the entry up.
        await ledger.update('m', () => undefined);
        expect(ids(await ledger.list({ pageSize: 5, to: '+15550000003' }))).toEqual(['m']);
    });

    it('restores a missing index entry when a create is retried', async () => {
        const { ledger, raw } = setup();
        await ledger.create(record('m', '2024-05-04T10:00:00.000Z'));
        const { index } = await rawEntities(raw);
        await raw.deleteEntity(String(index[0]?.partitionKey), String(index[0]?.rowKey));
        expect((await ledger.list({ pageSize: 5 })).items).toEqual([]);
        expect(await ledger.create(record('m', '2024-05-04T10:00:00.000Z'))).toBe('exists');
        expect((await ledger.list({ pageSize: 5 })).items.map((r) => r.id)).toEqual(['m']);
    });

    it('never replaces an index entry with an older revision', async () => {
        const { ledger, raw } = setup();
        await ledger.create(record('m', '2024-05-04T10:00:00.000Z'));
        await ledger.update('m', (r) => r && { ...r, to: '+15550000002' });
        const { index } = await rawEntities(raw);
        const key = { partitionKey: String(index[0]?.partitionKey), rowKey: String(index[0]?.rowKey) };
        // The entry is ahead of the record (as when a slower writer of an older revision comes last).
        await raw.updateEntity({ ...key, rev: 99, toAddress: '+15550000009' }, 'Merge');
        await ledger.update('m', () => undefined);
        expect((await raw.getEntity(key.partitionKey, key.rowKey)).toAddress).toBe('+15550000009');
    });
});

describe('ledger: list', () => {
    const DATA = LIST_FIXTURE;
    let ledger: Ledger;

    beforeAll(async () => {
        ({ ledger } = setup({ now: '2024-05-04T12:00:00.000Z' }));
        // Created oldest first, so that neither insertion order nor timestamps explain the result order.
        for (const [id, at, overrides] of [...DATA].reverse()) {
            await ledger.create(record(id, at, overrides));
        }
    });

    const idsOf = (predicate: (entry: (typeof DATA)[number]) => boolean) =>
        DATA.filter(predicate).map(([id]) => id);

    /** Every page of a query, following continuation tokens (bounded). */
    async function allPages(query: Omit<ListQuery, 'continuationToken'>): Promise<ListPage[]> {
        const pages: ListPage[] = [];
        let token: string | undefined;
        do {
            const page = await ledger.list({
                ...query,
                ...(token === undefined ? {} : { continuationToken: token }),
            });
            pages.push(page);
            token = page.continuationToken;
        } while (token !== undefined && pages.length < 50);
        expect(token).toBeUndefined();
        return pages;
    }

    it('pages with pageSize 2 through every item exactly once, in order', async () => {
        const pages = await allPages({ pageSize: 2, dateFrom: '2024-04-04' });
        expect(pages.map(ids)).toEqual([
            ['may4-b', 'may4-a'],
            ['may2-b', 'may2-a'],
            ['may1-c', 'may1-b'],
            ['may1-a', 'apr5'],
            ['apr4'],
        ]);
    });

    it('ends without a token when a page fills exactly at the last item of the range', async () => {
        const page = await ledger.list({ pageSize: 3, dateFrom: '2024-05-01', dateTo: '2024-05-01' });
        expect(ids(page)).toEqual(['may1-c', 'may1-b', 'may1-a']);
        expect(page.continuationToken).toBeUndefined();
    });

    it('rejects bad continuation tokens, and tokens of another query, with LedgerQueryError', async () => {
        const first = await ledger.list({ pageSize: 2, to: '+15551230001' });
        const token = first.continuationToken ?? '';
        expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
        const decoded = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as Record<
            string,
            unknown
        >;
        const forge = (changes: Record<string, unknown>) =>
            Buffer.from(JSON.stringify({ ...decoded, ...changes })).toString('base64url');

        const bad = [
            'not a token',
            '',
            'e30', // {}
            Buffer.from('[1,2]').toString('base64url'),
            Buffer.from('not json').toString('base64url'),
            forge({ v: 2 }),
            forge({ d: '20240230' }),
            forge({ d: '2024-05-01' }),
            forge({ d: '20300101' }), // after today
            forge({ d: '20240101' }), // before the query's first day
            forge({ k: "1' or 'a' eq 'a" }),
            forge({ q: '0000000000000000' }),
            forge({ extra: true }),
            'x'.repeat(3000),
        ];
        for (const continuationToken of bad) {
            await expectQueryError(
                ledger.list({ pageSize: 2, to: '+15551230001', continuationToken }),
                /continuationToken/,
            );
        }
        // The same token with another query.
        await expectQueryError(
            ledger.list({ pageSize: 2, to: '+15551230002', continuationToken: token }),
            /another query/,
        );
        await expectQueryError(
            ledger.list({
                pageSize: 2,
                to: '+15551230001',
                dateFrom: '2024-05-01',
                continuationToken: token,
            }),
            /another query/,
        );
        // A different page size is fine.
        const next = await ledger.list({ pageSize: 10, to: '+15551230001', continuationToken: token });
        expect([...ids(first), ...ids(next)]).toEqual(
            idsOf(([id, , o]) => o.to === undefined && id !== 'apr4'),
        );
    });
});

describe('ledger: list over a long range', () => {
    it(`reads at most ${String(MAX_DAYS_PER_LIST_CALL)} days per call, continuing with a token, and skips the days before the oldest record`, async () => {
        const { ledger } = setup({ now: '2024-05-04T12:00:00.000Z' });
        await ledger.create(record('new', '2024-05-04T09:00:00.000Z'));
        // 155 days before: the third stretch of 62 days.
        await ledger.create(record('old', '2023-12-01T09:00:00.000Z'));
        const pages: ListPage[] = [];
        let token: string | undefined;
        do {
            const page = await ledger.list({
                pageSize: 10,
                dateFrom: '2000-01-01',
                ...(token === undefined ? {} : { continuationToken: token }),
            });
            pages.push(page);
            token = page.continuationToken;
        } while (token !== undefined && pages.length < 10);
        expect(pages.map((p) => [p.items.map((r) => r.id), p.continuationToken !== undefined])).toEqual([
            [['new'], true],
            [[], true],
            [['old'], false],
        ]);
    });

    it('returns nothing at once from an empty table', async () => {
        const { ledger } = setup();
        expect(await ledger.list({ pageSize: 10, dateFrom: '2000-01-01' })).toEqual({ items: [] });
    });
});
