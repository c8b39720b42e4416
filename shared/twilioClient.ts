/**
 * One shared Twilio REST client, built from the account SID and the current auth token.
 *
 * The `twilio` package is imported on first use: its REST client is the heaviest module this app loads,
 * and only the outbound paths need it.
 */

import type { Twilio } from 'twilio';
import type RequestClient from 'twilio/lib/base/RequestClient';
import { ConfigError } from './errors';
import type { SecretProvider } from './secrets';

export type { Twilio };

/**
 * The SDK's own retry of an HTTP 429 answer (Twilio 20429, Too Many Requests), with its exponential
 * backoff and full jitter: retry k waits a random 0 to min(100 ms × 2^k, `maxRetryDelay`), so three
 * retries wait at most 0.2 + 0.4 + 0.8 = 1.4 s in all. A brief burst over the account's rate is absorbed
 * inside the invocation instead of costing a queue redelivery; a 429 that outlasts that is handed back to
 * the queue, whose redelivery is the longer back-off. Retrying is safe: Twilio created nothing when it
 * answered 429. Only 429 is retried (never a 5xx or a timeout, whose request may have been acted on), so
 * the worst case stays well inside the pipeline's claim lease: three quick 429s, 1.4 s, one request timeout.
 */
export const RATE_LIMIT_RETRY = { autoRetry: true, maxRetries: 3, maxRetryDelay: 1_000 } as const;

export interface TwilioClientFactoryOptions {
    accountSid: string | undefined;
    /** Source of the auth token; `undefined` when none is configured. */
    secrets: SecretProvider | undefined;
    /**
     * Base URL of a Twilio API stand-in (tests and local runs). Every REST call that would go to
     * `https://*.twilio.com` goes to this origin instead, with the same path and query.
     */
    apiUrl?: string | undefined;
}

export interface TwilioClientFactory {
    /** The client for the current token; rebuilt when the token changes. */
    get(): Promise<Twilio>;
    /**
     * For a call that Twilio rejected as unauthenticated (HTTP 401 / code 20003): re-reads the token
     * (rate-limited by the secret provider) and resolves to a client for the new token, or to `undefined`
     * when the token has not changed and a retry would fail the same way.
     */
    refreshAfterAuthFailure(): Promise<Twilio | undefined>;
}

/**
 * Creates the factory. Nothing is loaded or read until {@link TwilioClientFactory.get} is first called.
 *
 * @throws ConfigError from `get` when no account SID or auth token is configured.
 */
export function createTwilioClientFactory(options: TwilioClientFactoryOptions): TwilioClientFactory {
    let cached: { token: string; client: Twilio } | undefined;

    const clientFor = async (token: string): Promise<Twilio> => {
        if (cached?.token === token) return cached.client;
        if (options.accountSid === undefined) {
            throw new ConfigError(['TWILIO_ACCOUNT_SID is required to call the Twilio REST API']);
        }
        const { default: twilio } = await import('twilio');
        const httpClient =
            options.apiUrl === undefined
                ? undefined
                : createRedirectingRequestClient(twilio.RequestClient, options.apiUrl);
        // The retry options reach the SDK's default RequestClient through the client options; our own
        // RequestClient is built with them, since the SDK does not pass them to an `httpClient` it is given.
        const client = twilio(
            options.accountSid,
            token,
            httpClient === undefined ? { ...RATE_LIMIT_RETRY } : { ...RATE_LIMIT_RETRY, httpClient },
        );
        cached = { token, client };
        return client;
    };

    const secrets = (): SecretProvider => {
        if (options.secrets === undefined) {
            throw new ConfigError(['Set KEY_VAULT_URL or TWILIO_AUTH_TOKEN to call the Twilio REST API']);
        }
        return options.secrets;
    };

    return {
        async get() {
            return clientFor(await secrets().get());
        },
        async refreshAfterAuthFailure() {
            const before = cached?.token;
            const token = await secrets().refresh();
            return token === before ? undefined : clientFor(token);
        },
    };
}

/**
 * A `RequestClient` that sends every request to `apiUrl` instead of Twilio's hosts. Passing it as
 * `httpClient` is the SDK's supported way to change transport; the rest of the client (auth, paging,
 * parameter encoding, error mapping) stays the SDK's own.
 */
function createRedirectingRequestClient(Base: typeof RequestClient, apiUrl: string): RequestClient {
    const target = new URL(apiUrl);
    const basePath = target.pathname.replace(/\/+$/, '');

    class RedirectingRequestClient extends Base {
        override request<TData>(opts: RequestClient.RequestOptions<TData>) {
            const original = new URL(opts.uri);
            const uri = `${target.origin}${basePath}${original.pathname}${original.search}`;
            return super.request({ ...opts, uri });
        }
    }
    return new RedirectingRequestClient({ ...RATE_LIMIT_RETRY });
}
