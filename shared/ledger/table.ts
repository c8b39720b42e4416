/**
 * The Azure Table storage implementation of the ledger contract (shared/ledger/contract.ts): one record per
 * message or call, outbound and inbound. The record rules — ids, the checks on every write, how a record
 * is shaped, list queries and order — are shared/ledger/rules.ts; this module only stores and finds what
 * they shape.
 *
 * Two entities per record, in one table (three with a SID):
 *
 * - the **record** entity, keyed by id (PartitionKey `r<base64url(id)>`, RowKey `record`): `get` is a point
 *   read and `update` an optimistic-concurrency write on its ETag. It is authoritative.
 * - a **day index** entry (PartitionKey `d<YYYYMMDD>` of `createdAt` in UTC, RowKey rules.ts
 *   `listOrderKey`: `<9999999999999 - createdAt millis, 13 digits>_<base64url(id)>`) that names the record
 *   and holds only what `list` filters on (`to`, `from`) and the revision they came from. `list` queries
 *   one day partition at a time (newest first, filtered by the service) and then point-reads each record
 *   it names, in parallel, keeping an entry only when the record confirms it (its list key, `to` and
 *   `from`).
 * - a **SID index** entry (PartitionKey `s<SID>`), SID → id, written once a record has a SID.
 *
 * **Why the index holds no copy of the record** (it used to): a copy has to be rewritten on every status
 * change, and rewritten safely — Table storage has no write conditional on a property ("only if my
 * revision is newer"), so each copy write was a read of the copy's revision and a replace on its ETag:
 * 3 of the 8 requests of an outbound SMS. An entry that only names the record changes only when `to` or
 * `from` change (never, in the app), so a status change is one write of the record, and `list` can never
 * show a record older than `get` does. The price is paid by `list` (a point read per item, spread over
 * the records' own partitions) instead of by every message; docs/ledger-scale.md has the arithmetic.
 *
 * **Writes.** Every write stays conditional, so no shortcut below can lose a concurrent write:
 *
 * - A new record is an insert, which fails (409) when the id exists. `update` tries that insert without
 *   reading first when it has reason to expect no record: the caller says so (`expectAbsent`), or this
 *   process's last read of the id found none. The insert is atomic, so when it succeeds `mutate` did see
 *   the current state (none); on 409 the update reads and runs `mutate` again. A wrong guess costs one
 *   request, never a write. (Trusting "absent" without the insert's own condition would be the unsafe
 *   design: another process may have created the record since.)
 * - The ETag (and revision) each successful write or read returns is remembered per id (the most recent
 *   {@link MAX_REMEMBERED}), so the next `update` of that record in this process — the SID right after
 *   the claim — replaces on that ETag without reading. A 412 means another writer came between: the
 *   update forgets it and falls back to read-modify-write. A "no change" decided on a remembered copy
 *   proves nothing, so it is decided again on a read.
 * - The index entry is inserted after the record is (no read: a new record has none), and rewritten only
 *   when `to` or `from` change: never replaced by an older revision (a read of its revision, a replace on
 *   its ETag). An entry that already holds the record's `to` and `from` is left alone whatever revision
 *   wrote it, and one this process wrote or read with them is not read again by a "no change" update
 *   (a repeated status callback). The outbound claim names the sender of the create on the record it
 *   creates (transitions.ts), so Twilio's answer does not change `from` and the entry is written once per
 *   message. The SID index entry is an upsert when the SID is new. The index writes that follow one
 *   record write do not depend on each other and run together.
 *
 * The index is eventually consistent: a crash (or a failed write) between a record write and its index
 * write leaves the record unlisted (or under its old `to` / `from` in a filtered `list`; the record still
 * decides what is shown) until a retried `create` or a "no change" `update` of that id, which re-check the
 * entry. A happy-path outbound SMS is 4 requests: insert record, insert day entry (the claim, with
 * `expectAbsent`), replace record on the remembered ETag, then upsert the SID entry (once the replace has
 * succeeded, so an entry only names a record that holds the SID).
 *
 * Table storage's own limits (a string property holds 64 KiB, a key 512 characters) are enforced by the
 * service: a record over them fails with its HTTP 400, as the contract allows.
 *
 * `@azure/data-tables` is imported on first use, never at module load: a cold start must not pay for the
 * SDK. Nothing here logs; records hold phone numbers (and bodies, when `storeBody` is on), which must never
 * reach a log.
 */

import type { TableClient } from '@azure/data-tables';
import { lazy } from '../platform/lazy';
import { jitter, openTable, quote, statusOf, type TableConnectionOptions } from './tableClient';
import {
    LedgerQueryError,
    type Ledger,
    type LedgerRecord,
    type ListPage,
    type ListQuery,
    type StatusEvent,
    type UpdateOptions,
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
    knownMedia,
    knownVoicemail,
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

export interface LedgerOptions extends TableConnectionOptions {
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

/** Table storage's longest key (Azure: 1 KiB of UTF-16; Azurite: 512 characters). */
const MAX_KEY_LENGTH = 512;
/**
 * How many records one ledger remembers the ETag of (see `seen` in {@link createLedger}): the claim and
 * the SID of one send are a Twilio round trip apart, so even 1,000 sends a second on one instance fit
 * in a fraction of this, and a few MB of typical records.
 */
const MAX_REMEMBERED = 1_000;
/** How many record reads one list page runs at once. */
const LIST_READS_AT_ONCE = 100;

/** A record as this process last wrote or read it, with the ETag that write or read returned. */
interface Known {
    stored: Stored;
    etag: string;
    rev: number;
}

/** A day-index entity: it names a record, and holds what list filters on. */
interface IndexEntry {
    partitionKey: string;
    rowKey: string;
    v: number;
    /** The record revision whose `to` and `from` it holds. */
    rev: number;
    id: string;
    toAddress?: string;
    fromAddress?: string;
}

/** The record entity as stored. */
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
    /** JSON of a voicemail record's details. */
    voicemail?: string;
    /** JSON of an inbound message's media outcomes. */
    media?: string;
    createdAt: string;
    updatedAt: string;
}

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
    const table = lazy(() => openTable(options, 'The ledger needs'));

    // What this process last saw of each record (its ETag, revision and content, or that it was absent),
    // so the next update can write on that ETag instead of reading first. Bounded: only recent ids matter
    // (a send's claim and its SID a moment later).
    const seen = new Map<string, Known | 'absent'>();
    const remember = (id: string, known: Known | 'absent'): void => {
        const previous = seen.get(id);
        // Writes of one record may answer out of order: never go back to an older revision.
        if (
            known !== 'absent' &&
            previous !== undefined &&
            previous !== 'absent' &&
            previous.rev > known.rev
        ) {
            return;
        }
        seen.delete(id);
        seen.set(id, known);
        if (seen.size > MAX_REMEMBERED) seen.delete(seen.keys().next().value as string);
    };
    // What this process last wrote or read of each record's day index entry (its `to` and `from`), so that
    // a "no change" update need not read the entry to know it has caught up. Bounded like `seen`.
    const indexed = new Map<string, string>();
    const indexMemory: IndexMemory = {
        holds: (stored) => indexed.get(stored.id) === indexContent(stored),
        note: (stored) => {
            indexed.delete(stored.id);
            indexed.set(stored.id, indexContent(stored));
            if (indexed.size > MAX_REMEMBERED) indexed.delete(indexed.keys().next().value as string);
        },
    };

    const readRecord = async (client: TableClient, id: string): Promise<Known | undefined> => {
        const found = await readEntity(client, recordPartition(id), RECORD_ROW);
        if (found === undefined) {
            remember(id, 'absent');
            return undefined;
        }
        const known = { stored: found.entity, etag: found.etag, rev: revOf(found.entity) };
        remember(id, known);
        return known;
    };

    /** Inserts a new record (revision 1) and then its index entry; undefined when the id is taken. */
    const insertRecord = async (client: TableClient, stored: Stored): Promise<Known | undefined> => {
        let etag: string | undefined;
        try {
            etag = (await client.createEntity(stored)).etag;
        } catch (error) {
            if (statusOf(error) === 409) return undefined;
            throw error;
        }
        const known = { stored, etag: etag ?? '', rev: stored.rev };
        if (etag !== undefined) remember(stored.id, known);
        await writeIndexes(client, indexMemory, undefined, stored, true);
        return known;
    };

    const create = async (record: LedgerRecord): Promise<'created' | 'exists'> => {
        const stored = toStored(shapeForStorage(record, options.storeBody), 1);
        const client = await table();
        if ((await insertRecord(client, stored)) !== undefined) return 'created';
        // Already there. Re-check its index entry: this may be the retry of a create that stopped
        // between its two writes.
        const current = await readRecord(client, record.id);
        // The entry itself is read, whatever this process remembers: this is the repair path.
        if (current !== undefined) await writeIndex(client, indexMemory, current.stored, { check: true });
        return 'exists';
    };

    const get = async (id: string): Promise<LedgerRecord | undefined> => {
        if (!isValidLedgerId(id)) return undefined;
        const current = await readRecord(await table(), id);
        return current === undefined ? undefined : fromStored(current.stored);
    };

    /** `update`'s loop. */
    const writeRecord = async (
        id: string,
        mutate: (current: LedgerRecord | undefined) => LedgerRecord | undefined,
        hints: UpdateOptions,
    ): Promise<LedgerRecord | undefined> => {
        const client = await table();
        // A guess of the current state that needs no read: what this process last wrote or read, or
        // absent when the caller says so. Writing on a guess is safe because every write is conditional
        // (an insert fails when the record exists, a replace when its ETag moved); a wrong guess only
        // costs the failed write, and then the loop reads as before.
        const remembered = seen.get(id);
        let guess: Known | 'absent' | undefined =
            remembered ?? (hints.expectAbsent === true ? 'absent' : undefined);
        for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt++) {
            const guessed = guess !== undefined;
            let current: Known | undefined;
            if (guess !== undefined) {
                current = guess === 'absent' ? undefined : guess;
                guess = undefined;
            } else {
                if (attempt > 0) await jitter(attempt);
                current = await readRecord(client, id);
            }
            const before = current === undefined ? undefined : fromStored(current.stored);
            const after = mutate(before);
            if (after === undefined) {
                // "No change" on a guess proves nothing: decide again on what is really stored.
                if (guessed) continue;
                // Still make sure the index has caught up with the record.
                if (current !== undefined) await writeIndex(client, indexMemory, current.stored);
                return before;
            }
            const next = shapeForStorage(nextRevision(id, before, after, now()), options.storeBody);
            const stored = toStored(next, (current?.rev ?? 0) + 1);
            if (current === undefined) {
                if ((await insertRecord(client, stored)) !== undefined) return fromStored(stored);
                continue; // inserted since read (409)
            }
            // A new SID's index entry follows the replace, never goes with it: a replace that is refused
            // (412 on a stale guess, 400 from the store) leaves no entry naming a record that does not
            // hold the SID (the memory ledger fuzz found the overlapped version doing just that).
            let etag: string | undefined;
            try {
                etag = (await client.updateEntity(stored, 'Replace', { etag: current.etag })).etag;
            } catch (error) {
                const status = statusOf(error);
                // 412: changed since read; 404: cannot happen (nothing deletes).
                if (status === 412 || status === 404) {
                    seen.delete(id);
                    continue;
                }
                throw error;
            }
            if (etag === undefined) seen.delete(id);
            else remember(id, { stored, etag, rev: stored.rev });
            await writeIndexes(
                client,
                indexMemory,
                before?.sid,
                stored,
                needsIndexWrite(current.stored, stored),
            );
            return fromStored(stored);
        }
        throw new Error(`Ledger update of one record lost ${String(MAX_WRITE_ATTEMPTS)} races in a row`);
    };

    const update = async (
        id: string,
        mutate: (current: LedgerRecord | undefined) => LedgerRecord | undefined,
        hints: UpdateOptions = {},
    ): Promise<LedgerRecord | undefined> => {
        checkLedgerId(id);
        return writeRecord(id, mutate, hints);
    };

    /** The records the index entries of one page name, read in parallel (undefined where absent). */
    const readAll = async (
        client: TableClient,
        entries: readonly { id?: unknown }[],
    ): Promise<(LedgerRecord | undefined)[]> => {
        const records: (LedgerRecord | undefined)[] = [];
        for (let i = 0; i < entries.length; i += LIST_READS_AT_ONCE) {
            const chunk = entries.slice(i, i + LIST_READS_AT_ONCE);
            records.push(
                ...(await Promise.all(
                    chunk.map(async ({ id }) => {
                        if (typeof id !== 'string' || !isValidLedgerId(id)) return undefined;
                        const found = await readRecord(client, id);
                        return found === undefined ? undefined : fromStored(found.stored);
                    }),
                )),
            );
        }
        return records;
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
                .listEntities<IndexEntry>({ queryOptions: { filter, select: ['RowKey', 'id'] } })
                .byPage({ maxPageSize: query.pageSize - items.length });
            let last: string | undefined;
            let more = false;
            scan: for await (const page of pages) {
                // The index names the records; what list answers is each record as get reads it now.
                const records = await readAll(client, page);
                for (const [index, entity] of page.entries()) {
                    last = entity.rowKey;
                    const found = records[index];
                    if (found === undefined || !listedAs(found, entity.rowKey, query)) continue;
                    items.push(found);
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
 * finds at Twilio that belongs to another record from one of its own. Written after the record's write
 * that brings the SID has succeeded (its insert or its replace), so an entry only ever names a record
 * that held the SID. A crash before it leaves it
 * missing until the record's next update with a new SID (the pipeline treats a missing entry as "not
 * known to belong to another record").
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
        voicemail: record.voicemail === undefined ? undefined : JSON.stringify(record.voicemail),
        media: record.media === undefined ? undefined : JSON.stringify(record.media),
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
        (type !== 'sms' && type !== 'call' && type !== 'voicemail') ||
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
        voicemail: knownVoicemail(parseJson(text('voicemail'))),
        media: knownMedia(parseJson(text('media'))),
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
 * What one ledger remembers of the index entries it wrote or read: whether the entry of `stored`'s id
 * holds `stored`'s `to` and `from` (as far as this process knows), and noting that it does.
 */
interface IndexMemory {
    holds(stored: Stored): boolean;
    note(stored: Stored): void;
}

/** What an index entry holds for `list`, as one comparable string (`\u0000` for a missing address). */
function indexContent(entity: { toAddress?: unknown; fromAddress?: unknown }): string {
    const part = (value: unknown) => (typeof value === 'string' ? `=${value}` : '\u0000');
    return `${part(entity.toAddress)}\n${part(entity.fromAddress)}`;
}

/**
 * Brings the index entry of a record up to `stored` (its revision `rev`): inserted when missing, left
 * alone when it already holds `stored`'s `to` and `from` (whatever revision wrote them: the entry holds
 * nothing else the record can change) or names a newer revision, replaced (on the entry's ETag)
 * otherwise. An entry this process wrote or read with that content (`memory`) is not read again, unless
 * `check` (a retried create): the app never deletes entries, and only a change of `to` or `from` (never
 * made by the app) rewrites one.
 */
async function writeIndex(
    client: TableClient,
    memory: IndexMemory,
    stored: Stored,
    options: { check?: boolean } = {},
): Promise<void> {
    if (options.check !== true && memory.holds(stored)) return;
    const entry = indexEntry(stored);
    if (stored.rev === 1) {
        // A new record has no index entry yet: insert it without reading first (one round trip, not two).
        try {
            await client.createEntity(entry);
            memory.note(stored);
            return;
        } catch (error) {
            if (statusOf(error) !== 409) throw error;
        }
    }
    for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt++) {
        if (attempt > 0) await jitter(attempt);
        const existing = await readEntity(client, entry.partitionKey, entry.rowKey, [
            'rev',
            'toAddress',
            'fromAddress',
        ]);
        try {
            if (existing === undefined) {
                await client.createEntity(entry);
            } else if (indexContent(existing.entity) === indexContent(stored)) {
                // Up to date already.
            } else {
                if (typeof existing.entity.rev === 'number' && existing.entity.rev >= stored.rev) return;
                await client.updateEntity(entry, 'Replace', { etag: existing.etag });
            }
            memory.note(stored);
            return;
        } catch (error) {
            const status = statusOf(error);
            if (status === 412 || status === 409 || status === 404) continue;
            throw error;
        }
    }
    throw new Error(`Ledger index write lost ${String(MAX_WRITE_ATTEMPTS)} races in a row`);
}

/**
 * The index writes that follow a write of the record: its day-index entry when `index` (it must change),
 * and its SID index entry when the SID is new. Independent, so they overlap; except for a record whose
 * entry the store cannot hold, where the refused entry comes first and nothing follows it (as a refused
 * write always left it).
 */
async function writeIndexes(
    client: TableClient,
    memory: IndexMemory,
    previousSid: string | undefined,
    stored: Stored,
    index: boolean,
): Promise<void> {
    if (!index) return writeSidIndex(client, previousSid, stored);
    if (listOrderKey(stored).length > MAX_KEY_LENGTH) await writeIndex(client, memory, stored);
    await Promise.all([writeIndex(client, memory, stored), writeSidIndex(client, previousSid, stored)]);
}

/** The index entry of a record: what names it in its day, and what list filters on server-side. */
function indexEntry(stored: Stored): IndexEntry {
    return withDefined(
        { ...indexKeys(stored.id, stored.createdAt), v: SCHEMA_VERSION, rev: stored.rev, id: stored.id },
        { toAddress: stored.toAddress, fromAddress: stored.fromAddress },
    );
}

/**
 * Whether writing `next` over `previous` must also write the index entry: only when what the entry holds
 * (to, from) changed, or when the store cannot hold the entry at all — the write is then attempted anyway
 * so that the service refuses it with its own error, as it does on create (the contract's storage limits).
 */
function needsIndexWrite(previous: Stored, next: Stored): boolean {
    return (
        previous.toAddress !== next.toAddress ||
        previous.fromAddress !== next.fromAddress ||
        listOrderKey(next).length > MAX_KEY_LENGTH
    );
}

/** Whether record `found`, named by index entry `rowKey`, belongs in the result of `query`. */
function listedAs(found: LedgerRecord, rowKey: string | undefined, query: ListQuery): boolean {
    // An entry is a hint until the record confirms it: to or from may have changed since it was written
    // (its rewrite follows the record's), and only the record's own createdAt places it.
    return (
        listOrderKey(found) === rowKey &&
        (query.to === undefined || found.to === query.to) &&
        (query.from === undefined || found.from === query.from)
    );
}

function revOf(entity: Stored): number {
    return typeof entity.rev === 'number' ? entity.rev : 0;
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
