/**
 * The Key Vault-backed auth token, end to end over real HTTP(S) with the unmodified Azure SDK.
 *
 * The fakes (managed-identity endpoint, vault, CONNECT proxy) run in this jest process; the app runs in a
 * child process (keyVaultChild.ts) that builds its services from settings as the Functions host would.
 * The child gets `https://<name>.vault.azure.net` as KEY_VAULT_URL and reaches the fake vault through the
 * proxy (HTTPS_PROXY), trusting the test CA (NODE_EXTRA_CA_CERTS); `DefaultAzureCredential` finds the
 * fake identity endpoint through IDENTITY_ENDPOINT / IDENTITY_HEADER, as on App Service. Assertions are
 * on what the fakes counted, never on timings.
 */

import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import { createTestPki, type TestPki } from '../fakes/certificates';
import { startConnectProxy, type FakeConnectProxy } from '../fakes/connectProxy';
import {
    KEY_VAULT_RESOURCE,
    startFakeKeyVault,
    type FakeKeyVault,
    type VaultOutage,
} from '../fakes/keyVault';
import {
    MANAGED_IDENTITY_API_VERSION,
    startFakeManagedIdentity,
    type FakeManagedIdentity,
} from '../fakes/managedIdentity';
import { JsonLineChild, spawnTypeScript } from '../support/childProcess';
import type { ChildCommand, ChildOutcome } from './keyVaultChild';

const SECRET = 'twilio-auth-token';
const TOKEN = 'token-v1-0123456789abcdef';

let pki: TestPki;
let identity: FakeManagedIdentity;
let vault: FakeKeyVault;
let proxy: FakeConnectProxy;
const children: JsonLineChild[] = [];

beforeAll(async () => {
    pki = await createTestPki(['*.vault.azure.net']);
    identity = await startFakeManagedIdentity();
    vault = await startFakeKeyVault({
        cert: pki.serverCert,
        key: pki.serverKey,
        isAuthorized: (token) => identity.tokenInfo(token)?.resource === KEY_VAULT_RESOURCE,
    });
    proxy = await startConnectProxy(vault.port);
});

afterEach(async () => {
    await Promise.all(children.splice(0).map((child) => child.kill()));
    vault.reset();
    identity.clearRequests();
    proxy.clear();
});

afterAll(async () => {
    // Each may be unset if beforeAll failed part-way; the optional calls keep that failure the one reported.
    /* eslint-disable @typescript-eslint/no-unnecessary-condition */
    await Promise.all([proxy?.close(), vault?.close(), identity?.close()]);
    pki?.cleanup();
    /* eslint-enable @typescript-eslint/no-unnecessary-condition */
});

/** Starts the app in a child process with the settings an App Service deployment would have. */
function startApp(vaultName: string, settings: Record<string, string> = {}): JsonLineChild {
    const child = new JsonLineChild(
        spawnTypeScript('test/integration/keyVaultChild.ts', {
            NODE_EXTRA_CA_CERTS: pki.caFile,
            HTTPS_PROXY: proxy.url,
            NO_PROXY: '127.0.0.1,localhost',
            IDENTITY_ENDPOINT: identity.endpoint,
            IDENTITY_HEADER: identity.identityHeader,
            KEY_VAULT_URL: `https://${vaultName}.vault.azure.net`,
            ...settings,
        }),
    );
    children.push(child);
    return child;
}

function call(app: JsonLineChild, command: ChildCommand): Promise<ChildOutcome> {
    return app.send<ChildOutcome>({ ...command });
}

function succeeded(count: number, value: string): ChildOutcome {
    return { fulfilled: count, values: [value], rejected: 0, errors: [] };
}

/** The one distinct error of an outcome in which every call failed. */
function onlyError(outcome: ChildOutcome, count: number): ChildOutcome['errors'][number] {
    expect(outcome).toMatchObject({ fulfilled: 0, rejected: count });
    expect(outcome.errors).toHaveLength(1);
    const [error] = outcome.errors;
    if (error === undefined) throw new Error('unreachable');
    return error;
}

/** Neither the secret nor any access token may leak into an error that ends up in logs. */
function expectNoCredentialsIn(text: string): void {
    for (const secret of [TOKEN, ...identity.issuedTokens()]) {
        expect(text).not.toContain(secret);
    }
}

describe('the fakes refuse what Azure would refuse', () => {
    it('the identity endpoint wants X-IDENTITY-HEADER, api-version 2019-08-01 and a resource', async () => {
        const base = `${identity.endpoint}?api-version=${MANAGED_IDENTITY_API_VERSION}&resource=${KEY_VAULT_RESOURCE}`;
        const good = { 'X-IDENTITY-HEADER': identity.identityHeader };

        expect((await get(base, { 'X-IDENTITY-HEADER': 'wrong' })).status).toBe(401);
        expect((await get(base, {})).status).toBe(401);
        expect((await get(base.replace('2019-08-01', '2017-09-01'), good)).status).toBe(400);
        expect(
            (await get(`${identity.endpoint}?api-version=${MANAGED_IDENTITY_API_VERSION}`, good)).status,
        ).toBe(400);

        const ok = await get(base, good);
        expect(ok.status).toBe(200);
        const body = JSON.parse(ok.body) as Record<string, unknown>;
        expect(body).toMatchObject({ resource: KEY_VAULT_RESOURCE, token_type: 'Bearer' });
        expect(body.expires_on).toMatch(/^\d{10}$/);
        expect(identity.tokenInfo(String(body.access_token))).toEqual({
            resource: KEY_VAULT_RESOURCE,
            clientId: identity.systemAssignedClientId,
        });
    });

    it('the vault challenges a request without a token and refuses a token it did not issue', async () => {
        vault.setSecret(SECRET, TOKEN);
        const path = `/secrets/${SECRET}/?api-version=7.6`;

        const anonymous = await getFromVault(path, {});
        expect(anonymous.status).toBe(401);
        expect(anonymous.headers['www-authenticate']).toBe(
            `Bearer authorization="https://login.microsoftonline.com/${vault.tenantId}", resource="https://vault.azure.net"`,
        );
        expect((await getFromVault(path, { Authorization: 'Bearer forged' })).status).toBe(401);
        expect(vault.reads(SECRET)).toBe(0);
    });

    it('the proxy tunnels only to *.vault.azure.net:443', async () => {
        expect(await connectThroughProxy('example.com:443')).toBe(403);
        expect(await connectThroughProxy('kv.vault.azure.net:8443')).toBe(403);
        expect(await connectThroughProxy('kv.vault.azure.net.evil.test:443')).toBe(403);
        expect(await connectThroughProxy('kv.vault.azure.net:443')).toBe(200);
        expect(proxy.tunnels).toEqual(['kv.vault.azure.net:443']);
    });
});

describe('SecretClient + DefaultAzureCredential (managed identity) against the fakes', () => {
    it('200 concurrent first reads make one vault read and one identity request', async () => {
        vault.setSecret(SECRET, TOKEN);
        const app = startApp('kv-concurrent');

        expect(await call(app, { op: 'get', count: 200 })).toEqual(succeeded(200, TOKEN));

        expect(vault.reads(SECRET)).toBe(1);
        // Key Vault's challenge protocol: the first request goes without a token to learn tenant and resource.
        expect(vault.challenges()).toBe(1);
        expect(identity.requests).toEqual([
            {
                method: 'GET',
                path: '/msi/token',
                apiVersion: MANAGED_IDENTITY_API_VERSION,
                resource: KEY_VAULT_RESOURCE,
                clientId: null,
                resourceId: null,
                identityHeader: identity.identityHeader,
                status: 200,
            },
        ]);
        // Every vault request went through the proxy under the vault's real host name.
        expect(vault.requests.map((r) => r.host)).toEqual(
            vault.requests.map(() => 'kv-concurrent.vault.azure.net'),
        );
        expect(proxy.tunnels.length).toBeGreaterThan(0);
        expect(new Set(proxy.tunnels)).toEqual(new Set(['kv-concurrent.vault.azure.net:443']));
        expect(proxy.refused).toEqual([]);
        expect(await app.end()).toBe(0);
    });

    it('reads again once the TTL has passed, and picks up a rotated value', async () => {
        vault.setSecret(SECRET, TOKEN);
        const app = startApp('kv-ttl', { SECRET_CACHE_TTL_SECONDS: '1' });
        expect(await call(app, { op: 'get', count: 1 })).toEqual(succeeded(1, TOKEN));
        expect(vault.reads(SECRET)).toBe(1);

        vault.setSecret(SECRET, 'token-v2');
        await sleep(1_100);
        expect(await call(app, { op: 'get', count: 50 })).toEqual(succeeded(50, 'token-v2'));

        expect(vault.reads(SECRET)).toBe(2);
        // The access token is cached by the credential, and the challenge is remembered by the client.
        expect(identity.requests).toHaveLength(1);
        expect(vault.challenges()).toBe(1);
        expect(await app.end()).toBe(0);
    });

    it('serves the cached value when a re-read after the TTL fails', async () => {
        vault.setSecret(SECRET, TOKEN);
        const app = startApp('kv-stale', { SECRET_CACHE_TTL_SECONDS: '1' });
        expect(await call(app, { op: 'get', count: 1 })).toEqual(succeeded(1, TOKEN));

        vault.goDown('unavailable');
        await sleep(1_100);
        expect(await call(app, { op: 'get', count: 20 })).toEqual(succeeded(20, TOKEN));

        // One re-read for all 20 calls; the SDK retried it (maxRetries: 2), no more.
        const attempts = vault.requests.filter((r) => r.status === 503).length;
        expect(attempts).toBeGreaterThanOrEqual(1);
        expect(attempts).toBeLessThanOrEqual(3);
        expect(app.stderr).toContain('Key Vault re-read failed; using the cached Twilio auth token');
        expectNoCredentialsIn(app.stderr);
        expect(await app.end()).toBe(0);
    });

    it.each<VaultOutage>(['reset', 'unavailable'])(
        'with the vault down (%s) and nothing cached, fails clearly without crashing, then recovers',
        async (outage) => {
            vault.setSecret(SECRET, TOKEN);
            vault.goDown(outage);
            const vaultUrl = `https://kv-down-${outage}.vault.azure.net`;
            const app = startApp(`kv-down-${outage}`);

            const error = onlyError(await call(app, { op: 'get', count: 20 }), 20);
            expect(error).toMatchObject({ name: 'SecretUnavailableError', isSecretUnavailableError: true });
            expect(error.message).toContain(`Could not read secret "${SECRET}" from ${vaultUrl}: `);
            expectNoCredentialsIn(error.message);
            expectNoCredentialsIn(error.inspected);
            // The 20 calls shared one read, which the SDK tried at most three times (maxRetries: 2).
            const attempts =
                outage === 'reset'
                    ? vault.connectionCount().dropped
                    : vault.requests.filter((r) => r.status === 503).length;
            expect(attempts).toBeGreaterThanOrEqual(1);
            expect(attempts).toBeLessThanOrEqual(3);
            expect(app.running).toBe(true);

            // A failure is not cached: the next call reads again and succeeds.
            vault.comeBack();
            expect(await call(app, { op: 'get', count: 5 })).toEqual(succeeded(5, TOKEN));
            expect(vault.reads(SECRET)).toBe(1);
            expect(await app.end()).toBe(0);
        },
    );

    it('1,000 refresh() calls right after a read cause at most one more vault read', async () => {
        vault.setSecret(SECRET, TOKEN);
        const app = startApp('kv-refresh');
        expect(await call(app, { op: 'get', count: 1 })).toEqual(succeeded(1, TOKEN));

        // As forged webhook signatures would: one after another, then all at once.
        expect(await call(app, { op: 'refresh', count: 1_000, parallel: false })).toEqual(
            succeeded(1_000, TOKEN),
        );
        expect(await call(app, { op: 'refresh', count: 1_000, parallel: true })).toEqual(
            succeeded(1_000, TOKEN),
        );

        expect(vault.reads(SECRET)).toBeGreaterThanOrEqual(1);
        expect(vault.reads(SECRET)).toBeLessThanOrEqual(2);
        expect(identity.requests).toHaveLength(1);
        expect(await app.end()).toBe(0);
    });

    it('asks for the user-assigned identity named by AZURE_CLIENT_ID', async () => {
        const clientId = '3f1c6a52-8d2e-4b7a-9c1e-2a4b6c8d0e1f';
        vault.setSecret(SECRET, TOKEN);
        const app = startApp('kv-user-assigned', { AZURE_CLIENT_ID: clientId });

        expect(await call(app, { op: 'get', count: 1 })).toEqual(succeeded(1, TOKEN));

        expect(identity.requests).toEqual([
            expect.objectContaining({ resource: KEY_VAULT_RESOURCE, clientId, status: 200 }),
        ]);
        expect(vault.reads(SECRET)).toBe(1);
        expect(await app.end()).toBe(0);
    });

    it('the API key secret: read from its own secret, cached, rotated after the TTL, with the same identity and client', async () => {
        const keySecret = 'api-key-secret-v1-0123456789';
        vault.setSecret(SECRET, TOKEN);
        vault.setSecret('twilio-api-key-secret', keySecret);
        const app = startApp('kv-api-key', {
            SECRET_CACHE_TTL_SECONDS: '1',
            TWILIO_ACCOUNT_SID: 'AC0123456789abcdef0123456789abcdef',
            TWILIO_API_KEY_SID: 'SK0123456789abcdef0123456789abcdef',
        });

        expect(await call(app, { op: 'get', count: 100, secret: 'apiKey' })).toEqual(
            succeeded(100, keySecret),
        );
        expect(await call(app, { op: 'get', count: 1 })).toEqual(succeeded(1, TOKEN));
        expect(vault.reads('twilio-api-key-secret')).toBe(1);
        expect(vault.reads(SECRET)).toBe(1);

        vault.setSecret('twilio-api-key-secret', 'api-key-secret-v2');
        await sleep(1_100);
        expect(await call(app, { op: 'get', count: 20, secret: 'apiKey' })).toEqual(
            succeeded(20, 'api-key-secret-v2'),
        );
        expect(vault.reads('twilio-api-key-secret')).toBe(2);
        // A refresh right after a read (a 401 storm) is rate-limited: no further read.
        expect(await call(app, { op: 'refresh', count: 100, secret: 'apiKey' })).toEqual(
            succeeded(100, 'api-key-secret-v2'),
        );
        expect(vault.reads('twilio-api-key-secret')).toBe(2);
        // Both secrets through one credential (one token request) and one client (one challenge).
        expect(identity.requests).toHaveLength(1);
        expect(vault.challenges()).toBe(1);
        expect(await app.end()).toBe(0);
    });

    it('a missing secret (404) is a clear error, not cached', async () => {
        const name = 'absent-secret';
        const app = startApp('kv-missing', { TWILIO_AUTH_TOKEN_SECRET_NAME: name });

        const error = onlyError(await call(app, { op: 'get', count: 10 }), 10);
        expect(error).toMatchObject({ name: 'SecretUnavailableError', isSecretUnavailableError: true });
        expect(error.message).toContain(
            `Could not read secret "${name}" from https://kv-missing.vault.azure.net: HTTP 404: `,
        );
        expect(error.message).toContain(`A secret with (name/id) ${name} was not found in this key vault.`);
        expectNoCredentialsIn(error.message);
        expectNoCredentialsIn(error.inspected);
        // A 404 is an answer, not a transient failure: the SDK does not retry it.
        expect(vault.reads(name)).toBe(1);

        vault.setSecret(name, TOKEN);
        expect(await call(app, { op: 'get', count: 1 })).toEqual(succeeded(1, TOKEN));
        expect(vault.reads(name)).toBe(2);
        expect(await app.end()).toBe(0);
    });
});

interface SimpleResponse {
    status: number;
    headers: Record<string, string | string[] | undefined>;
    body: string;
}

function get(url: string, headers: Record<string, string>): Promise<SimpleResponse> {
    return new Promise((resolve, reject) => {
        const req = httpRequest(url, { headers, agent: false }, (res) => {
            collect(res, resolve, reject);
        });
        req.on('error', reject);
        req.end();
    });
}

/** A request straight to the vault's port (no proxy), with the host name the certificate is for. */
function getFromVault(path: string, headers: Record<string, string>): Promise<SimpleResponse> {
    return new Promise((resolve, reject) => {
        const req = httpsRequest(
            {
                host: '127.0.0.1',
                port: vault.port,
                path,
                servername: 'kv-direct.vault.azure.net',
                headers: { ...headers, Host: 'kv-direct.vault.azure.net' },
                ca: pki.caCert,
                agent: false,
            },
            (res) => {
                collect(res, resolve, reject);
            },
        );
        req.on('error', reject);
        req.end();
    });
}

function collect(
    res: import('node:http').IncomingMessage,
    resolve: (response: SimpleResponse) => void,
    reject: (error: Error) => void,
): void {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => (body += chunk));
    res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
    });
    res.on('error', reject);
}

/** Sends `CONNECT target` to the proxy and resolves to the status of its answer. */
function connectThroughProxy(target: string): Promise<number> {
    const { port } = new URL(proxy.url);
    return new Promise((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port, method: 'CONNECT', path: target, agent: false });
        req.on('connect', (res, socket) => {
            socket.destroy();
            resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end();
    });
}
