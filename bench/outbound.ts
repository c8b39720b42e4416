/**
 * Outbound throughput, ours beside a naive peer: N SMS through the local host (a child process running
 * dist/local/host/main.js), the same Azurite and the Twilio sandbox behind a proxy that holds every create
 * for 200 ms. The naive peer (`naiveApp/`) is what a user would write without the ledger: a queue-triggered
 * function that parses the message and calls `messages.create`, run by the same host with a copy of the
 * repository's host.json. The two run one after the other in the same run, each on a fresh queue.
 *
 * 1. The N messages (plain JSON with ids) are put on a fresh queue (straight to Azurite) before the host
 *    starts.
 * 2. The clock starts at the host's first `Executing 'Functions.<name>'` line and stops at its N-th
 *    `Executed 'Functions.<name>' (Succeeded…)` line. CPU (user + system of the host process) and the
 *    storage requests are taken at the same two moments.
 * 3. The host and the app reach storage through a counting proxy (`storageProxy.ts`), so every table and
 *    queue request of the send phase is counted by kind.
 * 4. Ours only: the sandbox's status callbacks (queued, sent, delivered; signed, to the app's /api/status)
 *    are held back until the last message is sent, so the throughput figure measures sending alone; they
 *    are then let through (at most 32 at a time) and the ledger must end with every message `delivered`.
 * 5. Creates per id are counted at the delay proxy (ours by the status callback's id, the naive peer by
 *    the `To` number, unique per message): every id exactly once.
 */

import { randomBytes } from 'node:crypto';
import { EventEmitter, setMaxListeners } from 'node:events';
import { copyFileSync, readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import path from 'node:path';
import { QueueServiceClient } from '@azure/storage-queue';
import { readHostJson } from '../local/host/loader';
import { SANDBOX_NUMBER } from '../local/sandbox/resources';
import { generateTestCredentials, startTwilioSandbox, type TwilioSandbox } from '../local/sandbox/sandbox';
import { createLedger } from '../shared/ledger/table';
import { startDelayProxy, type DelayProxy } from './delayProxy';
import { startHostProcess, type HostProcess } from './hostProcess';
import { difference, startStorageProxy, totals, type StorageCounts, type StorageProxy } from './storageProxy';
import { figure, type Figure } from './stats';
import { cpuSeconds, mapLimit, peakRssMiB, ROOT, within } from './util';

/** One app's send phase: N messages from a full queue to the N-th successful invocation. */
export interface SendPhase {
    seconds: number;
    perSecond: number;
    failedInvocations: number;
    durationsMs: { median: number; min: number; max: number; p90: number };
    meanCreatesInFlight: number;
    peakCreatesInFlight: number;
    duplicateIds: number;
    idsCreated: number;
    /** CPU time (user + system) of the host process during the send phase, per message. */
    hostCpuMsPerMessage: number | undefined;
    /**
     * CPU time per message of the rest of the machine's work in the same phase: Azurite's process, and this
     * process (the Twilio sandbox, the delay and storage proxies), which share the cores with the host.
     */
    azuriteCpuMsPerMessage: number | undefined;
    benchCpuMsPerMessage: number;
    /** VmHWM of the host process at the end of the send phase (ours: after the callbacks too). */
    peakRssMiB: number | undefined;
    /** Storage requests of the send phase by kind, and per message. */
    storage: StorageCounts;
    storagePerMessage: ReturnType<typeof totals>;
    /** Storage requests refused during the send phase, by `<kind> <status>` (storageProxy.ts). */
    refusals: Record<string, number>;
    /** Keyed table requests of the send phase by `<kind> <partition letter>` (storageProxy.ts). */
    partitions: Record<string, number>;
}

export interface OutboundDetails {
    messages: number;
    latencyMs: number;
    batchSize: number;
    newBatchThreshold: number;
    limitPerSecond: number;
    ours: SendPhase & {
        ledgerStatuses: Record<string, number>;
        callbacks: {
            count: number;
            failed: number;
            seconds: number;
            storage: StorageCounts;
            /** CPU time of the host process over the callbacks, per callback. */
            hostCpuMsPerCallback: number | undefined;
        };
    };
    naive: SendPhase;
}

const CALLBACK_CONCURRENCY = 32;

/**
 * A fetch for the sandbox whose requests wait until `release()`, then run at most `limit` at a time. The
 * sandbox's own signal is not passed on: it arms Twilio's 15 s webhook timeout before calling fetch, which
 * a callback held back for the whole send phase would otherwise hit (the phase is bounded here instead).
 */
function gatedFetch(limit: number): { fetch: typeof fetch; release: () => void } {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let running = 0;
    const waiting: (() => void)[] = [];
    const gated: typeof fetch = async (input, init) => {
        await gate;
        if (running >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
        running++;
        try {
            return await fetch(input, { ...init, signal: null });
        } finally {
            running--;
            waiting.shift()?.();
        }
    };
    return { fetch: gated, release };
}

const NAIVE_APP = path.join(ROOT, 'bench', 'naiveApp');

interface SendOptions {
    appDir: string;
    /** The registered name of the queue-triggered function. */
    functionName: string;
    /** What the send phase is called in errors. */
    what: string;
    ids: readonly string[];
    /** Azurite itself: the queue is filled from here, uncounted. */
    directStorage: string;
    storage: StorageProxy;
    delayProxy: DelayProxy;
    /** App settings but AzureWebJobsStorage and OUTBOUND_QUEUE. */
    settings: Record<string, string>;
}

/**
 * Fills a fresh queue, starts the host on `appDir` with storage through the counting proxy, and waits for
 * N successful invocations. Returns the host still running (the caller stops it) and what was measured.
 */
async function sendPhase(options: SendOptions): Promise<{ host: HostProcess; phase: SendPhase }> {
    const { ids, delayProxy } = options;
    const messages = ids.length;
    const queueName = `bench-${options.functionName.toLowerCase()}-${randomBytes(4).toString('hex')}`;
    const queue = QueueServiceClient.fromConnectionString(options.directStorage).getQueueClient(queueName);
    await queue.create();
    await mapLimit(ids, 32, async (id, i) => {
        const to = `+1555${String(1_000_000 + i).padStart(7, '0')}`;
        await queue.sendMessage(
            JSON.stringify({ type: 'sms', id, to, body: `Benchmark message ${String(i)}` }),
        );
    });

    let startedAt: number | undefined;
    let cpuAtStart: number | undefined;
    let storageAtStart: StorageCounts | undefined;
    let refusalsAtStart: Record<string, number> = {};
    let partitionsAtStart: Record<string, number> = {};
    const azurite = azuritePid();
    let azuriteCpuAtStart: number | undefined;
    let benchCpuAtStart = process.cpuUsage();
    let succeeded = 0;
    let failed = 0;
    const durations: number[] = [];
    let allSent!: () => void;
    const sent = new Promise<void>((resolve) => (allSent = resolve));
    const executed =
        /^\[[^\]]+\] Executed 'Functions\.(\w+)' \((Succeeded|Failed), Id=[^,]+, Duration=(\d+)ms\)/;
    const executing = `Executing 'Functions.${options.functionName}'`;
    const host = await startHostProcess({
        appDir: options.appDir,
        settings: () => ({
            ...options.settings,
            AzureWebJobsStorage: options.storage.connectionString,
            OUTBOUND_QUEUE: queueName,
            // The host binds every queue function of the app, the inbound-media copy's too.
            INBOUND_MEDIA_QUEUE: `${queueName}-media`,
        }),
        onLine: (line, pid) => {
            if (startedAt === undefined && line.includes(executing)) {
                startedAt = performance.now();
                cpuAtStart = cpuSeconds(pid);
                storageAtStart = options.storage.snapshot();
                refusalsAtStart = options.storage.refusals();
                partitionsAtStart = options.storage.partitions();
                azuriteCpuAtStart = cpuSeconds(azurite);
                benchCpuAtStart = process.cpuUsage();
            }
            const match = executed.exec(line);
            if (match === null || match[1] !== options.functionName) return;
            if (match[2] === 'Succeeded') {
                succeeded++;
                durations.push(Number(match[3]));
                if (succeeded === messages) allSent();
            } else failed++;
        },
    });
    try {
        await within(sent, 120_000, options.what).catch((error: unknown) => {
            throw new Error(
                `${String(error)} (${String(succeeded)} sent, ${String(failed)} failed):\n${host.tail()}`,
            );
        });
    } catch (error) {
        await host.stop();
        throw error;
    }
    const seconds = (performance.now() - (startedAt ?? 0)) / 1000;
    const cpuAtEnd = cpuSeconds(host.child.pid);
    const azuriteCpuAtEnd = cpuSeconds(azurite);
    const benchCpu = process.cpuUsage(benchCpuAtStart);
    const storage = difference(options.storage.snapshot(), storageAtStart ?? options.storage.snapshot());
    const peakRss = peakRssMiB(host.child.pid);
    const refusals = subtractCounts(options.storage.refusals(), refusalsAtStart);
    const partitions = subtractCounts(options.storage.partitions(), partitionsAtStart);

    const sorted = [...durations].sort((a, b) => a - b);
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
    const perMessage = totals(storage);
    const counts = [...delayProxy.createsPerId.values()];
    return {
        host,
        phase: {
            seconds,
            perSecond: messages / seconds,
            failedInvocations: failed,
            durationsMs: { median: at(0.5), min: at(0), max: at(1), p90: at(0.9) },
            meanCreatesInFlight: delayProxy.meanInFlight(),
            peakCreatesInFlight: delayProxy.peakInFlight(),
            duplicateIds: counts.filter((n) => n > 1).length,
            idsCreated: delayProxy.createsPerId.size,
            hostCpuMsPerMessage:
                cpuAtStart === undefined || cpuAtEnd === undefined
                    ? undefined
                    : ((cpuAtEnd - cpuAtStart) * 1000) / messages,
            azuriteCpuMsPerMessage:
                azuriteCpuAtStart === undefined || azuriteCpuAtEnd === undefined
                    ? undefined
                    : ((azuriteCpuAtEnd - azuriteCpuAtStart) * 1000) / messages,
            benchCpuMsPerMessage: (benchCpu.user + benchCpu.system) / 1000 / messages,
            peakRssMiB: peakRss,
            storage,
            storagePerMessage: {
                tableReads: perMessage.tableReads / messages,
                tableWrites: perMessage.tableWrites / messages,
                tableRequests: perMessage.tableRequests / messages,
                queueOperations: perMessage.queueOperations / messages,
            },
            refusals,
            partitions,
        },
    };
}

/**
 * The pid of the Azurite process this bench started (a descendant of this process whose command line
 * names azurite), for its CPU time; undefined where `/proc` does not exist or none is found.
 */
function azuritePid(): number | undefined {
    try {
        const parents = new Map<number, number>();
        const commands = new Map<number, string>();
        for (const entry of readdirSync('/proc')) {
            if (!/^\d+$/.test(entry)) continue;
            try {
                const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
                parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
                commands.set(Number(entry), readFileSync(`/proc/${entry}/cmdline`, 'utf8'));
            } catch {
                // The process ended meanwhile.
            }
        }
        const descends = (pid: number): boolean => {
            for (
                let at = parents.get(pid), hops = 0;
                at !== undefined && hops < 10;
                at = parents.get(at), hops++
            ) {
                if (at === process.pid) return true;
            }
            return false;
        };
        for (const [pid, command] of commands) {
            if (/azurite/i.test(command) && descends(pid)) return pid;
        }
    } catch {
        return undefined;
    }
    return undefined;
}

/** The ledger's partitions (record, day index, SID index: shared/ledger/table.ts). */
const LEDGER_PARTITIONS = new Set(['r', 'd', 's']);

/** How many keyed table requests went to other stores than the ledger (`<kind> <letter>` counts). */
function otherStores(partitions: Record<string, number>): number {
    return Object.entries(partitions)
        .filter(([key]) => !LEDGER_PARTITIONS.has(key.slice(-1)))
        .reduce((sum, [, count]) => sum + count, 0);
}

/** Keyed table requests per message for a note, the ledger's (`ledger`) or the others': `read o 1`. */
function partitionNote(partitions: Record<string, number>, n: number, ledger: boolean): string {
    const parts = Object.entries(partitions)
        .filter(([key]) => LEDGER_PARTITIONS.has(key.slice(-1)) === ledger)
        .map(([key, count]) => `${key.replace(/^table\./, '')} ${two(count / n)}`);
    return parts.length === 0 ? 'none' : parts.join(', ');
}

/** CPU per message of the host, Azurite and this process together (NaN when one is unknown). */
function machineCpu(phase: SendPhase): number {
    return (
        (phase.hostCpuMsPerMessage ?? NaN) +
        (phase.azuriteCpuMsPerMessage ?? NaN) +
        phase.benchCpuMsPerMessage
    );
}

/** Refusals per message for a note: `table.replace 412 0.98`, or `none`. */
function refusalNote(refusals: Record<string, number>, n: number): string {
    const parts = Object.entries(refusals).map(([key, count]) => `${key} ${two(count / n)}`);
    return parts.length === 0 ? 'none' : parts.join(', ');
}

/** `after − before` of two refusal counts, keeping only what is non-zero. */
function subtractCounts(
    after: Record<string, number>,
    before: Record<string, number>,
): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [key, count] of Object.entries(after)) {
        const delta = count - (before[key] ?? 0);
        if (delta !== 0) out[key] = delta;
    }
    return out;
}

/** `n` to two decimals (one significant digit below 0.01), for notes. */
const two = (n: number) =>
    n !== 0 && Math.abs(n) < 0.01 ? n.toPrecision(1) : (Math.round(n * 100) / 100).toString();

/** Table requests of `counts` per `n`, by kind, for a note: `read 3, insert 2, replace 3`. */
function byKind(counts: StorageCounts, n: number, prefix: 'table.' | 'queue.'): string {
    const parts = Object.entries(counts)
        .filter(([kind, count]) => kind.startsWith(prefix) && count > 0)
        .map(([kind, count]) => `${kind.slice(prefix.length)} ${two(count / n)}`);
    return parts.length === 0 ? 'none' : parts.join(', ');
}

export async function measureOutbound(
    storageConnectionString: string,
    messages: number,
    latencyMs: number,
    /** The app's folder (its host.json is the one honoured); another folder only for what-if runs. */
    appDir: string = ROOT,
): Promise<{ figures: Figure[]; details: OutboundDetails }> {
    const { queues } = readHostJson(appDir);
    const concurrency = queues.batchSize + queues.newBatchThreshold;
    const limit = concurrency / (latencyMs / 1000);
    const tag = randomBytes(4).toString('hex');
    const tableName = `BenchOutbound${tag}`;
    const ids = Array.from({ length: messages }, (_, i) => `bench-${tag}-${String(i)}`);
    // The naive peer runs with the same host.json as ours (git-ignored in naiveApp/).
    copyFileSync(path.join(appDir, 'host.json'), path.join(NAIVE_APP, 'host.json'));

    const credentials = generateTestCredentials();
    const twilioSettings = {
        TWILIO_ACCOUNT_SID: credentials.accountSid,
        TWILIO_AUTH_TOKEN: credentials.authToken,
        TWILIO_FROM_NUMBER: SANDBOX_NUMBER,
    };
    const callbacks = gatedFetch(CALLBACK_CONCURRENCY);
    // Every callback in flight listens on the sandbox's shutdown signal; more than 10 is expected here.
    const defaultMaxListeners = EventEmitter.defaultMaxListeners;
    setMaxListeners(CALLBACK_CONCURRENCY * 4);
    let sandbox: TwilioSandbox | undefined;
    let storage: StorageProxy | undefined;
    const proxies: DelayProxy[] = [];
    let host: HostProcess | undefined;
    try {
        sandbox = await startTwilioSandbox({ ...credentials, callbackDelayMs: 0, fetch: callbacks.fetch });
        storage = await startStorageProxy(storageConnectionString);

        // Ours.
        const oursProxy = await startDelayProxy(sandbox.url, latencyMs);
        proxies.push(oursProxy);
        const oursRun = await sendPhase({
            appDir,
            functionName: 'outbound',
            what: `Sending ${String(messages)} messages (ours)`,
            ids,
            directStorage: storageConnectionString,
            storage,
            delayProxy: oursProxy,
            settings: {
                ...twilioSettings,
                TWILIO_API_URL: oursProxy.url,
                TWILIO_MESSAGING_SERVICE_SID: '',
                KEY_VAULT_URL: '',
                TWILIO_WEBHOOK_VALIDATION: 'on',
                LEDGER_TABLE: tableName,
                LEDGER_STORE_BODY: 'false',
            },
        });
        host = oursRun.host;
        const oursIdsCreated = ids.filter((id) => oursProxy.createsPerId.has(id)).length;

        // Now the status callbacks, to the app, and the ledger must say delivered.
        const callbacksStarted = performance.now();
        const hostCpuBeforeCallbacks = cpuSeconds(host.child.pid);
        const storageBeforeCallbacks = storage.snapshot();
        callbacks.release();
        await within(sandbox.idle(), 180_000, 'The status callbacks');
        const callbackSeconds = (performance.now() - callbacksStarted) / 1000;
        const hostCpuAfterCallbacks = cpuSeconds(host.child.pid);
        const callbackStorage = difference(storage.snapshot(), storageBeforeCallbacks);
        let statusDone = 0;
        let statusFailed = 0;
        for (const message of sandbox.messages) {
            for (const callback of message.callbacks) {
                if (callback.kind !== 'status-callback') continue;
                if (callback.httpStatus === 204) statusDone++;
                else statusFailed++;
            }
        }
        const ledger = createLedger({
            connectionString: storageConnectionString,
            tableName,
            storeBody: false,
        });
        const statuses: Record<string, number> = {};
        await mapLimit(ids, 32, async (id) => {
            const status = (await ledger.get(id))?.status ?? '(missing)';
            statuses[status] = (statuses[status] ?? 0) + 1;
        });
        const ours = {
            ...oursRun.phase,
            idsCreated: oursIdsCreated,
            peakRssMiB: peakRssMiB(host.child.pid) ?? oursRun.phase.peakRssMiB,
            ledgerStatuses: statuses,
            callbacks: {
                count: statusDone,
                failed: statusFailed,
                seconds: callbackSeconds,
                storage: callbackStorage,
                hostCpuMsPerCallback:
                    hostCpuBeforeCallbacks === undefined || hostCpuAfterCallbacks === undefined
                        ? undefined
                        : ((hostCpuAfterCallbacks - hostCpuBeforeCallbacks) * 1000) / Math.max(1, statusDone),
            },
        };
        await host.stop();
        host = undefined;

        // The naive peer: same host, Azurite, host.json and Twilio stand-in.
        const naiveProxy = await startDelayProxy(sandbox.url, latencyMs);
        proxies.push(naiveProxy);
        const naiveRun = await sendPhase({
            appDir: NAIVE_APP,
            functionName: 'naiveOutbound',
            what: `Sending ${String(messages)} messages (naive peer)`,
            ids: ids.map((id) => `${id}-naive`),
            directStorage: storageConnectionString,
            storage,
            delayProxy: naiveProxy,
            settings: { ...twilioSettings, TWILIO_API_URL: naiveProxy.url },
        });
        host = naiveRun.host;
        const naive = naiveRun.phase;

        const details: OutboundDetails = {
            messages,
            latencyMs,
            batchSize: queues.batchSize,
            newBatchThreshold: queues.newBatchThreshold,
            limitPerSecond: limit,
            ours,
            naive,
        };
        return { figures: outboundFigures(details, CALLBACK_CONCURRENCY), details };
    } finally {
        await host?.stop();
        await sandbox?.close();
        for (const proxy of proxies) await proxy.close();
        await storage?.close();
        setMaxListeners(defaultMaxListeners);
    }
}

function outboundFigures(details: OutboundDetails, callbackConcurrency: number): Figure[] {
    const { messages, latencyMs, limitPerSecond: limit, ours, naive } = details;
    const one = `1 run of ${String(messages)}`;
    const formula = `limit = (batchSize ${String(details.batchSize)} + newBatchThreshold ${String(details.newBatchThreshold)}) ÷ ${String(latencyMs / 1000)} s = ${String(limit)} msg/s`;
    const durations = [ours.durationsMs.median];
    const callbacks = ours.callbacks;
    const callbackCount = Math.max(1, callbacks.count);
    return [
        figure(
            'outbound.throughput',
            `Outbound (ours): ${String(messages)} SMS, ${String(latencyMs)} ms per create`,
            [ours.perSecond],
            'msg/s',
            undefined,
            `${one}; ${two(ours.perSecond / limit)} × the ${formula}`,
        ),
        figure(
            'outbound.naive.throughput',
            `Outbound (naive peer): ${String(messages)} SMS, same host, host.json, stand-in`,
            [naive.perSecond],
            'msg/s',
            undefined,
            `${one}; ${two(naive.perSecond / limit)} × the limit`,
        ),
        figure(
            'outbound.vsNaive',
            'Outbound: ours ÷ naive throughput',
            [ours.perSecond / naive.perSecond],
            '×',
            {
                min: 0.9,
            },
        ),
        figure(
            'outbound.duplicates',
            'Outbound (ours): ids created more than once',
            [ours.duplicateIds],
            'ids',
            { equals: 0 },
        ),
        figure(
            'outbound.lost',
            'Outbound (ours): ids never created',
            [messages - ours.idsCreated],
            'ids',
            { equals: 0 },
            `${String(ours.idsCreated)} of ${String(messages)} ids created`,
        ),
        figure(
            'outbound.delivered',
            'Outbound (ours): delivered in the ledger',
            [ours.ledgerStatuses.delivered ?? 0],
            'msgs',
            { equals: messages },
            JSON.stringify(ours.ledgerStatuses),
        ),
        figure(
            'outbound.naive.duplicates',
            'Outbound (naive peer): duplicates; ids never created',
            [naive.duplicateIds],
            'ids',
            undefined,
            `${String(messages - naive.idsCreated)} never created`,
        ),
        figure(
            'outbound.hostCpu',
            'Outbound (ours): host CPU per message, send path',
            [ours.hostCpuMsPerMessage ?? NaN],
            'ms',
            undefined,
            'user + system time of the host process over the send phase ÷ messages: queue message → claim → create → SID; the status callbacks are held back until the sends are done, so this covers the same work as the naive peer’s figure (which has no callbacks), plus the ledger',
        ),
        figure(
            'outbound.naive.hostCpu',
            'Outbound (naive peer): host CPU per message, send path',
            [naive.hostCpuMsPerMessage ?? NaN],
            'ms',
            undefined,
            'queue message → create; no ledger, no callbacks',
        ),
        figure(
            'outbound.cpuVsNaive',
            'Outbound: ours ÷ naive host CPU per message, send path',
            [(ours.hostCpuMsPerMessage ?? NaN) / (naive.hostCpuMsPerMessage ?? NaN)],
            '×',
            { max: 1.5 },
        ),
        figure(
            'outbound.azuriteCpu',
            'Outbound (ours): Azurite CPU per message, send path',
            [ours.azuriteCpuMsPerMessage ?? NaN],
            'ms',
            undefined,
            `Azurite's process over the same phase (the 4 table requests and the queue's); naive peer ${two(naive.azuriteCpuMsPerMessage ?? NaN)} ms`,
        ),
        figure(
            'outbound.machineCpu',
            'Outbound (ours): CPU per message of everything, send path',
            [machineCpu(ours)],
            'ms',
            undefined,
            `host + Azurite + this process (sandbox, delay and storage proxies: ${two(ours.benchCpuMsPerMessage)} ms); ${two((machineCpu(ours) * ours.perSecond) / 1000)} of the ${String(cpus().length)} cores busy; naive peer ${two(machineCpu(naive))} ms, ${two((machineCpu(naive) * naive.perSecond) / 1000)} cores busy`,
        ),
        figure(
            'outbound.peakRss',
            'Outbound (ours): host peak RSS',
            [ours.peakRssMiB ?? NaN],
            'MiB',
            undefined,
            'VmHWM of the host process over sends, callbacks and the ledger check',
        ),
        figure(
            'outbound.naive.peakRss',
            'Outbound (naive peer): host peak RSS',
            [naive.peakRssMiB ?? NaN],
            'MiB',
            undefined,
            'VmHWM of the host process over the sends',
        ),
        figure(
            'outbound.storage.table',
            'Outbound (ours): ledger table requests per SMS, send path',
            [ours.storagePerMessage.tableRequests - otherStores(ours.partitions) / messages],
            'req',
            { max: 4 },
            `send phase (claim, create, SID; no callbacks), at the counting proxy: ${byKind(ours.storage, messages, 'table.')} in all, of which other stores than the ledger ${partitionNote(ours.partitions, messages, false)}; the ledger's keyed requests ${partitionNote(ours.partitions, messages, true)}; refused: ${refusalNote(ours.refusals, messages)}`,
        ),
        figure(
            'outbound.storage.otherTables',
            'Outbound (ours): other table requests per SMS, send path',
            [otherStores(ours.partitions) / messages],
            'req',
            undefined,
            'not the ledger: the opt-out check before each create (shared/messaging/outbound.ts, issue 13), a point read in the same table',
        ),
        figure(
            'outbound.callbacks.table',
            'Status callbacks (ours): table requests per callback',
            [totals(callbacks.storage).tableRequests / callbackCount],
            'req',
            undefined,
            `${byKind(callbacks.storage, callbackCount, 'table.')}; ${two(totals(callbacks.storage).tableRequests / messages)} per message for its ${two(callbacks.count / messages)} callbacks`,
        ),
        figure(
            'outbound.callbacks.hostCpu',
            'Status callbacks (ours): host CPU per callback',
            [callbacks.hostCpuMsPerCallback ?? NaN],
            'ms',
            undefined,
            'signature check, ledger update, 204; the naive peer has no callbacks (it asks for none)',
        ),
        figure(
            'outbound.storage.tableReads',
            'Outbound (ours): table reads per SMS',
            [ours.storagePerMessage.tableReads],
            'req',
            undefined,
        ),
        figure(
            'outbound.storage.tableWrites',
            'Outbound (ours): table writes per SMS',
            [ours.storagePerMessage.tableWrites],
            'req',
            undefined,
            'insert + replace + merge + upsert',
        ),
        figure(
            'outbound.storage.queue',
            'Outbound (ours): queue operations per SMS',
            [ours.storagePerMessage.queueOperations],
            'req',
            undefined,
            byKind(ours.storage, messages, 'queue.'),
        ),
        figure(
            'outbound.naive.storage.table',
            'Outbound (naive peer): table requests per SMS',
            [naive.storagePerMessage.tableRequests],
            'req',
            undefined,
            byKind(naive.storage, messages, 'table.'),
        ),
        figure(
            'outbound.naive.storage.queue',
            'Outbound (naive peer): queue operations per SMS',
            [naive.storagePerMessage.queueOperations],
            'req',
            undefined,
            byKind(naive.storage, messages, 'queue.'),
        ),
        figure(
            'outbound.duration',
            'Outbound (ours): invocation duration, median',
            durations,
            'ms',
            undefined,
            `p90 ${String(ours.durationsMs.p90)} ms; naive peer median ${String(naive.durationsMs.median)} ms, p90 ${String(naive.durationsMs.p90)} ms`,
        ),
        figure(
            'outbound.inFlight',
            'Outbound (ours): creates in flight (time mean)',
            [ours.meanCreatesInFlight],
            'creates',
            undefined,
            `peak ${String(ours.peakCreatesInFlight)}; naive peer mean ${two(naive.meanCreatesInFlight)}, peak ${String(naive.peakCreatesInFlight)}`,
        ),
        figure(
            'outbound.callbacks',
            'Status callbacks through the host (ours)',
            [callbacks.count / callbacks.seconds],
            '/s',
            undefined,
            `${String(callbacks.count)} callbacks answered 204, ${String(callbacks.failed)} not; ≤ ${String(callbackConcurrency)} at a time, after the sends; table requests per callback: ${two(totals(callbacks.storage).tableRequests / callbackCount)} (${byKind(callbacks.storage, callbackCount, 'table.')})`,
        ),
    ];
}
