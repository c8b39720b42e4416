/**
 * The Azure Table storage implementations of the opt-out store (shared/messaging/optOuts.ts) and of the
 * loop guard's counters (shared/messaging/replyGuard.ts), in the ledger's table, in partitions of their
 * own that the ledger's never share (its partition keys start `r`, `d`, `s`):
 *
 * - an **opt-out** is one entity, PartitionKey `o<sender>`, RowKey `<recipient>`, both canonical
 *   addresses (optOuts.ts `canonicalSender` / `canonicalRecipient`: readable, at most 35 characters, no
 *   character Table keys refuse). The check before a send is one point read; a sender's opt-outs are one
 *   partition; all opt-outs are the key range `o` to `p`.
 * - a **reply counter** is one entity per (from, to), PartitionKey `w<base64url(from)>`, RowKey
 *   `<base64url(to)>` (any address up to 128 characters fits a key that way), holding its window's start
 *   and count. Each message reads it and replaces it on its ETag (insert when absent); a 412 / 409 means
 *   another instance counted a message in between, and the count is taken again.
 *
 * Writes that must not lose a concurrent one are conditional: an opt-out is inserted (409: one exists,
 * and the first one stays), a counter replaced on its ETag. Removing an opt-out is an unconditional delete.
 *
 * `@azure/data-tables` is imported on first use, never at module load. Nothing here logs: both kinds of
 * entity are phone numbers.
 */

import type { TableClient, TableEntityResult } from '@azure/data-tables';
import { jitter, openTable, quote, statusOf, type TableConnectionOptions } from '../ledger/tableClient';
import { lazy } from '../platform/lazy';
import {
    canonicalRecipient,
    canonicalSender,
    checkOptOut,
    checkOptOutQuery,
    OPT_OUT_SOURCES,
    OptOutQueryError,
    queryFingerprint,
    type OptOut,
    type OptOutPage,
    type OptOutQuery,
    type OptOutSource,
    type OptOutStore,
} from './optOuts';
import { checkCounterAddress, nextWindow, type ReplyWindow, type ReplyWindows } from './replyGuard';

/**
 * Where the ledger's table is (`tableName`: `LEDGER_TABLE`): a connection string, or a Table service URL
 * with the storage identity's credential, shared with the app.
 */
export type MessagingTableOptions = TableConnectionOptions;

const SCHEMA_VERSION = 1;
const TOKEN_VERSION = 1;
const OPT_OUT_PREFIX = 'o';
const COUNTER_PREFIX = 'w';
const MAX_COUNT_ATTEMPTS = 20;

interface OptOutEntity {
    partitionKey: string;
    rowKey: string;
    v: number;
    sender: string;
    recipient: string;
    since: string;
    source: string;
    cause?: string;
}

interface CounterEntity {
    partitionKey: string;
    rowKey: string;
    v: number;
    start: string;
    count: number;
}

/**
 * Opens the ledger's table once for both stores (created when missing). Nothing is loaded or contacted
 * until the first call.
 */
export function createMessagingTables(options: MessagingTableOptions): {
    optOuts: OptOutStore;
    replyWindows: ReplyWindows;
} {
    if ((options.connectionString === undefined) === (options.tableUrl === undefined)) {
        throw new Error('createMessagingTables needs exactly one of connectionString and tableUrl');
    }
    if (!/^[A-Za-z][A-Za-z0-9]{2,62}$/.test(options.tableName)) {
        throw new Error('The table name must be 3-63 letters or digits, starting with a letter');
    }
    const table = lazy(() => openTable(options, 'The messaging stores need'));
    return { optOuts: tableOptOuts(table), replyWindows: tableReplyWindows(table) };
}

// ---------------------------------------------------------------------------------------------------------
// Opt-outs

function tableOptOuts(table: () => Promise<TableClient>): OptOutStore {
    const get = async (sender: string, recipient: string): Promise<OptOut | undefined> => {
        const keys = optOutKeys(sender, recipient);
        if (keys === undefined) return undefined;
        const found = await readEntity<OptOutEntity>(await table(), keys.partitionKey, keys.rowKey);
        return found === undefined ? undefined : fromEntity(found);
    };

    const add = async (optOut: OptOut): Promise<'created' | 'exists'> => {
        const checked = checkOptOut(optOut);
        const entity: OptOutEntity = {
            partitionKey: `${OPT_OUT_PREFIX}${checked.sender}`,
            rowKey: checked.recipient,
            v: SCHEMA_VERSION,
            sender: checked.sender,
            recipient: checked.recipient,
            since: checked.since,
            source: checked.source,
            ...(checked.cause === undefined ? {} : { cause: checked.cause }),
        };
        try {
            await (await table()).createEntity(entity);
            return 'created';
        } catch (error) {
            if (statusOf(error) === 409) return 'exists';
            throw error;
        }
    };

    const remove = async (sender: string, recipient: string): Promise<'removed' | 'absent'> => {
        const keys = optOutKeys(sender, recipient);
        if (keys === undefined) return 'absent';
        try {
            await (await table()).deleteEntity(keys.partitionKey, keys.rowKey);
            return 'removed';
        } catch (error) {
            if (statusOf(error) === 404) return 'absent';
            throw error;
        }
    };

    const list = async (query: OptOutQuery): Promise<OptOutPage> => {
        const filters = checkOptOutQuery(query);
        const fingerprint = queryFingerprint(filters);
        const resume =
            query.continuationToken === undefined
                ? undefined
                : decodeToken(query.continuationToken, fingerprint);
        const client = await table();
        if (filters.sender !== undefined && filters.recipient !== undefined) {
            // One opt-out at most: a point read, and never a next page.
            if (resume !== undefined) return { items: [] };
            const found = await get(filters.sender, filters.recipient);
            return { items: found === undefined ? [] : [found] };
        }
        const conditions =
            filters.sender !== undefined
                ? [`PartitionKey eq ${quote(`${OPT_OUT_PREFIX}${filters.sender}`)}`]
                : [
                      `PartitionKey ge ${quote(OPT_OUT_PREFIX)}`,
                      `PartitionKey lt ${quote(nextPrefix(OPT_OUT_PREFIX))}`,
                  ];
        if (filters.recipient !== undefined) conditions.push(`RowKey eq ${quote(filters.recipient)}`);
        const pages = client
            .listEntities<OptOutEntity>({ queryOptions: { filter: conditions.join(' and ') } })
            .byPage({
                maxPageSize: query.pageSize,
                ...(resume === undefined ? {} : { continuationToken: resume }),
            });
        for await (const page of pages) {
            const items = page.map(fromEntity);
            const next = page.continuationToken;
            return next === undefined || next === ''
                ? { items }
                : { items, continuationToken: encodeToken(next, fingerprint) };
        }
        return { items: [] };
    };

    return { get, add, remove, list };
}

function optOutKeys(sender: string, recipient: string): { partitionKey: string; rowKey: string } | undefined {
    const from = canonicalSender(sender);
    const to = canonicalRecipient(recipient);
    return from === undefined || to === undefined
        ? undefined
        : { partitionKey: `${OPT_OUT_PREFIX}${from}`, rowKey: to };
}

/** The opt-out an entity holds (its keys decide the addresses; an unknown source reads as `api`). */
function fromEntity(entity: TableEntityResult<OptOutEntity>): OptOut {
    const sender = entity.partitionKey.slice(OPT_OUT_PREFIX.length);
    const recipient = entity.rowKey;
    const source = (OPT_OUT_SOURCES as readonly string[]).includes(entity.source)
        ? (entity.source as OptOutSource)
        : 'api';
    return {
        sender,
        recipient,
        since: typeof entity.since === 'string' ? entity.since : new Date(0).toISOString(),
        source,
        ...(typeof entity.cause === 'string' ? { cause: entity.cause } : {}),
    };
}

// ---------------------------------------------------------------------------------------------------------
// Reply counters

function tableReplyWindows(table: () => Promise<TableClient>): ReplyWindows {
    return {
        count: async (from, to, now, windowMs) => {
            checkCounterAddress(from);
            checkCounterAddress(to);
            const client = await table();
            const partitionKey = `${COUNTER_PREFIX}${base64url(from)}`;
            const rowKey = base64url(to);
            for (let attempt = 0; attempt < MAX_COUNT_ATTEMPTS; attempt++) {
                if (attempt > 0) await jitter(attempt);
                const found = await readEntity<CounterEntity>(client, partitionKey, rowKey);
                const current: ReplyWindow | undefined =
                    found === undefined || typeof found.start !== 'string' || typeof found.count !== 'number'
                        ? undefined
                        : { start: found.start, count: found.count };
                const next = nextWindow(current, now, windowMs);
                const entity: CounterEntity = { partitionKey, rowKey, v: SCHEMA_VERSION, ...next };
                try {
                    if (found === undefined) await client.createEntity(entity);
                    else await client.updateEntity(entity, 'Replace', { etag: found.etag });
                    return next.count;
                } catch (error) {
                    const status = statusOf(error);
                    // Another instance counted a message since the read: count again on what it wrote.
                    if (status === 409 || status === 412 || status === 404) continue;
                    throw error;
                }
            }
            throw new Error(`A reply counter lost ${String(MAX_COUNT_ATTEMPTS)} races in a row`);
        },
    };
}

// ---------------------------------------------------------------------------------------------------------
// Storage

async function readEntity<T extends object>(
    client: TableClient,
    partitionKey: string,
    rowKey: string,
): Promise<TableEntityResult<T> | undefined> {
    try {
        return await client.getEntity<T>(partitionKey, rowKey);
    } catch (error) {
        if (statusOf(error) === 404) return undefined;
        throw error;
    }
}

function base64url(text: string): string {
    return Buffer.from(text, 'utf8').toString('base64url');
}

/** The smallest string after every key starting with `prefix` (one letter). */
function nextPrefix(prefix: string): string {
    return String.fromCharCode(prefix.charCodeAt(0) + 1);
}

// ---------------------------------------------------------------------------------------------------------
// Continuation tokens: the SDK's own token, tied to the query it was issued for

function encodeToken(sdkToken: string, fingerprint: string): string {
    return Buffer.from(JSON.stringify({ v: TOKEN_VERSION, q: fingerprint, t: sdkToken }), 'utf8').toString(
        'base64url',
    );
}

function decodeToken(text: string, fingerprint: string): string {
    const invalid = new OptOutQueryError('continuationToken is not valid', 'continuationToken');
    if (!/^[A-Za-z0-9_-]{1,2000}$/.test(text)) throw invalid;
    let value: unknown;
    try {
        value = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
    } catch {
        throw invalid;
    }
    if (typeof value !== 'object' || value === null) throw invalid;
    const { v, q, t } = value as Record<string, unknown>;
    if (
        v !== TOKEN_VERSION ||
        typeof q !== 'string' ||
        typeof t !== 'string' ||
        !/^[A-Za-z0-9+/=_-]{1,1500}$/.test(t)
    ) {
        throw invalid;
    }
    if (q !== fingerprint) {
        throw new OptOutQueryError(
            'continuationToken belongs to another query (sender, recipient)',
            'continuationToken',
        );
    }
    return t;
}
