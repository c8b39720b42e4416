/**
 * Twilio's rate limit, played on purpose: with the `rateLimit` option every n-th create (Messages and
 * Calls `POST …/Messages.json`, `…/Calls.json`, counted together in the order they arrive) is answered
 * HTTP 429 with Twilio's `{"code":20429,"message":"Too Many Requests",…}` and creates nothing, as Twilio
 * answers an account over its concurrency. A fixed pattern, not a random share, so a test can count
 * exactly what was sent and retried.
 *
 * Twilio documents no `Retry-After` on its 429s (its SDKs back off exponentially), so none is sent unless
 * `retryAfterSeconds` asks for one, to exercise a client that honours it (this app's pipeline does).
 *
 * The router wraps the Messages and Calls routes with {@link rateLimitedCreates}, so neither resource
 * knows about it; the counter lives on the context ({@link CreateRateLimiter}).
 */

import { shortSid, type SandboxContext } from './context';
import { errors } from './errors';
import type { Answer, ResourceRoutes } from './restHandler';

/** Which creates are refused: `every` 3 refuses the 3rd, 6th, 9th, …; 1 refuses all of them. */
export interface RateLimitOptions {
    every: number;
    /** Sent as `Retry-After` (seconds) on each 429; default: no header, as Twilio. */
    retryAfterSeconds?: number | undefined;
}

/** The counter of creates, kept on the context. */
export interface CreateRateLimiter {
    /** Counts one create; true when this one is refused. */
    refuse(): boolean;
    readonly retryAfterSeconds: number | undefined;
}

const MAX_RETRY_AFTER_SECONDS = 86_400;

/**
 * The limiter for `options`, or `undefined` without them.
 *
 * @throws Error naming the option when `every` is not a whole number ≥ 1 or `retryAfterSeconds` is not
 *   a whole number of seconds up to a day.
 */
export function createRateLimiter(options: RateLimitOptions | undefined): CreateRateLimiter | undefined {
    if (options === undefined) return undefined;
    const { every, retryAfterSeconds } = options;
    if (!Number.isSafeInteger(every) || every < 1)
        throw new Error('rateLimit.every must be a whole number ≥ 1');
    if (
        retryAfterSeconds !== undefined &&
        (!Number.isSafeInteger(retryAfterSeconds) ||
            retryAfterSeconds < 0 ||
            retryAfterSeconds > MAX_RETRY_AFTER_SECONDS)
    ) {
        throw new Error('rateLimit.retryAfterSeconds must be a whole number of seconds, 0 to 86400');
    }
    let creates = 0;
    return {
        retryAfterSeconds,
        refuse() {
            creates = (creates + 1) % every;
            return creates === 0;
        },
    };
}

/** `routes` with its create (the list's POST) answered 429 whenever the context's limiter says so. */
export function rateLimitedCreates(routes: ResourceRoutes): ResourceRoutes {
    const create = routes.list.POST;
    if (create === undefined) return routes;
    return {
        ...routes,
        list: {
            ...routes.list,
            POST: (ctx, request) =>
                ctx.rateLimit?.refuse() === true ? tooManyRequests(ctx, request.path) : create(ctx, request),
        },
    };
}

function tooManyRequests(ctx: SandboxContext, path: string): Answer {
    const error = errors.tooManyRequests();
    const retryAfter = ctx.rateLimit?.retryAfterSeconds;
    // The path names the account and the collection only; the account as log lines show SIDs.
    const shown = path.replace(/AC[0-9a-fA-F]{32}/, (sid) => shortSid(sid));
    ctx.log(`sandbox: POST ${shown} → 429, error ${String(error.code)} (rateLimit)`);
    return {
        status: error.status,
        body: error.toJSON(),
        ...(retryAfter === undefined ? {} : { headers: { 'Retry-After': String(retryAfter) } }),
    };
}

/**
 * The `rateLimit` option from `npm start`'s environment: `SANDBOX_RATE_LIMIT_EVERY` (n: every n-th create
 * is refused) and, with it, `SANDBOX_RATE_LIMIT_RETRY_AFTER` (seconds); `undefined` when the first is unset
 * or empty.
 *
 * @throws Error naming the variable when a value is not a whole number in range.
 */
export function rateLimitFromEnv(env: NodeJS.ProcessEnv): RateLimitOptions | undefined {
    const every = env.SANDBOX_RATE_LIMIT_EVERY ?? '';
    if (every === '') return undefined;
    const whole = (name: string, text: string, min: number, max: number): number => {
        const value = Number(text);
        if (!/^\d+$/.test(text) || value < min || value > max) {
            throw new Error(
                `${name} must be a whole number from ${String(min)} to ${String(max)} (got "${text}")`,
            );
        }
        return value;
    };
    const retryAfter = env.SANDBOX_RATE_LIMIT_RETRY_AFTER ?? '';
    return {
        every: whole('SANDBOX_RATE_LIMIT_EVERY', every, 1, 1_000_000),
        retryAfterSeconds:
            retryAfter === ''
                ? undefined
                : whole('SANDBOX_RATE_LIMIT_RETRY_AFTER', retryAfter, 0, MAX_RETRY_AFTER_SECONDS),
    };
}
