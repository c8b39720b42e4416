/**
 * Storage queue output bindings (`output.storageQueue(...)` as `return` or in `extraOutputs`): after a
 * successful invocation, each value set for such a binding is written to its queue.
 */

import type { InvocationContext } from '@azure/functions';
import type { RegisteredFunction } from './functionsCore';
import { encodeMessage, resolveSettingExpression, type QueueClients, type Settings } from './storage';

export interface QueueOutputWriter {
    write(fn: RegisteredFunction, context: InvocationContext, result: unknown): Promise<void>;
}

/** Creates the writer for the app's settings and `host.json` queue encoding. */
export function createQueueOutputWriter(
    clients: QueueClients,
    settings: Settings,
    encoding: 'base64' | 'none',
    onWritten: (queueName: string) => void = () => undefined,
): QueueOutputWriter {
    return {
        async write(fn, context, result) {
            for (const [name, binding] of Object.entries(fn.metadata.bindings)) {
                if (binding.type !== 'queue' || binding.direction !== 'out') continue;
                const value: unknown = name === '$return' ? result : context.extraOutputs.get(name);
                if (value === undefined || value === null) continue;
                const queueName = resolveSettingExpression(String(binding.queueName), settings);
                const queue = await clients.queue(binding.connection as string | undefined, queueName);
                await queue.createIfNotExists();
                for (const item of Array.isArray(value) ? value : [value]) {
                    const text = typeof item === 'string' ? item : JSON.stringify(item);
                    await queue.sendMessage(encodeMessage(text, encoding));
                }
                onWritten(queueName);
            }
        },
    };
}
