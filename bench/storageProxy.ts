/**
 * A counting HTTP proxy on 127.0.0.1 in front of Azurite: one listener per service (blob, queue, table)
 * forwarding to Azurite's port, and a connection string naming the listeners, so that everything the host
 * and the app ask of storage passes through here and is counted by kind.
 *
 * A request is classified from its method, its path (`/<account>/<queue>/messages[/<id>]`,
 * `/<account>/<table>(PartitionKey='…',RowKey='…')`, `/<account>/Tables`, `/<account>/$batch`), its
 * `comp` and `popreceipt` query parameters and, for tables, `If-Match` and `X-HTTP-Method`: Azure's REST
 * API says which operation each combination is.
 */

import { Agent, createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** The kinds counted. Table writes are split as the REST API names them. */
export const STORAGE_KINDS = [
    'table.read',
    'table.insert',
    'table.replace',
    'table.merge',
    'table.upsert',
    'table.delete',
    'table.batch',
    'table.other',
    'queue.get',
    'queue.peek',
    'queue.put',
    'queue.delete',
    'queue.update',
    'queue.other',
    'blob',
] as const;
export type StorageKind = (typeof STORAGE_KINDS)[number];
export type StorageCounts = Record<StorageKind, number>;

export interface StorageProxy {
    /** The Azurite connection string with every endpoint pointing at this proxy instead. */
    readonly connectionString: string;
    /** The counts so far (a copy). */
    snapshot(): StorageCounts;
    /**
     * Requests Azurite refused, as `<kind> <status>` (e.g. `table.replace 412`: a replace whose ETag had
     * moved), so far (a copy): a lost optimistic-concurrency race shows here, not just as one more request.
     */
    refusals(): Record<string, number>;
    /**
     * Table requests that name their entity in the URL (reads, replaces, upserts, deletes; not inserts,
     * whose keys are in the body) by `<kind> <first letter of the PartitionKey>`, so far (a copy): which
     * store of the table they went to (the ledger's `r`, `d`, `s`; the opt-outs' `o`, …).
     */
    partitions(): Record<string, number>;
    close(): Promise<void>;
}

export function emptyCounts(): StorageCounts {
    return Object.fromEntries(STORAGE_KINDS.map((kind) => [kind, 0])) as StorageCounts;
}

/** `after − before`, per kind. */
export function difference(after: StorageCounts, before: StorageCounts): StorageCounts {
    const out = emptyCounts();
    for (const kind of STORAGE_KINDS) out[kind] = after[kind] - before[kind];
    return out;
}

/**
 * The totals the bench reports: table reads, table writes, every entity request (`table.other`, the
 * table-level requests such as creating the table once per host, is left out: it is not per-message
 * work), queue operations.
 */
export function totals(counts: StorageCounts): {
    tableReads: number;
    tableWrites: number;
    tableRequests: number;
    queueOperations: number;
} {
    const tableWrites =
        counts['table.insert'] + counts['table.replace'] + counts['table.merge'] + counts['table.upsert'];
    const tableRequests = STORAGE_KINDS.filter((k) => k.startsWith('table.') && k !== 'table.other').reduce(
        (sum, k) => sum + counts[k],
        0,
    );
    const queueOperations =
        counts['queue.get'] +
        counts['queue.peek'] +
        counts['queue.put'] +
        counts['queue.delete'] +
        counts['queue.update'];
    return { tableReads: counts['table.read'], tableWrites, tableRequests, queueOperations };
}

function header(req: IncomingMessage, name: string): string | undefined {
    const value = req.headers[name];
    return Array.isArray(value) ? value[0] : value;
}

/** The table operation a request is, from the Table service REST API. */
export function classifyTable(method: string, pathname: string, req: IncomingMessage): StorageKind {
    const override = header(req, 'x-http-method')?.toUpperCase();
    const verb = method === 'POST' && override !== undefined ? override : method;
    const resource = pathname.split('/').slice(2).join('/');
    if (resource === '$batch') return 'table.batch';
    // Table-level operations (create, delete, query tables) are not per-entity work.
    if (/^Tables(\(|$)/.test(resource)) return 'table.other';
    const ifMatch = header(req, 'if-match');
    switch (verb) {
        case 'GET':
            return 'table.read';
        case 'POST':
            return 'table.insert';
        case 'PUT':
            // Update Entity (replace) carries If-Match; without it, PUT is Insert Or Replace.
            return ifMatch === undefined ? 'table.upsert' : 'table.replace';
        case 'MERGE':
        case 'PATCH':
            return ifMatch === undefined ? 'table.upsert' : 'table.merge';
        case 'DELETE':
            return 'table.delete';
        default:
            return 'table.other';
    }
}

/** The queue operation a request is, from the Queue service REST API. */
export function classifyQueue(method: string, pathname: string, query: URLSearchParams): StorageKind {
    const parts = pathname.split('/').filter((p) => p !== '');
    // /<account>/<queue>/messages[/<message id>]
    if (parts[2] !== 'messages') return 'queue.other';
    const oneMessage = parts.length > 3;
    switch (method) {
        case 'GET':
            return query.get('peekonly') === 'true' ? 'queue.peek' : 'queue.get';
        case 'POST':
            return 'queue.put';
        case 'DELETE':
            return oneMessage && query.has('popreceipt') ? 'queue.delete' : 'queue.other';
        case 'PUT':
            return oneMessage ? 'queue.update' : 'queue.other';
        default:
            return 'queue.other';
    }
}

const ENDPOINTS = { blob: 'BlobEndpoint', queue: 'QueueEndpoint', table: 'TableEndpoint' } as const;
type Service = keyof typeof ENDPOINTS;

/** Starts the three listeners in front of the Azurite named by `connectionString`. */
export async function startStorageProxy(connectionString: string): Promise<StorageProxy> {
    const counts = emptyCounts();
    const refused: Record<string, number> = {};
    const byPartition: Record<string, number> = {};
    const agent = new Agent({ keepAlive: true, maxSockets: 256 });
    const servers: Server[] = [];
    let proxied = connectionString;

    const listen = async (service: Service, upstream: URL): Promise<number> => {
        const server = createServer((req, res) => {
            const url = new URL(req.url ?? '/', 'http://proxy');
            const method = req.method ?? 'GET';
            const kind =
                service === 'table'
                    ? classifyTable(method, url.pathname, req)
                    : service === 'queue'
                      ? classifyQueue(method, url.pathname, url.searchParams)
                      : 'blob';
            counts[kind]++;
            if (service === 'table') {
                const keyed = /\(PartitionKey='([^'%])/.exec(decodeURIComponent(url.pathname));
                if (keyed?.[1] !== undefined) {
                    const key = `${kind} ${keyed[1]}`;
                    byPartition[key] = (byPartition[key] ?? 0) + 1;
                }
            }
            const upstreamRequest = httpRequest(
                {
                    host: upstream.hostname,
                    port: upstream.port,
                    method,
                    path: req.url,
                    headers: { ...req.headers, host: upstream.host },
                    agent,
                },
                (upstreamResponse) => {
                    const status = upstreamResponse.statusCode ?? 502;
                    // A 404 read is the ledger's "no record", not a refusal; every other 4xx/5xx is.
                    if (status >= 400 && !(status === 404 && kind === 'table.read')) {
                        const key = `${kind} ${String(status)}`;
                        refused[key] = (refused[key] ?? 0) + 1;
                    }
                    res.writeHead(status, upstreamResponse.headers);
                    upstreamResponse.pipe(res);
                },
            );
            upstreamRequest.on('error', () => {
                if (!res.headersSent) res.writeHead(502);
                res.end();
            });
            req.pipe(upstreamRequest);
        });
        servers.push(server);
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        return (server.address() as AddressInfo).port;
    };

    for (const service of Object.keys(ENDPOINTS) as Service[]) {
        const key = ENDPOINTS[service];
        const match = new RegExp(`${key}=([^;]+)`).exec(connectionString);
        if (match?.[1] === undefined) throw new Error(`The connection string has no ${key}`);
        const upstream = new URL(match[1]);
        const port = await listen(service, upstream);
        const local = new URL(upstream.href);
        local.hostname = '127.0.0.1';
        local.port = String(port);
        proxied = proxied.replace(`${key}=${match[1]}`, `${key}=${local.href.replace(/\/$/, '')}`);
    }

    return {
        connectionString: proxied,
        snapshot: () => ({ ...counts }),
        refusals: () => ({ ...refused }),
        partitions: () => ({ ...byPartition }),
        close: async () => {
            await Promise.all(
                servers.map(
                    (server) =>
                        new Promise<void>((resolve) => {
                            server.close(() => resolve());
                            server.closeAllConnections();
                        }),
                ),
            );
            agent.destroy();
        },
    };
}
