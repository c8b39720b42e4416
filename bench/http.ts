/**
 * HTTP throughput of `/api/voice` through the local host (a child process running dist/local/host/main.js),
 * beside a bare Node.js server (bareServer.js, another child) answering the same bytes, both loaded by
 * autocannon from this process with the same settings, one after the other.
 *
 * The request is a GET with a Twilio signature computed once for its URL (as Twilio signs a GET webhook:
 * the full URL, no body); autocannon replays it, so every request goes through the real validation path
 * (TWILIO_WEBHOOK_VALIDATION stays on).
 */

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import autocannon from 'autocannon';
import { startHostProcess, webhookHostSettings, type HostProcess } from './hostProcess';
import { figure, type Figure } from './stats';
import { childEnv, onLines, ROOT, stopProcess, twilioSignature, within } from './util';

export interface HttpDetails {
    connections: number;
    seconds: number;
    path: string;
    app: autocannon.Result;
    bare: autocannon.Result;
}

const REQUEST_PATH = '/api/voice?Message=Hello%20from%20autocannon';

export async function measureHttp(
    storageConnectionString: string,
    connections: number,
    seconds: number,
): Promise<{ figures: Figure[]; details: HttpDetails }> {
    const token = randomBytes(16).toString('hex');
    let host: HostProcess | undefined;
    try {
        host = await startHostProcess({
            settings: webhookHostSettings(storageConnectionString, token, 'http'),
        });
        const appUrl = `${host.url}${REQUEST_PATH}`;
        const headers = { 'x-twilio-signature': twilioSignature(token, appUrl) };
        const answer = await fetch(appUrl, { headers });
        const body = Buffer.from(await answer.arrayBuffer());
        if (answer.status !== 200)
            throw new Error(`/api/voice answered ${String(answer.status)}: ${body.toString()}`);
        const contentType = answer.headers.get('content-type') ?? 'text/xml';

        // The bare server answers with the bytes the app just answered.
        const bare = spawn(process.execPath, [path.join(ROOT, 'bench', 'bareServer.js')], {
            cwd: ROOT,
            env: childEnv({ BENCH_BODY: body.toString('base64'), BENCH_CONTENT_TYPE: contentType }),
            stdio: ['ignore', 'pipe', 'pipe'],
        });
        try {
            const barePort = await within(
                new Promise<number>((resolve) => {
                    onLines(bare, (line) => {
                        if (line.startsWith('{')) resolve((JSON.parse(line) as { port: number }).port);
                    });
                }),
                10_000,
                'The bare server',
            );
            const bareUrl = `http://127.0.0.1:${String(barePort)}${REQUEST_PATH}`;
            const check = await fetch(bareUrl);
            const bareBody = Buffer.from(await check.arrayBuffer());
            if (!bareBody.equals(body)) throw new Error('The bare server does not answer the same bytes');

            const load = (url: string, duration: number, extra: Record<string, string> = {}) =>
                within(
                    autocannon({ url, connections, duration, headers: extra }),
                    (duration + 15) * 1000,
                    `autocannon ${url}`,
                );
            // Warm-up (JIT, sockets), then the measured runs, side by side.
            await load(bareUrl, 2);
            await load(appUrl, 2, headers);
            const bareResult = await load(bareUrl, seconds);
            const appResult = await load(appUrl, seconds, headers);
            if (appResult.non2xx > 0 || appResult.errors > 0) {
                throw new Error(
                    `/api/voice under load: ${String(appResult.non2xx)} non-2xx answers, ${String(appResult.errors)} errors`,
                );
            }
            const samples = (r: autocannon.Result) => ({
                median: r.requests.p50,
                min: r.requests.min,
                max: r.requests.max,
            });
            const row = (id: string, name: string, r: autocannon.Result): Figure => ({
                ...figure(id, name, [0], 'req/s', undefined),
                ...samples(r),
                runs: r.samples,
                note: `1-s samples; mean ${r.requests.average.toFixed(0)} req/s; latency p50 ${String(r.latency.p50)} ms, p99 ${String(r.latency.p99)} ms; ${String(r.non2xx)} non-2xx`,
            });
            return {
                figures: [
                    row(
                        'http.app',
                        `HTTP /api/voice via local host (${String(connections)} conn)`,
                        appResult,
                    ),
                    row(
                        'http.bare',
                        `HTTP bare node:http, same bytes (${String(connections)} conn)`,
                        bareResult,
                    ),
                    figure(
                        'http.ratio',
                        'HTTP ratio: local host / bare',
                        [appResult.requests.average / bareResult.requests.average],
                        '×',
                        undefined,
                        'mean req/s over mean req/s',
                    ),
                ],
                details: { connections, seconds, path: REQUEST_PATH, app: appResult, bare: bareResult },
            };
        } finally {
            await stopProcess(bare);
        }
    } finally {
        await host?.stop();
    }
}
