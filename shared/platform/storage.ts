/**
 * Clients for the app's storage account (the queues, the ledger table and the media container), built from the
 * `AzureWebJobsStorage` connection the Functions host uses. The storage SDKs are imported on first use.
 */

import type { TokenCredential } from '@azure/core-auth';
import type { ContainerClient } from '@azure/storage-blob';
import type { QueueClient } from '@azure/storage-queue';
import type { StorageConnection } from './config';
import { ConfigError } from './errors';
import { lazy } from './lazy';

/** The connection, or a ConfigError saying how to configure it. */
export function requireStorage(connection: StorageConnection | undefined): StorageConnection {
    if (connection === undefined) {
        throw new ConfigError([
            'AzureWebJobsStorage (or AzureWebJobsStorage__accountName) is required for the outbound queue and the ledger',
        ]);
    }
    return connection;
}

/**
 * A client for one queue; the queue is created on first use. An identity-based connection needs
 * `credential`: the app's one credential for the storage identity, so that the queue, the table and Key
 * Vault (when it is the same identity) share its token cache.
 */
export function createQueueClientFactory(
    connection: StorageConnection,
    queueName: string,
    credential: TokenCredential | undefined,
): () => Promise<QueueClient> {
    if (connection.kind === 'identity' && credential === undefined) {
        throw new Error('An identity-based storage connection needs the credential of its identity');
    }
    return lazy(async () => {
        const { QueueServiceClient } = await import('@azure/storage-queue');
        const service =
            connection.kind === 'connectionString'
                ? QueueServiceClient.fromConnectionString(connection.connectionString)
                : new QueueServiceClient(connection.queueServiceUrl, credential);
        const queue = service.getQueueClient(queueName);
        await queue.createIfNotExists();
        return queue;
    });
}

/**
 * A client for one blob container (the media container); the container is created on first use, private.
 * An identity-based connection needs `credential` (as for the queue) and the blob service URL
 * (`AzureWebJobsStorage__blobServiceUri`, or `__accountName`).
 *
 * @throws ConfigError from the returned function when the connection names no blob service.
 */
export function createContainerClientFactory(
    connection: StorageConnection,
    containerName: string,
    credential: TokenCredential | undefined,
): () => Promise<ContainerClient> {
    if (connection.kind === 'identity' && credential === undefined) {
        throw new Error('An identity-based storage connection needs the credential of its identity');
    }
    return lazy(async () => {
        if (connection.kind === 'identity' && connection.blobServiceUrl === undefined) {
            throw new ConfigError([
                'AzureWebJobsStorage__blobServiceUri is required beside the queue and table URIs for the media container (or set AzureWebJobsStorage__accountName)',
            ]);
        }
        const { BlobServiceClient } = await import('@azure/storage-blob');
        const service =
            connection.kind === 'connectionString'
                ? BlobServiceClient.fromConnectionString(connection.connectionString)
                : new BlobServiceClient(connection.blobServiceUrl ?? '', credential);
        const container = service.getContainerClient(containerName);
        await container.createIfNotExists();
        return container;
    });
}
