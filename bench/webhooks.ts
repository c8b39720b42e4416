/**
 * What a forged webhook costs (issue 8, item 1): the time to answer a forged 1 MiB / 1,000-parameter
 * webhook beside a genuine one of the same size, and the issue's 100,000-parameter body, in process
 * (webhooksChild.ts); then, through the local host (a child process), the latency of a signed
 * `/api/voice` sent while a few connections keep posting forged 1 MiB webhooks, beside its latency
 * without them.
 */

import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startHostProcess, type HostProcess } from './hostProcess';
import { figure, summarize, type Figure } from './stats';
import { forgedSignature, largeForm, ONE_MIB } from './webhookBodies';
import type { WebhooksChildReport, WebhooksChildSizes } from './webhooksChild';
import { lastJsonLine, ROOT, runNode, twilioSignature, within } from './util';

export interface WebhookSizes extends WebhooksChildSizes {
    /** Signed `/api/voice` requests timed without, then during, the burst. */
    voiceRequests: number;
    /** Pause between two of them. */
    voiceGapMs: number;
    /** Connections posting forged 1 MiB webhooks back to back during the burst. */
    burstConnections: number;
}

export interface WebhookDetails {
    inProcess: WebhooksChildReport;
    host: {
        quietMs: number[];
        burstMs: number[];
        forgedAnswered: number;
        forgedStatuses: Record<string, number>;
        burstSeconds: number;
    };
}

const PUBLIC_BASE_URL = 'https://bench-app.azurewebsites.net';

export async function measureWebhooks(
    storageConnectionString: string,
    sizes: WebhookSizes,
): Promise<{ figures: Figure[]; details: WebhookDetails }> {
    const token = randomBytes(16).toString('hex');
    const output = await runNode(
        [
            '-r',
            path.join(ROOT, 'test', 'support', 'register.js'),
            path.join(ROOT, 'bench', 'webhooksChild.ts'),
        ],
        {
            TWILIO_AUTH_TOKEN: token,
            PUBLIC_BASE_URL,
            BENCH_WEBHOOKS: JSON.stringify(sizes),
        },
        sizes.manyKeysBudgetMs + 120_000,
    );
    const inProcess = lastJsonLine(output) as WebhooksChildReport;
    const host = await measureThroughHost(storageConnectionString, token, sizes);

    const statusNote = (statuses: readonly number[]) => `answered ${[...new Set(statuses)].join('/')}`;
    const quiet = summarize(host.quietMs);
    const burst = summarize(host.burstMs);
    const p90 = (values: readonly number[]) =>
        [...values].sort((a, b) => a - b)[Math.floor(values.length * 0.9)] ?? NaN;
    const mib = (bytes: number) => (bytes / ONE_MIB).toFixed(2);
    return {
        figures: [
            figure(
                'webhooks.genuine',
                'webhook 1 MiB / 1,000 params, genuine: time to answer',
                inProcess.ms.genuine,
                'ms',
                undefined,
                `${mib(inProcess.bodyBytes.large)} MiB; ${statusNote(inProcess.statuses.genuine)}; in process`,
            ),
            figure(
                'webhooks.forged',
                'webhook 1 MiB / 1,000 params, forged: time to answer',
                inProcess.ms.forged,
                'ms',
                undefined,
                `${statusNote(inProcess.statuses.forged)}; in process`,
            ),
            figure(
                'webhooks.forgedRatio',
                'webhook forged / genuine (same body)',
                inProcess.ratios,
                '×',
                { max: 1.5 },
                'per round, interleaved',
            ),
            figure(
                'webhooks.manyKeys',
                `webhook ${sizes.manyKeys.toLocaleString('en-US')} params (issue repro), forged: time to answer`,
                inProcess.ms.manyKeys,
                'ms',
                { max: summarize(inProcess.ms.genuine).median },
                `${mib(inProcess.bodyBytes.manyKeys)} MiB; ${statusNote(inProcess.statuses.manyKeys)}; goal: no more than a genuine 1 MiB webhook`,
            ),
            figure(
                'webhooks.voiceQuiet',
                'signed /api/voice via local host, no burst: latency',
                host.quietMs,
                'ms',
                undefined,
                `${String(host.quietMs.length)} sequential GETs, ${String(sizes.voiceGapMs)} ms apart; p90 ${p90(host.quietMs).toFixed(2)} ms`,
            ),
            figure(
                'webhooks.voiceBurst',
                `signed /api/voice during a forged burst (${String(sizes.burstConnections)} conn × 1 MiB): latency`,
                host.burstMs,
                'ms',
                { max: 2 * quiet.median },
                `goal 2× the quiet median; p90 ${p90(host.burstMs).toFixed(2)} ms, max ${burst.max.toFixed(1)} ms; ${String(host.forgedAnswered)} forged answered in ${host.burstSeconds.toFixed(1)} s (${Object.entries(
                    host.forgedStatuses,
                )
                    .map(([s, n]) => `${s}: ${String(n)}`)
                    .join(', ')})`,
            ),
        ],
        details: { inProcess, host },
    };
}

async function measureThroughHost(
    storageConnectionString: string,
    token: string,
    sizes: WebhookSizes,
): Promise<WebhookDetails['host']> {
    const tag = randomBytes(4).toString('hex');
    let host: HostProcess | undefined;
    try {
        host = await startHostProcess({
            settings: () => ({
                AzureWebJobsStorage: storageConnectionString,
                TWILIO_AUTH_TOKEN: token,
                TWILIO_ACCOUNT_SID: '',
                KEY_VAULT_URL: '',
                TWILIO_WEBHOOK_VALIDATION: 'on',
                OUTBOUND_QUEUE: `bench-webhooks-${tag}`,
                LEDGER_TABLE: `BenchWebhooks${tag}`,
            }),
        });
        const voiceUrl = `${host.url}/api/voice?Message=Hello%20during%20a%20burst`;
        const voiceHeaders = { 'x-twilio-signature': twilioSignature(token, voiceUrl) };
        const forgedBody = Buffer.from(largeForm(1_000, ONE_MIB).body);
        const forgedHeaders = {
            'content-type': 'application/x-www-form-urlencoded',
            'x-twilio-signature': forgedSignature(),
        };
        const forgedUrl = `${host.url}/api/voice`;

        const timeVoice = async (): Promise<number> => {
            const started = process.hrtime.bigint();
            const response = await fetch(voiceUrl, { headers: voiceHeaders });
            await response.arrayBuffer();
            const ms = Number(process.hrtime.bigint() - started) / 1e6;
            if (response.status !== 200) throw new Error(`/api/voice answered ${String(response.status)}`);
            return ms;
        };
        const voiceSeries = async (): Promise<number[]> => {
            const values: number[] = [];
            for (let i = 0; i < sizes.voiceRequests; i++) {
                values.push(await timeVoice());
                await sleep(sizes.voiceGapMs);
            }
            return values;
        };

        for (let i = 0; i < 20; i++) await timeVoice();
        const quietMs = await within(voiceSeries(), 120_000, 'voice without a burst');

        let stop = false;
        const forgedStatuses: Record<string, number> = {};
        let forgedAnswered = 0;
        const attacker = async () => {
            while (!stop) {
                const response = await fetch(forgedUrl, {
                    method: 'POST',
                    headers: forgedHeaders,
                    body: forgedBody,
                });
                await response.arrayBuffer();
                const key = String(response.status);
                forgedStatuses[key] = (forgedStatuses[key] ?? 0) + 1;
                forgedAnswered++;
            }
        };
        const attackers = Array.from({ length: sizes.burstConnections }, attacker);
        // Let the burst build up before the first timed request.
        await sleep(500);
        const burstStarted = Date.now();
        let burstMs: number[];
        try {
            burstMs = await within(voiceSeries(), 300_000, 'voice during the burst');
        } finally {
            stop = true;
        }
        const burstSeconds = (Date.now() - burstStarted) / 1000;
        await within(Promise.all(attackers), 120_000, 'the forged burst');
        return { quietMs, burstMs, forgedAnswered, forgedStatuses, burstSeconds };
    } finally {
        await host?.stop();
    }
}
