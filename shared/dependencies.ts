/**
 * The composition root: builds the app's shared services from the configuration, once per process.
 */

import { getConfig, type AppConfig } from './config';
import {
    createKeyVaultSecretReader,
    createSecretProvider,
    createStaticSecretProvider,
    type SecretProvider,
} from './secrets';
import { createTwilioClientFactory, type TwilioClientFactory } from './twilioClient';

export interface AppDependencies {
    readonly config: AppConfig;
    /** `undefined` when no auth token source is configured: webhooks then answer 500, never unchecked. */
    readonly authToken: SecretProvider | undefined;
    readonly twilio: TwilioClientFactory;
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
    return { config, authToken, twilio };
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
