/**
 * An in-memory {@link Ledger} with the semantics of shared/ledger/table.ts's Table-storage ledger, for tests that
 * drive more requests through the webhooks than Azurite can take within a test's time budget.
 *
 * Same semantics means what a caller can observe:
 *
 * - `create` inserts if absent ('created') or leaves the record unchanged ('exists'); `update` is an atomic
 *   read-modify-write (`mutate` gets a copy of the current record, undefined means no change), keeps `id`
 *   and `createdAt`, stamps `updatedAt` from the clock, and throws when `mutate` changes the id; `get`
 *   answers undefined for an id that cannot be a ledger id; `idForSid` follows SIDs written by either.
 * - Records are stored as the Table ledger stores them and read back as it reads them: the same validation
 *   (RangeError with the same messages for a bad id, createdAt, direction, type or count), the body only
 *   with `storeBody` (cut to 16,000 characters), error code and message cut to 16,000, the newest 50 history
 *   events that fit in 30,000 characters of JSON, events and claims reduced to their known fields, absent
 *   optional fields omitted.
 * - Table storage's limits: a string property over 32,768 UTF-16 code units (64 KiB) fails the write with
 *   HTTP 400 `PropertyValueTooLarge`, and a key over 512 characters fails with HTTP 400 `InvalidInput`: the
 *   record's partition key `r<base64url(id)>` on a write of the record, the day index's row key whenever
 *   the index copy is written (after the record, and on `create` / no-change `update` of an existing
 *   record), as Azurite answers them. A point read of an over-long key finds nothing.
 * - `list`: newest first by `createdAt` (ties by the base64url of the id), `to` / `from` filters, the date
 *   range rules, `pageSize` 1–1000, and the same {@link LedgerQueryError}s for an invalid query. Its pages
 *   are always full and its continuation tokens are its own (both are opaque to callers; the Table ledger
 *   may return shorter pages).
 *
 * Not modelled: concurrency conflicts (each operation here is atomic, so `mutate` runs once), storage
 * outages and latency. test/fuzz/memoryLedger.test.ts runs the same random operations against both ledgers
 * and compares every result.
 */

import {
    checkListQuery,
    LedgerQueryError,
    MAX_DETAIL,
    MAX_HISTORY,
    isValidLedgerId,
    type Ledger,
    type LedgerRecord,
    type ListPage,
    type ListQuery,
    type StatusEvent,
} from '../../shared/ledger/table';

const MAX_TEXT = 16_000;
const MAX_HISTORY_JSON = 30_000;
/** Table storage: 64 KiB per string property, counted in UTF-16. */
const MAX_STRING_PROPERTY = 32_768;
/** Azurite's key limit (Azure's is 1 KiB of UTF-16, the same 512 characters). */
const MAX_KEY = 512;
const INVERT_MS = 9_999_999_999_999;
const DAY_MS = 86_400_000;

export interface MemoryLedger extends Ledger {
    /** Copies of every stored record, in insertion order. */
    records(): LedgerRecord[];
    readonly size: number;
}

export interface MemoryLedgerOptions {
    storeBody: boolean;
    now?: () => Date;
}

/** The error the Table service answers with, shaped as `@azure/data-tables` throws it (a RestError). */
export class TableServiceError extends Error {
    override readonly name = 'RestError';
    constructor(
        readonly statusCode: number,
        readonly code: string,
        message: string,
    ) {
        super(message);
    }
}

export function createMemoryLedger(options: MemoryLedgerOptions): MemoryLedger {
    const now = options.now ?? (() => new Date());
    const rows = new Map<string, { rev: number; record: LedgerRecord }>();
    const sids = new Map<string, string>();

    const create = async (record: LedgerRecord): Promise<'created' | 'exists'> => {
        await Promise.resolve();
        const stored = store(record, options.storeBody);
        const existing = rows.get(stored.id);
        if (existing !== undefined) {
            // The Table ledger re-checks the index copy of an existing record.
            checkIndexKey(existing.record);
            return 'exists';
        }
        rows.set(stored.id, { rev: 1, record: stored });
        checkIndexKey(stored);
        if (stored.sid !== undefined) sids.set(stored.sid, stored.id);
        return 'created';
    };

    const get = async (id: string): Promise<LedgerRecord | undefined> => {
        await Promise.resolve();
        if (!isValidLedgerId(id)) return undefined;
        const row = rows.get(id);
        return row === undefined ? undefined : structuredClone(row.record);
    };

    const update = async (
        id: string,
        mutate: (current: LedgerRecord | undefined) => LedgerRecord | undefined,
    ): Promise<LedgerRecord | undefined> => {
        await Promise.resolve();
        checkId(id);
        const row = rows.get(id);
        const before = row === undefined ? undefined : structuredClone(row.record);
        const after = mutate(before === undefined ? undefined : structuredClone(before));
        if (after === undefined) {
            // No change; the Table ledger still brings the index copy up to date.
            if (row !== undefined) checkIndexKey(row.record);
            return before;
        }
        if (after.id !== id) throw new Error('A ledger update cannot change the record id');
        const next: LedgerRecord = {
            ...after,
            createdAt: before?.createdAt ?? after.createdAt,
            updatedAt: now().toISOString(),
        };
        const stored = store(next, options.storeBody);
        rows.set(id, { rev: (row?.rev ?? 0) + 1, record: stored });
        checkIndexKey(stored);
        if (stored.sid !== undefined && stored.sid !== before?.sid) sids.set(stored.sid, id);
        return structuredClone(stored);
    };

    const list = async (query: ListQuery): Promise<ListPage> => {
        await Promise.resolve();
        const plan = planList(query, now());
        if (plan === undefined) return { items: [] };
        const matching = [...rows.values()]
            .map((row) => row.record)
            .filter((record) => {
                const day = Math.floor(Date.parse(record.createdAt) / DAY_MS);
                return (
                    day >= plan.lowest &&
                    day <= plan.highest &&
                    (query.to === undefined || record.to === query.to) &&
                    (query.from === undefined || record.from === query.from)
                );
            })
            .map((record) => ({ key: indexRowKey(record), record }))
            // A record whose index row key is too long for Table storage never made it into the index.
            .filter((entry) => entry.key.length <= MAX_KEY)
            .filter((entry) => plan.after === undefined || entry.key > plan.after)
            .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
        const page = matching.slice(0, query.pageSize);
        const items = page.map((entry) => structuredClone(entry.record));
        const last = page[page.length - 1];
        if (matching.length > query.pageSize && last !== undefined) {
            return { items, continuationToken: encodeToken({ m: 1, k: last.key, q: plan.fingerprint }) };
        }
        return { items };
    };

    const idForSid = async (sid: string): Promise<string | undefined> => {
        await Promise.resolve();
        if (!/^[A-Z]{2}[0-9a-fA-F]{32}$/.test(sid)) return undefined;
        return sids.get(sid);
    };

    return {
        create,
        get,
        update,
        list,
        idForSid,
        records: () => [...rows.values()].map((row) => structuredClone(row.record)),
        get size() {
            return rows.size;
        },
    };
}

// ---------------------------------------------------------------------------------------------------------
// Storing: what the Table ledger writes, read back as it reads it

function checkId(id: string): void {
    if (!isValidLedgerId(id)) {
        throw new RangeError('Invalid ledger id: 1-200 characters without / \\ # ? or control characters');
    }
}

const encodeId = (id: string): string => Buffer.from(id, 'utf8').toString('base64url');

function checkRecordKey(id: string): void {
    if (`r${encodeId(id)}`.length > MAX_KEY) {
        throw new TableServiceError(400, 'InvalidInput', 'The partition key is too long');
    }
}

function indexRowKey(record: LedgerRecord): string {
    const ms = Date.parse(record.createdAt);
    return `${String(INVERT_MS - ms).padStart(13, '0')}_${encodeId(record.id)}`;
}

function checkIndexKey(record: LedgerRecord): void {
    if (indexRowKey(record).length > MAX_KEY) {
        throw new TableServiceError(400, 'InvalidInput', 'The index row key is too long');
    }
}

function count(value: number): number {
    if (!Number.isInteger(value) || value < 0 || value > 0x7fffffff) {
        throw new RangeError('Ledger counts (mediaCount, attempts, bodyLength) are whole numbers from 0');
    }
    return value;
}

/** The newest events that fit, as the Table ledger serialises and parses its `history` property. */
function storedHistory(history: readonly StatusEvent[]): StatusEvent[] {
    const events = history.slice(-MAX_HISTORY).map(({ status, at, source, sid, detail }) => ({
        status,
        at,
        source,
        ...(sid === undefined ? {} : { sid }),
        ...(detail === undefined ? {} : { detail: detail.slice(0, MAX_DETAIL) }),
    }));
    while (JSON.stringify(events).length > MAX_HISTORY_JSON && events.length > 0) events.shift();
    // What the Table ledger's parser keeps (records are built at run time from untyped input).
    return events.filter((event) => {
        const { status, at, source } = event as Record<string, unknown>;
        return (
            typeof status === 'string' && typeof at === 'string' && (source === 'app' || source === 'twilio')
        );
    });
}

function store(record: LedgerRecord, storeBody: boolean): LedgerRecord {
    checkId(record.id);
    const created = Date.parse(record.createdAt);
    if (!(created >= 0 && created <= INVERT_MS)) {
        throw new RangeError('A ledger record needs createdAt as an ISO 8601 time from 1970 on');
    }
    if (!(['outbound', 'inbound'] as string[]).includes(record.direction)) {
        throw new RangeError('A ledger record direction is "outbound" or "inbound"');
    }
    if (!(['sms', 'call'] as string[]).includes(record.type)) {
        throw new RangeError('A ledger record type is "sms" or "call"');
    }
    const stored: LedgerRecord = {
        id: record.id,
        direction: record.direction,
        type: record.type,
        mediaCount: count(record.mediaCount),
        status: record.status,
        history: storedHistory(record.history),
        attempts: count(record.attempts),
        createdAt: record.createdAt,
        updatedAt: record.updatedAt,
    };
    if (record.to !== undefined) stored.to = record.to;
    if (record.from !== undefined) stored.from = record.from;
    if (record.messagingServiceSid !== undefined) stored.messagingServiceSid = record.messagingServiceSid;
    if (record.bodyLength !== undefined) stored.bodyLength = count(record.bodyLength);
    if (storeBody && record.body !== undefined) stored.body = record.body.slice(0, MAX_TEXT);
    if (record.sid !== undefined) stored.sid = record.sid;
    if (record.errorCode !== undefined) stored.errorCode = record.errorCode.slice(0, MAX_TEXT);
    if (record.errorMessage !== undefined) stored.errorMessage = record.errorMessage.slice(0, MAX_TEXT);
    if (record.claim !== undefined) {
        const { token, at, leaseUntil } = record.claim;
        if (typeof token === 'string' && typeof at === 'string' && typeof leaseUntil === 'string') {
            stored.claim = { token, at, leaseUntil };
        }
    }
    if (record.fingerprint !== undefined) stored.fingerprint = record.fingerprint;
    if (record.acceptLease !== undefined) {
        const { token, until } = record.acceptLease;
        stored.acceptLease = { token, until };
    }
    const strings = [
        stored.id,
        stored.status,
        stored.createdAt,
        stored.updatedAt,
        stored.to,
        stored.from,
        stored.messagingServiceSid,
        stored.sid,
        stored.claim === undefined ? undefined : JSON.stringify(stored.claim),
        stored.fingerprint,
        stored.acceptLease === undefined ? undefined : JSON.stringify(stored.acceptLease),
    ];
    if (strings.some((value) => value !== undefined && value.length > MAX_STRING_PROPERTY)) {
        throw new TableServiceError(400, 'PropertyValueTooLarge', 'The property value exceeds 64KB');
    }
    checkRecordKey(record.id);
    return structuredClone(stored);
}

// ---------------------------------------------------------------------------------------------------------
// List queries

interface Plan {
    highest: number;
    lowest: number;
    after: string | undefined;
    fingerprint: string;
}

interface Token {
    m: 1;
    k: string;
    q: string;
}

function planList(query: ListQuery, now: Date): Plan | undefined {
    // The same checks and day range as the Table ledger; only the token differs.
    const { highest, lowest, fingerprint } = checkListQuery(query, now);
    if (query.continuationToken !== undefined) {
        const token = decodeToken(query.continuationToken);
        if (token.q !== fingerprint) {
            throw new LedgerQueryError(
                'continuationToken belongs to another query (to, from, dateFrom, dateTo)',
            );
        }
        return { highest, lowest, after: token.k, fingerprint };
    }
    if (lowest > highest) return undefined;
    return { highest, lowest, after: undefined, fingerprint };
}

function encodeToken(token: Token): string {
    return `mem.${Buffer.from(JSON.stringify(token), 'utf8').toString('base64url')}`;
}

function decodeToken(text: string): Token {
    const invalid = new LedgerQueryError('continuationToken is not valid');
    const match = /^mem\.([A-Za-z0-9_-]{1,2000})$/.exec(text);
    if (match === null) throw invalid;
    let value: unknown;
    try {
        value = JSON.parse(Buffer.from(match[1] ?? '', 'base64url').toString('utf8'));
    } catch {
        throw invalid;
    }
    if (typeof value !== 'object' || value === null) throw invalid;
    const { m, k, q } = value as Record<string, unknown>;
    if (m !== 1 || typeof k !== 'string' || typeof q !== 'string') throw invalid;
    return { m, k, q };
}
