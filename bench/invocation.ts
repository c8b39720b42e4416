/**
 * Per-invocation cost of the webhooks, in process (see invocationChild.ts), in a child process of its own
 * so that its heap holds nothing but the app and the measurement.
 */

import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { InvocationReport } from './invocationChild';
import { figure, type Figure } from './stats';
import { lastJsonLine, ROOT, runNode } from './util';

export interface InvocationSizes {
    runs: number;
    batch: number;
    warmup: number;
    ledgerBatch: number;
    ledgerWarmup: number;
}

export async function measureInvocations(
    storageConnectionString: string,
    sizes: InvocationSizes,
): Promise<{ figures: Figure[]; details: InvocationReport }> {
    const output = await runNode(
        [
            '-r',
            path.join(ROOT, 'test', 'support', 'register.js'),
            path.join(ROOT, 'bench', 'invocationChild.ts'),
        ],
        {
            TWILIO_AUTH_TOKEN: randomBytes(16).toString('hex'),
            AzureWebJobsStorage: storageConnectionString,
            LEDGER_TABLE: `BenchInvocations${randomBytes(4).toString('hex')}`,
            BENCH_INVOCATION: JSON.stringify(sizes),
        },
        150_000,
    );
    const report = lastJsonLine(output) as InvocationReport;
    const us = (name: string): number[] => {
        const values = report.perInvocationUs[name];
        if (values === undefined) throw new Error(`No samples for ${name}`);
        return values;
    };
    const batch = `${String(sizes.batch)} sequential invocations per run`;
    const ledgerBatch = `${String(sizes.ledgerBatch)} sequential invocations per run, Azurite`;
    return {
        figures: [
            figure('invocation.voice', 'voice: per invocation', us('voice'), 'µs', undefined, batch),
            figure(
                'invocation.voiceBaseline',
                'voice: baseline',
                us('voiceBaseline'),
                'µs',
                undefined,
                batch,
            ),
            figure('invocation.voiceRatio', 'voice ratio: app / baseline', report.ratios.voice, '×', {
                max: 1.3,
            }),
            figure(
                'invocation.sms',
                'inboundSms (ledger in memory): per invocation',
                us('sms'),
                'µs',
                undefined,
                `${batch}; the goal applies to this one`,
            ),
            figure(
                'invocation.smsBaseline',
                'inboundSms: baseline',
                us('smsBaseline'),
                'µs',
                undefined,
                batch,
            ),
            figure('invocation.smsRatio', 'inboundSms ratio: app / baseline', report.ratios.sms, '×', {
                max: 1.3,
            }),
            figure(
                'invocation.context',
                'InvocationContext alone (in both baselines)',
                us('context'),
                'µs',
                undefined,
            ),
            figure(
                'invocation.smsLedger',
                'inboundSms + ledger write (Azurite)',
                us('smsLedger'),
                'µs',
                undefined,
                ledgerBatch,
            ),
            figure(
                'invocation.statusLedger',
                '/api/status + ledger update (Azurite)',
                us('statusLedger'),
                'µs',
                undefined,
                ledgerBatch,
            ),
        ],
        details: report,
    };
}
