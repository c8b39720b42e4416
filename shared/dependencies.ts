/**
 * The composition root: builds the app's shared services from the configuration, once per process.
 */

import type { HttpResponseInit } from '@azure/functions';
import { getConfig, type AppConfig } from './config';
import { ConfigError } from './errors';
import {
    createKeyVaultSecretReader,
    createSecretProvider,
    createStaticSecretProvider,
    type SecretProvider,
} from './secrets';
import type { Ledger, LedgerOptions } from './ledger';
import { lazy } from './lazy';
import { createQueueClientFactory, requireStorage, storageCredential } from './storage';
import { createTwilioClientFactory, type TwilioClientFactory } from './twilioClient';

export interface AppDependencies {
    readonly config: AppConfig;
    /** `undefined` when no auth token source is configured: webhooks then answer 500, never unchecked. */
    readonly authToken: SecretProvider | undefined;
    readonly twilio: TwilioClientFactory;
    /** The message ledger; throws ConfigError on first use when no storage is configured. */
    readonly ledger: () => Ledger;
    /** Puts a message (JSON text) on the outbound queue. */
    readonly enqueueOutbound: (text: string) => Promise<void>;
}

/** Builds the services for `config`. Nothing is read from Key Vault or imported until first used. */
export function createDependencies(config: AppConfig): AppDependencies {
    const source = config.authToken;
    let authToken: SecretProvider | undefined;
    if (source.kind === 'keyVault') {
        authToken = createSecretProvider({
            read: createKeyVaultSecretReader(source),
            ttlMs: config.secretTtlMs,
            onStaleValueServed: (error) => {
                console.warn(
                    `Key Vault re-read failed; using the cached Twilio auth token for now: ${error instanceof Error ? error.message : String(error)}`,
                );
            },
        });
    } else if (source.kind === 'setting') {
        authToken = createStaticSecretProvider(source.token);
    }
    const twilio = createTwilioClientFactory({
        accountSid: config.accountSid,
        secrets: authToken,
        apiUrl: config.twilioApiUrl,
    });
    let ledger: Ledger | undefined;
    const getLedger = (): Ledger => {
        if (ledger === undefined) {
            const storage = requireStorage(config.storage);
            const common = { tableName: config.ledgerTable, storeBody: config.ledgerStoreBody };
            ledger = lazyLedger(
                storage.kind === 'connectionString'
                    ? { ...common, connectionString: storage.connectionString }
                    : { ...common, tableUrl: storage.tableServiceUrl, credential: lazyCredential() },
            );
        }
        return ledger;
    };
    let outboundQueue: (() => Promise<import('@azure/storage-queue').QueueClient>) | undefined;
    const enqueueOutbound = async (text: string): Promise<void> => {
        outboundQueue ??= createQueueClientFactory(requireStorage(config.storage), config.outboundQueue);
        await (await outboundQueue()).sendMessage(text);
    };
    return { config, authToken, twilio, ledger: getLedger, enqueueOutbound };
}

/**
 * A ledger whose module (the largest of the app's own) is loaded on first use, so the functions that
 * never touch the ledger do not pay for it on a cold start.
 */
function lazyLedger(options: LedgerOptions): Ledger {
    const load = lazy(async () => (await import('./ledger')).createLedger(options));
    return {
        create: async (record) => (await load()).create(record),
        get: async (id) => (await load()).get(id),
        update: async (id, mutate) => (await load()).update(id, mutate),
        list: async (query) => (await load()).list(query),
        idForSid: async (sid) => (await load()).idForSid(sid),
    };
}

/** A TokenCredential that creates `DefaultAzureCredential` (a heavy import) only when a token is needed. */
function lazyCredential(): import('@azure/core-auth').TokenCredential {
    return { getToken: async (scopes, options) => (await storageCredential()).getToken(scopes, options) };
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
