/**
 * An in-memory {@link Ledger}, for tests that drive more requests through the webhooks than Azurite can
 * take within a test's time budget.
 *
 * It implements the contract (shared/ledger/contract.ts) with the shared record rules
 * (shared/ledger/rules.ts: id checks, the checks and shaping of every write, `nextRevision`, list query
 * checks, filter and order), so it holds no rule of its own. test/support/ledgerContract.ts checks it as
 * it checks the Table ledger.
 *
 * It also stands in for the Table ledger in particular, so it imitates what is Table storage's own and
 * observable: a string property over 32,768 UTF-16 code units (64 KiB) fails the write with HTTP 400
 * `PropertyValueTooLarge`, and a key over 512 characters fails with HTTP 400 `InvalidInput` — the
 * record's partition key `r<base64url(id)>` on a write of the record, the day index's row key whenever
 * the index copy is written (after the record, and on `create` / no-change `update` of an existing
 * record), as Azurite answers them. A point read of an over-long key finds nothing. Its pages are always
 * full and its continuation tokens are its own (both are opaque to callers).
 *
 * Not modelled: concurrency conflicts (each operation here is atomic, so `mutate` runs once), storage
 * outages and latency. test/fuzz/memoryLedger.test.ts runs the same random operations against both
 * ledgers and compares every result.
 */

import {
    LedgerQueryError,
    type Ledger,
    type LedgerRecord,
    type ListPage,
    type ListQuery,
} from '../../shared/ledger/contract';
import {
    checkLedgerId,
    checkListQuery,
    encodeLedgerId,
    isSidLike,
    isValidLedgerId,
    listOrderKey,
    matchesListQuery,
    nextRevision,
    shapeForStorage,
} from '../../shared/ledger/rules';

/** Table storage: 64 KiB per string property, counted in UTF-16. */
const MAX_STRING_PROPERTY = 32_768;
/** Azurite's key limit (Azure's is 1 KiB of UTF-16, the same 512 characters). */
const MAX_KEY = 512;

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
        checkLedgerId(id);
        const row = rows.get(id);
        const before = row === undefined ? undefined : structuredClone(row.record);
        const after = mutate(before === undefined ? undefined : structuredClone(before));
        if (after === undefined) {
            // No change; the Table ledger still brings the index copy up to date.
            if (row !== undefined) checkIndexKey(row.record);
            return before;
        }
        const stored = store(nextRevision(id, before, after, now()), options.storeBody);
        rows.set(id, { rev: (row?.rev ?? 0) + 1, record: stored });
        checkIndexKey(stored);
        if (stored.sid !== undefined && stored.sid !== before?.sid) sids.set(stored.sid, id);
        return structuredClone(stored);
    };

    const list = async (query: ListQuery): Promise<ListPage> => {
        await Promise.resolve();
        const checked = checkListQuery(query, now());
        let after: string | undefined;
        if (query.continuationToken !== undefined) {
            const token = decodeToken(query.continuationToken);
            if (token.q !== checked.fingerprint) {
                throw new LedgerQueryError(
                    'continuationToken belongs to another query (to, from, dateFrom, dateTo)',
                );
            }
            after = token.k;
        }
        const matching = [...rows.values()]
            .map((row) => row.record)
            .filter((record) => matchesListQuery(record, query, checked))
            .map((record) => ({ key: listOrderKey(record), record }))
            // A record whose index row key is too long for Table storage never made it into the index.
            .filter((entry) => entry.key.length <= MAX_KEY)
            .filter((entry) => after === undefined || entry.key > after)
            .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
        const page = matching.slice(0, query.pageSize);
        const items = page.map((entry) => structuredClone(entry.record));
        const last = page[page.length - 1];
        if (matching.length > query.pageSize && last !== undefined) {
            return { items, continuationToken: encodeToken({ m: 1, k: last.key, q: checked.fingerprint }) };
        }
        return { items };
    };

    const idForSid = async (sid: string): Promise<string | undefined> => {
        await Promise.resolve();
        return isSidLike(sid) ? sids.get(sid) : undefined;
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
// Storing: the shaped record, refused where Table storage would refuse it

function store(record: LedgerRecord, storeBody: boolean): LedgerRecord {
    const stored = shapeForStorage(record, storeBody);
    // The Table ledger's string properties, as it writes them.
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
        stored.voicemail === undefined ? undefined : JSON.stringify(stored.voicemail),
        stored.media === undefined ? undefined : JSON.stringify(stored.media),
    ];
    if (strings.some((value) => value !== undefined && value.length > MAX_STRING_PROPERTY)) {
        throw new TableServiceError(400, 'PropertyValueTooLarge', 'The property value exceeds 64KB');
    }
    if (`r${encodeLedgerId(stored.id)}`.length > MAX_KEY) {
        throw new TableServiceError(400, 'InvalidInput', 'The partition key is too long');
    }
    return structuredClone(stored);
}

function checkIndexKey(record: LedgerRecord): void {
    if (listOrderKey(record).length > MAX_KEY) {
        throw new TableServiceError(400, 'InvalidInput', 'The index row key is too long');
    }
}

// ---------------------------------------------------------------------------------------------------------
// Continuation tokens (this ledger's own)

interface Token {
    m: 1;
    k: string;
    q: string;
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
