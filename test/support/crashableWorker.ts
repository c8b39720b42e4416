/**
 * A queue worker that can be killed the way a process dies, for fault tests of the real queue path: the
 * local host's own queue listener (`startQueueListener`) on Azurite, driving a function whose
 * dependencies (ledger, Twilio client) and queue clients all belong to one simulated process.
 *
 * A kill is a crash, not a shutdown: from the moment the process dies, nothing it started is ever
 * delivered to it again and nothing new is started —
 *
 * - a call into the ledger, the Twilio client or the queue that is made after the death never starts;
 * - a call that was in flight completes at the service (Azurite, the Twilio sandbox did what they were
 *   asked: a claim written, a message created), but its result never reaches the code that made it;
 *
 * so every invocation of that process stops at its next step, and the listener neither deletes nor hands
 * back the messages it had fetched. Those stay invisible under the listener's processing lock
 * (`PROCESSING_LOCK_SECONDS`, 600 s) until the lock expires. The harness stands in for that expiry: it
 * knows every message the dead process fetched and did not settle (the pop receipts it received) and makes
 * each visible again with the real SDK (`updateMessage(id, popReceipt, undefined, 0)`), which is exactly
 * what the lock's expiry does. A restarted worker is a new process: new ledger client, new Twilio client
 * factory, new (cold) secret cache, new listener.
 *
 * The granularity of a crash is one dependency call: a ledger `update` in flight completes in full (record,
 * day index, SID index), as an HTTP request in flight reaches its server; a crash between a ledger
 * update's own writes is not simulated.
 */

import type { DequeuedMessageItem, QueueClient } from '@azure/storage-queue';
import * as lib from '@azure/functions';
import type { Twilio, TwilioClientFactory } from '../../shared/platform/twilioClient';
import type { Ledger, LedgerRecord } from '../../shared/ledger/contract';
import type { CoreFunctionMetadata, RegisteredFunction } from '../../local/host/functionsCore';
import type { HostLogger } from '../../local/host/invoke';
import type { QueueSettings } from '../../local/host/loader';
import { createQueueOutputWriter } from '../../local/host/queueOutput';
import { DELAY_PREFIX } from '../../shared/outbound/transitions';
import { startQueueListener, type QueueListener } from '../../local/host/queueListener';
import { createQueueClients, type QueueClients, type Settings } from '../../local/host/storage';
import type {
    CallListInstanceCreateOptions,
    CallListInstanceOptions,
} from 'twilio/lib/rest/api/v2010/account/call';
import type {
    MessageListInstanceCreateOptions,
    MessageListInstanceOptions,
} from 'twilio/lib/rest/api/v2010/account/message';

/** A promise that never settles: what a dead process's pending calls turn into. */
export function never<T>(): Promise<T> {
    return new Promise<T>(() => undefined);
}

export const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A message fetched and not yet settled: what the harness needs to expire its lock. */
export interface HeldMessage {
    readonly queueName: string;
    readonly messageId: string;
    readonly popReceipt: string;
    readonly dequeueCount: number;
}

/** The life of one simulated process. */
export class ProcessLife {
    private isDead = false;
    private readonly deathListeners: (() => void)[] = [];
    /** The messages the process's queue clients fetched and it has neither deleted nor handed back. */
    readonly held = new Map<string, HeldMessage>();
    /** Its queue calls still in flight at the service (they change what it holds). */
    readonly queueCalls = new Set<Promise<unknown>>();

    /** 1 for the first process, 2 after the first restart, … */
    constructor(readonly index: number) {}

    get dead(): boolean {
        return this.isDead;
    }

    /** Kills the process (once); the death listeners run synchronously. */
    die(): void {
        if (this.isDead) return;
        this.isDead = true;
        for (const listener of this.deathListeners) listener();
    }

    /** Runs `listener` when the process dies (at once when it is dead already). */
    onDeath(listener: () => void): void {
        if (this.isDead) listener();
        else this.deathListeners.push(listener);
    }

    /**
     * Makes a call as this process: not started once the process is dead, and its outcome (value or error)
     * never delivered if the process died while it was in flight.
     */
    async run<T>(call: () => Promise<T>): Promise<T> {
        if (this.dead) return never();
        let value: T;
        try {
            value = await call();
        } catch (error) {
            // Read through a call: the process may have died while `call` was awaited.
            if (this.hasDied()) return never();
            throw error;
        }
        if (this.hasDied()) return never();
        return value;
    }

    private hasDied(): boolean {
        return this.isDead;
    }
}

/**
 * A pipeline step that has just completed at the service, before the pipeline sees its result: `requeue`
 * is a delayed copy of the message put on the queue (its delay marker not yet written), `delay` the delay
 * marker written (the current copy not yet acknowledged).
 */
export type PipelineStep = 'claim' | 'create' | 'sid' | 'requeue' | 'delay';

/** What one invocation's dependencies report. */
export interface InvocationProbe {
    /**
     * The dependency calls the invocation made (started while its process was alive), in order:
     * `ledger.get`, `ledger.update`, `ledger.idForSid`, `twilio.get`, `twilio.get!` (it failed), `create`,
     * `list`, `refresh`.
     */
    readonly events: string[];
    /**
     * Told, while the process is alive, when the claim has been written, a create has been answered with
     * a resource (`key` is the `To` number), the SID has been written, a delayed copy enqueued or a delay
     * marker written (`key` is the ledger id). It may kill the process: the pipeline then never sees the
     * result.
     */
    onStep(step: PipelineStep, key: string): void;
}

/**
 * The ledger as one invocation of a process sees it. Which write is which is told from what the
 * pipeline's own mutation returned: a claim with a token the record did not have is the claim; a SID the
 * record did not have is the SID being recorded.
 */
export function crashableLedger(ledger: Ledger, life: ProcessLife, probe: InvocationProbe): Ledger {
    return {
        create: (record) => life.run(() => ledger.create(record)),
        get: (id) =>
            life.run(() => {
                probe.events.push('ledger.get');
                return ledger.get(id);
            }),
        list: (query) => life.run(() => ledger.list(query)),
        idForSid: (sid) =>
            life.run(() => {
                probe.events.push('ledger.idForSid');
                return ledger.idForSid(sid);
            }),
        update: (id, mutate) =>
            life.run(async () => {
                probe.events.push('ledger.update');
                const last: { before?: LedgerRecord; after?: LedgerRecord } = {};
                const stored = await ledger.update(id, (current) => {
                    const after = mutate(current);
                    last.before = current;
                    last.after = after;
                    return after;
                });
                const { before, after } = last;
                if (!life.dead && after !== undefined) {
                    if (after.claim !== undefined && after.claim.token !== before?.claim?.token) {
                        if (after.sid === undefined) {
                            probe.onStep(after.claim.token.startsWith(DELAY_PREFIX) ? 'delay' : 'claim', id);
                        }
                    } else if (after.sid !== undefined && before?.sid === undefined) {
                        probe.onStep('sid', id);
                    }
                }
                return stored;
            }),
    };
}

/** The Twilio client factory as one invocation of a process sees it (creates and lists only). */
export function crashableTwilio(
    factory: TwilioClientFactory,
    life: ProcessLife,
    probe: InvocationProbe,
): TwilioClientFactory {
    const wrap = (client: Twilio): Twilio => {
        const created = <T>(to: string) => {
            return (resource: T): T => {
                if (!life.dead) probe.onStep('create', to);
                return resource;
            };
        };
        const wrapped = {
            // The pipeline reads Retry-After through the client's own HTTP client (a response interceptor).
            httpClient: client.httpClient,
            messages: {
                create: (params: MessageListInstanceCreateOptions) =>
                    life.run(() => {
                        probe.events.push('create');
                        return client.messages.create(params).then(created(params.to));
                    }),
                list: (params: MessageListInstanceOptions) =>
                    life.run(() => {
                        probe.events.push('list');
                        return client.messages.list(params);
                    }),
            },
            calls: {
                create: (params: CallListInstanceCreateOptions) =>
                    life.run(() => {
                        probe.events.push('create');
                        return client.calls.create(params).then(created(params.to));
                    }),
                list: (params: CallListInstanceOptions) =>
                    life.run(() => {
                        probe.events.push('list');
                        return client.calls.list(params);
                    }),
            },
        };
        // Only what the outbound pipeline uses (and the HTTP client, for Retry-After); anything else would be a
        // TypeError, not a silent pass.
        return wrapped as unknown as Twilio;
    };
    return {
        get: () =>
            life.run(async () => {
                probe.events.push('twilio.get');
                try {
                    return wrap(await factory.get());
                } catch (error) {
                    probe.events.push('twilio.get!');
                    throw error;
                }
            }),
        refreshAfterAuthFailure: () =>
            life.run(async () => {
                probe.events.push('refresh');
                const client = await factory.refreshAfterAuthFailure();
                return client === undefined ? undefined : wrap(client);
            }),
    };
}

/**
 * The pipeline's `requeue` as one invocation of a process sees it: the copy is sent to `queue` (as the app
 * sends it, with a visibility delay), and the `requeue` step reported for `id` before the pipeline goes on.
 * `sent` is told what the queue service answered.
 */
export function crashableRequeue(
    queue: QueueClient,
    life: ProcessLife,
    probe: InvocationProbe,
    id: string,
    sent: (text: string, delaySeconds: number, response: { insertedOn: Date; nextVisibleOn: Date }) => void,
): (text: string, delaySeconds: number) => Promise<void> {
    return (text, delaySeconds) =>
        life.run(async () => {
            probe.events.push('requeue');
            const response = await queue.sendMessage(text, { visibilityTimeout: delaySeconds });
            sent(text, delaySeconds, response);
            if (!life.dead) probe.onStep('requeue', id);
        });
}

/**
 * The queue clients of one process. Every message a `receiveMessages` call fetched is held until the
 * process deletes it or hands it back (`updateMessage`); what a dead process still holds is what the lock
 * expiry has to release.
 */
function crashableQueueClients(clients: QueueClients, life: ProcessLife): QueueClients {
    const { held } = life;
    const key = (queueName: string, messageId: string) => `${queueName}\n${messageId}`;
    const tracked = <T>(call: Promise<T>): Promise<T> => {
        life.queueCalls.add(call);
        const done = () => life.queueCalls.delete(call);
        call.then(done, done);
        return call;
    };
    const wrap = (queue: QueueClient): QueueClient => {
        const wrapped: Pick<
            QueueClient,
            | 'name'
            | 'createIfNotExists'
            | 'receiveMessages'
            | 'deleteMessage'
            | 'updateMessage'
            | 'sendMessage'
        > = {
            name: queue.name,
            createIfNotExists: (options) => life.run(() => queue.createIfNotExists(options)),
            receiveMessages: (options) =>
                life.run(() =>
                    tracked(
                        queue.receiveMessages(options).then((response) => {
                            for (const message of response.receivedMessageItems) {
                                held.set(
                                    key(queue.name, message.messageId),
                                    heldMessage(queue.name, message),
                                );
                            }
                            return response;
                        }),
                    ),
                ),
            deleteMessage: (messageId, popReceipt, options) =>
                life.run(() =>
                    tracked(
                        queue.deleteMessage(messageId, popReceipt, options).then((response) => {
                            held.delete(key(queue.name, messageId));
                            return response;
                        }),
                    ),
                ),
            updateMessage: (messageId, popReceipt, message, visibilityTimeout, options) =>
                life.run(() =>
                    tracked(
                        queue
                            .updateMessage(messageId, popReceipt, message, visibilityTimeout, options)
                            .then((response) => {
                                held.delete(key(queue.name, messageId));
                                return response;
                            }),
                    ),
                ),
            sendMessage: (messageText, options) => life.run(() => queue.sendMessage(messageText, options)),
        };
        // The listener uses exactly these members (local/host/queueListener.ts).
        return wrapped as QueueClient;
    };
    return {
        queue: (connection, queueName) =>
            life.run(async () => wrap(await clients.queue(connection, queueName))),
    };
}

function heldMessage(queueName: string, message: DequeuedMessageItem): HeldMessage {
    return {
        queueName,
        messageId: message.messageId,
        popReceipt: message.popReceipt,
        dequeueCount: message.dequeueCount,
    };
}

export interface CrashableWorker {
    readonly life: ProcessLife;
    /** Stops fetching and waits for the invocations in flight (a clean shutdown of a live process). */
    stop(): Promise<void>;
}

export interface WorkerOptions {
    /** The function's metadata, as `@azure/functions` registered it (its queue trigger). */
    metadata: CoreFunctionMetadata;
    /** The function's handler for a process. */
    handler: (life: ProcessLife) => (item: unknown, context: lib.InvocationContext) => Promise<unknown>;
    settings: Settings;
    queues: QueueSettings;
    log: HostLogger;
}

/** Starts one process: the local host's queue listener with this process's clients and handler. */
export async function startCrashableWorker(
    life: ProcessLife,
    options: WorkerOptions,
): Promise<CrashableWorker> {
    const clients = crashableQueueClients(createQueueClients(options.settings), life);
    const handler = options.handler(life);
    const fn: RegisteredFunction = {
        name: options.metadata.name,
        metadata: options.metadata,
        handler: (...args: unknown[]) => handler(args[0], args[1] as lib.InvocationContext),
    };
    const listener: QueueListener = await startQueueListener({
        lib,
        fn,
        clients,
        settings: options.settings,
        queues: options.queues,
        log: options.log,
        queueOutput: createQueueOutputWriter(clients, options.settings, options.queues.messageEncoding),
    });
    // A dead process fetches nothing more; its stop() never resolves (its invocations never end), and
    // nobody waits for it.
    life.onDeath(() => void listener.stop());
    return { life, stop: () => listener.stop() };
}

/** Makes every message a dead process still held visible again, as its lock's expiry would. */
export async function expireLocks(
    queue: QueueClient,
    held: Iterable<HeldMessage>,
): Promise<{ released: HeldMessage[]; alreadySettled: number }> {
    const released: HeldMessage[] = [];
    let alreadySettled = 0;
    for (const message of held) {
        if (message.queueName !== queue.name) continue;
        try {
            await queue.updateMessage(message.messageId, message.popReceipt, undefined, 0);
            released.push(message);
        } catch (error) {
            // 404: the dead process's delete did reach the queue; 400 PopReceiptMismatch: its hand-back did.
            const status = (error as { statusCode?: unknown }).statusCode;
            if (status !== 404 && status !== 400) throw error;
            alreadySettled++;
        }
    }
    return { released, alreadySettled };
}

/**
 * One live process at a time, and the restarts: {@link kill} kills a process, starts the next one at once,
 * and `lockExpiryMs` later expires the dead one's locks.
 */
export class WorkerFleet {
    /** Every process started, oldest first. */
    readonly lives: ProcessLife[] = [];
    /** The messages whose locks were expired after a kill. */
    readonly released: HeldMessage[] = [];
    private latest: CrashableWorker | undefined;
    private readonly pending = new Set<Promise<void>>();
    private readonly failures: unknown[] = [];

    constructor(
        private readonly options: {
            start: (life: ProcessLife) => Promise<CrashableWorker>;
            /** The function's queue, with the harness's own (never killed) client. */
            queue: QueueClient;
            /** How long after a kill the dead process's locks expire. */
            lockExpiryMs: number;
            /** Told about each process before it starts (a restart is a new, cold process). */
            onStarting?: (life: ProcessLife) => void;
        },
    ) {}

    /** Starts the first process. */
    async begin(): Promise<void> {
        await this.startNext();
    }

    /** Kills the process (no-op when it is dead already) and starts the next one. */
    kill(life: ProcessLife): void {
        if (life.dead) return;
        life.die();
        this.track(this.startNext());
        this.track(
            (async () => {
                await delay(this.options.lockExpiryMs);
                // What it fetched in its last moments counts too.
                await Promise.allSettled([...life.queueCalls]);
                const { released } = await expireLocks(this.options.queue, [...life.held.values()]);
                this.released.push(...released);
            })(),
        );
    }

    /** Whether a restart or a lock expiry is still to come. */
    get busy(): boolean {
        return this.pending.size > 0;
    }

    /** Throws what a restart or a lock expiry failed with. */
    check(): void {
        if (this.failures.length > 0) throw this.failures[0];
    }

    /** Waits for the restarts and lock expiries under way, then stops the live process cleanly. */
    async stop(): Promise<void> {
        while (this.pending.size > 0) await Promise.all([...this.pending]);
        this.check();
        const live = this.latest;
        if (live !== undefined && !live.life.dead) await live.stop();
    }

    private async startNext(): Promise<void> {
        const life = new ProcessLife(this.lives.length + 1);
        this.lives.push(life);
        this.options.onStarting?.(life);
        const worker = await this.options.start(life);
        if (this.lives.at(-1) === life) this.latest = worker;
    }

    private track(work: Promise<void>): void {
        const tracked = work.catch((error: unknown) => {
            this.failures.push(error);
        });
        this.pending.add(tracked);
        void tracked.finally(() => this.pending.delete(tracked));
    }
}
