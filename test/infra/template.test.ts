/**
 * Contract tests over the ARM JSON the real Bicep compiler makes of infra/main.bicep: the app settings are
 * the ones shared/platform/config.ts reads and parse without a ConfigError, every data-plane operation the app
 * performs is covered by a role assigned to the identity those settings name, no key is used anywhere, the
 * names agree with the code, and the resources have the security settings the README promises.
 *
 * Without a Bicep CLI and a .NET SDK to restore one, these tests are reported as NOT RUN (skipped) on a
 * developer machine, and fail in CI.
 */

import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
    DEFAULT_INBOUND_MEDIA_QUEUE,
    DEFAULT_LEDGER_TABLE,
    DEFAULT_MEDIA_CONTAINER,
    DEFAULT_OUTBOUND_QUEUE,
    DEFAULT_SECRET_NAME,
    parseConfig,
} from '../../shared/platform/config';
import { newRecord } from '../../shared/ledger/rules';
import { outcomeLine, type OutcomeAction } from '../../shared/platform/outcomes';
import { voicemailLine } from '../../shared/voice/voicemail';
import { registrations } from '../support/functionsCore';
import {
    evaluate,
    runtimeProperties,
    type ArmTemplate,
    type Deployed,
    type Evaluated,
    type Json,
} from './arm';
import { compileMainBicep, inCi, REPO_ROOT } from './bicep';

const compiled = compileMainBicep();

if (compiled.kind === 'no-cli' && !inCi()) {
    // jest does not list the titles of a file whose tests are all skipped; say it where it is seen.
    console.warn(`NOT RUN: the infra contract tests (no Bicep CLI):\n${compiled.output}`);
    test.skip(`NOT RUN: infra contract tests need the Bicep CLI (${compiled.output.split('\n')[0] ?? ''})`, () => {
        // Reported as skipped, never as passed: install the .NET SDK and run npm run infra:build.
    });
} else {
    test('infra/main.bicep compiles and lints without a warning', () => {
        if (compiled.kind !== 'compiled') throw new Error(`Bicep build failed:\n${compiled.output}`);
    });
}

// jest runs a describe block's body even when it is skipped, and this one evaluates the template.
const describeCompiled = compiled.kind === 'compiled' ? describe : () => undefined;
const template: ArmTemplate = compiled.kind === 'compiled' ? compiled.template : { resources: [] };

const AUTH_TOKEN = 'auth-token-sentinel-0b9e1c';
const API_KEY_SECRET = 'api-key-secret-sentinel-5d2f7a';
const DEVELOPER = '11111111-2222-4333-8444-555555555555';

const minimalParameters: Record<string, Json> = {
    environmentName: 'ci',
    location: 'westus3',
    twilioAccountSid: 'AC0123456789abcdef0123456789abcdef',
    twilioAuthToken: AUTH_TOKEN,
};
const fullParameters: Record<string, Json> = {
    ...minimalParameters,
    principalId: DEVELOPER,
    principalType: 'User',
    twilioApiKeySid: 'SK0123456789abcdef0123456789abcdef',
    twilioApiKeySecret: API_KEY_SECRET,
    twilioFromNumber: '+15551234567',
    twilioMessagingServiceSid: 'MG0123456789abcdef0123456789abcdef',
    maximumInstanceCount: 25,
    alwaysReadyHttpInstances: 2,
    alertEmail: 'ops@example.com',
    failedAlertThreshold: 7,
    rejectedWebhookAlertThreshold: 30,
};

// Built-in roles (ids are the same in every tenant) and the data actions of theirs that matter here,
// from the Azure built-in roles reference.
const ROLES: Record<string, { name: string; dataActions: string[]; actions?: string[] }> = {
    'b7e6dc6d-f1e8-4753-8033-0f276bb0955b': {
        name: 'Storage Blob Data Owner',
        dataActions: ['Microsoft.Storage/storageAccounts/blobServices/containers/blobs/*'],
        actions: ['Microsoft.Storage/storageAccounts/blobServices/containers/*'],
    },
    'ba92f5b4-2d11-453d-a403-e96b0029c9fe': {
        name: 'Storage Blob Data Contributor',
        dataActions: [
            'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete',
            'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read',
            'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write',
            'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/add/action',
        ],
        actions: [
            'Microsoft.Storage/storageAccounts/blobServices/containers/delete',
            'Microsoft.Storage/storageAccounts/blobServices/containers/read',
            'Microsoft.Storage/storageAccounts/blobServices/containers/write',
        ],
    },
    '974c5e8b-45b9-4653-ba55-5f855dd0fb88': {
        name: 'Storage Queue Data Contributor',
        dataActions: [
            'Microsoft.Storage/storageAccounts/queueServices/queues/messages/delete',
            'Microsoft.Storage/storageAccounts/queueServices/queues/messages/read',
            'Microsoft.Storage/storageAccounts/queueServices/queues/messages/write',
            'Microsoft.Storage/storageAccounts/queueServices/queues/messages/process/action',
            'Microsoft.Storage/storageAccounts/queueServices/queues/messages/add/action',
        ],
    },
    '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3': {
        name: 'Storage Table Data Contributor',
        dataActions: [
            'Microsoft.Storage/storageAccounts/tableServices/tables/entities/read',
            'Microsoft.Storage/storageAccounts/tableServices/tables/entities/write',
            'Microsoft.Storage/storageAccounts/tableServices/tables/entities/delete',
            'Microsoft.Storage/storageAccounts/tableServices/tables/entities/add/action',
            'Microsoft.Storage/storageAccounts/tableServices/tables/entities/update/action',
        ],
    },
    '4633458b-17de-408a-b874-0445c86b69e6': {
        name: 'Key Vault Secrets User',
        dataActions: [
            'Microsoft.KeyVault/vaults/secrets/getSecret/action',
            'Microsoft.KeyVault/vaults/secrets/readMetadata/action',
        ],
    },
    'b86a8fe4-44ce-4948-aee5-eccb2c155cd7': {
        name: 'Key Vault Secrets Officer',
        dataActions: ['Microsoft.KeyVault/vaults/secrets/*'],
    },
    '3913510d-42f4-4e42-8a64-420c390055eb': {
        name: 'Monitoring Metrics Publisher',
        dataActions: ['Microsoft.Insights/Metrics/Write', 'Microsoft.Insights/Telemetry/Write'],
    },
};

/**
 * What the host and the app do against each resource, and the data action each needs (or, for the media
 * container's create-if-missing, the control action Azure checks on that data-plane call).
 */
const APP_OPERATIONS: {
    what: string;
    resource: 'storage' | 'vault' | 'insights';
    dataAction?: string;
    action?: string;
}[] = [
    ...['read', 'write', 'delete'].map((verb) => ({
        what: `host blob ${verb} (AzureWebJobsStorage state, deployment package)`,
        resource: 'storage' as const,
        dataAction: `Microsoft.Storage/storageAccounts/blobServices/containers/blobs/${verb}`,
    })),
    // The media container (MEDIA_CONTAINER): upload, existence and size check, serve, list for the poison
    // record; container create on first use.
    ...['read', 'write', 'add/action'].map((verb) => ({
        what: `media blob ${verb} (inboundMedia, getMessageMedia, inboundMediaPoison)`,
        resource: 'storage' as const,
        dataAction: `Microsoft.Storage/storageAccounts/blobServices/containers/blobs/${verb}`,
    })),
    {
        what: 'media container create-if-missing (the first media copy)',
        resource: 'storage',
        action: 'Microsoft.Storage/storageAccounts/blobServices/containers/write',
    },
    {
        what: 'queue send (POST /api/messages, /api/calls, the media copy job from /api/sms)',
        resource: 'storage',
        dataAction: 'Microsoft.Storage/storageAccounts/queueServices/queues/messages/add/action',
    },
    {
        what: 'queue receive (outbound trigger)',
        resource: 'storage',
        dataAction: 'Microsoft.Storage/storageAccounts/queueServices/queues/messages/read',
    },
    {
        what: 'queue delete / visibility update (outbound trigger, poison move)',
        resource: 'storage',
        dataAction: 'Microsoft.Storage/storageAccounts/queueServices/queues/messages/process/action',
    },
    {
        what: 'queue delete',
        resource: 'storage',
        dataAction: 'Microsoft.Storage/storageAccounts/queueServices/queues/messages/delete',
    },
    ...['read', 'write', 'add/action', 'update/action'].map((verb) => ({
        what: `ledger table ${verb}`,
        resource: 'storage' as const,
        dataAction: `Microsoft.Storage/storageAccounts/tableServices/tables/entities/${verb}`,
    })),
    {
        what: 'Key Vault secret get (auth token, API key secret)',
        resource: 'vault',
        dataAction: 'Microsoft.KeyVault/vaults/secrets/getSecret/action',
    },
    {
        what: 'Application Insights ingestion with Entra ID',
        resource: 'insights',
        dataAction: 'Microsoft.Insights/Telemetry/Write',
    },
];

/** The settings shared/platform/config.ts reads, and what the template does with each. */
const SET_BY_TEMPLATE = [
    'AzureWebJobsStorage__accountName',
    'AzureWebJobsStorage__credential',
    'AzureWebJobsStorage__clientId',
    'AZURE_CLIENT_ID',
    'KEY_VAULT_URL',
    'TWILIO_ACCOUNT_SID',
    'TWILIO_AUTH_TOKEN_SECRET_NAME',
    'TWILIO_FROM_NUMBER',
    'TWILIO_MESSAGING_SERVICE_SID',
    'OUTBOUND_QUEUE',
    'LEDGER_TABLE',
    'PUBLIC_BASE_URL',
    'INBOUND_MEDIA_QUEUE',
    'MEDIA_CONTAINER',
    'DELETE_MEDIA_AFTER_COPY',
];
const SET_WITH_API_KEY = ['TWILIO_API_KEY_SID', 'TWILIO_API_KEY_SECRET_NAME'];
const SET_BY_PLATFORM: Record<string, string> = {
    WEBSITE_HOSTNAME: 'App Service sets it; PUBLIC_BASE_URL, set by the template, takes precedence',
};
const LEFT_AT_DEFAULT: Record<string, string> = {
    TRUSTED_FORWARDED_HOSTS: 'none: Twilio calls the app directly; PUBLIC_BASE_URL fixes the signed origin',
    SECRET_CACHE_TTL_SECONDS: 'one hour; a rotated token is also picked up on the first 403',
    TWILIO_WEBHOOK_VALIDATION: 'on: signatures are always checked in Azure',
    VOICE_GREETING: 'text, the operator’s choice',
    SMS_REPLY: 'text, the operator’s choice',
    SMS_REPLY_LIMIT: '10 messages: well under Twilio’s own loop block (30 in 30 s)',
    SMS_REPLY_WINDOW_SECONDS: '60 s, with SMS_REPLY_LIMIT',
    LEDGER_STORE_BODY: 'off: bodies are personal data',
    OUTBOUND_MAX_AGE_SECONDS: '4 hours, below Twilio’s own 10-hour queue limit',
    VOICEMAIL_NOTIFY_NUMBER:
        'unset: the voicemail twimlet’s Notify parameter, or the operator’s number later',
    VOICEMAIL_EMAIL_TO: 'unset: no e-mail recipient until the operator names one',
    VOICEMAIL_EMAIL_ALLOWED: 'unset: the Email parameter may only name VOICEMAIL_EMAIL_TO',
    EMAIL_ENDPOINT: 'unset: the template creates no Communication Services resource (docs/voicemail.md)',
    EMAIL_SENDER: 'unset: set with EMAIL_ENDPOINT',
};
const NEVER_IN_AZURE: Record<string, string> = {
    TWILIO_AUTH_TOKEN: 'the token lives in Key Vault',
    TWILIO_API_KEY_SECRET: 'the API key secret lives in Key Vault',
    AzureWebJobsStorage: 'a connection string carries an account key',
    AzureWebJobsStorage__blobServiceUri: 'derived from __accountName',
    AzureWebJobsStorage__queueServiceUri: 'derived from __accountName',
    AzureWebJobsStorage__tableServiceUri: 'derived from __accountName',
    AzureWebJobsStorage__managedIdentityResourceId: 'the template names the identity by __clientId',
    TWILIO_API_URL: 'a Twilio stand-in for tests and local runs',
};
// Flex Consumption sets the runtime in functionAppConfig and rejects these as app settings.
const NOT_ON_FLEX = [
    'FUNCTIONS_WORKER_RUNTIME',
    'FUNCTIONS_EXTENSION_VERSION',
    'FUNCTIONS_WORKER_RUNTIME_VERSION',
    'WEBSITE_NODE_DEFAULT_VERSION',
    'WEBSITE_RUN_FROM_PACKAGE',
    'WEBSITE_CONTENTSHARE',
    'WEBSITE_CONTENTAZUREFILECONNECTIONSTRING',
    'SCM_DO_BUILD_DURING_DEPLOYMENT',
    'ENABLE_ORYX_BUILD',
];

/** Setting names read by shared/platform/config.ts: every `read('NAME')`. */
function settingsTheAppReads(): string[] {
    const source = readFileSync(path.join(REPO_ROOT, 'shared', 'platform', 'config.ts'), 'utf8');
    const names = [...source.matchAll(/\bread\(\s*['"`]([A-Za-z_][A-Za-z0-9_]*)['"`]\s*\)/g)].map(
        (m) => m[1] ?? '',
    );
    return [...new Set(names)].sort();
}

function one(resources: readonly Deployed[], type: string): Deployed {
    const found = resources.filter((r) => r.type === type);
    if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}`);
    return found[0] as Deployed;
}

function all(resources: readonly Deployed[], type: string): Deployed[] {
    return resources.filter((r) => r.type === type);
}

function props(resource: Deployed): Record<string, Json> {
    const value = resource.body.properties;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        throw new Error(`${resource.type} ${resource.name} has no properties object`);
    }
    return value;
}

function get(value: Json | undefined, ...keys: string[]): Json | undefined {
    let current = value;
    for (const key of keys) {
        if (current === null || typeof current !== 'object' || Array.isArray(current)) return undefined;
        current = current[key];
    }
    return current;
}

function appSettings(result: Evaluated): Record<string, string> {
    const config = all(result.resources, 'Microsoft.Web/sites/config').filter((r) =>
        r.name.endsWith('/appsettings'),
    );
    if (config.length !== 1) throw new Error(`expected one appsettings resource, found ${config.length}`);
    const settings: Record<string, string> = {};
    for (const [name, value] of Object.entries(props(config[0] as Deployed))) {
        if (typeof value !== 'string')
            throw new Error(`app setting ${name} is not a string: ${JSON.stringify(value)}`);
        settings[name] = value;
    }
    return settings;
}

function roleGuid(assignment: Deployed): string {
    const id = get(assignment.body, 'properties', 'roleDefinitionId');
    if (typeof id !== 'string') throw new Error(`role assignment ${assignment.name} has no roleDefinitionId`);
    return (id.split('/').pop() ?? '').toLowerCase();
}

function grants(guid: string, operation: { dataAction?: string; action?: string }): boolean {
    const role = ROLES[guid];
    if (role === undefined) return false;
    const matches = (patterns: readonly string[], wanted: string) =>
        patterns.some((pattern) =>
            pattern.endsWith('/*') ? wanted.startsWith(pattern.slice(0, -1)) : pattern === wanted,
        );
    if (operation.dataAction !== undefined && !matches(role.dataActions, operation.dataAction)) return false;
    if (operation.action !== undefined && !matches(role.actions ?? [], operation.action)) return false;
    return operation.dataAction !== undefined || operation.action !== undefined;
}

/** Whether `scope` is `resourceId` or one of its parents (a role assigned higher up is inherited). */
function covers(scope: string | undefined, resourceId: string): boolean {
    if (scope === undefined) return false;
    const s = scope.toLowerCase();
    const r = resourceId.toLowerCase();
    return r === s || r.startsWith(`${s}/`);
}

describeCompiled('infra/main.bicep, compiled', () => {
    const minimal = evaluate(template, minimalParameters);
    const full = evaluate(template, fullParameters);
    const variants = [
        ['without optional parameters', minimal],
        ['with every optional parameter', full],
    ] as const;

    function identityOf(result: Evaluated) {
        const identity = one(result.resources, 'Microsoft.ManagedIdentity/userAssignedIdentities');
        return { resource: identity, ...runtimeProperties(identity.type, identity.name, identity.id) } as {
            resource: Deployed;
            clientId: string;
            principalId: string;
        };
    }

    describe('app settings', () => {
        test('every setting shared/platform/config.ts reads is classified: set by the template, left at its default, or never set in Azure', () => {
            const read = settingsTheAppReads();
            expect(read.length).toBeGreaterThanOrEqual(15);
            const classified = new Set([
                ...SET_BY_TEMPLATE,
                ...SET_WITH_API_KEY,
                ...Object.keys(SET_BY_PLATFORM),
                ...Object.keys(LEFT_AT_DEFAULT),
                ...Object.keys(NEVER_IN_AZURE),
            ]);
            expect(read.filter((name) => !classified.has(name))).toEqual([]);
        });

        test.each(variants)('the template sets every setting the app needs in Azure (%s)', (_, result) => {
            const settings = appSettings(result);
            for (const name of SET_BY_TEMPLATE) expect(Object.keys(settings)).toContain(name);
            for (const name of Object.keys(NEVER_IN_AZURE)) expect(Object.keys(settings)).not.toContain(name);
            for (const name of NOT_ON_FLEX) expect(Object.keys(settings)).not.toContain(name);
            for (const name of Object.keys(SET_BY_PLATFORM))
                expect(Object.keys(settings)).not.toContain(name);
        });

        test.each(variants)(
            'parseConfig accepts the settings and reads storage, Key Vault and the identity from them (%s)',
            (_, result) => {
                const settings = appSettings(result);
                const identity = identityOf(result);
                const vault = one(result.resources, 'Microsoft.KeyVault/vaults');
                const site = one(result.resources, 'Microsoft.Web/sites');
                const storage = one(result.resources, 'Microsoft.Storage/storageAccounts');

                const host = runtimeProperties(site.type, site.name, site.id).defaultHostName as string;
                // In Azure the platform adds WEBSITE_HOSTNAME; PUBLIC_BASE_URL must still win.
                const config = parseConfig({
                    ...settings,
                    WEBSITE_HOSTNAME: `${site.name}.azurewebsites.net`,
                });

                expect(config.authToken).toEqual({
                    kind: 'keyVault',
                    vaultUrl: `https://${vault.name}.vault.azure.net`,
                    secretName: DEFAULT_SECRET_NAME,
                    managedIdentityClientId: identity.clientId,
                });
                expect(config.storage).toEqual({
                    kind: 'identity',
                    queueServiceUrl: `https://${storage.name}.queue.core.windows.net`,
                    tableServiceUrl: `https://${storage.name}.table.core.windows.net`,
                    blobServiceUrl: `https://${storage.name}.blob.core.windows.net`,
                });
                expect(config.media).toEqual({
                    queue: DEFAULT_INBOUND_MEDIA_QUEUE,
                    container: DEFAULT_MEDIA_CONTAINER,
                    deleteAfterCopy: false,
                });
                expect(config.publicBaseUrl).toBe(`https://${host}`);
                expect(config.accountSid).toBe(minimalParameters.twilioAccountSid);
                expect(config.webhookValidation).toBe(true);
                expect(settings.AzureWebJobsStorage__credential).toBe('managedidentity');
                expect(settings.AzureWebJobsStorage__clientId).toBe(identity.clientId);
                expect(settings.AZURE_CLIENT_ID).toBe(identity.clientId);
            },
        );

        test('the optional Twilio settings follow their parameters', () => {
            expect(parseConfig(appSettings(minimal))).toMatchObject({
                fromNumber: undefined,
                messagingServiceSid: undefined,
            });
            expect(parseConfig(appSettings(full))).toMatchObject({
                fromNumber: fullParameters.twilioFromNumber,
                messagingServiceSid: fullParameters.twilioMessagingServiceSid,
            });
        });

        test('the API key settings are there exactly when an API key is given, naming the vault secret that holds it', () => {
            const without = appSettings(minimal);
            for (const name of SET_WITH_API_KEY) expect(Object.keys(without)).not.toContain(name);
            const withKey = appSettings(full);
            expect(withKey.TWILIO_API_KEY_SID).toBe(fullParameters.twilioApiKeySid);
            const secrets = all(full.resources, 'Microsoft.KeyVault/vaults/secrets').map(
                (s) => s.name.split('/')[1],
            );
            expect(secrets).toContain(withKey.TWILIO_API_KEY_SECRET_NAME);
            expect(secrets).toContain(withKey.TWILIO_AUTH_TOKEN_SECRET_NAME);
        });

        test('Application Insights is reached with the identity (Entra ID auth), not a key', () => {
            for (const [, result] of variants) {
                const settings = appSettings(result);
                const insights = one(result.resources, 'Microsoft.Insights/components');
                expect(settings.APPLICATIONINSIGHTS_CONNECTION_STRING).toBe(
                    runtimeProperties(insights.type, insights.name, insights.id).ConnectionString,
                );
                expect(settings.APPLICATIONINSIGHTS_AUTHENTICATION_STRING).toBe(
                    `Authorization=AAD;ClientId=${identityOf(result).clientId}`,
                );
                expect(get(insights.body, 'properties', 'DisableLocalAuth')).toBe(true);
            }
        });
    });

    describe('roles', () => {
        function assignments(result: Evaluated, principalId: string) {
            return all(result.resources, 'Microsoft.Authorization/roleAssignments').filter(
                (a) => get(a.body, 'properties', 'principalId') === principalId,
            );
        }

        const targets = (result: Evaluated) => ({
            storage: one(result.resources, 'Microsoft.Storage/storageAccounts'),
            vault: one(result.resources, 'Microsoft.KeyVault/vaults'),
            insights: one(result.resources, 'Microsoft.Insights/components'),
        });

        test('the function app runs as the one identity the settings name, and deploys with it', () => {
            for (const [, result] of variants) {
                const identity = identityOf(result);
                const site = one(result.resources, 'Microsoft.Web/sites');
                expect(get(site.body, 'identity', 'type')).toBe('UserAssigned');
                expect(Object.keys(get(site.body, 'identity', 'userAssignedIdentities') as object)).toEqual([
                    identity.resource.id,
                ]);
                expect(
                    get(
                        site.body,
                        'properties',
                        'functionAppConfig',
                        'deployment',
                        'storage',
                        'authentication',
                    ),
                ).toEqual({
                    type: 'UserAssignedIdentity',
                    userAssignedIdentityResourceId: identity.resource.id,
                });
                expect(appSettings(result).AzureWebJobsStorage__accountName).toBe(
                    targets(result).storage.name,
                );
            }
        });

        test.each(APP_OPERATIONS)('the app identity may: $what', ({ resource, ...operation }) => {
            for (const [, result] of variants) {
                const identity = identityOf(result);
                const target = targets(result)[resource];
                const covering = assignments(result, identity.principalId).filter(
                    (a) => covers(a.scope, target.id) && grants(roleGuid(a), operation),
                );
                expect(covering.map((a) => a.name)).not.toEqual([]);
                for (const a of covering)
                    expect(get(a.body, 'properties', 'principalType')).toBe('ServicePrincipal');
            }
        });

        test('the app identity holds only the data roles it needs, each on its own resource', () => {
            const identity = identityOf(minimal);
            const { storage, vault, insights } = targets(minimal);
            const held = assignments(minimal, identity.principalId).map((a) => ({
                role: ROLES[roleGuid(a)]?.name ?? roleGuid(a),
                scope: a.scope,
            }));
            expect(held).toEqual(
                expect.arrayContaining([
                    { role: 'Storage Blob Data Owner', scope: storage.id },
                    { role: 'Storage Queue Data Contributor', scope: storage.id },
                    { role: 'Storage Table Data Contributor', scope: storage.id },
                    { role: 'Key Vault Secrets User', scope: vault.id },
                    { role: 'Monitoring Metrics Publisher', scope: insights.id },
                ]),
            );
            expect(held).toHaveLength(5);
        });

        test('the deploying user gets the data roles to run the app locally, only when principalId is given', () => {
            expect(assignments(minimal, '')).toEqual([]);
            const { storage, vault } = targets(full);
            const held = assignments(full, DEVELOPER).map((a) => ({
                role: ROLES[roleGuid(a)]?.name ?? roleGuid(a),
                scope: a.scope,
                type: get(a.body, 'properties', 'principalType'),
            }));
            expect(held).toEqual(
                expect.arrayContaining([
                    { role: 'Storage Blob Data Contributor', scope: storage.id, type: 'User' },
                    { role: 'Storage Queue Data Contributor', scope: storage.id, type: 'User' },
                    { role: 'Storage Table Data Contributor', scope: storage.id, type: 'User' },
                    { role: 'Key Vault Secrets Officer', scope: vault.id, type: 'User' },
                ]),
            );
            expect(held).toHaveLength(4);
            expect(all(minimal.resources, 'Microsoft.Authorization/roleAssignments')).toHaveLength(5);
        });
    });

    describe('no keys', () => {
        const text = JSON.stringify(template);

        test.each([
            'listKeys',
            'listAccountSas',
            'listServiceSas',
            'AccountKey=',
            'SharedAccessKey',
            'SharedAccessSignature',
            'primaryKey',
            'InstrumentationKey=',
        ])('the template never uses %s', (needle) => {
            expect(text.toLowerCase()).not.toContain(needle.toLowerCase());
        });

        test('no app setting is a connection string with a key, and no secret appears outside Key Vault', () => {
            for (const [, result] of variants) {
                const settings = appSettings(result);
                for (const [name, value] of Object.entries(settings)) {
                    expect(`${name}=${value}`).not.toMatch(
                        /AccountKey=|SharedAccessKey=|SharedAccessSignature=/i,
                    );
                }
                const outside = JSON.stringify({
                    resources: result.resources.filter((r) => r.type !== 'Microsoft.KeyVault/vaults/secrets'),
                    outputs: result.outputs,
                });
                expect(outside).not.toContain(AUTH_TOKEN);
                expect(outside).not.toContain(API_KEY_SECRET);
            }
            const values = all(full.resources, 'Microsoft.KeyVault/vaults/secrets').map((s) =>
                get(s.body, 'properties', 'value'),
            );
            expect(values.sort()).toEqual([API_KEY_SECRET, AUTH_TOKEN].sort());
        });

        test('the secret parameters are @secure() and an empty one creates no secret', () => {
            expect(template.parameters?.twilioAuthToken?.type).toBe('securestring');
            expect(template.parameters?.twilioApiKeySecret?.type).toBe('securestring');
            const withoutSecrets = evaluate(template, { ...minimalParameters, twilioAuthToken: '' });
            expect(all(withoutSecrets.resources, 'Microsoft.KeyVault/vaults/secrets')).toEqual([]);
            expect(
                all(minimal.resources, 'Microsoft.KeyVault/vaults/secrets').map((s) => s.name.split('/')[1]),
            ).toEqual([DEFAULT_SECRET_NAME]);
        });

        test('the storage account refuses shared keys, old TLS and public blobs', () => {
            const storage = props(one(minimal.resources, 'Microsoft.Storage/storageAccounts'));
            expect(storage).toMatchObject({
                allowSharedKeyAccess: false,
                minimumTlsVersion: 'TLS1_2',
                allowBlobPublicAccess: false,
                supportsHttpsTrafficOnly: true,
            });
        });
    });

    describe('names agree with the code', () => {
        test('the template parameters default to shared/platform/config.ts defaults', () => {
            expect(template.parameters?.outboundQueueName?.defaultValue).toBe(DEFAULT_OUTBOUND_QUEUE);
            expect(template.parameters?.inboundMediaQueueName?.defaultValue).toBe(
                DEFAULT_INBOUND_MEDIA_QUEUE,
            );
            expect(template.parameters?.mediaContainerName?.defaultValue).toBe(DEFAULT_MEDIA_CONTAINER);
            expect(template.parameters?.ledgerTableName?.defaultValue).toBe(DEFAULT_LEDGER_TABLE);
            expect(template.parameters?.authTokenSecretName?.defaultValue).toBe(DEFAULT_SECRET_NAME);
        });

        test('the queues the functions listen on and the ledger table exist, under the names in the settings', async () => {
            await import('../../functions/outbound');
            await import('../../functions/outboundPoison');
            await import('../../functions/inboundMedia');
            await import('../../functions/inboundMediaPoison');
            const settings = appSettings(minimal);
            const resolve = (name: string) =>
                name.replace(/%([^%]+)%/g, (_, key: string) => settings[key] ?? `<${key} unset>`);
            const listened = registrations
                .flatMap((r) => Object.values(r.metadata.bindings))
                .filter((b) => b.type === 'queueTrigger')
                .map((b) => resolve(String(b.queueName)));
            const queues = all(
                minimal.resources,
                'Microsoft.Storage/storageAccounts/queueServices/queues',
            ).map((q) => q.name.split('/')[2]);
            expect(listened.sort()).toEqual(
                [
                    DEFAULT_OUTBOUND_QUEUE,
                    `${DEFAULT_OUTBOUND_QUEUE}-poison`,
                    DEFAULT_INBOUND_MEDIA_QUEUE,
                    `${DEFAULT_INBOUND_MEDIA_QUEUE}-poison`,
                ].sort(),
            );
            expect(queues.sort()).toEqual(listened.sort());
            expect(settings.OUTBOUND_QUEUE).toBe(DEFAULT_OUTBOUND_QUEUE);
            const tables = all(
                minimal.resources,
                'Microsoft.Storage/storageAccounts/tableServices/tables',
            ).map((t) => t.name.split('/')[2]);
            expect(tables).toEqual([settings.LEDGER_TABLE]);
            expect(settings.LEDGER_TABLE).toBe(DEFAULT_LEDGER_TABLE);
            const bindings = registrations
                .flatMap((r) => Object.values(r.metadata.bindings))
                .filter((b) => b.type === 'queueTrigger');
            for (const binding of bindings) expect(binding.connection).toBe('AzureWebJobsStorage');
        });

        test('the poison queue follows the host’s <queue>-poison convention, with host.json retrying first', () => {
            const host = JSON.parse(readFileSync(path.join(REPO_ROOT, 'host.json'), 'utf8')) as {
                extensions?: { queues?: { maxDequeueCount?: number } };
            };
            expect(host.extensions?.queues?.maxDequeueCount).toBeGreaterThan(1);
            const renamed = evaluate(template, {
                ...minimalParameters,
                outboundQueueName: 'sms-out',
                ledgerTableName: 'Ledger2',
            });
            const settings = appSettings(renamed);
            const queues = all(
                renamed.resources,
                'Microsoft.Storage/storageAccounts/queueServices/queues',
            ).map((q) => q.name.split('/')[2]);
            expect(queues.sort()).toEqual(
                [
                    'sms-out',
                    'sms-out-poison',
                    DEFAULT_INBOUND_MEDIA_QUEUE,
                    `${DEFAULT_INBOUND_MEDIA_QUEUE}-poison`,
                ].sort(),
            );
            expect(settings).toMatchObject({ OUTBOUND_QUEUE: 'sms-out', LEDGER_TABLE: 'Ledger2' });
            expect(parseConfig(settings)).toMatchObject({ outboundQueue: 'sms-out', ledgerTable: 'Ledger2' });
        });
    });

    describe('platform settings', () => {
        test('the vault uses RBAC, soft delete and purge protection', () => {
            expect(props(one(minimal.resources, 'Microsoft.KeyVault/vaults'))).toMatchObject({
                enableRbacAuthorization: true,
                enableSoftDelete: true,
                enablePurgeProtection: true,
            });
            expect(props(one(minimal.resources, 'Microsoft.KeyVault/vaults')).accessPolicies).toBeUndefined();
        });

        test('the site is HTTPS-only, TLS 1.2, FTPS off, basic publishing credentials off, Node 22 on Linux', () => {
            const site = one(minimal.resources, 'Microsoft.Web/sites');
            expect(site.body.kind).toBe('functionapp,linux');
            expect(props(site)).toMatchObject({
                httpsOnly: true,
                siteConfig: { minTlsVersion: '1.2', scmMinTlsVersion: '1.2', ftpsState: 'Disabled' },
                functionAppConfig: { runtime: { name: 'node', version: '22' } },
            });
            const policies = all(minimal.resources, 'Microsoft.Web/sites/basicPublishingCredentialsPolicies');
            expect(
                policies.map((p) => [p.name.split('/')[1], get(p.body, 'properties', 'allow')]).sort(),
            ).toEqual([
                ['ftp', false],
                ['scm', false],
            ]);
        });

        test('the plan is Flex Consumption (FC1) and the site is on it', () => {
            const plan = one(minimal.resources, 'Microsoft.Web/serverfarms');
            expect(plan.body.sku).toEqual({ name: 'FC1', tier: 'FlexConsumption' });
            expect(get(plan.body, 'properties', 'reserved')).toBe(true);
            expect(
                get(one(minimal.resources, 'Microsoft.Web/sites').body, 'properties', 'serverFarmId'),
            ).toBe(plan.id);
        });

        test('scale: maximumInstanceCount from its parameter; an always-ready webhook instance only when asked for', () => {
            const scale = (result: Evaluated) =>
                get(
                    one(result.resources, 'Microsoft.Web/sites').body,
                    'properties',
                    'functionAppConfig',
                    'scaleAndConcurrency',
                );
            expect(scale(minimal)).toMatchObject({ maximumInstanceCount: 40, alwaysReady: [] });
            expect(scale(full)).toMatchObject({
                maximumInstanceCount: 25,
                alwaysReady: [{ name: 'http', instanceCount: 2 }],
            });
        });

        test('the deployment package container is in the host storage account', () => {
            const storage = one(minimal.resources, 'Microsoft.Storage/storageAccounts');
            const containers = all(
                minimal.resources,
                'Microsoft.Storage/storageAccounts/blobServices/containers',
            );
            const url = get(
                one(minimal.resources, 'Microsoft.Web/sites').body,
                'properties',
                'functionAppConfig',
                'deployment',
                'storage',
                'value',
            );
            // Beside it, only the media container (the inbound media test below).
            expect(
                containers.map(
                    (c) => `https://${storage.name}.blob.core.windows.net/${c.name.split('/')[2] ?? ''}`,
                ),
            ).toEqual([url, `https://${storage.name}.blob.core.windows.net/${DEFAULT_MEDIA_CONTAINER}`]);
        });
    });

    describe('alerts', () => {
        const MESSAGE_SID = 'SM0123456789abcdef0123456789abcdef';
        const MEDIA_SID = 'MM0123456789abcdef0123456789abcdef';
        const RECORDING_SID = 'RE0123456789abcdef0123456789abcdef';
        // Every action, for both subjects (a Record, so tsc names an action added to OutcomeAction and
        // missing here). The status is `failed` on all of them: a rule's status condition must not count
        // them for it.
        const ACTIONS: Record<OutcomeAction, true> = {
            accepted: true,
            sent: true,
            failed: true,
            rejected: true,
            conflict: true,
            'in-progress': true,
            'queue-unavailable': true,
            retrying: true,
            delayed: true,
            'dead-lettered': true,
            'already-sent': true,
            'already-final': true,
            'found-at-twilio': true,
            poisoned: true,
            delivered: true,
            completed: true,
            unanswered: true,
            status: true,
            unmatched: true,
        };
        const voicemail = newRecord(
            {
                id: RECORDING_SID,
                direction: 'inbound',
                type: 'voicemail',
                status: 'recorded',
                sid: RECORDING_SID,
            },
            new Date('2026-01-02T03:04:05Z'),
        );
        /**
         * Real outcome lines, labelled: shared/platform/outcomes.ts's whole vocabulary, the media copy's lines
         * (written as shared/media/*.ts and functions/inboundSms.ts / getMessageMedia.ts write them, prose
         * after the fields included) and the voicemail twimlet's (shared/voice/voicemail.ts's own writer).
         */
        const OUTCOME_LINES: [label: string, line: string][] = [
            ...(['message', 'call'] as const).flatMap((subject) =>
                (Object.keys(ACTIONS) as OutcomeAction[]).map((action): [string, string] => [
                    `${subject}.${action}`,
                    outcomeLine({
                        event: `${subject}.${action}`,
                        id: 'order-1',
                        sid: MESSAGE_SID,
                        status: 'failed',
                        code: '21211',
                        attempt: 5,
                        route: subject === 'call' ? 'calls' : 'messages',
                    }),
                ]),
            ),
            ['message.delayed early', outcomeLine({ event: 'message.delayed', id: 'order-1', attempt: 1 })],
            ['webhook.rejected', outcomeLine({ event: 'webhook.rejected', status: 403, route: 'voice' })],
            [
                'webhook.rejected twimlets',
                outcomeLine({ event: 'webhook.rejected', status: 400, route: 'twimlets' }),
            ],
            [
                'webhook.invalid',
                outcomeLine({ event: 'webhook.invalid', id: 'order-1', status: 400, route: 'status' }),
            ],
            ['media.queued', `event=media.queued id=${MEDIA_SID} sid=${MEDIA_SID}: 2 item(s)`],
            ['media.refused', `event=media.refused id=${MEDIA_SID} sid=${MEDIA_SID}: NumMedia is over 10`],
            [
                'media.not-queued',
                `event=media.not-queued id=${MEDIA_SID} sid=${MEDIA_SID}: the media copy could not be queued: RestError`,
            ],
            ['media.rejected', `event=media.rejected id=queue-msg-1 attempt=1: sid is missing`],
            [
                'media.already-copied',
                `event=media.already-copied id=${MEDIA_SID} sid=${MEDIA_SID} status=copied attempt=2: a redelivery; nothing fetched`,
            ],
            [
                'media.copied',
                `event=media.copied id=${MEDIA_SID} sid=${MEDIA_SID} status=copied attempt=1: 1 of 2 stored; refused 1:content-type`,
            ],
            [
                'media.retrying',
                `event=media.retrying id=${MEDIA_SID} sid=${MEDIA_SID} status=pending attempt=2: Twilio answered 503`,
            ],
            [
                'media.unrecorded',
                `event=media.unrecorded id=${MEDIA_SID} sid=${MEDIA_SID} status=copied attempt=1: 2 of 2 stored, but the message has no ledger record`,
            ],
            [
                'media.dead-lettered',
                `event=media.dead-lettered id=${MEDIA_SID} sid=${MEDIA_SID} status=dead-lettered attempt=5: Twilio answered 503`,
            ],
            [
                'media.dead-lettered unreadable',
                `event=media.dead-lettered id=poison-1 status=unreadable: a poisoned media job names no message (not JSON; content hash 0123456789abcdef)`,
            ],
            [
                'media.poisoned',
                `event=media.poisoned id=${MEDIA_SID} sid=${MEDIA_SID} status=dead-lettered: already recorded`,
            ],
            [
                'media.oversized',
                `event=media.oversized id=${MEDIA_SID} route=messages: a stored media blob is over the limit`,
            ],
            ['voicemail.recorded', voicemailLine('voicemail.recorded', voicemail, 'completed')],
            ['voicemail.notify-sms queued', voicemailLine('voicemail.notify-sms', voicemail, 'queued')],
            [
                'voicemail.notify-sms failed',
                `${voicemailLine('voicemail.notify-sms', voicemail, 'failed')}: the outbound queue could not be reached (RestError)`,
            ],
            [
                'voicemail.notify-sms not-configured',
                voicemailLine('voicemail.notify-sms', voicemail, 'not-configured'),
            ],
            ['voicemail.notify-email sent', voicemailLine('voicemail.notify-email', voicemail, 'sent')],
            [
                'voicemail.notify-email failed',
                `${voicemailLine('voicemail.notify-email', voicemail, 'failed')}: the e-mail could not be sent (RestError)`,
            ],
            [
                'voicemail.notify-email not-configured',
                voicemailLine('voicemail.notify-email', voicemail, 'not-configured'),
            ],
            [
                'voicemail.unrecorded',
                `event=voicemail.unrecorded id=${RECORDING_SID} route=twimlets: the recording step could not be stored (RestError)`,
            ],
        ];

        function rules(result: Evaluated) {
            const insights = one(result.resources, 'Microsoft.Insights/components');
            return all(result.resources, 'Microsoft.Insights/scheduledQueryRules').map((rule) => {
                const p = props(rule);
                const criterion = get(p, 'criteria', 'allOf') as Record<string, Json>[];
                expect(criterion).toHaveLength(1);
                expect(get(p, 'scopes')).toEqual([insights.id]);
                const c = criterion[0] ?? {};
                return {
                    name: rule.name,
                    window: p.windowSize,
                    query: typeof c.query === 'string' ? c.query : '',
                    operator: c.operator,
                    threshold: c.threshold,
                    aggregation: c.timeAggregation,
                    actionGroups: get(p, 'actions', 'actionGroups'),
                };
            });
        }

        /**
         * Which outcome lines a rule's query counts (their labels): its field extractions and its last
         * `where` — `or` of `(… and …)` of `<field> in (…)` / `<field> == "…"` — applied to the real lines.
         * Any other shape of query throws, so a rule this cannot read is not passed unread.
         */
        function counted(query: string): string[] {
            const patterns = new Map<string, RegExp>();
            for (const m of query.matchAll(/extend (\w+) = extract\(@"((?:[^"]|"")*)", 1, message\)/g)) {
                patterns.set(m[1] ?? '', new RegExp((m[2] ?? '').replace(/""/g, '"')));
            }
            if (!patterns.has('event')) throw new Error(`query does not extract the event name: ${query}`);
            const clause = query.slice(query.lastIndexOf('| where ') + '| where '.length);
            const disjuncts = clause.split(' or ').map((disjunct) =>
                disjunct
                    .replace(/^\((.*)\)$/, '$1')
                    .split(' and ')
                    .map((conjunct) => {
                        const m = /^(\w+) (?:in \(([^)]*)\)|== ("[^"]+"))$/.exec(conjunct);
                        const field = m?.[1] ?? '';
                        if (m === null || !patterns.has(field))
                            throw new Error(`cannot read "${conjunct}" in ${query}`);
                        const values = [...(m[2] ?? m[3] ?? '').matchAll(/"([^"]+)"/g)].map(
                            (v) => v[1] ?? '',
                        );
                        return { field, values };
                    }),
            );
            // A rule naming an event no line has would count nothing, silently.
            const events = new Set(OUTCOME_LINES.map(([, line]) => patterns.get('event')?.exec(line)?.[1]));
            const named = disjuncts
                .flat()
                .filter((c) => c.field === 'event')
                .flatMap((c) => c.values);
            expect(named.filter((event) => !events.has(event))).toEqual([]);
            return OUTCOME_LINES.filter(([, line]) =>
                disjuncts.some((conjuncts) =>
                    conjuncts.every(({ field, values }) => {
                        const value = patterns.get(field)?.exec(line)?.[1];
                        return value !== undefined && values.includes(value);
                    }),
                ),
            ).map(([label]) => label);
        }

        test('dead letters (any in 15 min), failures (more than N in 15 min), rejected webhooks (more than N in 5 min)', () => {
            const byName = Object.fromEntries(
                rules(full).map((r) => [r.name.replace(/^alert-[a-z0-9]+-/, ''), r]),
            );
            expect(Object.keys(byName).sort()).toEqual(['dead-lettered', 'failed', 'webhook-rejected']);
            expect(byName['dead-lettered']).toMatchObject({
                window: 'PT15M',
                operator: 'GreaterThan',
                threshold: 0,
                aggregation: 'Count',
            });
            expect(byName.failed).toMatchObject({
                window: 'PT15M',
                operator: 'GreaterThan',
                threshold: 7,
                aggregation: 'Count',
            });
            expect(byName['webhook-rejected']).toMatchObject({
                window: 'PT5M',
                operator: 'GreaterThan',
                threshold: 30,
                aggregation: 'Count',
            });
            // Work lost for good: a message or call never sent, an inbound MMS's media never copied.
            expect(counted(byName['dead-lettered']?.query ?? '')).toEqual([
                'message.dead-lettered',
                'call.dead-lettered',
                'media.dead-lettered',
                'media.dead-lettered unreadable',
            ]);
            // Outcomes that will not happen: a send refused or undelivered (21610 to an opted-out recipient
            // included), media that will not be copied, a voicemail step not stored, a notice not sent.
            expect(counted(byName.failed?.query ?? '')).toEqual([
                'message.failed',
                'call.failed',
                'media.not-queued',
                'voicemail.notify-sms failed',
                'voicemail.notify-email failed',
                'voicemail.unrecorded',
            ]);
            expect(counted(byName['webhook-rejected']?.query ?? '')).toEqual([
                'webhook.rejected',
                'webhook.rejected twimlets',
            ]);
        });

        test('a delayed or retrying line counts towards no alert: the work is still being done', () => {
            const alerted = rules(full).flatMap((rule) => counted(rule.query));
            const pending = OUTCOME_LINES.map(([label]) => label).filter((label) =>
                /\.(delayed|retrying)( |$)/.test(label),
            );
            expect(pending).toEqual([
                'message.retrying',
                'message.delayed',
                'call.retrying',
                'call.delayed',
                'message.delayed early',
                'media.retrying',
            ]);
            expect(pending.filter((label) => alerted.includes(label))).toEqual([]);
        });

        test('the alerts go to an action group e-mailing the alertEmail parameter', () => {
            const group = one(full.resources, 'Microsoft.Insights/actionGroups');
            expect(get(group.body, 'properties', 'emailReceivers')).toEqual([
                expect.objectContaining({ emailAddress: fullParameters.alertEmail }),
            ]);
            for (const rule of rules(full)) expect(rule.actionGroups).toEqual([group.id]);
            expect(all(minimal.resources, 'Microsoft.Insights/actionGroups')).toEqual([]);
            for (const rule of rules(minimal)) expect(rule.actionGroups).toEqual([]);
        });
    });

    describe('outputs', () => {
        test('the app URL, the webhook URLs (routes the functions register), the vault URL and what azd needs', async () => {
            await import('../../functions/voice');
            await import('../../functions/inboundSms');
            await import('../../functions/status');
            const settings = appSettings(minimal);
            const route = (name: string) => {
                const r = registrations.find((x) => x.metadata.name === name);
                const trigger = Object.values(r?.metadata.bindings ?? {}).find(
                    (b) => b.type === 'httpTrigger',
                );
                return String(trigger?.route);
            };
            const base = settings.PUBLIC_BASE_URL ?? '';
            const site = one(minimal.resources, 'Microsoft.Web/sites');
            expect(minimal.outputs).toMatchObject({
                FUNCTION_APP_URL: base,
                TWILIO_VOICE_URL: `${base}/api/${route('voice')}`,
                TWILIO_SMS_URL: `${base}/api/${route('inboundSms')}`,
                TWILIO_STATUS_CALLBACK_URL: `${base}/api/${route('status')}`,
                KEY_VAULT_URL: settings.KEY_VAULT_URL,
                AZURE_FUNCTION_NAME: site.name,
                SERVICE_API_NAME: site.name,
                OUTBOUND_QUEUE: settings.OUTBOUND_QUEUE,
                LEDGER_TABLE: settings.LEDGER_TABLE,
            });
            expect(minimal.outputs.TWILIO_VOICE_URL).toBe(`${base}/api/voice`);
            expect(minimal.outputs.TWILIO_SMS_URL).toBe(`${base}/api/sms`);
            expect(minimal.outputs.TWILIO_STATUS_CALLBACK_URL).toBe(`${base}/api/status`);
            expect(get(site.body, 'tags', 'azd-service-name')).toBe('api');
            const azureYaml = readFileSync(path.join(REPO_ROOT, 'azure.yaml'), 'utf8');
            expect(azureYaml).toMatch(/^services:\n {2}api:\n/m);
            // azd deploys `dist` as it finds it: the staged package the packaging test loads, never the
            // project folder with its devDependencies.
            expect(azureYaml).toMatch(/^ {4}dist: \.cache\/package$/m);
            expect(azureYaml).toMatch(/node infra\/scripts\/package\.js --out \.cache\/package/);
        });
    });
});

describeCompiled('infra/main.bicep, inbound media', () => {
    test('the media container exists, private, under the name the settings give; the media queues too; DELETE_MEDIA_AFTER_COPY follows its parameter', () => {
        const minimal = evaluate(template, minimalParameters);
        const containers = all(
            minimal.resources,
            'Microsoft.Storage/storageAccounts/blobServices/containers',
        ).filter((c) => c.name.split('/')[2] === DEFAULT_MEDIA_CONTAINER);
        expect(containers).toHaveLength(1);
        expect(props(containers[0] as Deployed)).toMatchObject({ publicAccess: 'None' });
        expect(appSettings(minimal)).toMatchObject({
            MEDIA_CONTAINER: DEFAULT_MEDIA_CONTAINER,
            INBOUND_MEDIA_QUEUE: DEFAULT_INBOUND_MEDIA_QUEUE,
            DELETE_MEDIA_AFTER_COPY: 'false',
        });

        const renamed = evaluate(template, {
            ...minimalParameters,
            inboundMediaQueueName: 'mms-in',
            mediaContainerName: 'mms',
            deleteMediaAfterCopy: true,
        });
        const queues = all(renamed.resources, 'Microsoft.Storage/storageAccounts/queueServices/queues').map(
            (q) => q.name.split('/')[2],
        );
        expect(queues).toEqual(expect.arrayContaining(['mms-in', 'mms-in-poison']));
        const settings = appSettings(renamed);
        expect(parseConfig(settings).media).toEqual({
            queue: 'mms-in',
            container: 'mms',
            deleteAfterCopy: true,
        });
        expect(
            all(renamed.resources, 'Microsoft.Storage/storageAccounts/blobServices/containers').map(
                (c) => c.name.split('/')[2],
            ),
        ).toContain('mms');
    });
});
