/**
 * The app's own URLs: the routes Twilio calls, the URLs the app hands to Twilio (status callbacks, the
 * default voice URL), and the check that keeps a producer from pointing Twilio at a route that records
 * into the ledger.
 *
 * Routes sit under the Functions host's default `api` prefix (host.json sets no other).
 */

export const ROUTE_PREFIX = 'api';

/** Route templates, as the function files register them. */
export const ROUTES = {
    voice: 'voice',
    sms: 'sms',
    status: 'status',
    messages: 'messages',
    calls: 'calls',
} as const;

/**
 * Routes whose signed requests are recorded in the ledger. Twilio signs whatever URL it is given, so a
 * send whose status callback, call URL or media URL pointed here would have Twilio write into records
 * that are not its own.
 */
export const RECORDING_ROUTES: readonly string[] = [ROUTES.status, ROUTES.sms];

/** `base` + `/api/<route>`, with `query` appended (each name and value percent-encoded). */
export function appUrl(base: string, route: string, query: Record<string, string> = {}): string {
    const pairs = Object.entries(query).map(([n, v]) => `${encodeURIComponent(n)}=${encodeURIComponent(v)}`);
    return `${base}/${ROUTE_PREFIX}/${route}${pairs.length === 0 ? '' : `?${pairs.join('&')}`}`;
}

/** The app's status callback for a message or call id, or undefined when no public URL is known. */
export function statusCallbackUrl(publicBaseUrl: string | undefined, id: string): string | undefined {
    return publicBaseUrl === undefined ? undefined : appUrl(publicBaseUrl, ROUTES.status, { id });
}

/** The app's voice endpoint, for calls placed without url/twiml/say/message. */
export function defaultVoiceUrl(publicBaseUrl: string | undefined): string | undefined {
    return publicBaseUrl === undefined ? undefined : appUrl(publicBaseUrl, ROUTES.voice);
}

const LOOPBACK = /^(?:localhost|127(?:\.\d{1,3}){3}|\[::1\])$/;

/** Host name and port as a connection sees them: loopback names are one host, default ports elided. */
function hostKey(url: URL): string {
    const host = url.hostname.toLowerCase().replace(/\.$/, '');
    return `${LOOPBACK.test(host) ? 'loopback' : host}:${url.port}`;
}

/**
 * A path as a router compares it: percent-decoding undone (the host routes `/api/%73tatus` to
 * `status`), letters folded (routes match case-insensitively), repeated and trailing slashes dropped.
 * Dot segments were already resolved by `new URL`. Undefined when the encoding is malformed.
 */
function routePath(pathname: string): string | undefined {
    let decoded: string;
    try {
        decoded = decodeURIComponent(pathname);
    } catch {
        return undefined;
    }
    return decoded
        .toLowerCase()
        .replace(/\/{2,}/g, '/')
        .replace(/\/+$/, '');
}

/**
 * Whether `url` points at one of {@link RECORDING_ROUTES} on one of the app's own origins (`ownBases`:
 * the public base URL, with its path prefix when it has one). Any scheme counts and the query is ignored:
 * what matters is where Twilio's signed request would land. A URL on an own origin whose path cannot be
 * decoded is treated as pointing here, since no router would serve it as anything else.
 */
export function pointsAtRecordingRoute(url: string, ownBases: readonly string[]): boolean {
    if (ownBases.length === 0 || !URL.canParse(url)) return false;
    const target = new URL(url);
    const key = hostKey(target);
    const path = routePath(target.pathname);
    for (const base of ownBases) {
        if (!URL.canParse(base)) continue;
        const own = new URL(base);
        if (hostKey(own) !== key) continue;
        if (path === undefined) return true;
        const prefix = routePath(own.pathname) ?? '';
        if (RECORDING_ROUTES.some((route) => path === `${prefix}/${ROUTE_PREFIX}/${route}`)) return true;
    }
    return false;
}
