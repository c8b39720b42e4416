/**
 * `npm run bench`: builds nothing itself (the npm script runs `npm run build` first) and measures the
 * compiled app in dist/, as Azure runs it. Prints the machine and one table (figure, median, min, max,
 * unit, goal, met?) and writes the same to bench/results.json. See bench/README.md for what each figure
 * measures and how.
 *
 * Every server is on loopback (Azurite on free ports, the Twilio sandbox, the Key Vault stand-ins, the
 * local host), every load is bounded in count and time. Exit code 1 when a phase fails to run; a missed
 * goal is a result, not a failure.
 *
 * `npm run bench -- <phase> …` runs only the phases named (coldStart, invocation, keyVault, outbound, http,
 * webhooks), so one figure can be re-measured on its own; results.json then says which phases it holds.
 */

import { existsSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startAzurite, type Azurite } from '../local/azurite';
import { measureColdStart } from './coldStart';
import { measureHttp } from './http';
import { measureInvocations } from './invocation';
import { measureKeyVault } from './keyVault';
import { measureOutbound } from './outbound';
import { renderTable, type Figure } from './stats';
import { ROOT } from './util';
import { measureWebhooks } from './webhooks';

const SIZES = {
    coldStartRounds: 21,
    invocation: { runs: 7, batch: 2_000, warmup: 2_000, ledgerBatch: 100, ledgerWarmup: 20 },
    keyVault: { rounds: 7, burst: 200 },
    outbound: { messages: 1_000, latencyMs: 200 },
    http: { connections: 50, seconds: 10 },
    webhooks: {
        rounds: 15,
        warmup: 3,
        manyKeys: 100_000,
        manyKeysRuns: 5,
        manyKeysBudgetMs: 60_000,
        voiceRequests: 100,
        voiceGapMs: 10,
        burstConnections: 4,
    },
};

const PHASES = ['coldStart', 'invocation', 'keyVault', 'outbound', 'http', 'webhooks'] as const;
type PhaseName = (typeof PHASES)[number];

/** The phases named on the command line, or all of them. */
function selectedPhases(args: readonly string[]): Set<PhaseName> | string {
    if (args.length === 0) return new Set(PHASES);
    const unknown = args.filter((a) => !(PHASES as readonly string[]).includes(a));
    if (unknown.length > 0) return `Unknown phase ${unknown.join(', ')}: choose from ${PHASES.join(', ')}`;
    return new Set(args as PhaseName[]);
}

function machine() {
    const cpus = os.cpus();
    return {
        cpu: cpus[0]?.model.trim() ?? 'unknown',
        cores: cpus.length,
        memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
        node: process.version,
        os: `${os.type()} ${os.release()} ${os.arch()}`,
        loadAverage1m: Math.round((os.loadavg()[0] ?? 0) * 100) / 100,
    };
}

async function main(): Promise<number> {
    if (!existsSync(path.join(ROOT, 'dist', 'functions'))) {
        console.error('dist/ is missing: run "npm run bench" (which builds first) or "npm run build".');
        return 1;
    }
    const selected = selectedPhases(process.argv.slice(2));
    if (typeof selected === 'string') {
        console.error(selected);
        return 1;
    }
    const subset = selected.size < PHASES.length;
    const started = Date.now();
    const host = machine();
    console.log(
        `Machine: ${host.cpu}, ${String(host.cores)} cores, ${String(host.memoryGiB)} GiB, Node ${host.node}, ${host.os}`,
    );
    if (host.loadAverage1m > 0.5) {
        console.log(
            `Load average ${String(host.loadAverage1m)} before the run: other work is using the CPUs, so the figures will be noisier.`,
        );
    }
    const figures: Figure[] = [];
    const details: Record<string, unknown> = {};
    const errors: { phase: string; error: string }[] = [];
    const phase = async (name: PhaseName, run: () => Promise<{ figures: Figure[]; details: unknown }>) => {
        if (!selected.has(name)) return;
        const phaseStarted = Date.now();
        process.stdout.write(`… ${name}`);
        try {
            const result = await run();
            figures.push(...result.figures);
            details[name] = result.details;
            process.stdout.write(` (${((Date.now() - phaseStarted) / 1000).toFixed(1)} s)\n`);
        } catch (error) {
            process.stdout.write(' FAILED\n');
            const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
            console.error(text);
            errors.push({ phase: name, error: text });
        }
    };

    await phase('coldStart', () => measureColdStart(SIZES.coldStartRounds));
    // Every phase but the cold start needs storage; a cold-start-only run does not start Azurite.
    if ([...selected].some((name) => name !== 'coldStart')) {
        let azurite: Azurite | undefined;
        try {
            azurite = await startAzurite({ ports: 'free' });
            const storage = azurite.connectionString;
            await phase('invocation', () => measureInvocations(storage, SIZES.invocation));
            await phase('keyVault', () => measureKeyVault(SIZES.keyVault.rounds, SIZES.keyVault.burst));
            await phase('outbound', () =>
                measureOutbound(storage, SIZES.outbound.messages, SIZES.outbound.latencyMs),
            );
            await phase('http', () => measureHttp(storage, SIZES.http.connections, SIZES.http.seconds));
            await phase('webhooks', () => measureWebhooks(storage, SIZES.webhooks));
        } catch (error) {
            errors.push({ phase: 'azurite', error: String(error) });
        } finally {
            await azurite?.stop();
        }
    }

    const seconds = (Date.now() - started) / 1000;
    console.log(`\n${renderTable(figures)}\n`);
    console.log('Notes:');
    for (const f of figures) if (f.note !== undefined) console.log(`  ${f.figure}: ${f.note}`);
    const missed = figures.filter((f) => f.met === false).map((f) => f.figure);
    console.log(`\nGoals missed: ${missed.length === 0 ? 'none' : missed.join('; ')}`);
    const loadAfter = Math.round((os.loadavg()[0] ?? 0) * 100) / 100;
    console.log(`Total ${seconds.toFixed(0)} s; load average ${String(loadAfter)} at the end.`);

    const file = path.join(ROOT, 'bench', 'results.json');
    const results = {
        timestamp: new Date().toISOString(),
        machine: host,
        phases: subset ? [...selected] : 'all',
        seconds,
        loadAverage1mAtEnd: loadAfter,
        sizes: SIZES,
        figures,
        errors,
        details,
    };
    writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
    console.log(`Wrote ${path.relative(process.cwd(), file)}`);
    return errors.length === 0 ? 0 : 1;
}

main().then(
    (code) => process.exit(code),
    (error: unknown) => {
        console.error(error);
        process.exit(1);
    },
);
