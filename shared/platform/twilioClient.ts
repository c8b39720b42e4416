/**
 * One shared Twilio REST client, built from the account SID and the current auth token, or from an API key
 * (the key SID and its current secret) when one is configured.
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
    /** Source of the auth token; `undefined` when none is configured. Unused for REST calls with `apiKey`. */
    secrets: SecretProvider | undefined;
    /**
     * An API key (`SK…`) and the source of its secret: when given, every REST call authenticates with the
     * key (the SID as user, the secret as password, the account in the path) and never with the auth token,
     * which is then only the webhook signing key.
     */
    apiKey?: { sid: string; secret: SecretProvider } | undefined;
    /**
     * Base URL of a Twilio API stand-in (tests and local runs). Every REST call that would go to
     * `https://*.twilio.com` goes to this origin instead, with the same path and query.
     */
    apiUrl?: string | undefined;
}

export interface TwilioClientFactory {
    /** The client for the current credentials; rebuilt when the secret changes. */
    get(): Promise<Twilio>;
    /**
     * For a call that Twilio rejected as unauthenticated (HTTP 401 / code 20003): re-reads the secret the
     * REST calls use (the API key's secret when a key is configured, else the auth token; rate-limited by
     * the secret provider) and resolves to a client for the new value, or to `undefined` when it has not
     * changed and a retry would fail the same way.
     */
    refreshAfterAuthFailure(): Promise<Twilio | undefined>;
}

/**
 * Creates the factory. Nothing is loaded or read until {@link TwilioClientFactory.get} is first called.
 *
 * @throws ConfigError from `get` when no account SID, or neither an API key nor an auth token, is
 *   configured.
 */
export function createTwilioClientFactory(options: TwilioClientFactoryOptions): TwilioClientFactory {
    let cached: { secret: string; client: Twilio } | undefined;

    const clientFor = async (secret: string): Promise<Twilio> => {
        if (cached?.secret === secret) return cached.client;
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
        const clientOptions =
            httpClient === undefined ? { ...RATE_LIMIT_RETRY } : { ...RATE_LIMIT_RETRY, httpClient };
        // With a key, the client's username is the key SID and `accountSid` puts the account in the paths.
        const client =
            options.apiKey === undefined
                ? twilio(options.accountSid, secret, clientOptions)
                : twilio(options.apiKey.sid, secret, { ...clientOptions, accountSid: options.accountSid });
        cached = { secret, client };
        return client;
    };

    const secrets = (): SecretProvider => {
        if (options.apiKey !== undefined) return options.apiKey.secret;
        if (options.secrets === undefined) {
            throw new ConfigError([
                'Set KEY_VAULT_URL or TWILIO_AUTH_TOKEN (or TWILIO_API_KEY_SID) to call the Twilio REST API',
            ]);
        }
        return options.secrets;
    };

    return {
        async get() {
            return clientFor(await secrets().get());
        },
        async refreshAfterAuthFailure() {
            const before = cached?.secret;
            const secret = await secrets().refresh();
            return secret === before ? undefined : clientFor(secret);
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
