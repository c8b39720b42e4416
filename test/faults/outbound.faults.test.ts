/**
 * The outbound queue path under faults, end to end on real infrastructure: messages on a real Azurite
 * queue, consumed by the local host's own queue listener (`startQueueListener`, the host's trigger
 * semantics: batches, visibility, dequeue count, poison queue), a function that calls the real
 * `processOutbound` the way functions/outbound.ts does, the real ledger on Azurite's Table service, and the
 * real `twilio` client talking to the Twilio sandbox through the fault proxy.
 *
 * Faults, all in one run:
 * - a seeded, per-message schedule of Twilio create failures (429, 503, 500, a dropped connection — before
 *   the request reaches Twilio, or after Twilio created the message), about 20% of all creates;
 * - permanent errors (21610 / 21215) for some numbers, and numbers whose every create answers 503;
 * - the worker process killed right after a claim was written, after a create was answered, after the SID
 *   was written — and restarted (test/support/crashableWorker.ts: a kill is a crash, the dead process's
 *   queue locks expire, a restart is a cold process);
 * - every message on the queue twice (same text, same id);
 * - Key Vault down while a cold process starts (at the start, and again at one restart);
 * - separately, Twilio's back-pressure (a 429 with Retry-After that outlasts the client's retries, 21611
 *   once or twice): delayed copies re-enqueued, with the worker killed right after the re-enqueue and right
 *   after the delay marker, before the current copy is acknowledged.
 *
 * The poison queue is then run through `recordPoisonedMessage`, as the outboundPoison function does.
 * Assertions are on counts and exact states only; timings are printed, never asserted.
 */

import { QueueServiceClient, type QueueClient } from '@azure/storage-queue';
import * as lib from '@azure/functions';
import { outboundOptions } from '../../functions/outbound';
import { outboundPoisonOptions } from '../../functions/outboundPoison';
import type { CoreFunctionMetadata } from '../../local/host/functionsCore';
import type { HostLogger } from '../../local/host/invoke';
import { readHostJson, type QueueSettings } from '../../local/host/loader';
import { createQueueOutputWriter } from '../../local/host/queueOutput';
import { startQueueListener } from '../../local/host/queueListener';
import { createQueueClients, type Settings } from '../../local/host/storage';
import { SecretUnavailableError } from '../../shared/platform/errors';
import type { Ledger, LedgerRecord } from '../../shared/ledger/contract';
import { createLedger } from '../../shared/ledger/table';
import { isTerminal } from '../../shared/ledger/status';
import { decodeQueueItem } from '../../shared/outbound/message';
import { outboundId, processOutbound, type OutboundOutcome } from '../../shared/outbound/pipeline';
import { OUTBOUND_MAX_DEQUEUE_COUNT } from '../../shared/outbound/settings';
import { recordPoisonedMessage, type PoisonResult } from '../../shared/outbound/poison';
import { mulberry32 } from '../support/fuzzRandom';
import { createSecretProvider } from '../../shared/platform/secrets';
import type { Fault, FaultMatch, ProxiedRequest } from '../fakes/faultProxy';
import { REPO_ROOT } from '../support/childProcess';
import {
    crashableLedger,
    crashableRequeue,
    crashableTwilio,
    delay,
    startCrashableWorker,
    WorkerFleet,
    type InvocationProbe,
    type PipelineStep,
    type ProcessLife,
} from '../support/crashableWorker';
import { registrations } from '../support/functionsCore';
import {
    DEFAULT_FROM,
    PUBLIC_BASE_URL,
    startOutboundEnvironment,
    type OutboundEnvironment,
} from '../support/outboundHarness';

/**
 * Short, so that a killed attempt's claim has expired by the time its message is back; but, as the pipeline
 * requires of a lease, longer than a claim-to-answer round can take here: on two busy cores that reaches
 * about a second (the summary prints the longest), and a shorter lease lets the other copy of a message
 * send while the first copy's create is still in flight — a duplicate the test, not the pipeline, caused.
 */
const CLAIM_LEASE_MS = 2_000;
/** When a dead process's queue locks expire, after the kill: once its claims' leases have. */
const LOCK_EXPIRY_MS = CLAIM_LEASE_MS + 200;
const SEED = Number(process.env.FAULT_SEED ?? 20_240_611);

let env: OutboundEnvironment;
let storage: QueueServiceClient;
let outboundMetadata: CoreFunctionMetadata;
let poisonMetadata: CoreFunctionMetadata;
let tables = 0;

/** host.json's queue settings, with the timings shortened for a test run. */
const HOST_QUEUES = readHostJson(REPO_ROOT).queues;
const QUEUES: QueueSettings = { ...HOST_QUEUES, visibilityTimeoutMs: 200, maxPollingIntervalMs: 200 };

beforeAll(async () => {
    env = await startOutboundEnvironment({ tablePrefix: 'faultsdefault' });
    storage = QueueServiceClient.fromConnectionString(env.azurite.connectionString);
    // The functions' own trigger options, registered through @azure/functions as the app registers them, so
    // the listener sees the metadata the worker would.
    outboundMetadata = register('outboundUnderFaults', outboundOptions);
    poisonMetadata = register('outboundPoisonUnderFaults', outboundPoisonOptions);
}, 60_000);

afterAll(async () => {
    await env.stop();
});

beforeEach(() => {
    env.proxy.clear();
});

function register(name: string, options: { queueName: string; connection: string }): CoreFunctionMetadata {
    lib.app.storageQueue(name, {
        queueName: options.queueName,
        connection: options.connection,
        handler: () => {
            throw new Error('not called: the test runs this function with its own handler');
        },
    });
    const registration = registrations.find((r) => r.metadata.name === name);
    if (registration === undefined) throw new Error(`${name} was not registered`);
    return registration.metadata as CoreFunctionMetadata;
}

// ---------------------------------------------------------------------------------------------------------
// The scenario: processes, invocations, probes, Key Vault

interface Invocation {
    readonly worker: number;
    readonly queueMessageId: string;
    readonly dequeueCount: number;
    /** The ledger id the pipeline keys the message by. */
    readonly ledgerId: string;
    readonly events: string[];
    outcome?: OutboundOutcome;
    error?: unknown;
}

interface Kill {
    step: PipelineStep;
    /** The ledger id (claim, sid) or To number (create) the step was about. */
    key: string;
    worker: number;
    dequeueCount: number;
}

/** Key Vault as the secret provider's `read` sees it: down for a window of failed invocations. */
class KeyVault {
    down = false;
    failedReads = 0;
    readonly windows: { limit: number; failedInvocations: number; opensAtWorker: number }[] = [];

    constructor(private readonly token: string) {}

    readonly read = (): Promise<string> => {
        if (this.down) {
            this.failedReads++;
            return Promise.reject(new SecretUnavailableError('Key Vault is unavailable (injected outage)'));
        }
        return Promise.resolve(this.token);
    };

    /** Down until `limit` invocations have failed for it. */
    open(limit: number, worker: number): void {
        this.windows.push({ limit, failedInvocations: 0, opensAtWorker: worker });
        this.down = true;
    }

    invocationFailed(): void {
        const window = this.windows.at(-1);
        if (window === undefined || !this.down) return;
        window.failedInvocations++;
        if (window.failedInvocations >= window.limit) this.down = false;
    }
}

interface Scenario {
    readonly queueName: string;
    readonly settings: Settings;
    readonly queue: QueueClient;
    readonly tableName: string;
    readonly ledger: Ledger;
    readonly keyVault: KeyVault;
    readonly invocations: Invocation[];
    readonly kills: Kill[];
    readonly hostProblems: string[];
    readonly log: HostLogger;
    /** Every delayed copy the pipeline put on the queue, as the queue service answered it. */
    readonly requeued: Requeued[];
    fleet: WorkerFleet;
}

interface Requeued {
    readonly ledgerId: string;
    readonly delaySeconds: number;
    /** From its insertion to its visibility, by the queue service's clock. */
    readonly visibleAfterMs: number;
}

/**
 * Delayed retries, shortened for a test run: a 429 without Retry-After waits 1 s, a full queue 2 s (then
 * 4 s): longer than the claim lease, so a copy re-enqueued by a process killed before it wrote the marker
 * finds that claim expired, not held (a held copy is redelivered every 200 ms here and would soon be
 * poisoned, a churn of the test's short timings, not of the pipeline's).
 */
const BACKOFF = { rateLimitMs: 1_000, queueFullMs: 2_000, maxMs: 4_000 };

/** A queue, a ledger table and Key Vault for one test; the fleet is started by {@link startFleet}. */
async function newScenario(queueName: string): Promise<Scenario> {
    tables++;
    const tableName = `faults${String(tables)}`;
    const queue = storage.getQueueClient(queueName);
    await queue.createIfNotExists();
    const hostProblems: string[] = [];
    return {
        queueName,
        settings: { AzureWebJobsStorage: env.azurite.connectionString, OUTBOUND_QUEUE: queueName },
        queue,
        tableName,
        ledger: createLedger({ connectionString: env.azurite.connectionString, tableName, storeBody: false }),
        keyVault: new KeyVault(env.sandbox.authToken),
        invocations: [],
        kills: [],
        hostProblems,
        requeued: [],
        // The host's own failures (a message it could not settle, a poll that failed) are problems; an
        // invocation that failed is what the faults are for.
        log: (level, message) => {
            if (level === 'error' && /^(Could not settle|Polling queue)/.test(message))
                hostProblems.push(message);
        },
        fleet: undefined as unknown as WorkerFleet,
    };
}

/**
 * Starts the processes. `onStep` is told about each completed step of a live process's invocation and may
 * kill it (`scenario.fleet.kill(life)`).
 */
async function startFleet(
    scenario: Scenario,
    onStep: (life: ProcessLife, invocation: Invocation, step: PipelineStep, key: string) => void,
    onStarting: (life: ProcessLife) => void = () => undefined,
): Promise<void> {
    const { keyVault } = scenario;
    scenario.fleet = new WorkerFleet({
        queue: scenario.queue,
        lockExpiryMs: LOCK_EXPIRY_MS,
        onStarting,
        start: (life) =>
            startCrashableWorker(life, {
                metadata: outboundMetadata,
                settings: scenario.settings,
                queues: QUEUES,
                log: scenario.log,
                handler: (process) => {
                    // A new process: its own ledger client, Twilio client factory and (cold) token cache.
                    const ledger = createLedger({
                        connectionString: env.azurite.connectionString,
                        tableName: scenario.tableName,
                        storeBody: false,
                    });
                    const twilio = env.factory(
                        createSecretProvider({
                            read: keyVault.read,
                            ttlMs: 200,
                            retryAfterFailureMs: 200,
                            minRefreshIntervalMs: 1_000,
                        }),
                    );
                    // As functions/outbound.ts calls the pipeline, with this process's dependencies.
                    return async (item, context) => {
                        const metadata = context.triggerMetadata ?? {};
                        const queueMessageId = String(metadata.id);
                        const decoded = decodeQueueItem(item);
                        const invocation: Invocation = {
                            worker: process.index,
                            queueMessageId,
                            dequeueCount: Number(metadata.dequeueCount),
                            ledgerId: decoded.ok
                                ? outboundId(decoded.value, queueMessageId)
                                : `queue-${queueMessageId}`,
                            events: [],
                        };
                        scenario.invocations.push(invocation);
                        const probe: InvocationProbe = {
                            events: invocation.events,
                            onStep: (step, key) => {
                                onStep(process, invocation, step, key);
                            },
                        };
                        try {
                            invocation.outcome = await processOutbound(
                                item,
                                { id: invocation.queueMessageId, dequeueCount: invocation.dequeueCount },
                                {
                                    ledger: crashableLedger(ledger, process, probe),
                                    twilio: crashableTwilio(twilio, process, probe),
                                    fromNumber: DEFAULT_FROM,
                                    messagingServiceSid: undefined,
                                    publicBaseUrl: PUBLIC_BASE_URL,
                                    maxDequeueCount: QUEUES.maxDequeueCount,
                                    log: context,
                                    claimLeaseMs: CLAIM_LEASE_MS,
                                    // As functions/outbound.ts: delayed copies go on the function's own queue.
                                    requeue: crashableRequeue(
                                        scenario.queue,
                                        process,
                                        probe,
                                        invocation.ledgerId,
                                        (_text, delaySeconds, response) => {
                                            scenario.requeued.push({
                                                ledgerId: invocation.ledgerId,
                                                delaySeconds,
                                                visibleAfterMs:
                                                    response.nextVisibleOn.getTime() -
                                                    response.insertedOn.getTime(),
                                            });
                                        },
                                    ),
                                    backoff: BACKOFF,
                                },
                            );
                        } catch (error) {
                            invocation.error = error;
                            if (error instanceof SecretUnavailableError) keyVault.invocationFailed();
                            throw error;
                        }
                    };
                },
            }),
    });
    await scenario.fleet.begin();
}

/** `promise`, or a failure naming `what` after `ms` (the timer is cleared either way). */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
            reject(new Error(`${what}: not within ${String(ms)} ms`));
        }, ms);
    });
    try {
        return await Promise.race([promise, timeout]);
    } finally {
        clearTimeout(timer);
    }
}

/** Polls until `queue` is empty (and no restart or lock expiry is pending); bounded. */
async function drain(queue: QueueClient, fleet: WorkerFleet | undefined, limitMs: number): Promise<void> {
    const deadline = Date.now() + limitMs;
    for (;;) {
        fleet?.check();
        if (fleet?.busy !== true) {
            const { approximateMessagesCount } = await queue.getProperties();
            if (approximateMessagesCount === 0) return;
            if (Date.now() > deadline) {
                throw new Error(
                    `${queue.name} still holds ${String(approximateMessagesCount)} messages after ${String(limitMs)} ms`,
                );
            }
        } else if (Date.now() > deadline) {
            throw new Error(`restarts or lock expiries still pending after ${String(limitMs)} ms`);
        }
        await delay(100);
    }
}

/** Runs the poison queue through recordPoisonedMessage, as the outboundPoison function does. */
async function runPoisonQueue(scenario: Scenario): Promise<{ results: PoisonResult[]; messages: number }> {
    const poison = storage.getQueueClient(`${scenario.queueName}-poison`);
    await poison.createIfNotExists();
    const messages = (await poison.getProperties()).approximateMessagesCount ?? 0;
    const results: PoisonResult[] = [];
    const clients = createQueueClients(scenario.settings);
    // As functions/outboundPoison.ts does: with the Twilio client, to ask Twilio before dead-lettering.
    const twilio = env.factory(createSecretProvider({ read: scenario.keyVault.read, ttlMs: 200 }));
    const listener = await startQueueListener({
        lib,
        fn: {
            name: poisonMetadata.name,
            metadata: poisonMetadata,
            handler: async (...args: unknown[]) => {
                const context = args[1] as lib.InvocationContext;
                const result = await recordPoisonedMessage(
                    scenario.ledger,
                    args[0],
                    String(context.triggerMetadata?.id),
                    { twilio, log: context },
                );
                results.push(result);
                context.warn(`Outbound message ${result.id} dead-lettered (${result.kind})`);
            },
        },
        clients,
        settings: scenario.settings,
        queues: QUEUES,
        log: scenario.log,
        queueOutput: createQueueOutputWriter(clients, scenario.settings, QUEUES.messageEncoding),
    });
    try {
        await drain(poison, undefined, 30_000);
    } finally {
        await listener.stop();
    }
    return { results, messages };
}

const createPath = (type: 'sms' | 'call') => (type === 'sms' ? /\/Messages\.json$/ : /\/Calls\.json$/);
const createMatch = (type: 'sms' | 'call', to: string): FaultMatch => ({
    method: 'POST',
    path: createPath(type),
    params: { To: to },
});
/** The number a proxied request was about (the create's form, or a list's query). */
const toOf = (request: ProxiedRequest): string | null =>
    request.method === 'POST' ? request.form.get('To') : request.query.get('To');

function groupBy<T>(items: readonly T[], key: (item: T) => string | null | undefined): Map<string, T[]> {
    const groups = new Map<string, T[]>();
    for (const item of items) {
        const k = key(item);
        if (k === null || k === undefined) continue;
        const group = groups.get(k);
        if (group === undefined) groups.set(k, [item]);
        else group.push(item);
    }
    return groups;
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
    const results: R[] = new Array<R>(items.length);
    let next = 0;
    const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
        while (next < items.length) {
            const index = next++;
            results[index] = await fn(items[index] as T);
        }
    });
    await Promise.all(lanes);
    return results;
}

const SENT_STATUSES: Readonly<Record<'sms' | 'call', readonly string[]>> = {
    sms: ['accepted', 'queued', 'sending', 'sent', 'delivered'],
    call: ['queued', 'initiated', 'ringing', 'in-progress', 'completed'],
};

// ---------------------------------------------------------------------------------------------------------
// The bulk run

type Fate = 'sent' | 'permanent' | 'dead-letter' | 'invalid' | 'garbage';

interface TransientKind {
    readonly name: string;
    readonly fault: Fault;
    /** Whether the sandbox receives (and creates) the request. */
    readonly forwarded: boolean;
}

const TRANSIENT_KINDS: readonly TransientKind[] = [
    { name: '429', fault: { kind: 'error', status: 429 }, forwarded: false },
    { name: '503', fault: { kind: 'error', status: 503 }, forwarded: false },
    { name: '500', fault: { kind: 'error', status: 500 }, forwarded: false },
    { name: 'timeout before Twilio', fault: { kind: 'reset', afterMs: 20 }, forwarded: false },
    {
        name: '500 after Twilio created it',
        fault: { kind: 'forward-then-error', status: 500 },
        forwarded: true,
    },
    { name: 'timeout after Twilio created it', fault: { kind: 'forward-then-reset' }, forwarded: true },
];

interface PlannedMessage {
    readonly index: number;
    /** The ledger id; undefined for garbage (keyed by its queue message ids). */
    readonly id: string | undefined;
    readonly to: string;
    readonly type: 'sms' | 'call';
    readonly fate: Fate;
    /** The queue message text (JSON, or base64 of it). */
    readonly text: string;
    readonly encoding: 'json' | 'base64';
    /** The transient faults scripted for its creates, in order. */
    readonly faults: readonly TransientKind[];
    /** How many creates reach the proxy, for `sent` messages. */
    readonly expectedPosts: number | undefined;
    /** For `permanent`: the Twilio error code scripted. */
    readonly permanentCode?: number;
    queueMessageIds: string[];
}

const COUNTS = {
    sms: 865,
    call: 60,
    permanentSms: 25,
    permanentCall: 5,
    deadSms: 8,
    deadCall: 2,
    invalid: 30,
    garbage: 5,
};
/** Step events after which the live process is killed (the first eligible event at or after each count). */
const KILL_AT: Readonly<Record<PipelineStep, readonly number[]>> = {
    claim: [50, 300, 550],
    create: [130, 380, 630],
    sid: [210, 460, 700],
    // No create here meets back-pressure for long (a single 429 is the client's own to retry).
    requeue: [],
    delay: [],
};
/**
 * Only an invocation on one of its first attempts is killed here; a kill on the last attempt (the host then
 * poisons the message without running it) is the separate test at the end of this file.
 */
const KILL_MAX_DEQUEUE = 3;
/** Key Vault windows: down while the first process starts, and again while the 5th starts. */
const KEY_VAULT_WINDOWS = [
    { worker: 1, failedInvocations: 40 },
    { worker: 5, failedInvocations: 40 },
];

function planMessages(rng: () => number): PlannedMessage[] {
    const planned: PlannedMessage[] = [];
    const pick = <T>(items: readonly T[]): T => items[Math.floor(rng() * items.length)] as T;
    const add = (
        fate: Fate,
        type: 'sms' | 'call',
        content: (id: string, to: string, index: number) => unknown,
        extra: Partial<Pick<PlannedMessage, 'faults' | 'expectedPosts' | 'permanentCode'>> = {},
    ) => {
        const index = planned.length + 1;
        const to = `+14441${String(index).padStart(6, '0')}`;
        const id = fate === 'garbage' ? undefined : `bulk-${String(index)}`;
        const value = content(id ?? '', to, index);
        const json = typeof value === 'string' ? value : JSON.stringify(value);
        const encoding = rng() < 0.5 ? 'json' : 'base64';
        planned.push({
            index,
            id,
            to,
            type,
            fate,
            text: encoding === 'json' ? json : Buffer.from(json, 'utf8').toString('base64'),
            encoding,
            faults: extra.faults ?? [],
            expectedPosts: extra.expectedPosts,
            ...(extra.permanentCode === undefined ? {} : { permanentCode: extra.permanentCode }),
            queueMessageIds: [],
        });
    };
    const schedule = (): Pick<PlannedMessage, 'faults' | 'expectedPosts'> => {
        const r = rng();
        const count = r < 0.04 ? 2 : r < 0.21 ? 1 : 0;
        const faults: TransientKind[] = [];
        for (let i = 0; i < count; i++) {
            // Once Twilio has created it, the next attempt finds it: a forwarded fault can only be the last.
            faults.push(pick(i < count - 1 ? TRANSIENT_KINDS.filter((k) => !k.forwarded) : TRANSIENT_KINDS));
        }
        return { faults, expectedPosts: count + (faults.at(-1)?.forwarded === true ? 0 : 1) };
    };

    for (let i = 0; i < COUNTS.sms; i++) {
        add(
            'sent',
            'sms',
            (id, to, index) => ({
                type: 'sms',
                id,
                to,
                body: `Fault run message ${String(index)}`,
                ...(index % 10 === 0 ? { mediaUrl: [`https://cdn.example.com/m/${String(index)}.png`] } : {}),
            }),
            schedule(),
        );
    }
    for (let i = 0; i < COUNTS.call; i++) {
        add(
            'sent',
            'call',
            (id, to, index) => ({
                type: 'call',
                id,
                to,
                ...(index % 2 === 0 ? { say: `Fault run call ${String(index)}` } : {}),
            }),
            schedule(),
        );
    }
    for (let i = 0; i < COUNTS.permanentSms; i++) {
        add('permanent', 'sms', (id, to) => ({ type: 'sms', id, to, body: `Unsubscribed ${id}` }), {
            permanentCode: 21610,
        });
    }
    for (let i = 0; i < COUNTS.permanentCall; i++) {
        add('permanent', 'call', (id, to) => ({ type: 'call', id, to, say: `No permission ${id}` }), {
            permanentCode: 21215,
        });
    }
    for (let i = 0; i < COUNTS.deadSms; i++) {
        add('dead-letter', 'sms', (id, to) => ({ type: 'sms', id, to, body: `Always 503 ${id}` }));
    }
    for (let i = 0; i < COUNTS.deadCall; i++) {
        add('dead-letter', 'call', (id, to) => ({ type: 'call', id, to, say: `Always 503 ${id}` }));
    }
    const invalid: ((id: string, to: string) => unknown)[] = [
        (id, to) => ({ type: 'sms', id, to, body: 'x'.repeat(1601) }),
        (id, to) => ({ type: 'sms', id, to, body: 'hi', priority: 'high' }),
        (id, to) => ({ type: 'sms', id, to, body: 'hi', mediaUrl: ['http://cdn.example.com/a.png'] }),
        (id, to) => ({ type: 'sms', id, to }),
        (id, to) => ({ type: 'call', id, to, url: 'https://app.example.com/v', twiml: '<Response/>' }),
        (id, to) => ({ type: 'sms', version: 2, id, to, body: 'hi' }),
    ];
    for (let i = 0; i < COUNTS.invalid; i++) {
        const make = invalid[i % invalid.length] as (id: string, to: string) => unknown;
        add('invalid', i % invalid.length === 4 ? 'call' : 'sms', make);
    }
    for (let i = 0; i < COUNTS.garbage; i++) {
        add('garbage', 'sms', (_id, to) => `not a message, only a number: ${to}`);
    }
    return planned;
}

describe('outbound under faults: the real queue path', () => {
    it('≥ 1,000 messages, each twice on the queue, through transient and permanent Twilio errors, kills at every step and a Key Vault outage: every message sent once, failed, rejected or dead-lettered', async () => {
        const started = Date.now();
        expect(QUEUES).toMatchObject({
            batchSize: 16,
            newBatchThreshold: 16,
            maxDequeueCount: OUTBOUND_MAX_DEQUEUE_COUNT,
            messageEncoding: 'none',
        });
        const rng = mulberry32(SEED);
        const planned = planMessages(rng);
        expect(planned.length).toBeGreaterThanOrEqual(1000);
        const byId = new Map(planned.filter((m) => m.id !== undefined).map((m) => [m.id as string, m]));
        const byTo = new Map(planned.map((m) => [m.to, m]));

        // The proxy's script: per number, so each message's creates meet exactly its own faults.
        for (const message of planned) {
            const match = createMatch(message.type, message.to);
            if (message.faults.length > 0) env.proxy.script(match, ...message.faults.map((k) => k.fault));
            if (message.fate === 'permanent') {
                env.proxy.always(match, { kind: 'error', status: 400, code: message.permanentCode ?? 0 });
            }
            if (message.fate === 'dead-letter') env.proxy.always(match, { kind: 'error', status: 503 });
        }

        const scenario = await newScenario('faults-bulk');
        const { keyVault, kills } = scenario;
        const stepCounts: Record<PipelineStep, number> = {
            claim: 0,
            create: 0,
            sid: 0,
            requeue: 0,
            delay: 0,
        };
        // Printed, not asserted: the longest a claim was held before its create was answered (or its SID
        // written, when found at Twilio).
        const claimedAt = new WeakMap<Invocation, number>();
        let longestClaimToAnswer = 0;

        // Every message twice, in a seeded random order.
        const copies = planned.flatMap((m) => [m, m]);
        for (let i = copies.length - 1; i > 0; i--) {
            const j = Math.floor(rng() * (i + 1));
            [copies[i], copies[j]] = [copies[j] as PlannedMessage, copies[i] as PlannedMessage];
        }
        await mapLimit(copies, 32, async (message) => {
            const { messageId } = await scenario.queue.sendMessage(message.text);
            message.queueMessageIds.push(messageId);
        });

        await startFleet(
            scenario,
            (life, invocation, step, key) => {
                if (step === 'claim') claimedAt.set(invocation, Date.now());
                const since = claimedAt.get(invocation);
                if (step !== 'claim' && since !== undefined) {
                    longestClaimToAnswer = Math.max(longestClaimToAnswer, Date.now() - since);
                }
                stepCounts[step]++;
                const due = KILL_AT[step].filter((n) => n <= stepCounts[step]).length;
                const done = kills.filter((k) => k.step === step).length;
                if (due > done && invocation.dequeueCount <= KILL_MAX_DEQUEUE) {
                    kills.push({ step, key, worker: life.index, dequeueCount: invocation.dequeueCount });
                    scenario.fleet.kill(life);
                }
            },
            (life) => {
                const window = KEY_VAULT_WINDOWS.find((w) => w.worker === life.index);
                if (window !== undefined) keyVault.open(window.failedInvocations, life.index);
            },
        );
        await drain(scenario.queue, scenario.fleet, 100_000);
        await scenario.fleet.stop();
        const drainedAt = Date.now();
        const poison = await runPoisonQueue(scenario);
        await env.sandbox.idle();

        // ---- What happened
        const requests = env.proxy.requests;
        const requestsByTo = groupBy(requests, toOf);
        const postsByTo = groupBy(
            requests.filter((r) => r.method === 'POST'),
            toOf,
        );
        const createdByTo = groupBy([...env.sandbox.messages, ...env.sandbox.calls], (r) => r.to);
        const records = new Map<string, LedgerRecord | undefined>();
        const ids = [
            ...byId.keys(),
            ...planned
                .filter((m) => m.fate === 'garbage')
                .flatMap((m) => m.queueMessageIds.map((q) => `queue-${q}`)),
        ];
        await mapLimit(ids, 32, async (id) => {
            records.set(id, await scenario.ledger.get(id));
        });
        const poisoned = new Set(poison.results.map((r) => r.id));

        /**
         * Invocations cut short by a kill while their create was in flight (or just answered): the answer (a
         * resource, or an error) never reached the pipeline, so the next attempt had to find out again.
         */
        const lostAnswers = groupBy(
            scenario.invocations.filter(
                (i) => i.outcome === undefined && i.error === undefined && i.events.at(-1) === 'create',
            ),
            (i) => i.ledgerId,
        );
        const problems: string[] = [];
        const unplannedDeadLetters: string[] = [];
        for (const message of planned) {
            const posts = postsByTo.get(message.to) ?? [];
            const created = createdByTo.get(message.to) ?? [];
            const label = `${message.id ?? message.to} (${message.fate} ${message.type})`;
            if (message.fate === 'garbage') {
                for (const queueMessageId of message.queueMessageIds) {
                    const record = records.get(`queue-${queueMessageId}`);
                    if (record?.status !== 'rejected')
                        problems.push(`${label}: copy ${queueMessageId} not rejected`);
                }
                if ((requestsByTo.get(message.to) ?? []).length > 0)
                    problems.push(`${label}: reached Twilio`);
                continue;
            }
            const record = records.get(message.id ?? '');
            if (record === undefined) {
                problems.push(`${label}: no ledger record (lost)`);
                continue;
            }
            switch (message.fate) {
                case 'sent': {
                    if (record.status === 'dead-lettered') {
                        // Possible only if one copy failed every attempt; then nothing may have been created.
                        unplannedDeadLetters.push(label);
                        if (created.length !== 0)
                            problems.push(`${label}: dead-lettered but created at Twilio`);
                        if (posts.some((p) => p.forwarded))
                            problems.push(`${label}: dead-lettered after a create`);
                        if ((record.errorMessage ?? '') === '')
                            problems.push(`${label}: dead-lettered, no reason`);
                        break;
                    }
                    const [twin] = created;
                    if (created.length !== 1 || twin === undefined) {
                        problems.push(`${label}: ${String(created.length)} creates at Twilio`);
                        break;
                    }
                    if (record.sid !== twin.sid)
                        problems.push(`${label}: ledger SID ${String(record.sid)} ≠ ${twin.sid}`);
                    if (!SENT_STATUSES[message.type].includes(record.status)) {
                        problems.push(`${label}: status ${record.status}`);
                    }
                    if (record.claim !== undefined) problems.push(`${label}: claim left behind`);
                    if (posts.length !== message.expectedPosts) {
                        problems.push(
                            `${label}: ${String(posts.length)} creates sent, ${String(message.expectedPosts)} expected`,
                        );
                    }
                    break;
                }
                case 'permanent':
                    if (record.status !== 'failed' || record.errorCode !== String(message.permanentCode)) {
                        problems.push(`${label}: ${record.status} ${String(record.errorCode)}`);
                    }
                    // Never retried, unless a kill lost Twilio's answer before it was recorded: the next
                    // attempt, which cannot know, meets the same error once more.
                    if (posts.length !== 1 + (lostAnswers.get(record.id) ?? []).length) {
                        problems.push(
                            `${label}: ${String(posts.length)} create attempts, ${String((lostAnswers.get(record.id) ?? []).length)} answers lost in kills`,
                        );
                    }
                    if (created.length !== 0 || record.sid !== undefined) problems.push(`${label}: created`);
                    break;
                case 'dead-letter':
                    if (record.status !== 'dead-lettered' || (record.errorMessage ?? '') === '') {
                        problems.push(`${label}: ${record.status} (${String(record.errorMessage)})`);
                    }
                    if (created.length !== 0 || record.sid !== undefined) problems.push(`${label}: created`);
                    if (posts.length < 1 || posts.length > 2 * QUEUES.maxDequeueCount) {
                        problems.push(`${label}: ${String(posts.length)} create attempts`);
                    }
                    if (posts.some((p) => p.forwarded || p.answered !== 503))
                        problems.push(`${label}: not all 503`);
                    if (!poisoned.has(record.id)) problems.push(`${label}: never reached the poison queue`);
                    break;
                case 'invalid':
                    if (record.status !== 'rejected' || record.errorCode !== 'validation') {
                        problems.push(`${label}: ${record.status}`);
                    }
                    if ((requestsByTo.get(message.to) ?? []).length > 0)
                        problems.push(`${label}: reached Twilio`);
                    break;
            }
        }
        // Every poisoned message is dead-lettered in the ledger, and the outbound function got there first.
        for (const result of poison.results) {
            if (records.get(result.id)?.status !== 'dead-lettered')
                problems.push(`poison ${result.id}: not dead-lettered`);
            // The outbound function's last attempt records it first; a copy whose last attempt was cut short
            // by a kill reaches the poison queue without one (the host moves it past maxDequeueCount).
            if (result.kind !== 'already-dead-lettered' && result.kind !== 'dead-lettered') {
                problems.push(`poison ${result.id}: ${result.kind}`);
            }
        }
        for (const [id, record] of records) {
            if (record !== undefined && record.status === 'dead-lettered' && !poisoned.has(id)) {
                problems.push(`${id}: dead-lettered, but no copy reached the poison queue`);
            }
            if (record !== undefined && !isTerminal(record.type, record.status) && record.sid === undefined) {
                problems.push(`${id}: left ${record.status} without a SID`);
            }
        }
        // Key Vault: every invocation that could not get the token failed before touching the ledger.
        const kvFailures = scenario.invocations.filter((i) => i.error instanceof SecretUnavailableError);
        for (const invocation of kvFailures) {
            if (invocation.events[0] !== 'twilio.get' || invocation.events[1] !== 'twilio.get!') {
                problems.push(`Key Vault failure after ${invocation.events.join(',')}`);
            }
        }
        expect(problems).toEqual([]);

        // Sends: exactly the messages that ended with a SID were created, each once; nothing else was.
        const withSid = [...records.values()].filter((r) => r?.sid !== undefined).length;
        expect(env.sandbox.messages.length + env.sandbox.calls.length).toBe(withSid);
        // Every scripted fault was met, once: the fault counts are the schedule's.
        expect(env.proxy.pendingFaults()).toBe(0);
        const scripted = new Map<string, number>();
        for (const message of planned)
            for (const kind of message.faults) scripted.set(kind.name, (scripted.get(kind.name) ?? 0) + 1);
        const injected = new Map<string, number>();
        for (const request of requests) {
            if (request.method !== 'POST' || request.action === 'forward') continue;
            const message = byTo.get(toOf(request) ?? '');
            if (message?.fate !== 'sent') continue;
            const kind = TRANSIENT_KINDS.find(
                (k) =>
                    k.fault.kind === request.action &&
                    (!('status' in k.fault) || k.fault.status === request.answered),
            );
            injected.set(kind?.name ?? request.action, (injected.get(kind?.name ?? request.action) ?? 0) + 1);
        }
        expect(Object.fromEntries(injected)).toEqual(Object.fromEntries(scripted));
        // Kills: each one planned happened, at its step, on a live process that was then restarted.
        for (const step of ['claim', 'create', 'sid'] as const) {
            expect(kills.filter((k) => k.step === step)).toHaveLength(KILL_AT[step].length);
        }
        expect(scenario.fleet.lives).toHaveLength(1 + kills.length);
        // Key Vault: both windows happened (a cold process could not read the token) and closed.
        expect(keyVault.windows.map((w) => w.opensAtWorker)).toEqual(KEY_VAULT_WINDOWS.map((w) => w.worker));
        for (const window of keyVault.windows)
            expect(window.failedInvocations).toBeGreaterThanOrEqual(window.limit);
        expect(keyVault.down).toBe(false);
        // Every queue message was delivered, and both queues are empty.
        const delivered = new Set(scenario.invocations.map((i) => i.queueMessageId));
        expect(copies.filter((m) => m.queueMessageIds.some((q) => !delivered.has(q)))).toEqual([]);
        expect((await scenario.queue.getProperties()).approximateMessagesCount).toBe(0);
        expect(scenario.hostProblems).toEqual([]);

        // ---- Summary (printed, not asserted)
        const finalStatuses = new Map<string, number>();
        for (const record of records.values()) {
            const key = record === undefined ? 'missing' : record.status;
            finalStatuses.set(key, (finalStatuses.get(key) ?? 0) + 1);
        }
        const outcomes = new Map<string, number>();
        for (const invocation of scenario.invocations) {
            const key =
                invocation.outcome?.kind ??
                (invocation.error === undefined
                    ? 'abandoned (killed)'
                    : invocation.error instanceof SecretUnavailableError
                      ? 'error: Key Vault'
                      : `error: ${(invocation.error as Error).name}`);
            outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
        }
        const allPosts = requests.filter((r) => r.method === 'POST');
        const faultedPosts = allPosts.filter((r) => r.action !== 'forward');
        const transientPosts = [...injected.values()].reduce((sum, n) => sum + n, 0);
        const percent = (part: number, whole: number) => `${((100 * part) / whole).toFixed(1)}%`;
        console.log(
            [
                `outbound faults (seed ${String(SEED)}): ${String(planned.length)} messages, ${String(copies.length)} queue messages`,
                `  planned: ${Object.entries(COUNTS)
                    .map(([k, v]) => `${k} ${String(v)}`)
                    .join(', ')}`,
                `  final ledger statuses: ${[...finalStatuses].map(([k, v]) => `${k} ${String(v)}`).join(', ')}`,
                `  unplanned dead-letters: ${String(unplannedDeadLetters.length)} ${unplannedDeadLetters.join(' ')}`,
                `  invocations ${String(scenario.invocations.length)}: ${[...outcomes].map(([k, v]) => `${k} ${String(v)}`).join(', ')}`,
                `  creates at the proxy ${String(allPosts.length)}: transient faults ${String(transientPosts)} (${percent(transientPosts, allPosts.length)} of all creates) — ${[...injected].map(([k, v]) => `${k} ${String(v)}`).join(', ')}; permanent ${String(faultedPosts.filter((r) => r.answered === 400).length)}; always-503 ${String(faultedPosts.filter((r) => byTo.get(toOf(r) ?? '')?.fate === 'dead-letter').length)}`,
                `  created at Twilio: ${String(env.sandbox.messages.length)} messages, ${String(env.sandbox.calls.length)} calls; lookups ${String(requests.filter((r) => r.method === 'GET').length)}`,
                `  answers to creates lost in kills: ${String([...lostAnswers.values()].flat().length)} (${[...lostAnswers.keys()].map((k) => `${k}: ${byId.get(k)?.fate ?? '?'}`).join(', ')})`,
                `  kills per step: ${(['claim', 'create', 'sid'] as const).map((step) => `${step} ${String(kills.filter((k) => k.step === step).length)}`).join(', ')} — ${kills.map((k) => `${k.step}@${k.key}(worker ${String(k.worker)}, attempt ${String(k.dequeueCount)})`).join(', ')}`,
                `  processes ${String(scenario.fleet.lives.length)}; locks expired after kills ${String(scenario.fleet.released.length)}`,
                `  Key Vault: ${keyVault.windows.map((w) => `window at process ${String(w.opensAtWorker)}: ${String(w.failedInvocations)} invocations failed`).join('; ')}; failed reads ${String(keyVault.failedReads)}`,
                `  dead-letter reasons: ${[
                    ...groupBy(
                        [...records.values()].filter((r) => r?.status === 'dead-lettered'),
                        (r) =>
                            (r?.errorMessage ?? '(none)')
                                .replace(/Outbound \S+/, 'Outbound <id>')
                                .slice(0, 60),
                    ),
                ]
                    .map(([k, v]) => `"${k}" ${String(v.length)}`)
                    .join(', ')}`,
                `  poison queue: ${String(poison.messages)} messages → ${[...groupBy(poison.results, (r) => r.kind)].map(([k, v]) => `${k} ${String(v.length)}`).join(', ')}`,
                `  longest claim → create answered: ${String(longestClaimToAnswer)} ms (claim lease ${String(CLAIM_LEASE_MS)} ms)`,
                `  time: drained in ${String(drainedAt - started)} ms, total ${String(Date.now() - started)} ms`,
            ].join('\n'),
        );
    }, 150_000);
});

// ---------------------------------------------------------------------------------------------------------
// One message, one kill: a failure here names the step

describe('outbound under faults: one message killed at each step, then restarted', () => {
    const cases: {
        step: PipelineStep;
        /** What the next attempt does. */
        outcome: OutboundOutcome['kind'];
        attempts: number;
    }[] = [
        { step: 'claim', outcome: 'sent', attempts: 2 },
        { step: 'create', outcome: 'found-at-twilio', attempts: 2 },
        { step: 'sid', outcome: 'already-sent', attempts: 1 },
    ];
    let numbers = 0;

    it.each(cases)(
        'killed after the $step step: one create at Twilio, then $outcome on the redelivery',
        async ({ step, outcome, attempts }) => {
            numbers++;
            const to = `+14442${String(numbers).padStart(6, '0')}`;
            const id = `kill-${step}`;
            const body = `Killed after ${step}`;
            const scenario = await newScenario(`faults-kill-${step}`);
            await scenario.queue.sendMessage(JSON.stringify({ type: 'sms', id, to, body }));

            let killed: (() => void) | undefined;
            const kill = new Promise<void>((resolve) => {
                killed = resolve;
            });
            await startFleet(scenario, (life, invocation, at, key) => {
                if (at !== step || scenario.kills.length > 0) return;
                scenario.kills.push({ step, key, worker: life.index, dequeueCount: invocation.dequeueCount });
                scenario.fleet.kill(life);
                killed?.();
            });
            await within(kill, 20_000, `the ${step} step`);

            // What the crash left, before the lock expires: what the next attempt will find.
            const left = await scenario.ledger.get(id);
            const creates = () =>
                env.proxy.requests.filter((r) => r.method === 'POST' && r.form.get('To') === to);
            const sent = () => env.sandbox.messages.filter((m) => m.to === to);
            expect((await scenario.queue.getProperties()).approximateMessagesCount).toBe(1);
            if (step === 'claim') {
                expect(left).toMatchObject({ status: 'sending', attempts: 1 });
                expect(left?.claim).toBeDefined();
                expect(left?.sid).toBeUndefined();
                expect(creates()).toHaveLength(0);
            } else if (step === 'create') {
                expect(left).toMatchObject({ status: 'sending', attempts: 1 });
                expect(left?.claim).toBeDefined();
                expect(left?.sid).toBeUndefined();
                expect(creates()).toHaveLength(1);
                expect(sent()).toHaveLength(1);
            } else {
                expect(left?.sid).toBe(sent()[0]?.sid);
                expect(left?.claim).toBeUndefined();
            }

            await drain(scenario.queue, scenario.fleet, 20_000);
            await scenario.fleet.stop();
            await env.sandbox.idle();

            const [first, second, ...more] = scenario.invocations;
            expect(more).toEqual([]);
            expect(first).toMatchObject({ worker: 1, dequeueCount: 1 });
            expect(first?.outcome).toBeUndefined();
            expect(first?.error).toBeUndefined();
            expect(second).toMatchObject({ worker: 2, dequeueCount: 2 });
            expect(second?.outcome?.kind).toBe(outcome);
            // After a claim with no outcome, Twilio is asked before anything is sent again.
            if (step !== 'sid') expect(second?.events).toContain('list');

            const [message, ...others] = sent();
            expect(others).toEqual([]);
            expect(creates()).toHaveLength(1);
            const final = await scenario.ledger.get(id);
            expect(final).toMatchObject({ sid: message?.sid, attempts });
            expect(final?.claim).toBeUndefined();
            expect(SENT_STATUSES.sms).toContain(final?.status);
            expect(scenario.fleet.released).toHaveLength(1);
            expect(scenario.hostProblems).toEqual([]);
        },
        40_000,
    );
});

// ---------------------------------------------------------------------------------------------------------
// Delayed retries: Twilio's back-pressure, with kills between the re-enqueue and the acknowledge

describe('outbound under faults: delayed retries (429 with Retry-After, 21611), killed between the re-enqueue and the acknowledge', () => {
    it('every message one create, none lost, none sent twice; a crash leaves no second copy that sends', async () => {
        const MESSAGES = 24;
        type Pushback = '429' | '21611' | '21611 twice';
        const planned = Array.from({ length: MESSAGES }, (_, i) => {
            const pushback: Pushback = (['429', '21611', '21611 twice'] as const)[i % 3] as Pushback;
            const to = `+14444${String(i + 1).padStart(6, '0')}`;
            return { id: `delayed-${String(i + 1)}`, to, pushback };
        });
        // A 429 that outlasts the client's three quick retries carries Retry-After: 2 (longer than the
        // claim lease, see BACKOFF).
        const persistent429: Fault[] = Array.from({ length: 4 }, () => ({
            kind: 'error',
            status: 429,
            headers: { 'Retry-After': '2' },
        }));
        const full: Fault = { kind: 'error', status: 400, code: 21611, message: 'queue full' };
        for (const { to, pushback } of planned) {
            const faults = pushback === '429' ? persistent429 : pushback === '21611' ? [full] : [full, full];
            env.proxy.script(createMatch('sms', to), ...faults);
        }
        const scenario = await newScenario('faults-delayed');
        // One message at a time: the next is enqueued once the one before has been delayed, so a kill does
        // not also end a batch of other invocations whose scripted back-pressure would then be spent in the
        // dead process (their messages would send without ever being delayed).
        let enqueued = 0;
        const enqueues: Promise<unknown>[] = [];
        const enqueueNext = () => {
            const message = planned[enqueued++];
            if (message === undefined) return;
            const { id, to } = message;
            enqueues.push(
                scenario.queue.sendMessage(JSON.stringify({ type: 'sms', id, to, body: `Delayed ${id}` })),
            );
        };
        const delayedOnce = new Set<string>();
        /** Ledger id → the queue message a kill after the marker left unacknowledged. */
        const leftBehind = new Map<string, string>();
        // A kill right after the copy is enqueued (marker not yet written) for every 4th message, right after
        // the marker is written (the current copy not yet acknowledged) for the next ones: the first delayed
        // retry of each.
        const killAt = new Map<string, 'requeue' | 'delay'>();
        planned.forEach(({ id }, i) => {
            if (i % 4 === 0) killAt.set(id, 'requeue');
            else if (i % 4 === 1) killAt.set(id, 'delay');
        });
        enqueueNext();
        await startFleet(scenario, (life, invocation, step, key) => {
            if (step !== 'requeue' && step !== 'delay') return;
            if (step === 'requeue' && !delayedOnce.has(key)) {
                delayedOnce.add(key);
                enqueueNext();
            }
            if (killAt.get(key) !== step) return;
            killAt.delete(key);
            if (step === 'delay') leftBehind.set(key, invocation.queueMessageId);
            scenario.kills.push({ step, key, worker: life.index, dequeueCount: invocation.dequeueCount });
            scenario.fleet.kill(life);
        });
        const allEnqueued = async () => {
            while (enqueued < planned.length) await delay(50);
            await Promise.all(enqueues);
        };
        await within(allEnqueued(), 45_000, 'every message delayed once');
        await drain(scenario.queue, scenario.fleet, 45_000);
        await scenario.fleet.stop();
        const poison = await runPoisonQueue(scenario);
        await env.sandbox.idle();
        console.log(
            `delayed retries: ${String(scenario.requeued.length)} copies re-enqueued, kills ${JSON.stringify(
                scenario.kills.map((k) => k.step),
            )}, ${String(poison.messages)} poisoned`,
        );

        // The kills: a kill also ends the dead process's other invocations, whose messages may then meet
        // their back-pressure in that dead process (the scripted answer spent) and never reach a planned
        // kill; several of each kind happen all the same.
        const killedAt = (step: PipelineStep) => scenario.kills.filter((k) => k.step === step).length;
        expect(killedAt('requeue')).toBeGreaterThanOrEqual(2);
        expect(killedAt('delay')).toBeGreaterThanOrEqual(2);
        expect(env.proxy.pendingFaults()).toBe(0);
        expect(poison.messages).toBe(0);
        expect(scenario.hostProblems).toEqual([]);

        for (const { id, to, pushback } of planned) {
            const creates = env.proxy.requests.filter((r) => r.method === 'POST' && r.form.get('To') === to);
            // One create reached Twilio: none lost, none twice.
            const sent = env.sandbox.messages.filter((m) => m.to === to);
            expect({ id, sent: sent.length }).toEqual({ id, sent: 1 });
            expect({ id, forwarded: creates.filter((r) => r.forwarded).length }).toEqual({
                id,
                forwarded: 1,
            });
            const final = await scenario.ledger.get(id);
            expect(final?.sid).toBe(sent[0]?.sid);
            expect(final?.claim).toBeUndefined();
            expect(SENT_STATUSES.sms).toContain(final?.status);
            // Each copy re-enqueued waits on the queue for its delay, by the queue's own clock.
            const copies = scenario.requeued.filter((r) => r.ledgerId === id);
            // At least one: a second 21611 may have been answered to an invocation of a process killed for
            // another message (the answer spent, never seen), and the retry then sent straight away.
            expect(copies.length).toBeGreaterThanOrEqual(1);
            for (const copy of copies) {
                expect(Math.abs(copy.visibleAfterMs - copy.delaySeconds * 1000)).toBeLessThanOrEqual(1_000);
                if (pushback === '429') expect(copy.delaySeconds).toBe(2);
                else expect([2, 4]).toContain(copy.delaySeconds);
            }
        }
        // The copy a kill after the marker left behind came back when the dead process's lock expired, and
        // was superseded (or, when the delayed copy had already sent, found the SID): it never called Twilio.
        expect(leftBehind.size).toBe(killedAt('delay'));
        for (const [id, queueMessageId] of leftBehind) {
            const returned = scenario.invocations.filter(
                (i) => i.queueMessageId === queueMessageId && i.outcome !== undefined,
            );
            expect({ id, outcomes: returned.map((i) => i.outcome?.kind) }).toEqual({
                id,
                outcomes: [expect.stringMatching(/^(superseded|already-sent)$/)],
            });
            expect(returned[0]?.events).not.toContain('create');
        }
        for (const invocation of scenario.invocations.filter((i) => i.outcome?.kind === 'superseded')) {
            expect(invocation.events).not.toContain('create');
        }
    }, 60_000);
});

// ---------------------------------------------------------------------------------------------------------
// A kill on the last attempt

describe('outbound under faults: killed after the create on the last attempt', () => {
    it('the host moves the message to the poison queue without running it; the ledger must still end with the SID Twilio has', async () => {
        const to = '+14443000001';
        const id = 'kill-last-attempt';
        // The message's own status callback: Twilio reports to the sender's endpoint, never to /api/status,
        // so no callback will ever tell the app about this send.
        const message = {
            type: 'sms',
            id,
            to,
            body: 'Killed on the last attempt',
            statusCallback: 'https://hooks.example.net/twilio/status',
        };
        // Attempts 1-4 meet a 503 (nothing created); the 5th creates it and the process dies right after.
        const last = QUEUES.maxDequeueCount;
        env.proxy.script(
            createMatch('sms', to),
            ...Array.from({ length: last - 1 }, (): Fault => ({ kind: 'error', status: 503 })),
        );
        const scenario = await newScenario('faults-kill-last');
        await scenario.queue.sendMessage(JSON.stringify(message));
        let killed: (() => void) | undefined;
        const kill = new Promise<void>((resolve) => {
            killed = resolve;
        });
        await startFleet(scenario, (life, invocation, step, key) => {
            if (step !== 'create' || invocation.dequeueCount !== last) return;
            scenario.kills.push({ step, key, worker: life.index, dequeueCount: invocation.dequeueCount });
            scenario.fleet.kill(life);
            killed?.();
        });
        await within(kill, 30_000, 'the create on the last attempt');
        await drain(scenario.queue, scenario.fleet, 20_000);
        await scenario.fleet.stop();
        const poison = await runPoisonQueue(scenario);
        await env.sandbox.idle();

        // What happened: five attempts, the fifth killed after Twilio created the message; the redelivery
        // (dequeue count 6) went to the poison queue without an invocation, as the Functions host does.
        expect(scenario.invocations.map((i) => i.dequeueCount)).toEqual([1, 2, 3, 4, 5]);
        expect(scenario.invocations.at(-1)?.outcome).toBeUndefined();
        expect(scenario.invocations.at(-1)?.error).toBeUndefined();
        const created = env.sandbox.messages.filter((m) => m.to === to);
        expect(created).toHaveLength(1);
        expect(poison.results).toEqual([{ id, kind: 'found-at-twilio' }]);

        // The poison function asks Twilio before calling the message dead, and records the send it finds.
        const final = await scenario.ledger.get(id);
        expect(final?.sid).toBe(created[0]?.sid);
        expect(SENT_STATUSES.sms).toContain(final?.status);
    }, 40_000);
});
