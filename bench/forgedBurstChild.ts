/**
 * The forged burst of the `webhooks` phase, in a process of its own (run by webhooks.ts as
 * `node -r test/support/register.js`): `connections` connections post forged 1 MiB / 1,000-parameter
 * webhooks back to back until stdin closes, or for `maxSeconds` at the most. Kept out of the process that
 * times `/api/voice`, so the timed requests do not wait behind the attackers' own event loop.
 *
 * BENCH_BURST holds `{ url, connections, maxSeconds }` as JSON. Prints `ready` once the first requests
 * are on their way, then one JSON line: how many were answered, by status.
 */

import { forgedSignature, largeForm, ONE_MIB } from './webhookBodies';

interface BurstOptions {
    url: string;
    connections: number;
    maxSeconds: number;
}

async function main(): Promise<void> {
    const options = JSON.parse(process.env.BENCH_BURST ?? '{}') as BurstOptions;
    const body = Buffer.from(largeForm(1_000, ONE_MIB).body);
    const headers = {
        'content-type': 'application/x-www-form-urlencoded',
        'x-twilio-signature': forgedSignature(),
    };
    const deadline = Date.now() + options.maxSeconds * 1000;
    let stop = false;
    process.stdin.on('end', () => (stop = true)).resume();
    const statuses: Record<string, number> = {};
    let answered = 0;
    const attacker = async () => {
        while (!stop && Date.now() < deadline) {
            const response = await fetch(options.url, { method: 'POST', headers, body });
            await response.arrayBuffer();
            const key = String(response.status);
            statuses[key] = (statuses[key] ?? 0) + 1;
            answered++;
        }
    };
    const running = Array.from({ length: options.connections }, attacker);
    process.stdout.write('ready\n');
    await Promise.all(running);
    process.stdout.write(`${JSON.stringify({ answered, statuses })}\n`);
}

main().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
});
