/**
 * The in-memory ledger (test/support/memoryLedger.ts) that the webhook fuzz test uses for its bulk traffic
 * must behave as the Table-storage ledger does: the same random operations — creates, updates with every
 * kind of mutation, reads, SID look-ups, list queries followed to their last page, and invalid input of
 * each kind — run against both (the Table ledger on Azurite, started on free ports) and every result or
 * error is compared.
 *
 * Beyond the contract suite (test/support/ledgerContract.ts), which checks each ledger on its own, this
 * compares the two exactly on random input, including where Table storage refuses what the rules accept
 * (over-long values and keys), which the in-memory ledger imitates.
 */

import { startAzurite, type Azurite } from '../../local/azurite';
import type { Ledger, LedgerRecord, ListQuery, StatusEvent } from '../../shared/ledger/contract';
import { createLedger } from '../../shared/ledger/table';
import { fuzzSeed, randomText, Rng } from '../support/fuzzRandom';
import { createMemoryLedger } from '../support/memoryLedger';

const SEED = fuzzSeed();
const OPERATIONS = 400;
const DAY_MS = 86_400_000;

let azurite: Azurite;

beforeAll(async () => {
    console.log(`memoryLedger fuzz: FUZZ_SEED=${String(SEED)}`);
    azurite = await startAzurite({ ports: 'free' });
}, 60_000);

afterAll(async () => {
    await azurite.stop();
});

type Outcome = { value: unknown } | { error: string };

/** A result, or the error reduced to what callers can rely on (class and message, or the HTTP status). */
async function outcome(operation: () => Promise<unknown>): Promise<Outcome> {
    try {
        return { value: await operation() };
    } catch (error) {
        const status = (error as { statusCode?: unknown } | null)?.statusCode;
        if (typeof status === 'number') return { error: `HTTP ${String(status)}` };
        if (error instanceof Error) return { error: `${error.name}: ${error.message}` };
        return { error: String(error) };
    }
}

interface World {
    rng: Rng;
    clock: number;
    ids: string[];
    sids: string[];
    numbers: string[];
}

const STATUSES = [
    'queued',
    'sending',
    'sent',
    'delivered',
    'failed',
    'received',
    'ringing',
    'completed',
    'x',
];

function iso(ms: number): string {
    return new Date(ms).toISOString();
}

function randomEvents(world: World): StatusEvent[] {
    const { rng } = world;
    const long = rng.bool(0.1);
    const events: StatusEvent[] = [];
    for (let i = rng.int(0, long ? 60 : 6); i > 0; i--) {
        events.push({
            status: long ? `s${'z'.repeat(rng.int(300, 900))}` : rng.pick(STATUSES),
            at: iso(world.clock - rng.int(0, 10 * DAY_MS)),
            source: rng.weighted([
                [10, 'twilio'],
                [10, 'app'],
                [1, 'carrier' as StatusEvent['source']],
            ]),
            ...(rng.bool(0.5) ? { sid: rng.pick(world.sids) } : {}),
        });
    }
    return events;
}

function maybe<T>(rng: Rng, probability: number, value: () => T): T | undefined {
    return rng.bool(probability) ? value() : undefined;
}

function randomRecord(world: World, id: string): LedgerRecord {
    const { rng } = world;
    const createdAt = rng.weighted([
        [40, () => iso(world.clock - rng.int(-DAY_MS, 40 * DAY_MS))],
        [1, () => 'yesterday'],
        [1, () => '1969-12-31T23:59:59.000Z'],
    ])();
    const record: LedgerRecord = {
        id,
        direction: rng.weighted([
            [20, 'outbound'],
            [20, 'inbound'],
            [1, 'sideways' as LedgerRecord['direction']],
        ]),
        type: rng.weighted([
            [20, 'sms'],
            [20, 'call'],
            [1, 'fax' as LedgerRecord['type']],
        ]),
        mediaCount: rng.weighted([
            [30, rng.int(0, 10)],
            [1, -1],
            [1, 1.5],
        ]),
        status: rng.pick(STATUSES),
        history: randomEvents(world),
        attempts: rng.int(0, 5),
        createdAt,
        updatedAt: iso(world.clock),
    };
    const address = () =>
        rng.weighted([
            [30, () => rng.pick(world.numbers)],
            [3, () => randomText(rng, { maxLength: 40 })],
            [1, () => ''],
            [1, () => 'x'.repeat(40_000)],
        ])();
    const optional: Partial<LedgerRecord> = {
        to: maybe(rng, 0.8, address),
        from: maybe(rng, 0.7, address),
        messagingServiceSid: maybe(rng, 0.2, () => `MG${rng.hex(32)}`),
        bodyLength: maybe(rng, 0.6, () => (rng.bool(0.05) ? -3 : rng.int(0, 1600))),
        body: maybe(rng, 0.6, () =>
            rng.bool(0.1) ? 'b'.repeat(rng.int(16_001, 20_000)) : randomText(rng, { maxLength: 80 }),
        ),
        sid: maybe(rng, 0.5, () => rng.pick(world.sids)),
        errorCode: maybe(rng, 0.2, () => String(rng.int(20000, 30000))),
        errorMessage: maybe(rng, 0.2, () =>
            rng.bool(0.2) ? 'e'.repeat(rng.int(16_001, 20_000)) : randomText(rng, { maxLength: 60 }),
        ),
        claim: maybe(rng, 0.2, () => ({
            token: rng.hex(8),
            at: iso(world.clock),
            leaseUntil: iso(world.clock + 60_000),
        })),
    };
    for (const [key, value] of Object.entries(optional) as [string, unknown][]) {
        if (value !== undefined) Object.assign(record, { [key]: value });
    }
    return record;
}

/** A pure mutation (its random choices are drawn up front: the Table ledger may call it several times). */
function randomMutation(
    world: World,
    id: string,
): (current: LedgerRecord | undefined) => LedgerRecord | undefined {
    const { rng } = world;
    const fresh = randomRecord(world, id);
    const event: StatusEvent = { status: rng.pick(STATUSES), at: iso(world.clock), source: 'twilio' };
    const sid = rng.pick(world.sids);
    const otherId = rng.pick(world.ids);
    const kind = rng.weighted([
        [10, 'status'],
        [4, 'noop'],
        [4, 'sid'],
        [3, 'claim'],
        [2, 'createdAt'],
        [1, 'change-id'],
        [1, 'bad-count'],
        [1, 'too-large'],
        [1, 'throw'],
        [3, 'replace'],
    ] as const);
    return (current) => {
        const base = current ?? fresh;
        switch (kind) {
            case 'status':
                return { ...base, status: event.status, history: [...base.history, event] };
            case 'noop':
                return current === undefined ? fresh : undefined;
            case 'sid':
                return { ...base, sid };
            case 'claim':
                return base.claim === undefined
                    ? { ...base, claim: { token: 't', at: event.at, leaseUntil: event.at } }
                    : { ...base, claim: undefined };
            case 'createdAt':
                return { ...base, createdAt: iso(world.clock - 3 * DAY_MS) };
            case 'change-id':
                return { ...base, id: otherId === id ? `${id}x` : otherId };
            case 'bad-count':
                return { ...base, attempts: -1 };
            case 'too-large':
                return { ...base, from: 'f'.repeat(40_000) };
            case 'throw':
                throw new Error('mutate failed');
            case 'replace':
                return { ...fresh, createdAt: base.createdAt };
        }
    };
}

function randomQuery(world: World): ListQuery {
    const { rng } = world;
    const day = (offset: number) => iso(world.clock + offset * DAY_MS).slice(0, 10);
    const query: ListQuery = {
        pageSize: rng.weighted([
            [30, rng.int(1, 7)],
            [2, 1000],
            [1, 0],
            [1, 1001],
            [1, 2.5],
        ]),
    };
    const filter = () =>
        rng.weighted([
            [10, () => rng.pick(world.numbers)],
            [1, () => ''],
            [1, () => 'n'.repeat(300)],
        ])();
    if (rng.bool(0.3)) query.to = filter();
    if (rng.bool(0.2)) query.from = filter();
    if (rng.bool(0.4)) query.dateFrom = rng.bool(0.05) ? '2024-02-30' : day(-rng.int(0, 45));
    if (rng.bool(0.3)) query.dateTo = rng.bool(0.05) ? '20240101' : day(-rng.int(-2, 20));
    return query;
}

/** Every item of a list query, following continuation tokens. */
async function listAll(ledger: Ledger, query: ListQuery): Promise<{ items: LedgerRecord[]; pages: number }> {
    const items: LedgerRecord[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
        const page = await ledger.list({
            ...query,
            ...(token === undefined ? {} : { continuationToken: token }),
        });
        items.push(...page.items);
        token = page.continuationToken;
        pages++;
        if (pages > 500) throw new Error('list did not end');
    } while (token !== undefined);
    return { items, pages };
}

describe(`the in-memory ledger behaves as the Table ledger (FUZZ_SEED=${String(SEED)})`, () => {
    it.each([false, true])(
        `storeBody=%s: ${String(OPERATIONS)} random operations give the same results on both`,
        async (storeBody) => {
            const rng = new Rng(SEED).fork(`memoryLedger:${String(storeBody)}`);
            const world: World = {
                rng,
                clock: Date.parse('2024-05-04T12:00:00.000Z'),
                ids: [
                    ...Array.from({ length: 10 }, (_, i) => `id-${String(i)}.${rng.alnum(4)}`),
                    `SM${rng.hex(32)}`,
                    'é-ünïcode-中文-😀',
                    'a'.repeat(200),
                    // Keys Table storage cannot hold: the record's (over 512) and only the index's (501 + 14).
                    '中'.repeat(130),
                    '中'.repeat(125),
                ],
                sids: Array.from({ length: 6 }, (_, i) => `${i % 2 === 0 ? 'SM' : 'CA'}${rng.hex(32)}`),
                numbers: ['+15550100001', '+15550100002', '+447700900123', 'whatsapp:+15550100003'],
            };
            const invalidIds = ['', 'a/b', 'a\\b', 'a#b', 'a?b', 'x'.repeat(201), 'tab\there', 'lone\ud800'];
            const now = () => new Date(world.clock);
            const table = createLedger({
                connectionString: azurite.connectionString,
                tableName: `memdiff${storeBody ? 'b' : 'n'}${String(SEED)}`,
                storeBody,
                now,
            });
            const memory = createMemoryLedger({ storeBody, now });

            const mismatches: string[] = [];
            const kinds = new Map<string, number>();
            const same = (label: string, a: Outcome, b: Outcome) => {
                const kind = `${label.split(' ')[0] ?? label} ${'error' in a ? (a.error.split(':')[0] ?? '') : 'ok'}`;
                kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
                if (JSON.stringify(a) !== JSON.stringify(b)) {
                    mismatches.push(
                        `op ${label}: table ${JSON.stringify(a).slice(0, 400)} / memory ${JSON.stringify(b).slice(0, 400)}`,
                    );
                }
            };

            for (let op = 0; op < OPERATIONS; op++) {
                if (rng.bool(0.3)) world.clock += rng.int(0, 6 * 3_600_000);
                const id = rng.bool(0.05) ? rng.pick(invalidIds) : rng.pick(world.ids);
                const action = rng.weighted([
                    [30, 'create'],
                    [30, 'update'],
                    [15, 'get'],
                    [8, 'idForSid'],
                    [8, 'list'],
                    [2, 'list-bad-token'],
                ] as const);
                switch (action) {
                    case 'create': {
                        const record = randomRecord(world, id);
                        same(
                            `create ${String(op)} ${id.slice(0, 20)}`,
                            await outcome(() => table.create(record)),
                            await outcome(() => memory.create(record)),
                        );
                        break;
                    }
                    case 'update': {
                        const mutate = randomMutation(world, id);
                        same(
                            `update ${String(op)} ${id.slice(0, 20)}`,
                            await outcome(() => table.update(id, mutate)),
                            await outcome(() => memory.update(id, mutate)),
                        );
                        break;
                    }
                    case 'get':
                        same(
                            `get ${String(op)} ${id.slice(0, 20)}`,
                            await outcome(() => table.get(id)),
                            await outcome(() => memory.get(id)),
                        );
                        break;
                    case 'idForSid': {
                        const sid = rng.weighted([
                            [10, rng.pick(world.sids)],
                            [1, `SM${rng.hex(32)}`],
                            [1, 'not-a-sid'],
                        ]);
                        same(
                            `idForSid ${String(op)} ${sid}`,
                            await outcome(() => table.idForSid(sid)),
                            await outcome(() => memory.idForSid(sid)),
                        );
                        break;
                    }
                    case 'list': {
                        const query = randomQuery(world);
                        same(
                            `list ${String(op)} ${JSON.stringify(query)}`,
                            await outcome(async () => (await listAll(table, query)).items),
                            await outcome(async () => (await listAll(memory, query)).items),
                        );
                        break;
                    }
                    case 'list-bad-token': {
                        const query: ListQuery = {
                            pageSize: 1,
                            continuationToken: rng.pick(['garbage', '!!', 'x'.repeat(2001)]),
                        };
                        same(
                            `list ${String(op)} bad token`,
                            await outcome(() => table.list(query)),
                            await outcome(() => memory.list(query)),
                        );
                        break;
                    }
                }
            }

            // A token of one query is refused for another by both.
            const first: ListQuery = { pageSize: 1 };
            const [tablePage, memoryPage] = [await table.list(first), await memory.list(first)];
            if (tablePage.continuationToken !== undefined && memoryPage.continuationToken !== undefined) {
                same(
                    'list foreign-token',
                    await outcome(() =>
                        table.list({
                            pageSize: 1,
                            to: '+15550100001',
                            continuationToken: tablePage.continuationToken,
                        }),
                    ),
                    await outcome(() =>
                        memory.list({
                            pageSize: 1,
                            to: '+15550100001',
                            continuationToken: memoryPage.continuationToken,
                        }),
                    ),
                );
            }
            // And the final states agree record by record.
            for (const id of [...world.ids, ...invalidIds]) {
                same(
                    `final ${id.slice(0, 20)}`,
                    await outcome(() => table.get(id)),
                    await outcome(() => memory.get(id)),
                );
            }

            console.log(
                `memoryLedger fuzz (storeBody=${String(storeBody)}): ${String(OPERATIONS)} operations, ${String(memory.size)} records; outcomes ${JSON.stringify(Object.fromEntries([...kinds].sort()))}`,
            );
            expect(mismatches).toEqual([]);
            // The run exercised successes and each kind of refusal.
            const seen = [...kinds.keys()].join(' | ');
            expect(seen).toMatch(/create ok/);
            expect(seen).toMatch(/update ok/);
            expect(seen).toMatch(/RangeError/);
            expect(seen).toMatch(/HTTP 400/);
        },
        60_000,
    );
});
