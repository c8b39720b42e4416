/**
 * The Azure Table storage implementation of the ledger contract (shared/ledger/contract.ts): one record per
 * message or call, outbound and inbound. The record rules — ids, the checks on every write, how a record
 * is shaped, list queries and order — are shared/ledger/rules.ts; this module only stores and finds what
 * they shape.
 *
 * Two entities per record, in one table:
 *
 * - the **record** entity, keyed by id (PartitionKey `r<base64url(id)>`, RowKey `record`): `get` is a point
 *   read and `update` an optimistic-concurrency read-modify-write on its ETag. It is authoritative.
 * - a **day index** entity (PartitionKey `d<YYYYMMDD>` of `createdAt` in UTC, RowKey rules.ts
 *   `listOrderKey`: `<9999999999999 - createdAt millis, 13 digits>_<base64url(id)>`) holding a copy of the
 *   record, so that `list` over a day range is one partition query per day that comes back newest first.
 *
 * The index is written after the record and is eventually consistent: a crash (or a failed write) between
 * the two leaves `list` one update behind until the next `update` or `create` of that id, which re-checks
 * the index even when it changes nothing. Both entities carry a revision number, incremented on every
 * write of the record, and an index copy is only ever replaced by a newer revision (conditionally, on its
 * own ETag), so concurrent updates cannot leave an older copy in the index for good.
 *
 * Table storage's own limits (a string property holds 64 KiB, a key 512 characters) are enforced by the
 * service: a record over them fails with its HTTP 400, as the contract allows.
 *
 * `@azure/data-tables` is imported on first use, never at module load: a cold start must not pay for the
 * SDK. Nothing here logs; records hold phone numbers (and bodies, when `storeBody` is on), which must never
 * reach a log.
 */

import type { TokenCredential } from '@azure/core-auth';
import type { TableClient } from '@azure/data-tables';
import { lazy } from '../platform/lazy';
import {
    LedgerQueryError,
    type Ledger,
    type LedgerRecord,
    type ListPage,
    type ListQuery,
    type StatusEvent,
} from './contract';
import {
    checkLedgerId,
    checkListQuery,
    DAY_MS,
    dayOf,
    encodeLedgerId,
    isSidLike,
    isValidLedgerId,
    knownAcceptLease,
    knownClaim,
    knownEvents,
    listOrderKey,
    nextRevision,
    parseDay,
    shapeForStorage,
    withDefined,
} from './rules';

// The names this module held before the contract and the rules had modules of their own, for importers
// that still look for them here; new code imports contract.ts and rules.ts.
export {
    DEFAULT_LIST_DAYS,
    LedgerQueryError,
    MAX_DETAIL,
    MAX_HISTORY,
    MAX_PAGE_SIZE,
    type Direction,
    type Ledger,
    type LedgerRecord,
    type ListPage,
    type ListQuery,
    type ListQueryField,
    type MessageKind,
    type StatusEvent,
} from './contract';
export { checkListQuery, isValidLedgerId, type CheckedListQuery } from './rules';

export interface LedgerOptions {
    /** A storage connection string (Azurite, or an account key / SAS). Either this or `tableUrl`. */
    connectionString?: string;
    /** The Table service endpoint, e.g. `https://<account>.table.core.windows.net`, used with `credential`. */
    tableUrl?: string;
    /**
     * Required with `tableUrl`: the identity's credential, shared with the app's other clients of that
     * identity (never a default credential made here, which would be the wrong identity in Azure).
     */
    credential?: TokenCredential;
    tableName: string;
    /** Whether message bodies are kept (personal data). Otherwise only their length is. */
    storeBody: boolean;
    /** Clock, for tests. */
    now?: () => Date;
}

/** The most day partitions one `list` call reads; a longer range continues with a token. */
export const MAX_DAYS_PER_LIST_CALL = 62;

const MAX_WRITE_ATTEMPTS = 50;
const RECORD_ROW = 'record';
const SCHEMA_VERSION = 1;
const TOKEN_VERSION = 1;

/** The entity as stored (both the record and its index copy). */
interface Stored {
    partitionKey: string;
    rowKey: string;
    v: number;
    rev: number;
    id: string;
    direction: string;
    type: string;
    toAddress?: string;
    fromAddress?: string;
    messagingServiceSid?: string;
    bodyLength?: number;
    body?: string;
    mediaCount: number;
    sid?: string;
    status: string;
    /** JSON array of StatusEvent. */
    history: string;
    errorCode?: string;
    errorMessage?: string;
    attempts: number;
    /** JSON of the claim. */
    claim?: string;
    fingerprint?: string;
    /** JSON of the accept lease. */
    acceptLease?: string;
    createdAt: string;
    updatedAt: string;
}

/** Every property of {@link Stored} but the keys. */
const STORED_PROPERTIES = [
    'v',
    'rev',
    'id',
    'direction',
    'type',
    'toAddress',
    'fromAddress',
    'messagingServiceSid',
    'bodyLength',
    'body',
    'mediaCount',
    'sid',
    'status',
    'history',
    'errorCode',
    'errorMessage',
    'attempts',
    'claim',
    'fingerprint',
    'acceptLease',
    'createdAt',
    'updatedAt',
] as const satisfies readonly Exclude<keyof Stored, 'partitionKey' | 'rowKey'>[];

/**
 * Creates a ledger over one table. Nothing is loaded or contacted until the first call; the table is then
 * created when missing.
 */
export function createLedger(options: LedgerOptions): Ledger {
    if ((options.connectionString === undefined) === (options.tableUrl === undefined)) {
        throw new Error('createLedger needs exactly one of connectionString and tableUrl');
    }
    // Table names: 3-63 letters and digits, starting with a letter.
    if (!/^[A-Za-z][A-Za-z0-9]{2,62}$/.test(options.tableName)) {
        throw new Error('The ledger table name must be 3-63 letters or digits, starting with a letter');
    }
    const now = options.now ?? (() => new Date());
    const table = lazy(() => openTable(options));

    const readRecord = async (client: TableClient, id: string) =>
        readEntity(client, recordPartition(id), RECORD_ROW);

    const create = async (record: LedgerRecord): Promise<'created' | 'exists'> => {
        const stored = toStored(shapeForStorage(record, options.storeBody), 1);
        const client = await table();
        try {
            await client.createEntity(stored);
        } catch (error) {
            if (statusOf(error) !== 409) throw error;
            // Already there. Re-check its index copy: this may be the retry of a create that stopped
            // between its two writes.
            const current = await readRecord(client, record.id);
            if (current !== undefined) await writeIndex(client, current.entity);
            return 'exists';
        }
        await writeIndex(client, stored);
        await writeSidIndex(client, undefined, stored);
        return 'created';
    };

    const get = async (id: string): Promise<LedgerRecord | undefined> => {
        if (!isValidLedgerId(id)) return undefined;
        const current = await readRecord(await table(), id);
        return current === undefined ? undefined : fromStored(current.entity);
    };

    const update = async (
        id: string,
        mutate: (current: LedgerRecord | undefined) => LedgerRecord | undefined,
    ): Promise<LedgerRecord | undefined> => {
        checkLedgerId(id);
        const client = await table();
        for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt++) {
            if (attempt > 0) await jitter(attempt);
            const current = await readRecord(client, id);
            const before = current === undefined ? undefined : fromStored(current.entity);
            const after = mutate(before);
            if (after === undefined) {
                // No change; still make sure the index has caught up with the record.
                if (current !== undefined) await writeIndex(client, current.entity);
                return before;
            }
            const next = shapeForStorage(nextRevision(id, before, after, now()), options.storeBody);
            const stored = toStored(next, (current?.entity.rev ?? 0) + 1);
            try {
                if (current === undefined) await client.createEntity(stored);
                else await client.updateEntity(stored, 'Replace', { etag: current.etag });
            } catch (error) {
                const status = statusOf(error);
                // 412: changed since read; 409: inserted since read; 404: cannot happen (nothing deletes).
                if (status === 412 || status === 409 || status === 404) continue;
                throw error;
            }
            await writeIndex(client, stored);
            await writeSidIndex(client, before?.sid, stored);
            return fromStored(stored);
        }
        throw new Error(`Ledger update of one record lost ${String(MAX_WRITE_ATTEMPTS)} races in a row`);
    };

    const list = async (query: ListQuery): Promise<ListPage> => {
        const plan = planList(query, now());
        if (plan === undefined) return { items: [] };
        const client = await table();
        let lowest = plan.lowest;
        if (plan.start - lowest + 1 > MAX_DAYS_PER_LIST_CALL) {
            // A long range: skip the days before the oldest one in the table.
            const oldest = await oldestDay(client);
            if (oldest === undefined) return { items: [] };
            lowest = Math.max(lowest, oldest);
        }
        const items: LedgerRecord[] = [];
        const token = (day: number, after?: string): string =>
            encodeToken({
                v: TOKEN_VERSION,
                d: dayString(day),
                ...(after === undefined ? {} : { k: after }),
                f: dayString(plan.lowest),
                q: plan.fingerprint,
            });
        let after = plan.after;
        for (let day = plan.start, read = 0; day >= lowest; day--, read++, after = undefined) {
            if (read === MAX_DAYS_PER_LIST_CALL) return { items, continuationToken: token(day) };
            const filter = [
                `PartitionKey eq ${quote(`d${dayString(day)}`)}`,
                ...(after === undefined ? [] : [`RowKey gt ${quote(after)}`]),
                ...(query.to === undefined ? [] : [`toAddress eq ${quote(query.to)}`]),
                ...(query.from === undefined ? [] : [`fromAddress eq ${quote(query.from)}`]),
            ].join(' and ');
            const pages = client
                .listEntities<Stored>({ queryOptions: { filter } })
                .byPage({ maxPageSize: query.pageSize - items.length });
            let last: string | undefined;
            let more = false;
            scan: for await (const page of pages) {
                for (const [index, entity] of page.entries()) {
                    items.push(fromStored(entity));
                    last = entity.rowKey;
                    if (items.length === query.pageSize) {
                        more = index < page.length - 1 || page.continuationToken !== undefined;
                        break scan;
                    }
                }
            }
            if (items.length === query.pageSize) {
                // Full: resume after the last item, unless that was the very last one in range.
                return more || day > lowest ? { items, continuationToken: token(day, last) } : { items };
            }
        }
        return { items };
    };

    const idForSid = async (sid: string): Promise<string | undefined> => {
        if (!isSidLike(sid)) return undefined;
        const found = await readEntity(await table(), sidPartition(sid), SID_ROW);
        const id = found?.entity.id;
        return typeof id === 'string' ? id : undefined;
    };

    return { create, get, update, list, idForSid };
}

const SID_ROW = 'sid';

function sidPartition(sid: string): string {
    return `s${sid}`;
}

/**
 * Points Twilio SID → record id once a record has a SID, so the outbound pipeline can tell a message it
 * finds at Twilio that belongs to another record from one of its own. Written after the record; a crash
 * in between leaves it missing until the record's next update with a new SID (the pipeline treats a
 * missing entry as "not known to belong to another record").
 */
async function writeSidIndex(
    client: TableClient,
    previousSid: string | undefined,
    stored: Stored,
): Promise<void> {
    if (stored.sid === undefined || stored.sid === previousSid) return;
    await client.upsertEntity(
        { partitionKey: sidPartition(stored.sid), rowKey: SID_ROW, id: stored.id },
        'Replace',
    );
}

/** A connection string whose table endpoint is plain http (Azurite). */
const HTTP_ENDPOINT = /(^|;)\s*(TableEndpoint\s*=\s*http:|DefaultEndpointsProtocol\s*=\s*http\s*(;|$))/i;

async function openTable(options: LedgerOptions): Promise<TableClient> {
    const { TableClient } = await import('@azure/data-tables');
    // The ledger sits on webhook paths, where Twilio waits at most 15 s: keep the SDK's retries short.
    const clientOptions = { retryOptions: { maxRetries: 3, retryDelayInMs: 200, maxRetryDelayInMs: 2_000 } };
    let client: TableClient;
    if (options.connectionString !== undefined) {
        client = TableClient.fromConnectionString(options.connectionString, options.tableName, {
            ...clientOptions,
            // Azurite is served over http; the SDK only allows that for "UseDevelopmentStorage=true".
            allowInsecureConnection: HTTP_ENDPOINT.test(options.connectionString),
        });
    } else {
        if (options.tableUrl === undefined || options.credential === undefined) {
            throw new Error('The ledger needs a connection string, or a table URL and a credential');
        }
        client = new TableClient(options.tableUrl, options.tableName, options.credential, clientOptions);
    }
    try {
        // The SDK itself ignores 409 TableAlreadyExists here; this also covers emulators that word it
        // differently, but not a table being deleted.
        await client.createTable();
    } catch (error) {
        if (statusOf(error) !== 409 || codeOf(error) === 'TableBeingDeleted') throw error;
    }
    return client;
}

// ---------------------------------------------------------------------------------------------------------
// Keys

function recordPartition(id: string): string {
    return `r${encodeLedgerId(id)}`;
}

function indexKeys(id: string, createdAt: string): { partitionKey: string; rowKey: string } {
    return {
        partitionKey: `d${dayString(dayOf({ createdAt }))}`,
        rowKey: listOrderKey({ id, createdAt }),
    };
}

/** Day number (days since 1970-01-01 UTC) → `YYYYMMDD`. */
function dayString(day: number): string {
    return new Date(day * DAY_MS).toISOString().slice(0, 10).replace(/-/g, '');
}

/** An OData string literal: quotes doubled. */
function quote(value: string): string {
    return `'${value.replace(/'/g, "''")}'`;
}

// ---------------------------------------------------------------------------------------------------------
// Entities

/** The entity for a record shaped by rules.ts `shapeForStorage`, at revision `rev`. */
function toStored(record: LedgerRecord, rev: number): Stored {
    const stored: Stored = {
        partitionKey: recordPartition(record.id),
        rowKey: RECORD_ROW,
        v: SCHEMA_VERSION,
        rev,
        id: record.id,
        direction: record.direction,
        type: record.type,
        mediaCount: record.mediaCount,
        status: record.status,
        history: JSON.stringify(record.history),
        attempts: record.attempts,
        createdAt: record.createdAt,
        updatedAt: record.updatedAt,
    };
    const optional: Partial<Stored> = {
        toAddress: record.to,
        fromAddress: record.from,
        messagingServiceSid: record.messagingServiceSid,
        bodyLength: record.bodyLength,
        body: record.body,
        sid: record.sid,
        errorCode: record.errorCode,
        errorMessage: record.errorMessage,
        claim: record.claim === undefined ? undefined : JSON.stringify(record.claim),
        fingerprint: record.fingerprint,
        acceptLease: record.acceptLease === undefined ? undefined : JSON.stringify(record.acceptLease),
    };
    return withDefined(stored, optional);
}

/** The record an entity holds; a malformed optional property (an entity edited by hand) is left out. */
function fromStored(stored: object): LedgerRecord {
    const entity = stored as Record<string, unknown>;
    const text = (name: string): string | undefined => {
        const value = entity[name];
        return typeof value === 'string' ? value : undefined;
    };
    const number = (name: string): number | undefined => {
        const value = entity[name];
        return typeof value === 'number' ? value : undefined;
    };
    const id = text('id');
    const direction = text('direction');
    const type = text('type');
    const status = text('status');
    const createdAt = text('createdAt');
    const updatedAt = text('updatedAt');
    if (
        id === undefined ||
        (direction !== 'outbound' && direction !== 'inbound') ||
        (type !== 'sms' && type !== 'call') ||
        status === undefined ||
        createdAt === undefined ||
        updatedAt === undefined
    ) {
        throw new Error('A ledger entity is missing required properties');
    }
    const record: LedgerRecord = {
        id,
        direction,
        type,
        mediaCount: number('mediaCount') ?? 0,
        status,
        history: parseHistory(text('history')),
        attempts: number('attempts') ?? 0,
        createdAt,
        updatedAt,
    };
    const optional = {
        to: text('toAddress'),
        from: text('fromAddress'),
        messagingServiceSid: text('messagingServiceSid'),
        bodyLength: number('bodyLength'),
        body: text('body'),
        sid: text('sid'),
        errorCode: text('errorCode'),
        errorMessage: text('errorMessage'),
        claim: knownClaim(parseJson(text('claim'))),
        fingerprint: text('fingerprint'),
        acceptLease: knownAcceptLease(parseJson(text('acceptLease'))),
    };
    return withDefined(record, optional);
}

function parseJson(json: string | undefined): unknown {
    if (json === undefined) return undefined;
    try {
        return JSON.parse(json) as unknown;
    } catch {
        return undefined;
    }
}

function parseHistory(json: string | undefined): StatusEvent[] {
    const value = parseJson(json);
    return Array.isArray(value) ? knownEvents(value as unknown[]) : [];
}

// ---------------------------------------------------------------------------------------------------------
// Storage operations

async function readEntity(
    client: TableClient,
    partitionKey: string,
    rowKey: string,
    select?: string[],
): Promise<{ entity: Stored; etag: string } | undefined> {
    try {
        const entity = await client.getEntity<Stored>(
            partitionKey,
            rowKey,
            select === undefined ? {} : { queryOptions: { select } },
        );
        return { entity, etag: entity.etag };
    } catch (error) {
        if (statusOf(error) === 404) return undefined;
        throw error;
    }
}

/**
 * Brings the index copy of a record up to `stored` (its revision `rev`): inserted when missing, replaced
 * (on the index entity's ETag) when older, left alone when as new or newer.
 */
async function writeIndex(client: TableClient, stored: Stored): Promise<void> {
    // Copied property by property: an entity as read also carries `etag` and `timestamp`, which are no
    // properties of ours.
    const entity = { ...indexKeys(stored.id, stored.createdAt) } as Stored;
    for (const name of STORED_PROPERTIES) {
        if (stored[name] !== undefined) Object.assign(entity, { [name]: stored[name] });
    }
    if (stored.rev === 1) {
        // A new record has no index copy yet: insert it without reading first (one round trip, not two).
        try {
            await client.createEntity(entity);
            return;
        } catch (error) {
            if (statusOf(error) !== 409) throw error;
        }
    }
    for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt++) {
        if (attempt > 0) await jitter(attempt);
        const existing = await readEntity(client, entity.partitionKey, entity.rowKey, ['rev']);
        try {
            if (existing === undefined) {
                await client.createEntity(entity);
            } else {
                if (typeof existing.entity.rev === 'number' && existing.entity.rev >= stored.rev) return;
                await client.updateEntity(entity, 'Replace', { etag: existing.etag });
            }
            return;
        } catch (error) {
            const status = statusOf(error);
            if (status === 412 || status === 409 || status === 404) continue;
            throw error;
        }
    }
    throw new Error(`Ledger index write lost ${String(MAX_WRITE_ATTEMPTS)} races in a row`);
}

/** The oldest day with an index entity (partitions come back in key order), or undefined for none. */
async function oldestDay(client: TableClient): Promise<number | undefined> {
    const filter = "PartitionKey ge 'd' and PartitionKey lt 'e'";
    const pages = client
        .listEntities({ queryOptions: { filter, select: ['PartitionKey'] } })
        .byPage({ maxPageSize: 1 });
    for await (const page of pages) {
        const first = page[0];
        if (first !== undefined) return parseDay((first.partitionKey ?? '').slice(1), true);
    }
    return undefined;
}

/** A short random pause before retrying a lost race, so that racers spread out. */
function jitter(attempt: number): Promise<void> {
    const ms = Math.random() * Math.min(10 * attempt, 100);
    return new Promise((resolve) => setTimeout(resolve, ms));
}

function statusOf(error: unknown): number | undefined {
    const status = (error as { statusCode?: unknown } | null)?.statusCode;
    return typeof status === 'number' ? status : undefined;
}

function codeOf(error: unknown): string | undefined {
    const code = (error as { code?: unknown } | null)?.code;
    return typeof code === 'string' ? code : undefined;
}

// ---------------------------------------------------------------------------------------------------------
// List queries and continuation tokens

interface ListPlan {
    /** First day to read (day number), newest. */
    start: number;
    /** Last day to read, oldest (before clamping to the oldest day in the table). */
    lowest: number;
    /** Resume after this RowKey in `start`. */
    after: string | undefined;
    fingerprint: string;
}

interface Token {
    v: number;
    /** Day to resume in, YYYYMMDD. */
    d: string;
    /** RowKey to resume after in that day. */
    k?: string;
    /** Lowest day of the query, YYYYMMDD. */
    f: string;
    /** Fingerprint of the query the token belongs to. */
    q: string;
}

/** Validates a query and its continuation token; undefined for an empty range. */
function planList(query: ListQuery, now: Date): ListPlan | undefined {
    const { highest, lowest: queryLowest, fingerprint } = checkListQuery(query, now);
    if (query.continuationToken !== undefined) {
        const token = decodeToken(query.continuationToken);
        const start = parseDay(token.d, true);
        const lowest = parseDay(token.f, true);
        if (token.q !== fingerprint) {
            throw new LedgerQueryError(
                'continuationToken belongs to another query (to, from, dateFrom, dateTo)',
            );
        }
        if (start === undefined || lowest === undefined || start < lowest || start > highest) {
            throw new LedgerQueryError('continuationToken is not valid');
        }
        return { start, lowest, after: token.k, fingerprint };
    }
    if (queryLowest > highest) return undefined;
    return { start: highest, lowest: queryLowest, after: undefined, fingerprint };
}

function encodeToken(token: Token): string {
    return Buffer.from(JSON.stringify(token), 'utf8').toString('base64url');
}

function decodeToken(text: string): Token {
    const invalid = new LedgerQueryError('continuationToken is not valid');
    if (!/^[A-Za-z0-9_-]{1,2000}$/.test(text)) throw invalid;
    const value = parseJson(Buffer.from(text, 'base64url').toString('utf8'));
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid;
    const { v, d, k, f, q, ...rest } = value as Record<string, unknown>;
    if (
        Object.keys(rest).length > 0 ||
        v !== TOKEN_VERSION ||
        typeof d !== 'string' ||
        !/^\d{8}$/.test(d) ||
        typeof f !== 'string' ||
        !/^\d{8}$/.test(f) ||
        typeof q !== 'string' ||
        !/^[0-9a-f]{16}$/.test(q) ||
        (k !== undefined && (typeof k !== 'string' || !/^\d{13}_[A-Za-z0-9_-]{1,400}$/.test(k)))
    ) {
        throw invalid;
    }
    return { v, d, f, q, ...(k === undefined ? {} : { k }) };
}
