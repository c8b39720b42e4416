/**
 * Outbound throughput: N SMS through the local host (a child process running dist/local/host/main.js with
 * the project's host.json), Azurite and the Twilio sandbox behind a proxy that holds every create for
 * 200 ms.
 *
 * 1. The N messages (plain JSON with ids) are put on a fresh queue before the host starts.
 * 2. The clock starts at the host's first `Executing 'Functions.outbound'` line and stops at its N-th
 *    `Executed 'Functions.outbound' (Succeeded…)` line.
 * 3. The sandbox's status callbacks (queued, sent, delivered; signed, to the app's /api/status) are held
 *    back until the last message is sent, so the throughput figure measures sending alone; they are then
 *    let through (at most 32 at a time) and the ledger must end with every message `delivered`.
 * 4. Creates per id are counted at the proxy: every id exactly once.
 */

import { randomBytes } from 'node:crypto';
import { EventEmitter, setMaxListeners } from 'node:events';
import { QueueServiceClient } from '@azure/storage-queue';
import { readHostJson } from '../local/host/loader';
import { SANDBOX_NUMBER } from '../local/sandbox/resources';
import { generateTestCredentials, startTwilioSandbox, type TwilioSandbox } from '../local/sandbox/sandbox';
import { createLedger } from '../shared/ledger/table';
import { startDelayProxy, type DelayProxy } from './delayProxy';
import { startHostProcess, type HostProcess } from './hostProcess';
import { figure, type Figure } from './stats';
import { cpuSeconds, mapLimit, peakRssMiB, ROOT, within } from './util';

export interface OutboundDetails {
    messages: number;
    latencyMs: number;
    batchSize: number;
    newBatchThreshold: number;
    limitPerSecond: number;
    seconds: number;
    perSecond: number;
    failedInvocations: number;
    durationsMs: { median: number; min: number; max: number; p90: number };
    meanCreatesInFlight: number;
    peakCreatesInFlight: number;
    duplicateIds: number;
    idsCreated: number;
    ledgerStatuses: Record<string, number>;
    peakRssMiB: number | undefined;
    callbacks: { count: number; failed: number; seconds: number };
    /** CPU time of the host process during the send phase, per message. */
    hostCpuMsPerMessage: number | undefined;
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
    const queueName = `bench-outbound-${tag}`;
    const tableName = `BenchOutbound${tag}`;
    const ids = Array.from({ length: messages }, (_, i) => `bench-${tag}-${String(i)}`);

    const credentials = generateTestCredentials();
    const callbacks = gatedFetch(CALLBACK_CONCURRENCY);
    // Every callback in flight listens on the sandbox's shutdown signal; more than 10 is expected here.
    const defaultMaxListeners = EventEmitter.defaultMaxListeners;
    setMaxListeners(CALLBACK_CONCURRENCY * 4);
    let sandbox: TwilioSandbox | undefined;
    let proxy: DelayProxy | undefined;
    let host: HostProcess | undefined;
    try {
        sandbox = await startTwilioSandbox({ ...credentials, callbackDelayMs: 0, fetch: callbacks.fetch });
        proxy = await startDelayProxy(sandbox.url, latencyMs);
        const twilioApiUrl = proxy.url;

        const queue =
            QueueServiceClient.fromConnectionString(storageConnectionString).getQueueClient(queueName);
        await queue.create();
        await mapLimit(ids, 32, async (id, i) => {
            const to = `+1555${String(1_000_000 + i).padStart(7, '0')}`;
            await queue.sendMessage(
                JSON.stringify({ type: 'sms', id, to, body: `Benchmark message ${String(i)}` }),
            );
        });

        let startedAt: number | undefined;
        let succeeded = 0;
        let failed = 0;
        const durations: number[] = [];
        let allSent!: () => void;
        const sent = new Promise<void>((resolve) => (allSent = resolve));
        const executed =
            /^\[[^\]]+\] Executed 'Functions\.(\w+)' \((Succeeded|Failed), Id=[^,]+, Duration=(\d+)ms\)/;
        let cpuAtStart: number | undefined;
        host = await startHostProcess({
            appDir,
            settings: () => ({
                AzureWebJobsStorage: storageConnectionString,
                TWILIO_ACCOUNT_SID: credentials.accountSid,
                TWILIO_AUTH_TOKEN: credentials.authToken,
                TWILIO_API_URL: twilioApiUrl,
                TWILIO_FROM_NUMBER: SANDBOX_NUMBER,
                TWILIO_MESSAGING_SERVICE_SID: '',
                KEY_VAULT_URL: '',
                TWILIO_WEBHOOK_VALIDATION: 'on',
                OUTBOUND_QUEUE: queueName,
                LEDGER_TABLE: tableName,
                LEDGER_STORE_BODY: 'false',
            }),
            onLine: (line, pid) => {
                if (startedAt === undefined && line.includes("Executing 'Functions.outbound'")) {
                    startedAt = performance.now();
                    cpuAtStart = cpuSeconds(pid);
                }
                const match = executed.exec(line);
                if (match === null) return;
                const [, name, outcome, ms] = match;
                if (name === 'outbound') {
                    if (outcome === 'Succeeded') {
                        succeeded++;
                        durations.push(Number(ms));
                        if (succeeded === messages) allSent();
                    } else failed++;
                }
            },
        });
        const hostProcess = host;
        await within(sent, 180_000, `Sending ${String(messages)} messages`).catch((error: unknown) => {
            throw new Error(
                `${String(error)} (${String(succeeded)} sent, ${String(failed)} failed):\n${hostProcess.tail()}`,
            );
        });
        const seconds = (performance.now() - (startedAt ?? 0)) / 1000;
        const rss = peakRssMiB(host.child.pid);
        const cpuAtEnd = cpuSeconds(host.child.pid);
        const hostCpuMsPerMessage =
            cpuAtStart === undefined || cpuAtEnd === undefined
                ? undefined
                : ((cpuAtEnd - cpuAtStart) * 1000) / messages;

        // Now the status callbacks, to the app, and the ledger must say delivered.
        const callbacksStarted = performance.now();
        callbacks.release();
        await within(sandbox.idle(), 180_000, 'The status callbacks');
        const callbackSeconds = (performance.now() - callbacksStarted) / 1000;
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
        const peakRss = peakRssMiB(host.child.pid) ?? rss;

        const counts = [...proxy.createsPerId.values()];
        const duplicateIds = counts.filter((n) => n > 1).length;
        const idsCreated = ids.filter((id) => proxy?.createsPerId.has(id)).length;
        const sortedDurations = [...durations].sort((a, b) => a - b);
        const at = (q: number) =>
            sortedDurations[Math.min(sortedDurations.length - 1, Math.floor(q * sortedDurations.length))] ??
            NaN;
        const perSecond = messages / seconds;
        const details: OutboundDetails = {
            messages,
            latencyMs,
            batchSize: queues.batchSize,
            newBatchThreshold: queues.newBatchThreshold,
            limitPerSecond: limit,
            seconds,
            perSecond,
            failedInvocations: failed,
            durationsMs: { median: at(0.5), min: at(0), max: at(1), p90: at(0.9) },
            meanCreatesInFlight: proxy.meanInFlight(),
            peakCreatesInFlight: proxy.peakInFlight(),
            duplicateIds,
            idsCreated,
            ledgerStatuses: statuses,
            peakRssMiB: peakRss,
            callbacks: { count: statusDone, failed: statusFailed, seconds: callbackSeconds },
            hostCpuMsPerMessage,
        };
        const one = `1 run of ${String(messages)}`;
        const formula = `limit = (batchSize ${String(queues.batchSize)} + newBatchThreshold ${String(queues.newBatchThreshold)}) ÷ ${String(latencyMs / 1000)} s = ${String(limit)} msg/s`;
        return {
            figures: [
                figure(
                    'outbound.throughput',
                    `Outbound: ${String(messages)} SMS, ${String(latencyMs)} ms per create`,
                    [perSecond],
                    'msg/s',
                    { min: 0.8 * limit },
                    `${one}; ${formula}`,
                ),
                figure('outbound.ofLimit', 'Outbound: throughput ÷ limit', [perSecond / limit], '×', {
                    min: 0.8,
                }),
                figure(
                    'outbound.duplicates',
                    'Outbound: ids created more than once',
                    [duplicateIds],
                    'ids',
                    { equals: 0 },
                    `${String(idsCreated)} of ${String(messages)} ids created`,
                ),
                figure(
                    'outbound.delivered',
                    'Outbound: delivered in the ledger',
                    [statuses.delivered ?? 0],
                    'msgs',
                    { equals: messages },
                    JSON.stringify(statuses),
                ),
                figure(
                    'outbound.peakRss',
                    'Outbound: host peak RSS',
                    [peakRss ?? NaN],
                    'MiB',
                    undefined,
                    'VmHWM of the host process over sends, callbacks and the ledger check',
                ),
                figure(
                    'outbound.duration',
                    'Outbound: invocation duration',
                    durations,
                    'ms',
                    undefined,
                    `per invocation (the runs column); p90 ${String(at(0.9))} ms`,
                ),
                figure(
                    'outbound.hostCpu',
                    'Outbound: host CPU per message',
                    [hostCpuMsPerMessage ?? NaN],
                    'ms',
                    undefined,
                    'user + system time of the host process over the send phase ÷ messages',
                ),
                figure(
                    'outbound.inFlight',
                    'Outbound: creates in flight (time mean)',
                    [proxy.meanInFlight()],
                    'creates',
                    undefined,
                    `peak ${String(proxy.peakInFlight())}`,
                ),
                figure(
                    'outbound.callbacks',
                    'Status callbacks through the host',
                    [statusDone / callbackSeconds],
                    '/s',
                    undefined,
                    `${String(statusDone)} callbacks answered 204, ${String(statusFailed)} not; ≤ ${String(CALLBACK_CONCURRENCY)} at a time, after the sends`,
                ),
            ],
            details,
        };
    } finally {
        await host?.stop();
        await sandbox?.close();
        await proxy?.close();
        setMaxListeners(defaultMaxListeners);
    }
}
