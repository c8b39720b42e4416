/**
 * Clients for the app's storage account (the outbound queue and the ledger table), built from the
 * `AzureWebJobsStorage` connection the Functions host uses. The storage SDKs are imported on first use.
 */

import type { QueueClient } from '@azure/storage-queue';
import type { StorageConnection } from './config';
import { ConfigError } from './errors';
import { lazy } from './lazy';

const loadIdentity = lazy(async () => {
    const { DefaultAzureCredential } = await import('@azure/identity');
    return new DefaultAzureCredential();
});

/** The connection, or a ConfigError saying how to configure it. */
export function requireStorage(connection: StorageConnection | undefined): StorageConnection {
    if (connection === undefined) {
        throw new ConfigError([
            'AzureWebJobsStorage (or AzureWebJobsStorage__accountName) is required for the outbound queue and the ledger',
        ]);
    }
    return connection;
}

/** A client for one queue; the queue is created on first use. */
export function createQueueClientFactory(
    connection: StorageConnection,
    queueName: string,
): () => Promise<QueueClient> {
    return lazy(async () => {
        const { QueueServiceClient } = await import('@azure/storage-queue');
        const service =
            connection.kind === 'connectionString'
                ? QueueServiceClient.fromConnectionString(connection.connectionString)
                : new QueueServiceClient(connection.queueServiceUrl, await loadIdentity());
        const queue = service.getQueueClient(queueName);
        await queue.createIfNotExists();
        return queue;
    });
}

/** The identity used for identity-based storage connections (`DefaultAzureCredential`). */
export const storageCredential = loadIdentity;
