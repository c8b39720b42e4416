/**
 * What a forged webhook costs (issue 8, item 1): the time to answer a forged 1 MiB / 1,000-parameter
 * webhook beside a genuine one of the same size, and the issue's 100,000-parameter body, in process
 * (webhooksChild.ts); then, through the local host (a child process), the latency of a signed
 * `/api/voice` sent while a few connections keep posting forged 1 MiB webhooks, beside its latency
 * without them.
 */

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startHostProcess, webhookHostSettings, type HostProcess } from './hostProcess';
import { figure, summarize, type Figure } from './stats';
import { ONE_MIB } from './webhookBodies';
import type { WebhooksChildReport, WebhooksChildSizes } from './webhooksChild';
import { childEnv, lastJsonLine, ROOT, runNode, twilioSignature, within } from './util';

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
    let host: HostProcess | undefined;
    try {
        host = await startHostProcess({
            settings: webhookHostSettings(storageConnectionString, token, 'webhooks'),
        });
        const voiceUrl = `${host.url}/api/voice?Message=Hello%20during%20a%20burst`;
        const voiceHeaders = { 'x-twilio-signature': twilioSignature(token, voiceUrl) };
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

        // The attackers run in a process of their own: sharing this event loop, they would delay the
        // timed requests' own responses and the figure would measure the load generator.
        const burst = spawn(
            process.execPath,
            [
                '-r',
                path.join(ROOT, 'test', 'support', 'register.js'),
                path.join(ROOT, 'bench', 'forgedBurstChild.ts'),
            ],
            {
                cwd: ROOT,
                env: childEnv({
                    BENCH_BURST: JSON.stringify({
                        url: forgedUrl,
                        connections: sizes.burstConnections,
                        maxSeconds: 300,
                    }),
                }),
                stdio: ['pipe', 'pipe', 'inherit'],
            },
        );
        let output = '';
        const exited = new Promise<number | null>((resolve) => burst.once('exit', resolve));
        await within(
            new Promise<void>((resolve, reject) => {
                burst.stdout.setEncoding('utf8').on('data', (chunk: string) => {
                    output += chunk;
                    if (output.includes('ready\n')) resolve();
                });
                burst.once('error', reject);
                void exited.then(() => reject(new Error('the forged burst exited before it was ready')));
            }),
            60_000,
            'the forged burst to start',
        );
        // Let the burst build up before the first timed request.
        await sleep(500);
        const burstStarted = Date.now();
        let burstMs: number[];
        try {
            burstMs = await within(voiceSeries(), 300_000, 'voice during the burst');
        } finally {
            burst.stdin.end();
        }
        const burstSeconds = (Date.now() - burstStarted) / 1000;
        const code = await within(exited, 120_000, 'the forged burst');
        if (code !== 0) throw new Error(`the forged burst exited with ${String(code)}`);
        const report = lastJsonLine(output) as { answered: number; statuses: Record<string, number> };
        const forgedAnswered = report.answered;
        const forgedStatuses = report.statuses;
        return { quietMs, burstMs, forgedAnswered, forgedStatuses, burstSeconds };
    } finally {
        await host?.stop();
    }
}
