import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../../../shared/platform/errors';
import { DEFAULT_SMS_REPLY, parseConfig, type AzureIdentity } from '../../../shared/platform/config';
import { REPO_ROOT } from '../../support/childProcess';

const SID = 'AC0123456789abcdef0123456789abcdef';
const KEY_SID = 'SK0123456789abcdef0123456789abcdef';
const CLIENT_ID = '3f1c6a52-8d2e-4b7a-9c1e-2a4b6c8d0e1f';
const OTHER_CLIENT_ID = '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d';
const RESOURCE_ID =
    '/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg-app/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-app';

const identity = (kind: AzureIdentity['kind'], clientId?: string, resourceId?: string): AzureIdentity => ({
    kind,
    clientId,
    resourceId,
});

function problemsOf(env: Record<string, string>): readonly string[] {
    try {
        parseConfig(env);
    } catch (error) {
        if (error instanceof ConfigError) return error.problems;
        throw error;
    }
    throw new Error('expected a ConfigError');
}

describe('parseConfig', () => {
    it('applies the documented defaults to an empty environment', () => {
        expect(parseConfig({})).toEqual({
            accountSid: undefined,
            authToken: { kind: 'none' },
            apiKey: undefined,
            identity: {
                storage: undefined,
                keyVault: { kind: 'default', clientId: undefined, resourceId: undefined },
            },
            secretTtlMs: 3_600_000,
            publicBaseUrl: undefined,
            trustedForwardedHosts: [],
            webhookValidation: true,
            voiceGreeting: 'Hello World',
            smsReply: DEFAULT_SMS_REPLY,
            smsReplyGuard: { limit: 10, windowMs: 60_000 },
            twilioApiUrl: undefined,
            storage: undefined,
            outboundQueue: 'twilio-outbound',
            outboundMaxAgeMs: 14_400_000,
            media: { queue: 'twilio-inbound-media', container: 'twilio-media', deleteAfterCopy: false },
            fromNumber: undefined,
            messagingServiceSid: undefined,
            ledgerTable: 'TwilioLedger',
            ledgerStoreBody: false,
            voicemail: { notifyNumber: undefined, emailTo: undefined, emailAllowed: [] },
            email: undefined,
        });
        expect(DEFAULT_SMS_REPLY).toBe('Hey, thanks for the ping! Twilio and Azure rock!');
    });

    it('treats empty and blank settings as unset, as Core Tools and App Service pass them', () => {
        const config = parseConfig({ TWILIO_ACCOUNT_SID: '', TWILIO_AUTH_TOKEN: '  ', VOICE_GREETING: '' });
        expect(config.accountSid).toBeUndefined();
        expect(config.authToken).toEqual({ kind: 'none' });
        expect(config.voiceGreeting).toBe('Hello World');
    });

    it('reads the token from Key Vault when KEY_VAULT_URL is set, even if TWILIO_AUTH_TOKEN is too', () => {
        const config = parseConfig({
            TWILIO_ACCOUNT_SID: SID,
            KEY_VAULT_URL: 'https://myvault.vault.azure.net/',
            TWILIO_AUTH_TOKEN: 'ignored',
            AZURE_CLIENT_ID: '00000000-1111-2222-3333-444444444444',
            SECRET_CACHE_TTL_SECONDS: '120',
        });
        expect(config.authToken).toEqual({
            kind: 'keyVault',
            vaultUrl: 'https://myvault.vault.azure.net',
            secretName: 'twilio-auth-token',
            managedIdentityClientId: '00000000-1111-2222-3333-444444444444',
        });
        expect(config.secretTtlMs).toBe(120_000);
    });

    it('uses TWILIO_AUTH_TOKEN without a vault', () => {
        expect(parseConfig({ TWILIO_AUTH_TOKEN: 'abc' }).authToken).toEqual({
            kind: 'setting',
            token: 'abc',
        });
    });

    it('keeps PUBLIC_BASE_URL as written, without a trailing slash', () => {
        expect(parseConfig({ PUBLIC_BASE_URL: 'https://MyApp.azurewebsites.net/' }).publicBaseUrl).toBe(
            'https://MyApp.azurewebsites.net',
        );
        expect(parseConfig({ PUBLIC_BASE_URL: 'https://gw.contoso.com/twilio' }).publicBaseUrl).toBe(
            'https://gw.contoso.com/twilio',
        );
    });

    it('defaults the public origin to https://$WEBSITE_HOSTNAME in Azure; PUBLIC_BASE_URL wins', () => {
        expect(parseConfig({ WEBSITE_HOSTNAME: 'myapp.azurewebsites.net' }).publicBaseUrl).toBe(
            'https://myapp.azurewebsites.net',
        );
        expect(
            parseConfig({
                WEBSITE_HOSTNAME: 'myapp.azurewebsites.net',
                PUBLIC_BASE_URL: 'https://sms.contoso.com',
            }).publicBaseUrl,
        ).toBe('https://sms.contoso.com');
    });

    it.each(['localhost:7071', 'localhost', 'LOCALHOST:7072', '127.0.0.1:7071', 'app.localhost:80'])(
        "ignores Core Tools' loopback WEBSITE_HOSTNAME=%s (http or --useHttps): the request URL is used",
        (hostname) => {
            expect(parseConfig({ WEBSITE_HOSTNAME: hostname }).publicBaseUrl).toBeUndefined();
        },
    );

    it.each(['https://myapp.azurewebsites.net', 'myapp.azurewebsites.net/api', 'a:b:c', 'my app'])(
        'refuses a malformed WEBSITE_HOSTNAME=%s, naming it',
        (hostname) => {
            expect(problemsOf({ WEBSITE_HOSTNAME: hostname })).toEqual([
                expect.stringContaining('WEBSITE_HOSTNAME') as unknown as string,
            ]);
        },
    );

    it('reads TRUSTED_FORWARDED_HOSTS as lowercased host names, blanks and duplicates dropped', () => {
        expect(parseConfig({}).trustedForwardedHosts).toEqual([]);
        expect(
            parseConfig({ TRUSTED_FORWARDED_HOSTS: ' FD.Contoso.com, api.contoso.com,fd.contoso.com ' })
                .trustedForwardedHosts,
        ).toEqual(['fd.contoso.com', 'api.contoso.com']);
    });

    it.each([
        'https://fd.contoso.com',
        'fd.contoso.com:443',
        '*.contoso.com',
        'fd.contoso.com/path',
        'a,,b',
        'fd.contoso.com;api.contoso.com',
        '-bad.example.com',
    ])('refuses TRUSTED_FORWARDED_HOSTS=%s with a ConfigError naming it', (value) => {
        expect(problemsOf({ TRUSTED_FORWARDED_HOSTS: value })).toEqual([
            expect.stringContaining('TRUSTED_FORWARDED_HOSTS') as unknown as string,
        ]);
    });

    it.each([
        ['on', true],
        ['ON', true],
        ['true', true],
        ['off', false],
        ['false', false],
    ])('reads TWILIO_WEBHOOK_VALIDATION=%s as %s', (value, expected) => {
        expect(parseConfig({ TWILIO_WEBHOOK_VALIDATION: value }).webhookValidation).toBe(expected);
    });

    it('names every invalid setting in one error', () => {
        const problems = problemsOf({
            TWILIO_ACCOUNT_SID: 'AC123',
            KEY_VAULT_URL: 'http://myvault.vault.azure.net',
            TWILIO_AUTH_TOKEN_SECRET_NAME: 'bad name!',
            AZURE_CLIENT_ID: 'not-a-guid',
            SECRET_CACHE_TTL_SECONDS: '0',
            PUBLIC_BASE_URL: 'myapp.azurewebsites.net',
            TWILIO_WEBHOOK_VALIDATION: 'maybe',
            TWILIO_API_URL: 'http://127.0.0.1:9/?x=1',
            TWILIO_FROM_NUMBER: '5551234567',
            TWILIO_MESSAGING_SERVICE_SID: 'MGxyz',
            OUTBOUND_QUEUE: 'Bad_Queue',
            LEDGER_TABLE: 'ledger-table',
            LEDGER_STORE_BODY: 'yes',
            AzureWebJobsStorage__accountName: 'Not An Account',
        });
        const named = [
            'TWILIO_ACCOUNT_SID',
            'KEY_VAULT_URL',
            'TWILIO_AUTH_TOKEN_SECRET_NAME',
            'AZURE_CLIENT_ID',
            'SECRET_CACHE_TTL_SECONDS',
            'PUBLIC_BASE_URL',
            'TWILIO_WEBHOOK_VALIDATION',
            'TWILIO_API_URL',
            'TWILIO_FROM_NUMBER',
            'TWILIO_MESSAGING_SERVICE_SID',
            'OUTBOUND_QUEUE',
            'LEDGER_TABLE',
            'LEDGER_STORE_BODY',
            'AzureWebJobsStorage__accountName',
        ];
        expect(problems).toHaveLength(named.length);
        for (const name of named) expect(problems.filter((p) => p.startsWith(name))).toHaveLength(1);
    });

    it('reads the storage connection as the Functions host does', () => {
        expect(parseConfig({ AzureWebJobsStorage: 'UseDevelopmentStorage=true' }).storage).toEqual({
            kind: 'connectionString',
            connectionString: 'UseDevelopmentStorage=true',
        });
        expect(parseConfig({ AzureWebJobsStorage__accountName: 'contoso' }).storage).toEqual({
            kind: 'identity',
            queueServiceUrl: 'https://contoso.queue.core.windows.net',
            tableServiceUrl: 'https://contoso.table.core.windows.net',
            blobServiceUrl: 'https://contoso.blob.core.windows.net',
        });
        expect(problemsOf({ AzureWebJobsStorage__queueServiceUri: 'https://q.example' })).toEqual([
            expect.stringContaining('must be set together'),
        ]);
    });

    it('reads the inbound media settings: queue, container and whether to delete at Twilio', () => {
        expect(parseConfig({}).media).toEqual({
            queue: 'twilio-inbound-media',
            container: 'twilio-media',
            deleteAfterCopy: false,
        });
        expect(
            parseConfig({
                INBOUND_MEDIA_QUEUE: 'mms-in',
                MEDIA_CONTAINER: 'mms',
                DELETE_MEDIA_AFTER_COPY: 'TRUE',
            }).media,
        ).toEqual({ queue: 'mms-in', container: 'mms', deleteAfterCopy: true });
        const problems = problemsOf({
            // 57 characters: its poison queue would not be a queue name.
            INBOUND_MEDIA_QUEUE: 'a'.repeat(57),
            MEDIA_CONTAINER: 'Media_Files',
            DELETE_MEDIA_AFTER_COPY: 'yes',
        });
        expect(problems).toEqual([
            expect.stringMatching(/^INBOUND_MEDIA_QUEUE must be a storage queue name of 3-56/),
            expect.stringMatching(/^MEDIA_CONTAINER must be a blob container name/),
            'DELETE_MEDIA_AFTER_COPY must be "true" or "false"',
        ]);
    });

    it('reads the outbound defaults', () => {
        const config = parseConfig({
            TWILIO_FROM_NUMBER: '+15551234567',
            TWILIO_MESSAGING_SERVICE_SID: 'MG0123456789abcdef0123456789abcdef',
            OUTBOUND_QUEUE: 'sms-out',
            LEDGER_TABLE: 'Ledger2',
            LEDGER_STORE_BODY: 'TRUE',
        });
        expect(config).toMatchObject({
            fromNumber: '+15551234567',
            messagingServiceSid: 'MG0123456789abcdef0123456789abcdef',
            outboundQueue: 'sms-out',
            ledgerTable: 'Ledger2',
            ledgerStoreBody: true,
        });
    });

    it('reports an App Service Key Vault reference the platform could not resolve', () => {
        const problems = problemsOf({
            TWILIO_AUTH_TOKEN: '@Microsoft.KeyVault(SecretUri=https://v.vault.azure.net/secrets/t/)',
        });
        expect(problems).toEqual([expect.stringContaining('unresolved Key Vault reference')]);
    });

    it('never puts a setting value in the error message', () => {
        let message = '';
        try {
            parseConfig({ TWILIO_ACCOUNT_SID: 'ACsecret-looking-value', SECRET_CACHE_TTL_SECONDS: 'abc' });
        } catch (error) {
            message = (error as Error).message;
        }
        expect(message).toContain('TWILIO_ACCOUNT_SID');
        expect(message).not.toContain('secret-looking-value');
        expect(message).not.toContain('abc');
    });
});

describe('parseConfig: the identity of the app’s own Azure clients', () => {
    const deployed = {
        AzureWebJobsStorage__accountName: 'stapp',
        AzureWebJobsStorage__credential: 'managedidentity',
        AzureWebJobsStorage__clientId: CLIENT_ID,
        AZURE_CLIENT_ID: CLIENT_ID,
        KEY_VAULT_URL: 'https://kv.vault.azure.net',
    };

    it('the template’s settings: storage and Key Vault as the one user-assigned managed identity', () => {
        const config = parseConfig(deployed);
        expect(config.identity).toEqual({
            storage: identity('managedIdentity', CLIENT_ID),
            keyVault: identity('managedIdentity', CLIENT_ID),
        });
        expect(config.storage).toEqual({
            kind: 'identity',
            queueServiceUrl: 'https://stapp.queue.core.windows.net',
            tableServiceUrl: 'https://stapp.table.core.windows.net',
            blobServiceUrl: 'https://stapp.blob.core.windows.net',
        });
    });

    it('Key Vault follows the storage identity when AZURE_CLIENT_ID is unset', () => {
        const { AZURE_CLIENT_ID: _, ...withoutClientId } = deployed;
        expect(parseConfig(withoutClientId).identity.keyVault).toEqual(
            identity('managedIdentity', CLIENT_ID),
        );
        expect(parseConfig(withoutClientId).authToken).toMatchObject({ managedIdentityClientId: CLIENT_ID });
    });

    it('AZURE_CLIENT_ID names another managed identity for Key Vault', () => {
        const config = parseConfig({ ...deployed, AZURE_CLIENT_ID: OTHER_CLIENT_ID });
        expect(config.identity).toEqual({
            storage: identity('managedIdentity', CLIENT_ID),
            keyVault: identity('managedIdentity', OTHER_CLIENT_ID),
        });
    });

    it('managedidentity in any case; without a client id it is the system-assigned identity', () => {
        const config = parseConfig({
            AzureWebJobsStorage__accountName: 'stapp',
            AzureWebJobsStorage__credential: 'managedIdentity',
        });
        expect(config.identity).toEqual({
            storage: identity('managedIdentity'),
            keyVault: identity('managedIdentity'),
        });
    });

    it('a user-assigned identity by resource id', () => {
        const config = parseConfig({
            AzureWebJobsStorage__accountName: 'stapp',
            AzureWebJobsStorage__credential: 'managedidentity',
            AzureWebJobsStorage__managedIdentityResourceId: RESOURCE_ID,
        });
        expect(config.identity.storage).toEqual(identity('managedIdentity', undefined, RESOURCE_ID));
    });

    it('no __credential: DefaultAzureCredential, given the configured client id', () => {
        expect(parseConfig({ AzureWebJobsStorage__accountName: 'stapp' }).identity).toEqual({
            storage: identity('default'),
            keyVault: identity('default'),
        });
        expect(
            parseConfig({
                AzureWebJobsStorage__accountName: 'stapp',
                AzureWebJobsStorage__clientId: CLIENT_ID,
            }).identity.storage,
        ).toEqual(identity('default', CLIENT_ID));
    });

    it('a connection string has no identity; Key Vault then uses DefaultAzureCredential (with AZURE_CLIENT_ID)', () => {
        const config = parseConfig({
            AzureWebJobsStorage: 'UseDevelopmentStorage=true',
            // Beside a connection string the host does not read these, and neither does the app.
            AzureWebJobsStorage__credential: 'managedidentity',
            AzureWebJobsStorage__clientId: CLIENT_ID,
            AZURE_CLIENT_ID: OTHER_CLIENT_ID,
            KEY_VAULT_URL: 'https://kv.vault.azure.net',
        });
        expect(config.identity).toEqual({
            storage: undefined,
            keyVault: identity('default', OTHER_CLIENT_ID),
        });
    });

    it('explicit service URIs: https only, a trailing slash dropped', () => {
        const config = parseConfig({
            AzureWebJobsStorage__queueServiceUri: 'https://stapp.queue.core.windows.net/',
            AzureWebJobsStorage__tableServiceUri: 'https://stapp.table.core.windows.net',
            AzureWebJobsStorage__credential: 'managedidentity',
        });
        expect(config.storage).toEqual({
            kind: 'identity',
            queueServiceUrl: 'https://stapp.queue.core.windows.net',
            tableServiceUrl: 'https://stapp.table.core.windows.net',
            blobServiceUrl: undefined,
        });
        expect(
            parseConfig({
                AzureWebJobsStorage__queueServiceUri: 'https://stapp.queue.core.windows.net',
                AzureWebJobsStorage__tableServiceUri: 'https://stapp.table.core.windows.net',
                AzureWebJobsStorage__blobServiceUri: 'https://stapp.blob.core.windows.net/',
            }).storage,
        ).toMatchObject({ blobServiceUrl: 'https://stapp.blob.core.windows.net' });
        expect(
            problemsOf({
                AzureWebJobsStorage__accountName: 'stapp',
                AzureWebJobsStorage__blobServiceUri: 'http://127.0.0.1:10000/devstoreaccount1',
            }),
        ).toEqual(['AzureWebJobsStorage__blobServiceUri must use https:']);
        expect(
            problemsOf({
                AzureWebJobsStorage__queueServiceUri: 'http://127.0.0.1:10001/devstoreaccount1',
                AzureWebJobsStorage__tableServiceUri: 'https://stapp.table.core.windows.net',
            }),
        ).toEqual([expect.stringMatching(/^AzureWebJobsStorage__queueServiceUri must use https:/)]);
    });

    it.each<[string, Record<string, string>, string]>([
        [
            'an unknown credential type',
            { AzureWebJobsStorage__accountName: 'stapp', AzureWebJobsStorage__credential: 'clientsecret' },
            'AzureWebJobsStorage__credential must be "managedidentity"',
        ],
        [
            'a client id that is not a GUID',
            { AzureWebJobsStorage__accountName: 'stapp', AzureWebJobsStorage__clientId: 'id-app' },
            'AzureWebJobsStorage__clientId must be a GUID',
        ],
        [
            'a malformed resource id',
            {
                AzureWebJobsStorage__accountName: 'stapp',
                AzureWebJobsStorage__managedIdentityResourceId: '/subscriptions/x/id-app',
            },
            'AzureWebJobsStorage__managedIdentityResourceId must be the resource ID',
        ],
        [
            'both a client id and a resource id',
            {
                AzureWebJobsStorage__accountName: 'stapp',
                AzureWebJobsStorage__credential: 'managedidentity',
                AzureWebJobsStorage__clientId: CLIENT_ID,
                AzureWebJobsStorage__managedIdentityResourceId: RESOURCE_ID,
            },
            'AzureWebJobsStorage__clientId and AzureWebJobsStorage__managedIdentityResourceId both name an identity',
        ],
        [
            'an identity without an account',
            { AzureWebJobsStorage__credential: 'managedidentity', AzureWebJobsStorage__clientId: CLIENT_ID },
            'AzureWebJobsStorage__credential is set but the storage account is not',
        ],
    ])('%s is a ConfigError naming the setting', (_, env, message) => {
        expect(problemsOf(env)).toEqual([expect.stringContaining(message)]);
    });
});

describe('parseConfig: Twilio API keys', () => {
    it('an API key with a vault: its secret is read from Key Vault, by default as twilio-api-key-secret', () => {
        const config = parseConfig({
            TWILIO_ACCOUNT_SID: SID,
            TWILIO_API_KEY_SID: KEY_SID,
            KEY_VAULT_URL: 'https://kv.vault.azure.net/',
        });
        expect(config.apiKey).toEqual({
            kind: 'keyVault',
            sid: KEY_SID,
            vaultUrl: 'https://kv.vault.azure.net',
            secretName: 'twilio-api-key-secret',
        });
        expect(
            parseConfig({
                TWILIO_ACCOUNT_SID: SID,
                TWILIO_API_KEY_SID: KEY_SID,
                TWILIO_API_KEY_SECRET_NAME: 'key-2025',
                KEY_VAULT_URL: 'https://kv.vault.azure.net',
                // A vault, when configured, is where the secret is read: the plain setting is not used.
                TWILIO_API_KEY_SECRET: 'ignored',
            }).apiKey,
        ).toMatchObject({ kind: 'keyVault', secretName: 'key-2025' });
    });

    it('an API key without a vault takes its secret from TWILIO_API_KEY_SECRET (local runs)', () => {
        expect(
            parseConfig({
                TWILIO_ACCOUNT_SID: SID,
                TWILIO_API_KEY_SID: KEY_SID,
                TWILIO_API_KEY_SECRET: 's3cr3t',
            }).apiKey,
        ).toEqual({ kind: 'setting', sid: KEY_SID, secret: 's3cr3t' });
        expect(parseConfig({ TWILIO_ACCOUNT_SID: SID }).apiKey).toBeUndefined();
        // As local.settings.json.example has it: a secret name alone configures no key.
        expect(parseConfig({ TWILIO_API_KEY_SECRET_NAME: 'twilio-api-key-secret' }).apiKey).toBeUndefined();
    });

    it.each<[string, Record<string, string>, string]>([
        [
            'a malformed key SID',
            { TWILIO_ACCOUNT_SID: SID, TWILIO_API_KEY_SID: 'SKnot-hex', TWILIO_API_KEY_SECRET: 's' },
            'TWILIO_API_KEY_SID must be "SK" followed by 32 hexadecimal characters',
        ],
        [
            'an account SID given as the key SID',
            { TWILIO_ACCOUNT_SID: SID, TWILIO_API_KEY_SID: SID, TWILIO_API_KEY_SECRET: 's' },
            'TWILIO_API_KEY_SID must be "SK"',
        ],
        [
            'a key SID with no way to read its secret',
            { TWILIO_ACCOUNT_SID: SID, TWILIO_API_KEY_SID: KEY_SID, TWILIO_AUTH_TOKEN: 'token' },
            'TWILIO_API_KEY_SID needs its secret',
        ],
        [
            'a key without an account SID',
            { TWILIO_API_KEY_SID: KEY_SID, TWILIO_API_KEY_SECRET: 's' },
            'TWILIO_ACCOUNT_SID is required with TWILIO_API_KEY_SID',
        ],
        [
            'a secret without a key SID',
            { TWILIO_ACCOUNT_SID: SID, TWILIO_API_KEY_SECRET: 's' },
            'TWILIO_API_KEY_SID must be set with TWILIO_API_KEY_SECRET',
        ],
        [
            'an invalid secret name',
            {
                TWILIO_ACCOUNT_SID: SID,
                TWILIO_API_KEY_SID: KEY_SID,
                TWILIO_API_KEY_SECRET_NAME: 'bad name!',
                KEY_VAULT_URL: 'https://kv.vault.azure.net',
            },
            'TWILIO_API_KEY_SECRET_NAME must be 1-127 letters, digits or dashes',
        ],
        [
            'an unresolved Key Vault reference',
            {
                TWILIO_ACCOUNT_SID: SID,
                TWILIO_API_KEY_SID: KEY_SID,
                TWILIO_API_KEY_SECRET: '@Microsoft.KeyVault(SecretUri=https://v.vault.azure.net/secrets/k/)',
            },
            'TWILIO_API_KEY_SECRET holds an unresolved Key Vault reference',
        ],
    ])('%s is a ConfigError naming the setting', (_, env, message) => {
        expect(problemsOf(env)).toEqual([expect.stringContaining(message)]);
    });

    it('an invalid KEY_VAULT_URL is reported once, not again as a key without a secret', () => {
        expect(
            problemsOf({
                TWILIO_ACCOUNT_SID: SID,
                TWILIO_API_KEY_SID: KEY_SID,
                KEY_VAULT_URL: 'http://kv.vault.azure.net',
            }),
        ).toEqual([expect.stringMatching(/^KEY_VAULT_URL must use https:/)]);
    });

    it('local.settings.json.example, as npm start copies it, parses without a ConfigError', () => {
        const example = JSON.parse(readFileSync(join(REPO_ROOT, 'local.settings.json.example'), 'utf8')) as {
            Values: Record<string, string>;
        };
        const config = parseConfig(example.Values);
        expect(config.apiKey).toBeUndefined();
        expect(config.storage).toEqual({
            kind: 'connectionString',
            connectionString: 'UseDevelopmentStorage=true',
        });
    });

    it('never puts the key secret in an error message', () => {
        const problems = problemsOf({ TWILIO_API_KEY_SECRET: 'very-secret-value-123' });
        expect(problems.join(' ')).not.toContain('very-secret-value-123');
    });
});

describe('parseConfig: SMS_REPLY_LIMIT and SMS_REPLY_WINDOW_SECONDS', () => {
    it('takes whole numbers in range and names the setting otherwise', () => {
        expect(parseConfig({ SMS_REPLY_LIMIT: '3', SMS_REPLY_WINDOW_SECONDS: '30' }).smsReplyGuard).toEqual({
            limit: 3,
            windowMs: 30_000,
        });
        for (const bad of ['0', 'ten', '10001', '-1']) {
            expect(() => parseConfig({ SMS_REPLY_LIMIT: bad })).toThrow(
                /SMS_REPLY_LIMIT must be a whole number from 1 to 10000/,
            );
        }
        for (const bad of ['0', '1.5', '86401']) {
            expect(() => parseConfig({ SMS_REPLY_WINDOW_SECONDS: bad })).toThrow(
                /SMS_REPLY_WINDOW_SECONDS must be a whole number from 1 to 86400/,
            );
        }
    });
});

describe('parseConfig: OUTBOUND_MAX_AGE_SECONDS', () => {
    it('takes 60 to 604800 seconds and names the setting otherwise', () => {
        expect(parseConfig({ OUTBOUND_MAX_AGE_SECONDS: '90' }).outboundMaxAgeMs).toBe(90_000);
        for (const bad of ['10', 'abc', '1000000', '-5']) {
            expect(() => parseConfig({ OUTBOUND_MAX_AGE_SECONDS: bad })).toThrow(
                /OUTBOUND_MAX_AGE_SECONDS must be a whole number from 60 to 604800/,
            );
        }
    });
});
