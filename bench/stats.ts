/**
 * Figures, their goals and the printed table.
 */

export interface Summary {
    median: number;
    min: number;
    max: number;
    runs: number;
}

/** One row of the table (and of results.json). */
export interface Figure {
    /** Stable key for results.json. */
    id: string;
    figure: string;
    median: number;
    min: number;
    max: number;
    unit: string;
    /** Samples behind median/min/max. */
    runs: number;
    /** e.g. `≤ 2.00`, or `reported` when the figure has no goal. */
    goal: string;
    /** `null` when there is no goal. */
    met: boolean | null;
    note?: string;
}

export function summarize(values: readonly number[]): Summary {
    if (values.length === 0) throw new Error('No samples to summarize');
    const sorted = [...values].sort((a, b) => a - b);
    const middle = Math.floor(sorted.length / 2);
    const median =
        sorted.length % 2 === 1
            ? (sorted[middle] ?? NaN)
            : ((sorted[middle - 1] ?? NaN) + (sorted[middle] ?? NaN)) / 2;
    return { median, min: sorted[0] ?? NaN, max: sorted.at(-1) ?? NaN, runs: sorted.length };
}

type Goal = { max: number } | { min: number } | { equals: number } | undefined;

/** A figure from samples; `goal` applies to the median (or, for `equals`, to every sample). */
export function figure(
    id: string,
    name: string,
    samples: readonly number[],
    unit: string,
    goal: Goal,
    note?: string,
): Figure {
    const s = summarize(samples);
    let goalText = 'reported';
    let met: boolean | null = null;
    if (goal !== undefined) {
        if ('max' in goal) {
            goalText = `≤ ${format(goal.max)}`;
            met = s.median <= goal.max;
        } else if ('min' in goal) {
            goalText = `≥ ${format(goal.min)}`;
            met = s.median >= goal.min;
        } else {
            goalText = `= ${format(goal.equals)}`;
            met = samples.every((v) => v === goal.equals);
        }
    }
    return {
        id,
        figure: name,
        median: s.median,
        min: s.min,
        max: s.max,
        unit,
        runs: s.runs,
        goal: goalText,
        met,
        ...(note === undefined ? {} : { note }),
    };
}

/** A number with three significant digits (whole numbers as they are). */
export function format(value: number): string {
    if (!Number.isFinite(value)) return String(value);
    if (Number.isInteger(value)) return String(value);
    const abs = Math.abs(value);
    if (abs >= 100) return value.toFixed(0);
    if (abs >= 10) return value.toFixed(1);
    return value.toFixed(2);
}

/** The table as text, one figure per row. */
export function renderTable(figures: readonly Figure[]): string {
    const header = ['figure', 'median', 'min', 'max', 'unit', 'runs', 'goal', 'met?'];
    const rows = figures.map((f) => [
        f.figure,
        format(f.median),
        format(f.min),
        format(f.max),
        f.unit,
        String(f.runs),
        f.goal,
        f.met === null ? '—' : f.met ? 'yes' : 'NO',
    ]);
    const numeric = new Set([1, 2, 3, 5]);
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
    const line = (cells: readonly string[]) =>
        cells
            .map((cell, i) => (numeric.has(i) ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)))
            .join('  ')
            .trimEnd();
    const rule = widths.map((w) => '-'.repeat(w)).join('  ');
    return [line(header), rule, ...rows.map(line)].join('\n');
}
