/**
 * The Twilio secrets (the auth token, an API key's secret), read from Azure Key Vault (or a setting) and
 * cached.
 *
 * `@azure/keyvault-secrets` and `@azure/identity` are imported on the first read, never at module load:
 * together they cost several times what `@azure/functions` does to load, and a webhook cold start with a
 * warm cache should not pay for them.
 */

import type { TokenCredential } from '@azure/core-auth';
import type { SecretClient } from '@azure/keyvault-secrets';
import { SecretUnavailableError } from './errors';
import { lazy } from './lazy';

/** A cached secret value. */
export interface SecretProvider {
    /** The current value: read on first use and again once the TTL has passed. */
    get(): Promise<string>;
    /**
     * Re-reads the value now, unless a read started less than the minimum refresh interval ago; resolves to
     * the value in force afterwards. Callers compare it with the value they used to see whether it changed.
     */
    refresh(): Promise<string>;
}

export interface SecretProviderOptions {
    /** Reads the value from its source. A rejection or an empty value is never cached. */
    read: () => Promise<string>;
    /** How long a value is used before it is read again. */
    ttlMs: number;
    /**
     * The least time between two reads started by {@link SecretProvider.refresh}, so that a stream of forged
     * webhook signatures cannot be turned into a stream of Key Vault reads. Default 60 s.
     */
    minRefreshIntervalMs?: number;
    /**
     * After a failed re-read, how long the previous value keeps being served before another read is tried.
     * Default 5 s.
     */
    retryAfterFailureMs?: number;
    /** Clock, for tests. */
    now?: () => number;
    /** Told about a failed re-read that was covered by the previous value. */
    onStaleValueServed?: (error: unknown) => void;
}

export const DEFAULT_MIN_REFRESH_INTERVAL_MS = 60_000;

/**
 * Wraps `read` in a cache with a TTL. Concurrent callers share one in-flight read (the promise is what is
 * cached), so 200 simultaneous cold invocations make one Key Vault request. When a re-read after the TTL
 * fails, the previous value is served for a little longer rather than failing every request while Key
 * Vault is briefly unreachable; with no previous value the error propagates and nothing is cached.
 */
export function createSecretProvider(options: SecretProviderOptions): SecretProvider {
    const now = options.now ?? Date.now;
    const minRefreshIntervalMs = options.minRefreshIntervalMs ?? DEFAULT_MIN_REFRESH_INTERVAL_MS;
    const retryAfterFailureMs = options.retryAfterFailureMs ?? 5_000;

    let value: string | undefined;
    let expiresAt = -Infinity;
    let lastReadStartedAt = -Infinity;
    let inFlight: Promise<string> | undefined;

    const startRead = (): Promise<string> => {
        lastReadStartedAt = now();
        const read = (async () => {
            // Yield first: were `options.read` to throw synchronously, the `finally` below would run before
            // `inFlight = read` and the settled promise would then be served as "in flight" forever.
            await Promise.resolve();
            try {
                const fresh = await options.read();
                if (fresh === '') throw new SecretUnavailableError('The secret has an empty value');
                value = fresh;
                expiresAt = now() + options.ttlMs;
                return fresh;
            } catch (error) {
                if (value === undefined) throw error;
                expiresAt = now() + retryAfterFailureMs;
                options.onStaleValueServed?.(error);
                return value;
            } finally {
                inFlight = undefined;
            }
        })();
        inFlight = read;
        return read;
    };

    const get = (): Promise<string> => {
        if (inFlight !== undefined) return inFlight;
        if (value !== undefined && now() < expiresAt) return Promise.resolve(value);
        return startRead();
    };
    const refresh = (): Promise<string> => {
        if (inFlight !== undefined) return inFlight;
        if (now() - lastReadStartedAt < minRefreshIntervalMs) return get();
        return startRead();
    };
    return { get, refresh };
}

/** A provider for a value that never changes, such as a token given directly in a setting. */
export function createStaticSecretProvider(value: string): SecretProvider {
    const resolved = Promise.resolve(value);
    return { get: () => resolved, refresh: () => resolved };
}

/**
 * A `SecretClient` for one vault, created (with its SDK module) on the first call and then shared by
 * every secret read from that vault, so the vault's authentication challenge is answered once.
 *
 * @param credential the app's credential for its Key Vault identity (one instance per identity, so the
 *   access token is cached once for the whole app).
 */
export function createSecretClientFactory(
    vaultUrl: string,
    credential: TokenCredential,
): () => Promise<SecretClient> {
    return lazy(async () => {
        const { SecretClient } = await import('@azure/keyvault-secrets');
        // A webhook waits on this read and Twilio gives a webhook 15 s, so keep the SDK's retries short.
        return new SecretClient(vaultUrl, credential, {
            retryOptions: { maxRetries: 2, retryDelayInMs: 300, maxRetryDelayInMs: 2_000 },
        });
    });
}

export interface KeyVaultSecretReaderOptions {
    /** e.g. `https://myvault.vault.azure.net`; named in errors. */
    vaultUrl: string;
    secretName: string;
    /** The vault's client, from {@link createSecretClientFactory}. */
    client: () => Promise<SecretClient>;
}

/** Returns a function that reads the latest version of one Key Vault secret. */
export function createKeyVaultSecretReader(options: KeyVaultSecretReaderOptions): () => Promise<string> {
    return async () => {
        let secret;
        try {
            secret = await (await options.client()).getSecret(options.secretName);
        } catch (error) {
            throw new SecretUnavailableError(
                `Could not read secret "${options.secretName}" from ${options.vaultUrl}: ${describe(error)}`,
                { cause: error },
            );
        }
        if (secret.value === undefined || secret.value === '') {
            throw new SecretUnavailableError(
                `Secret "${options.secretName}" in ${options.vaultUrl} has no value`,
            );
        }
        return secret.value;
    };
}

function describe(error: unknown): string {
    if (error instanceof Error) {
        const status = (error as { statusCode?: unknown }).statusCode;
        // The first line only: SDK messages can run to a multi-line JSON dump of the response.
        const message = error.message.split('\n')[0] ?? '';
        return typeof status === 'number' ? `HTTP ${status}: ${message}` : `${error.name}: ${message}`;
    }
    return String(error);
}
