/**
 * A storage queue trigger with the Functions host's documented semantics (host.json `extensions.queues`):
 * batches of `batchSize` fetched whenever fewer than `newBatchThreshold` are in flight, random exponential
 * back-off up to `maxPollingInterval` while the queue is empty, `messageEncoding` decoding, delete on
 * success, redelivery after `visibilityTimeout` on failure, and the poison queue after `maxDequeueCount`
 * failed attempts.
 */

import { randomUUID } from 'node:crypto';
import type { DequeuedMessageItem, QueueClient } from '@azure/storage-queue';
import type { RegisteredFunction } from './functionsCore';
import { invoke, type FunctionsLibrary, type HostLogger } from './invoke';
import type { QueueSettings } from './loader';
import type { QueueOutputWriter } from './queueOutput';
import { decodeMessage, resolveSettingExpression, type QueueClients, type Settings } from './storage';

/** How long a fetched message stays invisible to other readers while the function runs. */
const PROCESSING_LOCK_SECONDS = 600;
const MIN_POLLING_INTERVAL_MS = 100;

export interface QueueListener {
    readonly functionName: string;
    readonly queueName: string;
    /** Polls now instead of waiting out the back-off (a message was just written by this host). */
    wake(): void;
    /** Stops fetching and waits for the invocations in flight. */
    stop(): Promise<void>;
}

/** The queue-triggered functions of the app. */
export function queueFunctions(functions: readonly RegisteredFunction[]): RegisteredFunction[] {
    return functions.filter((fn) =>
        Object.values(fn.metadata.bindings).some((b) => b.type === 'queueTrigger'),
    );
}

/** Starts listening on the queue `fn` is triggered by; the queue is created if it does not exist. */
export async function startQueueListener(options: {
    lib: FunctionsLibrary;
    fn: RegisteredFunction;
    clients: QueueClients;
    settings: Settings;
    queues: QueueSettings;
    log: HostLogger;
    queueOutput: QueueOutputWriter;
}): Promise<QueueListener> {
    const { fn, queues, log } = options;
    const trigger = Object.values(fn.metadata.bindings).find((b) => b.type === 'queueTrigger');
    if (trigger === undefined) throw new Error(`Function "${fn.name}" has no queue trigger`);
    const queueName = resolveSettingExpression(String(trigger.queueName), options.settings);
    const connection = trigger.connection as string | undefined;
    const queue = await options.clients.queue(connection, queueName);
    await queue.createIfNotExists();
    let poison: QueueClient | undefined;

    let stopped = false;
    let inFlight = 0;
    let wakeUp: (() => void) | undefined;
    const inFlightChanged = new Set<() => void>();
    const signal = () => {
        for (const notify of [...inFlightChanged]) notify();
    };
    const sleep = (ms: number) =>
        new Promise<void>((resolve) => {
            const timer = setTimeout(done, ms);
            function done() {
                clearTimeout(timer);
                wakeUp = undefined;
                resolve();
            }
            wakeUp = done;
        });
    const untilInFlightChanges = () =>
        new Promise<void>((resolve) => {
            const notify = () => {
                inFlightChanged.delete(notify);
                resolve();
            };
            inFlightChanged.add(notify);
        });

    const moveToPoison = async (message: DequeuedMessageItem, reason: string) => {
        poison ??= await options.clients.queue(connection, `${queueName}-poison`);
        await poison.createIfNotExists();
        await poison.sendMessage(message.messageText);
        await queue.deleteMessage(message.messageId, message.popReceipt);
        log('warning', `${reason} Moving message to queue '${queueName}-poison'.`);
    };

    const process = async (message: DequeuedMessageItem) => {
        if (message.dequeueCount > queues.maxDequeueCount) {
            await moveToPoison(message, `Message has reached MaxDequeueCount of ${queues.maxDequeueCount}.`);
            return;
        }
        const text = decodeMessage(message.messageText, queues.messageEncoding);
        if (text === undefined) {
            await moveToPoison(
                message,
                `Message ${message.messageId} on '${queueName}' is not valid base64 (host.json messageEncoding is "base64").`,
            );
            return;
        }
        const triggerMetadata = {
            id: message.messageId,
            dequeueCount: message.dequeueCount,
            insertionTime: hostDateTimeOffset(message.insertedOn),
            expirationTime: hostDateTimeOffset(message.expiresOn),
            nextVisibleTime: hostDateTimeOffset(message.nextVisibleOn),
            popReceipt: message.popReceipt,
            queueTrigger: text,
            sys: { methodName: fn.name, utcNow: hostDateTime(new Date(), 'Z'), randGuid: randomUUID() },
        };
        try {
            const { context, result } = await invoke(
                options.lib,
                fn,
                {
                    reason: `New queue message detected on '${queueName}'.`,
                    args: [parseItem(text)],
                    triggerMetadata,
                },
                log,
            );
            await options.queueOutput.write(fn, context, result);
        } catch {
            if (message.dequeueCount >= queues.maxDequeueCount) {
                await moveToPoison(
                    message,
                    `Message has reached MaxDequeueCount of ${queues.maxDequeueCount}.`,
                );
            } else {
                await queue.updateMessage(
                    message.messageId,
                    message.popReceipt,
                    undefined,
                    Math.ceil(queues.visibilityTimeoutMs / 1000),
                );
            }
            return;
        }
        await queue.deleteMessage(message.messageId, message.popReceipt);
    };

    const loop = async () => {
        let delay = 0;
        while (!stopped) {
            if (inFlight > queues.newBatchThreshold) {
                await untilInFlightChanges();
                continue;
            }
            let messages: DequeuedMessageItem[];
            try {
                const response = await queue.receiveMessages({
                    numberOfMessages: queues.batchSize,
                    visibilityTimeout: PROCESSING_LOCK_SECONDS,
                });
                messages = response.receivedMessageItems;
            } catch (error) {
                log(
                    'error',
                    `Polling queue '${queueName}' failed: ${error instanceof Error ? error.message : String(error)}`,
                );
                messages = [];
            }
            if (messages.length === 0) {
                // Random exponential back-off, as the host does, so idle listeners do not poll in lock step.
                delay = Math.min(queues.maxPollingIntervalMs, Math.max(MIN_POLLING_INTERVAL_MS, delay * 2));
                await sleep(delay / 2 + Math.random() * (delay / 2));
                continue;
            }
            delay = 0;
            for (const message of messages) {
                inFlight += 1;
                process(message)
                    .catch((error: unknown) => {
                        log(
                            'error',
                            `Could not settle message ${message.messageId} on '${queueName}': ${error instanceof Error ? error.message : String(error)}`,
                        );
                    })
                    .finally(() => {
                        inFlight -= 1;
                        signal();
                    });
            }
        }
    };
    const running = loop();

    return {
        functionName: fn.name,
        queueName,
        wake: () => wakeUp?.(),
        async stop() {
            stopped = true;
            wakeUp?.();
            signal();
            await running;
            while (inFlight > 0) await untilInFlightChanges();
        },
    };
}

/**
 * The trigger argument as the library's `fromRpcTypedData` makes it from the host's string: any JSON text is
 * parsed (`{…}`, `[…]`, `12345`, `true`, `null`, `"text"`), anything else stays text.
 */
export function parseItem(text: string): unknown {
    try {
        return JSON.parse(text) as unknown;
    } catch {
        return text;
    }
}

/**
 * A time as it reaches `context.triggerMetadata`: the host sends the queue message's DateTimeOffset values as
 * JSON written by Newtonsoft.Json, `2019-10-09T17:58:31+00:00` (fractional seconds only when there are any,
 * trailing zeros dropped), and the library parses that JSON back into the same string.
 */
export function hostDateTimeOffset(date: Date): string {
    return hostDateTime(date, '+00:00');
}

/** A UTC time as Newtonsoft.Json writes it, with `zone` (`Z` for a DateTime, `+00:00` for a DateTimeOffset). */
function hostDateTime(date: Date, zone: string): string {
    const iso = date.toISOString(); // 2019-10-09T17:58:31.250Z
    const fraction = iso.slice(20, 23).replace(/0+$/, '');
    return `${iso.slice(0, 19)}${fraction === '' ? '' : `.${fraction}`}${zone}`;
}
