/**
 * Cold start: `require()` time of the whole app, of `@azure/functions` alone and of a naive app that loads
 * its SDKs eagerly, each in fresh processes, interleaved (one process per variant per round, the order
 * rotated every round), timed inside each process around the requires only (see coldStartChild.js).
 */

import path from 'node:path';
import { figure, type Figure } from './stats';
import { lastJsonLine, ROOT, runNode } from './util';

const VARIANTS = ['app', 'functions', 'naive'] as const;
type Variant = (typeof VARIANTS)[number];

interface ChildReport {
    variant: Variant;
    ms: number;
    entries: number;
    loaded: Record<string, number>;
}

export interface ColdStartResult {
    figures: Figure[];
    details: {
        rounds: number;
        samplesMs: Record<Variant, number[]>;
        entries: number;
        /** Files loaded by each variant's requires, per package (`app` = the app's own files). */
        loaded: Record<Variant, Record<string, number>>;
    };
}

export async function measureColdStart(rounds: number): Promise<ColdStartResult> {
    const script = path.join(ROOT, 'bench', 'coldStartChild.js');
    const run = async (variant: Variant) =>
        lastJsonLine(await runNode([script, variant], {}, 30_000)) as ChildReport;

    // One uncounted round warms the file cache.
    for (const variant of VARIANTS) await run(variant);

    const samples: Record<Variant, number[]> = { app: [], functions: [], naive: [] };
    const loaded = {} as Record<Variant, Record<string, number>>;
    let entries = 0;
    const ratios: number[] = [];
    const naiveRatios: number[] = [];
    for (let round = 0; round < rounds; round++) {
        const ms = {} as Record<Variant, number>;
        for (let i = 0; i < VARIANTS.length; i++) {
            const variant = VARIANTS[(round + i) % VARIANTS.length] as Variant;
            const report = await run(variant);
            ms[variant] = report.ms;
            samples[variant].push(report.ms);
            loaded[variant] = report.loaded;
            if (variant === 'app') entries = report.entries;
        }
        ratios.push(ms.app / ms.functions);
        naiveRatios.push(ms.naive / ms.functions);
    }

    const files = (variant: Variant) => Object.values(loaded[variant]).reduce((a, b) => a + b, 0);
    return {
        figures: [
            figure(
                'coldStart.app',
                `Cold start: whole app (${String(entries)} entries of main)`,
                samples.app,
                'ms',
                undefined,
                `${String(files('app'))} files loaded`,
            ),
            figure(
                'coldStart.functions',
                'Cold start: @azure/functions alone',
                samples.functions,
                'ms',
                undefined,
                `${String(files('functions'))} files loaded`,
            ),
            figure(
                'coldStart.naive',
                'Cold start: naive eager SDKs',
                samples.naive,
                'ms',
                undefined,
                `${String(files('naive'))} files loaded`,
            ),
            figure(
                'coldStart.ratio',
                'Cold start ratio: app / @azure/functions',
                ratios,
                '×',
                { max: 2 },
                'per round, same round',
            ),
            figure(
                'coldStart.naiveRatio',
                'Cold start ratio: naive / @azure/functions',
                naiveRatios,
                '×',
                undefined,
            ),
        ],
        details: { rounds, samplesMs: samples, entries, loaded },
    };
}
