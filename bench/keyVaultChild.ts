/**
 * Child process for keyVault.ts: the compiled app loaded as the worker loads it, with KEY_VAULT_URL and the
 * managed-identity settings in its environment, so the unmodified `SecretClient` and
 * `DefaultAzureCredential` reach the loopback fakes (through HTTPS_PROXY, trusting NODE_EXTRA_CA_CERTS).
 *
 * Protocol (JSON lines, as test/support/childProcess.ts speaks it): `{"id":1,"count":200,"reset":true}`
 * sends `count` signed voice webhooks at once through the real handler; `reset` first forgets the app's
 * services (shared/platform/dependencies `setDependencies()`), so the burst is a set of first invocations again.
 * Answers `{"id":1,"statuses":{"200":200}}`. Closing stdin ends the process.
 */

import { createInterface } from 'node:readline';
import type * as AzureFunctions from '@azure/functions';
import type * as Loader from '../local/host/loader';
import type * as Dependencies from '../shared/platform/dependencies';
import { dist, ROOT, sid, twilioSignature } from './util';

interface Command {
    id: number;
    count: number;
    reset: boolean;
}

const app = (dist('local/host/loader') as typeof Loader).loadApp(ROOT, () => undefined);
// eslint-disable-next-line @typescript-eslint/no-require-imports
const lib = require(require.resolve('@azure/functions', { paths: [ROOT] })) as typeof AzureFunctions;
const dependencies = dist('shared/platform/dependencies') as typeof Dependencies;
const voice = app.functions.find((f) => f.name === 'voice');
if (voice === undefined) throw new Error('voice is not registered');
const handler = voice.handler as (
    request: AzureFunctions.HttpRequest,
    context: AzureFunctions.InvocationContext,
) => Promise<{ status?: number }>;

// Signed as Twilio signs, with the token the vault holds (the app itself only reads it from the vault).
const url = 'https://bench-app.azurewebsites.net/api/voice';
const params = { AccountSid: sid('AC', 1), CallSid: sid('CA', 2), From: '+15551230000', To: '+15005550006' };
const signature = twilioSignature(process.env.BENCH_SIGNING_TOKEN ?? '', url, params);
const body = new URLSearchParams(params).toString();

async function burst(count: number): Promise<Record<string, number>> {
    const one = async () => {
        const request = new lib.HttpRequest({
            method: 'POST',
            url,
            headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature },
            body: { string: body },
        });
        const context = new lib.InvocationContext({ functionName: 'voice', logHandler: () => undefined });
        return (await handler(request, context)).status ?? 200;
    };
    const statuses: Record<string, number> = {};
    for (const status of await Promise.all(Array.from({ length: count }, one))) {
        statuses[String(status)] = (statuses[String(status)] ?? 0) + 1;
    }
    return statuses;
}

let queue = Promise.resolve();
const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
    queue = queue.then(async () => {
        const command = JSON.parse(line) as Command;
        if (command.reset) dependencies.setDependencies();
        const statuses = await burst(command.count);
        process.stdout.write(`${JSON.stringify({ id: command.id, statuses })}\n`);
    });
});
lines.on('close', () => {
    // The SDK's keep-alive sockets would hold the process open for a while.
    void queue.then(() => process.exit(0));
});
