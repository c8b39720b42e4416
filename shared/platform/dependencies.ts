/**
 * The composition root: builds the app's shared services from the configuration, once per process.
 */

import type { AccessToken, TokenCredential } from '@azure/core-auth';
import type { HttpResponseInit } from '@azure/functions';
import { getConfig, type AppConfig, type AzureIdentity } from './config';
import { ConfigError } from './errors';
import {
    createKeyVaultSecretReader,
    createSecretClientFactory,
    createSecretProvider,
    createStaticSecretProvider,
    type SecretProvider,
} from './secrets';
import type { Ledger } from '../ledger/contract';
import type { LedgerOptions } from '../ledger/table';
import type { OptOutStore } from '../messaging/optOuts';
import type { ReplyWindows } from '../messaging/replyGuard';
import type { MessagingTableOptions } from '../messaging/tableStores';
import type { EmailSender } from '../voice/email';
import { lazy } from './lazy';
import { createContainerClientFactory, createQueueClientFactory, requireStorage } from './storage';
import { createTwilioClientFactory, type TwilioClientFactory } from './twilioClient';

export interface AppDependencies {
    readonly config: AppConfig;
    /** `undefined` when no auth token source is configured: webhooks then answer 500, never unchecked. */
    readonly authToken: SecretProvider | undefined;
    /** The API key's secret, when `TWILIO_API_KEY_SID` is configured (REST calls then use the key). */
    readonly apiKeySecret: SecretProvider | undefined;
    readonly twilio: TwilioClientFactory;
    /** The message ledger; throws ConfigError on first use when no storage is configured. */
    readonly ledger: () => Ledger;
    /** Who opted out of SMS from which sender; throws ConfigError on first use without storage. */
    readonly optOuts: () => OptOutStore;
    /** The `/api/sms` loop guard's counters; throws ConfigError on first use without storage. */
    readonly replyWindows: () => ReplyWindows;
    /**
     * Puts a message (JSON text) on the outbound queue; with `delaySeconds`, it stays invisible that long
     * (a delayed retry).
     */
    readonly enqueueOutbound: (text: string, options?: { delaySeconds?: number }) => Promise<void>;
    /** Puts a media copy job (JSON text, shared/media/job.ts) on `INBOUND_MEDIA_QUEUE`. */
    readonly enqueueInboundMedia: (text: string) => Promise<void>;
    /** The media container (`MEDIA_CONTAINER`), created on first use; ConfigError without storage. */
    readonly mediaContainer: () => Promise<import('@azure/storage-blob').ContainerClient>;
    /**
     * Sends an e-mail through Communication Services (`EMAIL_ENDPOINT`, `EMAIL_SENDER`) as the app's identity
     * (the one Key Vault is read as); `undefined` when no e-mail sender is configured.
     */
    readonly sendEmail: EmailSender | undefined;
}

/** Builds the services for `config`. Nothing is read from Key Vault or imported until first used. */
export function createDependencies(config: AppConfig): AppDependencies {
    const credentialFor = createCredentials();
    let vaultClient: ReturnType<typeof createSecretClientFactory> | undefined;
    // One SecretClient for the vault, whichever secret is read first.
    const vault = (vaultUrl: string) =>
        (vaultClient ??= createSecretClientFactory(vaultUrl, credentialFor(config.identity.keyVault)));
    const fromVault = (vaultUrl: string, secretName: string, what: string): SecretProvider =>
        createSecretProvider({
            read: createKeyVaultSecretReader({ vaultUrl, secretName, client: vault(vaultUrl) }),
            ttlMs: config.secretTtlMs,
            onStaleValueServed: (error) => {
                console.warn(
                    `Key Vault re-read failed; using the cached ${what} for now: ${error instanceof Error ? error.message : String(error)}`,
                );
            },
        });

    const source = config.authToken;
    let authToken: SecretProvider | undefined;
    if (source.kind === 'keyVault') {
        authToken = fromVault(source.vaultUrl, source.secretName, 'Twilio auth token');
    } else if (source.kind === 'setting') {
        authToken = createStaticSecretProvider(source.token);
    }
    const key = config.apiKey;
    let apiKeySecret: SecretProvider | undefined;
    if (key?.kind === 'keyVault') {
        apiKeySecret = fromVault(key.vaultUrl, key.secretName, 'Twilio API key secret');
    } else if (key?.kind === 'setting') {
        apiKeySecret = createStaticSecretProvider(key.secret);
    }
    const twilio = createTwilioClientFactory({
        accountSid: config.accountSid,
        secrets: authToken,
        apiKey:
            key === undefined || apiKeySecret === undefined
                ? undefined
                : { sid: key.sid, secret: apiKeySecret },
        apiUrl: config.twilioApiUrl,
    });

    const storageCredential = (): TokenCredential | undefined =>
        config.identity.storage === undefined ? undefined : credentialFor(config.identity.storage);
    let ledger: Ledger | undefined;
    const getLedger = (): Ledger => (ledger ??= openLedger(config, storageCredential));
    let outboundQueue: (() => Promise<import('@azure/storage-queue').QueueClient>) | undefined;
    const enqueueOutbound = async (text: string, options?: { delaySeconds?: number }): Promise<void> => {
        outboundQueue ??= createQueueClientFactory(
            requireStorage(config.storage),
            config.outboundQueue,
            storageCredential(),
        );
        const delaySeconds = options?.delaySeconds;
        await (
            await outboundQueue()
        ).sendMessage(text, delaySeconds === undefined ? undefined : { visibilityTimeout: delaySeconds });
    };
    let mediaQueue: (() => Promise<import('@azure/storage-queue').QueueClient>) | undefined;
    const enqueueInboundMedia = async (text: string): Promise<void> => {
        mediaQueue ??= createQueueClientFactory(
            requireStorage(config.storage),
            config.media.queue,
            storageCredential(),
        );
        await (await mediaQueue()).sendMessage(text);
    };
    let container: (() => Promise<import('@azure/storage-blob').ContainerClient>) | undefined;
    const mediaContainer = () =>
        (container ??= createContainerClientFactory(
            requireStorage(config.storage),
            config.media.container,
            storageCredential(),
        ))();
    const email = config.email;
    let sendEmail: EmailSender | undefined;
    if (email !== undefined) {
        // The module is small, but only the voicemail twimlet's notifications need it.
        const sender = lazy(async () =>
            (await import('../voice/email')).createEmailSender({
                endpoint: email.endpoint,
                sender: email.sender,
                credential: credentialFor(config.identity.keyVault),
            }),
        );
        sendEmail = async (message) => (await sender())(message);
    }
    let messaging: MessagingStores | undefined;
    const getMessaging = (): MessagingStores => (messaging ??= openMessaging(config, storageCredential));
    return {
        config,
        authToken,
        apiKeySecret,
        twilio,
        ledger: getLedger,
        optOuts: () => getMessaging().optOuts,
        replyWindows: () => getMessaging().replyWindows,
        enqueueOutbound,
        enqueueInboundMedia,
        mediaContainer,
        sendEmail,
    };
}

interface MessagingStores {
    optOuts: OptOutStore;
    replyWindows: ReplyWindows;
}

/**
 * The opt-out store and the loop guard's counters: Azure Table storage in the ledger's own table
 * (partitions of their own, shared/messaging/tableStores.ts), whose module and SDK load on first use.
 *
 * @throws ConfigError when no storage is configured.
 */
function openMessaging(
    config: AppConfig,
    storageCredential: () => TokenCredential | undefined,
): MessagingStores {
    const storage = requireStorage(config.storage);
    const options: MessagingTableOptions = {
        tableName: config.ledgerTable,
        ...(storage.kind === 'connectionString'
            ? { connectionString: storage.connectionString }
            : { tableUrl: storage.tableServiceUrl, credential: storageCredential() }),
    };
    const load = lazy(async () => (await import('../messaging/tableStores')).createMessagingTables(options));
    return {
        optOuts: {
            get: async (sender, recipient) => (await load()).optOuts.get(sender, recipient),
            add: async (optOut) => (await load()).optOuts.add(optOut),
            remove: async (sender, recipient) => (await load()).optOuts.remove(sender, recipient),
            list: async (query) => (await load()).optOuts.list(query),
        },
        replyWindows: {
            count: async (from, to, now, windowMs) =>
                (await load()).replyWindows.count(from, to, now, windowMs),
        },
    };
}

/**
 * The app's ledger, and the one place that picks its implementation. Today there is one: Azure Table
 * storage in the app's storage account, by connection string or by endpoint and the storage identity.
 * Another backend (Cosmos DB, …) is one module implementing shared/ledger/contract.ts with
 * shared/ledger/rules.ts, and one more branch here, chosen by a setting of its own.
 *
 * @throws ConfigError when no storage is configured.
 */
function openLedger(config: AppConfig, storageCredential: () => TokenCredential | undefined): Ledger {
    const storage = requireStorage(config.storage);
    const options: LedgerOptions = {
        tableName: config.ledgerTable,
        storeBody: config.ledgerStoreBody,
        ...(storage.kind === 'connectionString'
            ? { connectionString: storage.connectionString }
            : { tableUrl: storage.tableServiceUrl, credential: storageCredential() }),
    };
    return lazyLedger(async () => (await import('../ledger/table')).createLedger(options));
}

/**
 * A ledger whose implementation's module (the Table ledger is the largest of the app's own) is loaded on
 * first use, so the functions that never touch the ledger do not pay for it on a cold start.
 */
function lazyLedger(open: () => Promise<Ledger>): Ledger {
    const load = lazy(open);
    return {
        create: async (record) => (await load()).create(record),
        get: async (id) => (await load()).get(id),
        update: async (id, mutate, options) => (await load()).update(id, mutate, options),
        list: async (query) => (await load()).list(query),
        idForSid: async (sid) => (await load()).idForSid(sid),
    };
}

/**
 * The app's Azure credentials: one `TokenCredential` per distinct identity, so every client of that
 * identity (the table, the queue, Key Vault) shares one token cache and the identity endpoint is asked
 * once per scope, not once per client. `@azure/identity` (a heavy import) is loaded when a token is first
 * needed, not when a credential is handed out.
 */
export function createCredentials(): (identity: AzureIdentity) => TokenCredential {
    const byIdentity = new Map<string, TokenCredential>();
    return (identity) => {
        const key = JSON.stringify([identity.kind, identity.clientId ?? null, identity.resourceId ?? null]);
        let credential = byIdentity.get(key);
        if (credential === undefined) {
            credential = sharingTokenRequests(lazy(() => newCredential(identity)));
            byIdentity.set(key, credential);
        }
        return credential;
    };
}

/**
 * A credential whose concurrent requests for the same token share one request. Each SDK client already
 * does that for its own requests, but on a cold start the table and the queue client ask for the storage
 * token at the same moment, and neither the credential nor its token cache joins the two.
 */
function sharingTokenRequests(load: () => Promise<TokenCredential>): TokenCredential {
    const inFlight = new Map<string, Promise<AccessToken | null>>();
    return {
        getToken: (scopes, options = {}) => {
            const key = JSON.stringify([
                [scopes].flat().sort(),
                options.tenantId ?? null,
                options.claims ?? null,
                options.enableCae ?? false,
            ]);
            let pending = inFlight.get(key);
            if (pending === undefined) {
                // Shared, so one caller's abort must not fail the others; a token request is short anyway.
                const { abortSignal: _, ...shared } = options;
                pending = (async () => (await load()).getToken(scopes, shared))().finally(() => {
                    inFlight.delete(key);
                });
                inFlight.set(key, pending);
            }
            return pending;
        },
    };
}

/**
 * The credential the Functions host would build for `identity`: `ManagedIdentityCredential` for
 * `__credential=managedidentity` (never `DefaultAzureCredential` in Azure, whose chain could settle on
 * another source), else `DefaultAzureCredential` told which managed identity to try.
 */
async function newCredential(identity: AzureIdentity): Promise<TokenCredential> {
    const { DefaultAzureCredential, ManagedIdentityCredential } = await import('@azure/identity');
    const { clientId, resourceId } = identity;
    if (identity.kind === 'managedIdentity') {
        if (clientId !== undefined) return new ManagedIdentityCredential({ clientId });
        if (resourceId !== undefined) return new ManagedIdentityCredential({ resourceId });
        return new ManagedIdentityCredential();
    }
    if (clientId !== undefined) return new DefaultAzureCredential({ managedIdentityClientId: clientId });
    if (resourceId !== undefined) {
        return new DefaultAzureCredential({ managedIdentityResourceId: resourceId });
    }
    return new DefaultAzureCredential();
}

let current: AppDependencies | undefined;

/**
 * The process-wide services, built on first use from {@link getConfig}.
 *
 * @throws ConfigError when the settings are invalid.
 */
export function getDependencies(): AppDependencies {
    current ??= createDependencies(getConfig());
    return current;
}

/**
 * Replaces the process-wide services (tests, the local host), or with no argument forgets them so the
 * next {@link getDependencies} builds them again from the settings.
 */
export function setDependencies(dependencies?: AppDependencies): void {
    current = dependencies;
}

/**
 * {@link getDependencies} for an HTTP function: invalid settings become a 500 whose log line names each
 * setting at fault, instead of an unhandled exception.
 */
export function dependenciesOr500(
    log: { error(...args: unknown[]): void },
    dependencies: () => AppDependencies = getDependencies,
): { ok: true; deps: AppDependencies } | { ok: false; response: HttpResponseInit } {
    try {
        return { ok: true, deps: dependencies() };
    } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        log.error(error.message);
        return {
            ok: false,
            response: { status: 500, body: 'The app is misconfigured; see the function logs' },
        };
    }
}
