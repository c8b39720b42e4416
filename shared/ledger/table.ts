/**
 * The message ledger: one record per message or call, outbound and inbound, in Azure Table storage.
 *
 * Two entities per record, in one table:
 *
 * - the **record** entity, keyed by id (PartitionKey `r<base64url(id)>`, RowKey `record`): `get` is a point
 *   read and `update` an optimistic-concurrency read-modify-write on its ETag. It is authoritative.
 * - a **day index** entity (PartitionKey `d<YYYYMMDD>` of `createdAt` in UTC, RowKey
 *   `<9999999999999 - createdAt millis, 13 digits>_<base64url(id)>`) holding a copy of the record, so that
 *   `list` over a day range is one partition query per day that comes back newest first.
 *
 * The index is written after the record and is eventually consistent: a crash (or a failed write) between
 * the two leaves `list` one update behind until the next `update` or `create` of that id, which re-checks
 * the index even when it changes nothing. Both entities carry a revision number, incremented on every
 * write of the record, and an index copy is only ever replaced by a newer revision (conditionally, on its
 * own ETag), so concurrent updates cannot leave an older copy in the index for good.
 *
 * `@azure/data-tables` is imported on first use, never at module load: the webhook functions import this
 * module, and a cold start must not pay for the SDK. Nothing here logs; records hold phone numbers (and
 * bodies, when `storeBody` is on), which must never reach a log.
 */

import { createHash } from 'node:crypto';
import type { TokenCredential } from '@azure/core-auth';
import type { TableClient } from '@azure/data-tables';
import { lazy } from '../platform/lazy';

export type Direction = 'outbound' | 'inbound';
export type MessageKind = 'sms' | 'call';

export interface StatusEvent {
    status: string;
    /** ISO 8601 */
    at: string;
    source: 'app' | 'twilio';
    /** The Twilio SID the event was about, when known (status events are deduplicated on SID and status). */
    sid?: string;
    /** Why the event was recorded, when its status alone does not say (e.g. a refused queue copy). */
    detail?: string;
}

export interface LedgerRecord {
    id: string;
    direction: Direction;
    type: MessageKind;
    to?: string;
    from?: string;
    messagingServiceSid?: string;
    bodyLength?: number;
    /** Only stored when the ledger was created with `storeBody: true`. */
    body?: string;
    mediaCount: number;
    sid?: string;
    status: string;
    /** Oldest first; at most the last {@link MAX_HISTORY} events are kept. */
    history: StatusEvent[];
    /** Twilio's error code and message, or the validation field errors for `rejected`. */
    errorCode?: string;
    errorMessage?: string;
    attempts: number;
    /** An outbound send in progress. */
    claim?: { token: string; at: string; leaseUntil: string };
    /**
     * The fingerprint of the validated request the record was created for (shared/outbound/message.ts
     * `requestFingerprint`): the first copy to create the record fixes it, and a request or queue copy with
     * another fingerprint under the same id is refused, never sent. A hash of the content, bodies
     * included: it is never shown by the API nor logged.
     */
    fingerprint?: string;
    /** The HTTP API is putting the request on the queue (status `accepting`) until this lease ends. */
    acceptLease?: { token: string; until: string };
    /** ISO 8601; fixed at creation (it places the record in the day index). */
    createdAt: string;
    /** ISO 8601; stamped by {@link Ledger.update} on every write. */
    updatedAt: string;
}

export interface ListQuery {
    to?: string;
    from?: string;
    /** YYYY-MM-DD (UTC), inclusive. Default: 29 days before `dateTo` (30 days in all). */
    dateFrom?: string;
    /** YYYY-MM-DD (UTC), inclusive. Default: today. */
    dateTo?: string;
    /** 1 to 1000. */
    pageSize: number;
    continuationToken?: string;
}

export interface ListPage {
    items: LedgerRecord[];
    /** Present when more items may follow; pass it back with the same query for the next page. */
    continuationToken?: string;
}

export interface Ledger {
    /** Insert if absent (atomic): 'created', or 'exists' (the record is then unchanged). */
    create(record: LedgerRecord): Promise<'created' | 'exists'>;
    /** Point read by id; undefined when absent (or when `id` cannot be a ledger id). */
    get(id: string): Promise<LedgerRecord | undefined>;
    /**
     * Optimistic-concurrency read-modify-write: `mutate` gets the current record (or undefined when absent)
     * and returns the new record, or undefined for "no change". Retries on ETag conflict (412) / concurrent
     * insert (409), re-reading each time, so `mutate` may run several times and must not have side effects
     * that matter. `id` and `createdAt` cannot change; `updatedAt` is stamped with the ledger's clock.
     *
     * @returns the stored record after the write, or the current one when unchanged.
     */
    update(
        id: string,
        mutate: (current: LedgerRecord | undefined) => LedgerRecord | undefined,
    ): Promise<LedgerRecord | undefined>;
    /**
     * Newest first (by `createdAt`), filtered, paged. A page may hold fewer than `pageSize` items and still
     * carry a continuation token when a long date range is walked in several calls; the last page has none.
     *
     * @throws LedgerQueryError for an invalid query or continuation token.
     */
    list(query: ListQuery): Promise<ListPage>;
    /** The id of the record that holds Twilio SID `sid`, if any (a point read of the SID index). */
    idForSid(sid: string): Promise<string | undefined>;
}

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

/** The {@link ListQuery} field a {@link LedgerQueryError} is about. */
export type ListQueryField = 'pageSize' | 'to' | 'from' | 'dateFrom' | 'dateTo' | 'continuationToken';

/** A list query or continuation token that cannot be served; the API answers 400 naming `field`. */
export class LedgerQueryError extends Error {
    override readonly name = 'LedgerQueryError';

    constructor(
        message: string,
        readonly field: ListQueryField = 'continuationToken',
    ) {
        super(message);
    }
}

/** How many status events a record keeps (the newest). */
export const MAX_HISTORY = 50;
/** Days listed when the query gives no `dateFrom`. */
export const DEFAULT_LIST_DAYS = 30;
/** The most day partitions one `list` call reads; a longer range continues with a token. */
export const MAX_DAYS_PER_LIST_CALL = 62;
export const MAX_PAGE_SIZE = 1000;

const MAX_ID_LENGTH = 200;
/** Well under the 64 KiB (32K UTF-16 characters) a Table string property can hold. */
const MAX_TEXT = 16_000;
const MAX_HISTORY_JSON = 30_000;
/** A history event's `detail`: a sentence, not a payload. */
export const MAX_DETAIL = 300;
const MAX_FILTER_VALUE = 256;
const MAX_WRITE_ATTEMPTS = 50;
const RECORD_ROW = 'record';
const INVERT_MS = 9_999_999_999_999;
const DAY_MS = 86_400_000;
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
        const stored = toStored(record, 1, options.storeBody);
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
        checkId(id);
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
            if (after.id !== id) throw new Error('A ledger update cannot change the record id');
            const next: LedgerRecord = {
                ...after,
                createdAt: before?.createdAt ?? after.createdAt,
                updatedAt: now().toISOString(),
            };
            const stored = toStored(next, (current?.entity.rev ?? 0) + 1, options.storeBody);
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
        if (!/^[A-Z]{2}[0-9a-fA-F]{32}$/.test(sid)) return undefined;
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

/**
 * Whether `id` can be a ledger id: 1-200 characters, well-formed Unicode, none of `/ \ # ?` (which Table
 * keys cannot hold) nor control characters. Ids are encoded into keys anyway (base64url), so this is a
 * policy that keeps ids printable and unambiguous, not a key-syntax requirement.
 */
export function isValidLedgerId(id: string): boolean {
    if (id.length < 1 || id.length > MAX_ID_LENGTH) return false;
    for (let i = 0; i < id.length; i++) {
        const code = id.charCodeAt(i);
        if (code < 0x20 || (code >= 0x7f && code <= 0x9f)) return false;
        if (code === 0x2f || code === 0x5c || code === 0x23 || code === 0x3f) return false;
    }
    // Lone surrogates would encode to U+FFFD and two ids could then share a key.
    return Buffer.from(id, 'utf8').toString('utf8') === id;
}

function checkId(id: string): void {
    if (!isValidLedgerId(id)) {
        throw new RangeError('Invalid ledger id: 1-200 characters without / \\ # ? or control characters');
    }
}

function encodeId(id: string): string {
    return Buffer.from(id, 'utf8').toString('base64url');
}

function recordPartition(id: string): string {
    return `r${encodeId(id)}`;
}

function indexKeys(id: string, createdAt: string): { partitionKey: string; rowKey: string } {
    const ms = Date.parse(createdAt);
    return {
        partitionKey: `d${dayString(Math.floor(ms / DAY_MS))}`,
        rowKey: `${String(INVERT_MS - ms).padStart(13, '0')}_${encodeId(id)}`,
    };
}

/** Day number (days since 1970-01-01 UTC) → `YYYYMMDD`. */
function dayString(day: number): string {
    return new Date(day * DAY_MS).toISOString().slice(0, 10).replace(/-/g, '');
}

/** `YYYY-MM-DD` (or `YYYYMMDD` when `compact`) → day number, or undefined when it is not a real date. */
function parseDay(text: string, compact = false): number | undefined {
    const match = (compact ? /^(\d{4})(\d{2})(\d{2})$/ : /^(\d{4})-(\d{2})-(\d{2})$/).exec(text);
    if (match === null) return undefined;
    const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
    // Nothing is dated before 1970 (createdAt is checked so), and Date.UTC reads years 0-99 as 19xx.
    if (year < 1970) return undefined;
    const ms = Date.UTC(year, month - 1, day);
    const date = new Date(ms);
    if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) {
        return undefined;
    }
    return ms / DAY_MS;
}

/** An OData string literal: quotes doubled. */
function quote(value: string): string {
    return `'${value.replace(/'/g, "''")}'`;
}

// ---------------------------------------------------------------------------------------------------------
// Entities

function toStored(record: LedgerRecord, rev: number, storeBody: boolean): Stored {
    checkId(record.id);
    const created = Date.parse(record.createdAt);
    if (!(created >= 0 && created <= INVERT_MS)) {
        throw new RangeError('A ledger record needs createdAt as an ISO 8601 time from 1970 on');
    }
    // Checked at run time too: records are built from webhook and queue input.
    if (!(['outbound', 'inbound'] as string[]).includes(record.direction)) {
        throw new RangeError('A ledger record direction is "outbound" or "inbound"');
    }
    if (!(['sms', 'call'] as string[]).includes(record.type)) {
        throw new RangeError('A ledger record type is "sms" or "call"');
    }
    const stored: Stored = {
        partitionKey: recordPartition(record.id),
        rowKey: RECORD_ROW,
        v: SCHEMA_VERSION,
        rev,
        id: record.id,
        direction: record.direction,
        type: record.type,
        mediaCount: count(record.mediaCount),
        status: record.status,
        history: historyJson(record.history),
        attempts: count(record.attempts),
        createdAt: record.createdAt,
        updatedAt: record.updatedAt,
    };
    if (record.to !== undefined) stored.toAddress = record.to;
    if (record.from !== undefined) stored.fromAddress = record.from;
    if (record.messagingServiceSid !== undefined) stored.messagingServiceSid = record.messagingServiceSid;
    if (record.bodyLength !== undefined) stored.bodyLength = count(record.bodyLength);
    if (storeBody && record.body !== undefined) stored.body = record.body.slice(0, MAX_TEXT);
    if (record.sid !== undefined) stored.sid = record.sid;
    if (record.errorCode !== undefined) stored.errorCode = record.errorCode.slice(0, MAX_TEXT);
    if (record.errorMessage !== undefined) stored.errorMessage = record.errorMessage.slice(0, MAX_TEXT);
    if (record.claim !== undefined) {
        const { token, at, leaseUntil } = record.claim;
        stored.claim = JSON.stringify({ token, at, leaseUntil });
    }
    if (record.fingerprint !== undefined) stored.fingerprint = record.fingerprint;
    if (record.acceptLease !== undefined) {
        const { token, until } = record.acceptLease;
        stored.acceptLease = JSON.stringify({ token, until });
    }
    return stored;
}

/** The newest events that fit: at most MAX_HISTORY, and well within one string property. */
function historyJson(history: readonly StatusEvent[]): string {
    const events = history.slice(-MAX_HISTORY).map(({ status, at, source, sid, detail }) => ({
        status,
        at,
        source,
        ...(sid === undefined ? {} : { sid }),
        ...(detail === undefined ? {} : { detail: detail.slice(0, MAX_DETAIL) }),
    }));
    let json = JSON.stringify(events);
    while (json.length > MAX_HISTORY_JSON && events.length > 0) {
        events.shift();
        json = JSON.stringify(events);
    }
    return json;
}

/** A non-negative Int32 (what Table storage infers for a plain JSON integer). */
function count(value: number): number {
    if (!Number.isInteger(value) || value < 0 || value > 0x7fffffff) {
        throw new RangeError('Ledger counts (mediaCount, attempts, bodyLength) are whole numbers from 0');
    }
    return value;
}

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
        claim: parseClaim(text('claim')),
        fingerprint: text('fingerprint'),
        acceptLease: parseAcceptLease(text('acceptLease')),
    };
    for (const [name, value] of Object.entries(optional)) {
        if (value !== undefined) Object.assign(record, { [name]: value });
    }
    return record;
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
    if (!Array.isArray(value)) return [];
    const events: StatusEvent[] = [];
    for (const item of value as unknown[]) {
        if (typeof item !== 'object' || item === null) continue;
        const { status, at, source, sid, detail } = item as Record<string, unknown>;
        if (typeof status !== 'string' || typeof at !== 'string') continue;
        if (source !== 'app' && source !== 'twilio') continue;
        events.push({
            status,
            at,
            source,
            ...(typeof sid === 'string' ? { sid } : {}),
            ...(typeof detail === 'string' ? { detail } : {}),
        });
    }
    return events;
}

function parseAcceptLease(json: string | undefined): LedgerRecord['acceptLease'] {
    const value = parseJson(json);
    if (typeof value !== 'object' || value === null) return undefined;
    const { token, until } = value as Record<string, unknown>;
    return typeof token === 'string' && typeof until === 'string' ? { token, until } : undefined;
}

function parseClaim(json: string | undefined): LedgerRecord['claim'] {
    const value = parseJson(json);
    if (typeof value !== 'object' || value === null) return undefined;
    const { token, at, leaseUntil } = value as Record<string, unknown>;
    if (typeof token !== 'string' || typeof at !== 'string' || typeof leaseUntil !== 'string')
        return undefined;
    return { token, at, leaseUntil };
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

/** A list query, checked: its day range (days since the epoch, UTC) and a fingerprint of its filters. */
export interface CheckedListQuery {
    /** Newest day in range (not after tomorrow). */
    highest: number;
    /** Oldest day in range; may exceed `highest` for an empty range. */
    lowest: number;
    /** Ties a continuation token to the filters it was issued for. */
    fingerprint: string;
}

/**
 * Checks the page size and filters of a list query and works out its day range: from `dateFrom` (or
 * {@link DEFAULT_LIST_DAYS} before `dateTo`/today) to `dateTo` (or today). What every {@link Ledger}
 * implementation shares; the continuation token is each one's own.
 *
 * @throws LedgerQueryError naming the field at fault.
 */
export function checkListQuery(query: ListQuery, now: Date): CheckedListQuery {
    if (!Number.isInteger(query.pageSize) || query.pageSize < 1 || query.pageSize > MAX_PAGE_SIZE) {
        throw new LedgerQueryError(
            `pageSize must be a whole number from 1 to ${String(MAX_PAGE_SIZE)}`,
            'pageSize',
        );
    }
    for (const name of ['to', 'from'] as const) {
        const value = query[name];
        if (value !== undefined && (value === '' || value.length > MAX_FILTER_VALUE)) {
            throw new LedgerQueryError(`${name} must be 1-${String(MAX_FILTER_VALUE)} characters`, name);
        }
    }
    const day = (name: 'dateFrom' | 'dateTo'): number | undefined => {
        const value = query[name];
        if (value === undefined) return undefined;
        const parsed = parseDay(value);
        if (parsed === undefined) {
            throw new LedgerQueryError(`${name} must be a date as YYYY-MM-DD from 1970 to 9999`, name);
        }
        return parsed;
    };
    const dateFrom = day('dateFrom');
    const dateTo = day('dateTo');
    const today = Math.floor(now.getTime() / DAY_MS);
    // Records are never dated after today; a day of slack covers a clock running behind another.
    const highest = Math.min(dateTo ?? today, today + 1);
    const lowest = dateFrom ?? (dateTo ?? today) - (DEFAULT_LIST_DAYS - 1);
    const fingerprint = createHash('sha256')
        .update(
            JSON.stringify([
                query.to ?? null,
                query.from ?? null,
                query.dateFrom ?? null,
                query.dateTo ?? null,
            ]),
        )
        .digest('hex')
        .slice(0, 16);
    return { highest, lowest, fingerprint };
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
