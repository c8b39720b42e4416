/**
 * Azure Storage queue access for the local host, resolved from the app's settings the way the Functions
 * host resolves a binding's `connection` and `%SETTING%` expressions.
 */

import type { QueueClient, QueueServiceClient } from '@azure/storage-queue';

export type Settings = Readonly<Record<string, string | undefined>>;

/** Replaces each `%NAME%` in a binding expression with the setting's value. */
export function resolveSettingExpression(expression: string, settings: Settings): string {
    return expression.replace(/%([^%]+)%/g, (_, name: string) => {
        const value = settings[name];
        if (value === undefined || value === '') {
            throw new Error(
                `The binding expression "${expression}" uses the setting ${name}, which is not set`,
            );
        }
        return value;
    });
}

/**
 * Queue clients per connection setting. `connection` names a setting holding a connection string
 * (default `AzureWebJobsStorage`), or the prefix of `<prefix>__queueServiceUri` for identity-based
 * connections, which the local host does not support.
 */
export function createQueueClients(settings: Settings) {
    const services = new Map<string, QueueServiceClient>();
    let sdk: typeof import('@azure/storage-queue') | undefined;

    return {
        async queue(connection: string | undefined, queueName: string): Promise<QueueClient> {
            const name = connection === undefined || connection === '' ? 'AzureWebJobsStorage' : connection;
            let service = services.get(name);
            if (service === undefined) {
                const connectionString = settings[name] ?? settings[`AzureWebJobs${name}`];
                if (connectionString === undefined || connectionString === '') {
                    const identity = settings[`${name}__queueServiceUri`] ?? settings[`${name}__serviceUri`];
                    throw new Error(
                        identity === undefined
                            ? `The storage connection setting "${name}" is not set`
                            : `The storage connection "${name}" is identity-based, which the local host does not support: give it a connection string locally`,
                    );
                }
                sdk ??= await import('@azure/storage-queue');
                service = sdk.QueueServiceClient.fromConnectionString(connectionString);
                services.set(name, service);
            }
            return service.getQueueClient(queueName);
        },
    };
}

export type QueueClients = ReturnType<typeof createQueueClients>;

/** Encodes a message body as the host does for `messageEncoding`. */
export function encodeMessage(text: string, encoding: 'base64' | 'none'): string {
    return encoding === 'base64' ? Buffer.from(text, 'utf8').toString('base64') : text;
}

/**
 * Decodes a message body as the host does for `messageEncoding`; `undefined` when a `base64` message is not
 * valid base64 (the host moves such a message to the poison queue).
 */
export function decodeMessage(text: string, encoding: 'base64' | 'none'): string | undefined {
    if (encoding === 'none') return text;
    const compact = text.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 !== 0) return undefined;
    return Buffer.from(compact, 'base64').toString('utf8');
}
