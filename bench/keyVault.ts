/**
 * Key Vault reads made by bursts of concurrent first invocations, and after the cache TTL expires.
 *
 * The loopback stand-ins of the tests (test/fakes: managed-identity endpoint, Key Vault over HTTPS behind
 * a CONNECT proxy, a throwaway CA) run here; the app runs in keyVaultChild.ts with the settings an App
 * Service deployment would have. Vault GETs are counted at the fake vault.
 */

import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { createTestPki, type TestPki } from '../test/fakes/certificates';
import { startConnectProxy, type FakeConnectProxy } from '../test/fakes/connectProxy';
import { KEY_VAULT_RESOURCE, startFakeKeyVault, type FakeKeyVault } from '../test/fakes/keyVault';
import { startFakeManagedIdentity, type FakeManagedIdentity } from '../test/fakes/managedIdentity';
import { JsonLineChild, spawnTypeScript } from '../test/support/childProcess';
import { figure, type Figure } from './stats';
import { within } from './util';

const SECRET = 'twilio-auth-token';
const TTL_SECONDS = 1;

export interface KeyVaultDetails {
    rounds: number;
    burst: number;
    firstBurstReads: number[];
    afterTtlReads: number[];
    identityRequests: number;
    non200: number;
}

export async function measureKeyVault(
    rounds: number,
    burst: number,
): Promise<{ figures: Figure[]; details: KeyVaultDetails }> {
    const token = randomBytes(16).toString('hex');
    let pki: TestPki | undefined;
    let identity: FakeManagedIdentity | undefined;
    let vault: FakeKeyVault | undefined;
    let proxy: FakeConnectProxy | undefined;
    let child: JsonLineChild | undefined;
    try {
        pki = await createTestPki(['*.vault.azure.net']);
        const trusted = await startFakeManagedIdentity();
        identity = trusted;
        const started = await startFakeKeyVault({
            cert: pki.serverCert,
            key: pki.serverKey,
            isAuthorized: (bearer) => trusted.tokenInfo(bearer)?.resource === KEY_VAULT_RESOURCE,
        });
        vault = started;
        proxy = await startConnectProxy(started.port);
        started.setSecret(SECRET, token);

        const app = new JsonLineChild(
            spawnTypeScript('bench/keyVaultChild.ts', {
                NODE_EXTRA_CA_CERTS: pki.caFile,
                HTTPS_PROXY: proxy.url,
                NO_PROXY: '127.0.0.1,localhost',
                IDENTITY_ENDPOINT: identity.endpoint,
                IDENTITY_HEADER: identity.identityHeader,
                KEY_VAULT_URL: 'https://bench-kv.vault.azure.net',
                SECRET_CACHE_TTL_SECONDS: String(TTL_SECONDS),
                BENCH_SIGNING_TOKEN: token,
            }),
        );
        child = app;
        let non200 = 0;
        const send = async (reset: boolean): Promise<number> => {
            const before = started.reads(SECRET);
            const answer = await within(
                app.send<{ statuses: Record<string, number> }>({ count: burst, reset }),
                60_000,
                'A burst of webhooks',
            );
            for (const [status, count] of Object.entries(answer.statuses))
                if (status !== '200') non200 += count;
            return started.reads(SECRET) - before;
        };

        const firstBurstReads: number[] = [];
        const afterTtlReads: number[] = [];
        for (let round = 0; round < rounds; round++) {
            firstBurstReads.push(await send(true));
            await sleep(TTL_SECONDS * 1000 + 100);
            afterTtlReads.push(await send(false));
        }
        await app.end();
        const details = {
            rounds,
            burst,
            firstBurstReads,
            afterTtlReads,
            identityRequests: trusted.requests.length,
            non200,
        };
        const note = `${String(burst)} concurrent signed voice webhooks per burst; ${String(non200)} not 200`;
        const figures = [
            figure(
                'keyVault.firstBurst',
                `Key Vault GETs: ${String(burst)} concurrent first invocations`,
                firstBurstReads,
                'reads',
                { equals: 1 },
                `${note}; fresh services each round`,
            ),
            figure(
                'keyVault.afterTtl',
                `Key Vault GETs: ${String(burst)} more after TTL (${String(TTL_SECONDS)} s)`,
                afterTtlReads,
                'reads',
                { equals: 1 },
                note,
            ),
        ];
        // A burst that did not answer 200 everywhere did not go through the webhook path as intended.
        if (non200 > 0) for (const f of figures) f.met = false;
        return { figures, details };
    } finally {
        await child?.kill();
        await Promise.all([proxy?.close(), vault?.close(), identity?.close()]);
        pki?.cleanup();
    }
}
