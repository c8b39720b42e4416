/**
 * Opening the ledger's table, for the ledger (shared/ledger/table.ts) and for the messaging stores that
 * keep their own partitions in it (shared/messaging/tableStores.ts): one `TableClient`, short retries,
 * the table created when missing, and the small helpers both use on Table answers.
 *
 * `@azure/data-tables` is imported inside `openTable`, never at module load: only its types are named here.
 */

import type { TokenCredential } from '@azure/core-auth';
import type { TableClient } from '@azure/data-tables';

/** Where the table is: a connection string, or a Table service URL and the identity's credential. */
export interface TableConnectionOptions {
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
}

/** A connection string whose table endpoint is plain http (Azurite). */
const HTTP_ENDPOINT = /(^|;)\s*(TableEndpoint\s*=\s*http:|DefaultEndpointsProtocol\s*=\s*http\s*(;|$))/i;

/**
 * A client for the table, which is created if it does not exist yet.
 *
 * @param user who needs the table, for the error when `options` name neither way to reach it
 *   (e.g. `The ledger needs`).
 * @throws Error when `options` hold neither a connection string nor a table URL and a credential; the
 *   Table service's error when creating the table fails other than with "it exists".
 */
export async function openTable(options: TableConnectionOptions, user: string): Promise<TableClient> {
    const { TableClient } = await import('@azure/data-tables');
    // The table sits on webhook paths, where Twilio waits at most 15 s: keep the SDK's retries short.
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
            throw new Error(`${user} a connection string, or a table URL and a credential`);
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

/** The HTTP status of a Table service error (`statusCode`), if it has one. */
export function statusOf(error: unknown): number | undefined {
    const status = (error as { statusCode?: unknown } | null)?.statusCode;
    return typeof status === 'number' ? status : undefined;
}

/** The Table service's error code (`code`, e.g. `TableBeingDeleted`), if it has one. */
export function codeOf(error: unknown): string | undefined {
    const code = (error as { code?: unknown } | null)?.code;
    return typeof code === 'string' ? code : undefined;
}

/** An OData string literal: quotes doubled. */
export function quote(value: string): string {
    return `'${value.replace(/'/g, "''")}'`;
}

/** A short random pause before retrying a lost race, so that racers spread out. */
export function jitter(attempt: number): Promise<void> {
    const ms = Math.random() * Math.min(10 * attempt, 100);
    return new Promise((resolve) => setTimeout(resolve, ms));
}
