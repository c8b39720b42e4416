/**
 * The app's own Azure clients (ledger table, outbound and media queues, media container, Key Vault) authenticate as the identity the
 * Functions settings name, end to end over HTTPS with the unmodified Azure SDKs.
 *
 * The app runs in a child process (identityChild.ts) with the settings the template writes
 * (`AzureWebJobsStorage__accountName` / `__credential` / `__clientId`, `AZURE_CLIENT_ID`, `KEY_VAULT_URL`),
 * and with IDENTITY_ENDPOINT / IDENTITY_HEADER as App Service sets them. Its storage URLs are the real
 * `https://devstoreaccount1.{queue,table,blob}.core.windows.net`, reached through a CONNECT proxy (HTTPS_PROXY)
 * at a gateway that checks each bearer token against the fake managed identity and forwards to Azurite
 * (HTTPS, OAuth on); the vault is the fake Key Vault behind the same proxy. Assertions are on what the
 * fakes recorded, never on timings.
 */

import { request as httpsRequest } from 'node:https';
import { createTestPki, type TestPki } from '../fakes/certificates';
import { startConnectProxy, type FakeConnectProxy } from '../fakes/connectProxy';
import { KEY_VAULT_RESOURCE, startFakeKeyVault, type FakeKeyVault } from '../fakes/keyVault';
import { startFakeManagedIdentity, type FakeManagedIdentity } from '../fakes/managedIdentity';
import { startOAuthAzurite, type OAuthAzurite } from '../fakes/azuriteOAuth';
import { STORAGE_RESOURCE, startStorageGateway, type StorageGateway } from '../fakes/storageGateway';
import { JsonLineChild, spawnTypeScript } from '../support/childProcess';
import type { IdentityCommand, IdentityOutcome } from './identityChild';

const ACCOUNT = 'devstoreaccount1';
const CLIENT_ID = '3f1c6a52-8d2e-4b7a-9c1e-2a4b6c8d0e1f';
const OTHER_CLIENT_ID = '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d';
const AUTH_TOKEN = 'auth-token-0123456789abcdef';
const API_KEY_SECRET = 'api-key-secret-0123456789abcdef';

let pki: TestPki;
let identity: FakeManagedIdentity;
let vault: FakeKeyVault;
let azurite: OAuthAzurite;
let gateway: StorageGateway;
let proxy: FakeConnectProxy;
/** The client id of every token the vault was shown, in order. */
const vaultTokenClients: (string | undefined)[] = [];
const children: JsonLineChild[] = [];
let tableNumber = 0;

beforeAll(async () => {
    pki = await createTestPki([
        '*.vault.azure.net',
        '*.queue.core.windows.net',
        '*.table.core.windows.net',
        '*.blob.core.windows.net',
        'localhost',
    ]);
    identity = await startFakeManagedIdentity();
    vault = await startFakeKeyVault({
        cert: pki.serverCert,
        key: pki.serverKey,
        isAuthorized: (token) => {
            const issued = identity.tokenInfo(token);
            vaultTokenClients.push(issued?.clientId);
            return issued?.resource === KEY_VAULT_RESOURCE;
        },
    });
    azurite = await startOAuthAzurite({ cert: pki.serverCert, key: pki.serverKey });
    gateway = await startStorageGateway({
        cert: pki.serverCert,
        key: pki.serverKey,
        ca: pki.caCert,
        account: ACCOUNT,
        azurite,
        tokenInfo: (token) => identity.tokenInfo(token),
    });
    proxy = await startConnectProxy([
        { target: /^[0-9a-z-]+\.vault\.azure\.net:443$/i, port: vault.port },
        {
            target: new RegExp(`^${ACCOUNT}\\.(queue|table|blob)\\.core\\.windows\\.net:443$`, 'i'),
            port: gateway.port,
        },
    ]);
}, 60_000);

afterEach(async () => {
    await Promise.all(children.splice(0).map((child) => child.kill()));
    vault.reset();
    identity.clearRequests();
    gateway.clear();
    proxy.clear();
    vaultTokenClients.length = 0;
});

afterAll(async () => {
    // Each may be unset if beforeAll failed part-way; the optional calls keep that failure the one reported.
    /* eslint-disable @typescript-eslint/no-unnecessary-condition */
    await Promise.all([proxy?.close(), gateway?.close(), vault?.close(), identity?.close(), azurite?.stop()]);
    pki?.cleanup();
    /* eslint-enable @typescript-eslint/no-unnecessary-condition */
});

/** The settings infra/app/function.bicep writes, for one user-assigned identity. */
/** The app's secrets, in the fake vault under the names the template gives them. */
function storeSecrets(): void {
    vault.setSecret('twilio-auth-token', AUTH_TOKEN);
    vault.setSecret('twilio-api-key-secret', API_KEY_SECRET);
}

/** {@link templateSettings} without the settings `omitted`. */
function templateSettingsWithout(vaultName: string, ...omitted: string[]): Record<string, string> {
    return Object.fromEntries(
        Object.entries(templateSettings(vaultName)).filter(([name]) => !omitted.includes(name)),
    );
}

function templateSettings(vaultName: string): Record<string, string> {
    return {
        AzureWebJobsStorage__accountName: ACCOUNT,
        AzureWebJobsStorage__credential: 'managedidentity',
        AzureWebJobsStorage__clientId: CLIENT_ID,
        AZURE_CLIENT_ID: CLIENT_ID,
        KEY_VAULT_URL: `https://${vaultName}.vault.azure.net`,
        TWILIO_ACCOUNT_SID: 'AC0123456789abcdef0123456789abcdef',
        TWILIO_API_KEY_SID: 'SK0123456789abcdef0123456789abcdef',
        TWILIO_API_KEY_SECRET_NAME: 'twilio-api-key-secret',
    };
}

/** Starts the app in a child process with App Service's identity variables and `settings`. */
function startApp(settings: Record<string, string>): JsonLineChild {
    tableNumber += 1;
    const child = new JsonLineChild(
        spawnTypeScript('test/integration/identityChild.ts', {
            NODE_EXTRA_CA_CERTS: pki.caFile,
            HTTPS_PROXY: proxy.url,
            NO_PROXY: '127.0.0.1,localhost',
            IDENTITY_ENDPOINT: identity.endpoint,
            IDENTITY_HEADER: identity.identityHeader,
            LEDGER_TABLE: `IdentityLedger${tableNumber}`,
            OUTBOUND_QUEUE: `identity-outbound-${tableNumber}`,
            INBOUND_MEDIA_QUEUE: `identity-media-${tableNumber}`,
            MEDIA_CONTAINER: `identity-media-${tableNumber}`,
            ...settings,
        }),
    );
    children.push(child);
    return child;
}

async function call(app: JsonLineChild, op: IdentityCommand['op'], arg?: string): Promise<unknown> {
    const outcome = await app.send<IdentityOutcome>({ op, ...(arg === undefined ? {} : { arg }) });
    if (!outcome.ok) throw new Error(`${op} failed in the app: ${outcome.error}\n${app.stderr}`);
    return outcome.value;
}

/**
 * A first ledger write and send at once (a cold start), a ledger create + get, two more sends, then both
 * Key Vault secrets: every Azure client the app has.
 */
async function useEveryClient(app: JsonLineChild): Promise<void> {
    expect(await call(app, 'coldStart', 'identity-msg-0')).toEqual(['created', null]);
    expect(await call(app, 'ledgerCreate', 'identity-msg-1')).toBe('created');
    expect(await call(app, 'ledgerGet', 'identity-msg-1')).toEqual({
        id: 'identity-msg-1',
        status: 'queued',
    });
    expect(await call(app, 'enqueue', '{"id":"identity-msg-1"}')).toBe('sent');
    expect(await call(app, 'enqueue', '{"id":"identity-msg-2"}')).toBe('sent');
    expect(await call(app, 'authToken')).toBe(AUTH_TOKEN);
    expect(await call(app, 'apiKeySecret')).toBe(API_KEY_SECRET);
}

/** The identity endpoint's requests as `resource → client_id`, each resource asked exactly once. */
function tokenRequestsByResource(): Record<string, string | null> {
    const byResource: Record<string, string | null> = {};
    for (const request of identity.requests) {
        expect(request.status).toBe(200);
        const resource = request.resource ?? '';
        // Asked twice for one resource: clients holding credentials of their own, whose requests nothing joins.
        expect(byResource).not.toHaveProperty([resource]);
        byResource[resource] = request.clientId;
    }
    return byResource;
}

/** Every storage request carried a token the identity endpoint issued for storage to `clientId`. */
function expectStorageReachedAs(clientId: string): void {
    const requests = gateway.requests;
    expect(requests.map((r) => r.auth)).toEqual(requests.map(() => 'accepted'));
    expect(new Set(requests.map((r) => r.clientId))).toEqual(new Set([clientId]));
    expect(new Set(requests.map((r) => r.resource))).toEqual(new Set([STORAGE_RESOURCE]));
    // Both services, under the account's real host names, and Azurite did what was asked.
    expect(new Set(requests.map((r) => r.host))).toEqual(
        new Set([`${ACCOUNT}.table.core.windows.net`, `${ACCOUNT}.queue.core.windows.net`]),
    );
    expect(requests.filter((r) => r.status >= 400)).toEqual([]);
    expect(
        requests.filter(
            (r) =>
                r.service === 'queue' &&
                r.method === 'POST' &&
                r.path.split('?')[0]?.endsWith('/messages') === true,
        ),
    ).toHaveLength(3);
    expect(requests.some((r) => r.service === 'table' && r.method === 'GET')).toBe(true);
}

describe('the fakes refuse what Azure would refuse', () => {
    it('the storage gateway answers 401 to a request without a token, or with a token for another resource', async () => {
        const path = `/identity-probe?restype=queue`;
        const anonymous = await putToGateway(path, {});
        expect(anonymous.status).toBe(401);
        expect(anonymous.headers['www-authenticate']).toContain(`resource_id=${STORAGE_RESOURCE}`);

        const vaultToken = await issueToken(KEY_VAULT_RESOURCE);
        expect((await putToGateway(path, { Authorization: `Bearer ${vaultToken}` })).status).toBe(401);
        expect((await putToGateway(path, { Authorization: 'Bearer forged' })).status).toBe(401);
        expect(gateway.requests.map((r) => [r.auth, r.status])).toEqual([
            ['none', 401],
            ['rejected', 401],
            ['rejected', 401],
        ]);

        // A token for storage goes through to Azurite, which creates the queue.
        const storageToken = await issueToken(STORAGE_RESOURCE);
        expect((await putToGateway(path, { Authorization: `Bearer ${storageToken}` })).status).toBe(201);
    });
});

describe('storage and Key Vault as the identity the Functions settings name', () => {
    it('the template’s settings: one user-assigned identity for the table, the queue and Key Vault, asked once per scope', async () => {
        storeSecrets();
        const app = startApp(templateSettings('kv-identity'));

        await useEveryClient(app);

        // One credential object for the identity: one token request per scope, both naming the client id.
        expect(tokenRequestsByResource()).toEqual({
            [STORAGE_RESOURCE]: CLIENT_ID,
            [KEY_VAULT_RESOURCE]: CLIENT_ID,
        });
        expectStorageReachedAs(CLIENT_ID);
        // Key Vault saw only that identity's token; one SecretClient answered the challenge once for both secrets.
        expect(new Set(vaultTokenClients)).toEqual(new Set([CLIENT_ID]));
        expect(vault.challenges()).toBe(1);
        expect(vault.reads('twilio-auth-token')).toBe(1);
        expect(vault.reads('twilio-api-key-secret')).toBe(1);
        expect(proxy.refused).toEqual([]);
        expect(await app.end()).toBe(0);
    });

    it('AZURE_CLIENT_ID naming another identity: Key Vault as that one, storage still as __clientId', async () => {
        storeSecrets();
        const app = startApp({ ...templateSettings('kv-two-identities'), AZURE_CLIENT_ID: OTHER_CLIENT_ID });

        await useEveryClient(app);

        expect(tokenRequestsByResource()).toEqual({
            [STORAGE_RESOURCE]: CLIENT_ID,
            [KEY_VAULT_RESOURCE]: OTHER_CLIENT_ID,
        });
        expectStorageReachedAs(CLIENT_ID);
        expect(new Set(vaultTokenClients)).toEqual(new Set([OTHER_CLIENT_ID]));
        expect(await app.end()).toBe(0);
    });

    it('__credential=managedidentity without a client id: the system-assigned identity', async () => {
        storeSecrets();
        const settings = templateSettingsWithout(
            'kv-system',
            'AzureWebJobsStorage__clientId',
            'AZURE_CLIENT_ID',
        );
        const app = startApp(settings);

        await useEveryClient(app);

        expect(tokenRequestsByResource()).toEqual({
            [STORAGE_RESOURCE]: null,
            [KEY_VAULT_RESOURCE]: null,
        });
        expectStorageReachedAs(identity.systemAssignedClientId);
        expect(await app.end()).toBe(0);
    });

    it('__managedIdentityResourceId: the user-assigned identity asked for by its resource ID', async () => {
        const resourceId =
            '/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg-app/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-app';
        storeSecrets();
        const settings = templateSettingsWithout(
            'kv-resource-id',
            'AzureWebJobsStorage__clientId',
            'AZURE_CLIENT_ID',
        );
        const app = startApp({ ...settings, AzureWebJobsStorage__managedIdentityResourceId: resourceId });

        await useEveryClient(app);

        expect(identity.requests.map((r) => [r.resource, r.clientId, r.resourceId]).sort()).toEqual(
            [
                [STORAGE_RESOURCE, null, resourceId],
                [KEY_VAULT_RESOURCE, null, resourceId],
            ].sort(),
        );
        expectStorageReachedAs(identity.clientIdOf(resourceId));
        expect(await app.end()).toBe(0);
    });

    it('no __credential: DefaultAzureCredential, which finds the App Service identity named by __clientId', async () => {
        storeSecrets();
        const settings = templateSettingsWithout(
            'kv-default',
            'AzureWebJobsStorage__credential',
            'AZURE_CLIENT_ID',
        );
        const app = startApp(settings);

        await useEveryClient(app);

        expect(tokenRequestsByResource()).toEqual({
            [STORAGE_RESOURCE]: CLIENT_ID,
            [KEY_VAULT_RESOURCE]: CLIENT_ID,
        });
        expectStorageReachedAs(CLIENT_ID);
        expect(await app.end()).toBe(0);
    });
});

describe('the media container and the media queue as the storage identity', () => {
    const SID = 'MM0123456789abcdef0123456789abcdef';

    it('the template’s settings: the blob endpoint from __accountName, the one storage token, container created, stored and read back', async () => {
        storeSecrets();
        const app = startApp(templateSettings('kv-media'));

        expect(await call(app, 'mediaPut', `${SID}/0`)).toBe('stored');
        expect(await call(app, 'mediaRead', `${SID}/0`)).toEqual({
            contentType: 'image/png',
            text: 'media bytes',
        });
        expect(await call(app, 'mediaRead', `${SID}/1`)).toBe('not-found');
        expect(await call(app, 'enqueueMedia', '{"v":1}')).toBe('sent');

        // One storage token, asked once, for the blob and queue services alike.
        expect(tokenRequestsByResource()).toEqual({ [STORAGE_RESOURCE]: CLIENT_ID });
        const requests = gateway.requests;
        expect(requests.map((r) => r.auth)).toEqual(requests.map(() => 'accepted'));
        expect(new Set(requests.map((r) => r.clientId))).toEqual(new Set([CLIENT_ID]));
        const blob = requests.filter((r) => r.host === `${ACCOUNT}.blob.core.windows.net`);
        // Container create, upload, two reads of properties (one a 404) and the download.
        expect(blob.map((r) => r.method)).toEqual(['PUT', 'PUT', 'HEAD', 'GET', 'HEAD']);
        expect(blob.map((r) => r.status)).toEqual([201, 201, 200, 206, 404]);
        expect(blob[0]?.path).toBe('/identity-media-' + String(tableNumber) + '?restype=container');
        expect(
            requests.some((r) => r.host === `${ACCOUNT}.queue.core.windows.net` && r.method === 'POST'),
        ).toBe(true);
        expect(await app.end()).toBe(0);
    });

    it('service URIs without __blobServiceUri: the media container is a ConfigError naming the setting', async () => {
        storeSecrets();
        const settings = templateSettingsWithout('kv-media-uris', 'AzureWebJobsStorage__accountName');
        const app = startApp({
            ...settings,
            AzureWebJobsStorage__queueServiceUri: `https://${ACCOUNT}.queue.core.windows.net`,
            AzureWebJobsStorage__tableServiceUri: `https://${ACCOUNT}.table.core.windows.net`,
        });
        const outcome = await app.send<IdentityOutcome>({ op: 'mediaPut', arg: `${SID}/0` });
        expect(outcome).toEqual({
            ok: false,
            error: expect.stringContaining('AzureWebJobsStorage__blobServiceUri is required') as unknown,
        });
        expect(gateway.requests.filter((r) => r.service === 'blob')).toEqual([]);
        expect(await app.end()).toBe(0);
    });
});

/** A token straight from the fake identity endpoint, as the system-assigned identity. */
async function issueToken(resource: string): Promise<string> {
    const url = `${identity.endpoint}?api-version=2019-08-01&resource=${encodeURIComponent(resource)}`;
    const response = await fetch(url, { headers: { 'X-IDENTITY-HEADER': identity.identityHeader } });
    return ((await response.json()) as { access_token: string }).access_token;
}

/** A queue create (`PUT /<queue>`) straight to the gateway's port, under the queue host name. */
function putToGateway(
    path: string,
    headers: Record<string, string>,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined> }> {
    const host = `${ACCOUNT}.queue.core.windows.net`;
    return new Promise((resolve, reject) => {
        const req = httpsRequest(
            {
                host: '127.0.0.1',
                port: gateway.port,
                method: 'PUT',
                path,
                servername: host,
                headers: { ...headers, Host: host, 'x-ms-version': '2025-05-05', 'Content-Length': '0' },
                ca: pki.caCert,
                agent: false,
            },
            (res) => {
                res.resume();
                res.on('end', () => {
                    resolve({ status: res.statusCode ?? 0, headers: res.headers });
                });
            },
        );
        req.on('error', reject);
        req.end();
    });
}
