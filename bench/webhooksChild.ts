/**
 * Time to answer large webhooks, in process (run by webhooks.ts as `node -r test/support/register.js`):
 * the compiled app is loaded as the worker loads it (dist/local/host/loader.js `loadApp`) and its `voice`
 * handler is called with the library's own `HttpRequest`, one request at a time, each timed on its own.
 *
 * Variants, interleaved with their order rotated every round:
 * - `genuine`: a 1 MiB form of 1,000 parameters, signed for its URL (answered 200);
 * - `forged`: the same body with a well-formed signature that matches nothing (403 today; the work a
 *   forged request makes the host do before it is refused);
 * - `manyKeys`: the reproduction, 100,000 distinct parameters (889 KB), forged; run after the
 *   others, fewer times and within a time budget, because before the fix one of them took ~40 s.
 *
 * Settings come from the environment (TWILIO_AUTH_TOKEN, PUBLIC_BASE_URL); BENCH_WEBHOOKS holds the sizes
 * as JSON. Prints one JSON line.
 */

import type * as AzureFunctions from '@azure/functions';
import type * as Loader from '../local/host/loader';
import { forgedSignature, largeForm, manyKeysForm, ONE_MIB } from './webhookBodies';
import { dist, ROOT, twilioSignature } from './util';

export interface WebhooksChildSizes {
    rounds: number;
    warmup: number;
    manyKeys: number;
    manyKeysRuns: number;
    manyKeysBudgetMs: number;
}

export interface WebhooksChildReport {
    /** ms per answer, one value per round. */
    ms: { genuine: number[]; forged: number[]; manyKeys: number[] };
    /** forged ÷ genuine, each pair from the same round. */
    ratios: number[];
    statuses: { genuine: number[]; forged: number[]; manyKeys: number[] };
    bodyBytes: { large: number; manyKeys: number };
}

const sizes = JSON.parse(process.env.BENCH_WEBHOOKS ?? '{}') as WebhooksChildSizes;
const token = process.env.TWILIO_AUTH_TOKEN ?? '';
const url = `${process.env.PUBLIC_BASE_URL ?? ''}/api/voice`;

const app = (dist('local/host/loader') as typeof Loader).loadApp(ROOT, () => undefined);
// eslint-disable-next-line @typescript-eslint/no-require-imports
const lib = require(require.resolve('@azure/functions', { paths: [ROOT] })) as typeof AzureFunctions;
const fn = app.functions.find((f) => f.name === 'voice');
if (fn === undefined) throw new Error('voice is not registered');
const voice = fn.handler as (
    request: AzureFunctions.HttpRequest,
    context: AzureFunctions.InvocationContext,
) => Promise<{ status?: number }>;

const large = largeForm(1_000, ONE_MIB);
const genuineSignature = twilioSignature(token, url, large.params);
const forged = forgedSignature();
const many = manyKeysForm(sizes.manyKeys);

async function answer(body: string, signature: string): Promise<{ ms: number; status: number }> {
    const request = new lib.HttpRequest({
        method: 'POST',
        url,
        headers: {
            'content-type': 'application/x-www-form-urlencoded',
            'content-length': String(Buffer.byteLength(body)),
            'x-twilio-signature': signature,
        },
        body: { string: body },
    });
    const context = new lib.InvocationContext({ functionName: 'voice', logHandler: () => undefined });
    const started = process.hrtime.bigint();
    const response = await voice(request, context);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    return { ms, status: response.status ?? 200 };
}

async function main(): Promise<WebhooksChildReport> {
    const report: WebhooksChildReport = {
        ms: { genuine: [], forged: [], manyKeys: [] },
        ratios: [],
        statuses: { genuine: [], forged: [], manyKeys: [] },
        bodyBytes: { large: Buffer.byteLength(large.body), manyKeys: Buffer.byteLength(many) },
    };
    for (let i = 0; i < sizes.warmup; i++) {
        await answer(large.body, genuineSignature);
        await answer(large.body, forged);
    }
    for (let round = 0; round < sizes.rounds; round++) {
        const order = round % 2 === 0 ? (['genuine', 'forged'] as const) : (['forged', 'genuine'] as const);
        const result: Record<string, { ms: number; status: number }> = {};
        for (const variant of order) {
            result[variant] = await answer(large.body, variant === 'genuine' ? genuineSignature : forged);
        }
        const g = result.genuine ?? { ms: NaN, status: 0 };
        const f = result.forged ?? { ms: NaN, status: 0 };
        report.ms.genuine.push(g.ms);
        report.ms.forged.push(f.ms);
        report.statuses.genuine.push(g.status);
        report.statuses.forged.push(f.status);
        report.ratios.push(f.ms / g.ms);
    }
    const started = Date.now();
    for (let run = 0; run < sizes.manyKeysRuns; run++) {
        const result = await answer(many, forged);
        report.ms.manyKeys.push(result.ms);
        report.statuses.manyKeys.push(result.status);
        if (Date.now() - started > sizes.manyKeysBudgetMs) break;
    }
    return report;
}

main().then(
    (report) => {
        console.log(JSON.stringify(report));
    },
    (error: unknown) => {
        console.error(error);
        process.exit(1);
    },
);
