/**
 * The app's own URLs: the route of every HTTP function, the URLs the app builds for itself (the API's
 * `Location`, status callbacks, the default voice URL, a twimlet's next step) and the checks that keep a
 * producer or a twimlet's parameters from pointing Twilio at a route that records into the ledger.
 * Nothing else spells `/api/...`: a function registers `ROUTES.<name>`, and a URL is built with
 * {@link appUrl}, so a renamed route or another prefix is one edit here.
 *
 * Routes sit under the Functions host's default `api` prefix (host.json sets no other).
 */

export const ROUTE_PREFIX = 'api';

/** Route templates, as the function files register them (`{name}` is a route parameter). */
export const ROUTES = {
    voice: 'voice',
    sms: 'sms',
    status: 'status',
    messages: 'messages',
    message: 'messages/{id}',
    calls: 'calls',
    /** The API's OpenAPI 3 and Swagger 2.0 (connector) documents: `openapi.json`, `swagger.json`. */
    openApi: 'openapi/{document}',
    twimlet: 'twimlets/{name}',
    /** A call recording's audio, fetched from Twilio (shared/voice/recordings.ts). */
    recording: 'recordings/{sid}',
    /** An inbound MMS's media item `n`, as copied to Blob storage (shared/media/serve.ts). */
    messageMedia: 'messages/{id}/media/{n}',
    /** Opt-outs: the list (GET), and one (PUT, DELETE) by sender and recipient (shared/api/optOuts.ts). */
    optOuts: 'opt-outs',
    optOut: 'opt-outs/{sender}/{recipient}',
} as const;

export type Route = (typeof ROUTES)[keyof typeof ROUTES];

/** The routes Twilio calls, each signature-validated (shared/webhooks/receive.ts). */
export const WEBHOOK_ROUTES: readonly string[] = [ROUTES.voice, ROUTES.sms, ROUTES.status, ROUTES.twimlet];

/**
 * Routes whose signed requests are recorded in the ledger. Twilio signs whatever URL it is given, so a
 * send whose status callback, call URL or media URL pointed here would have Twilio write into records
 * that are not its own.
 */
export const RECORDING_ROUTES: readonly string[] = [ROUTES.status, ROUTES.sms];

/**
 * `base` + `/api/<route>`, with `query` appended (each name and value percent-encoded). A route template's
 * `{name}` parameters are filled from `params`, percent-encoded; a parameter left unfilled throws, since
 * the URL would name no resource.
 */
export function appUrl(
    base: string,
    route: Route,
    query: Record<string, string> = {},
    params: Record<string, string> = {},
): string {
    const path = route.replace(/\{([A-Za-z]+)\}/g, (_, name: string) => {
        const value = params[name];
        if (value === undefined) throw new Error(`appUrl: no value for {${name}} in route ${route}`);
        return encodeURIComponent(value);
    });
    const pairs = Object.entries(query).map(([n, v]) => `${encodeURIComponent(n)}=${encodeURIComponent(v)}`);
    return `${base}/${ROUTE_PREFIX}/${path}${pairs.length === 0 ? '' : `?${pairs.join('&')}`}`;
}

/** Where the app serves a recording's audio: `GET /api/recordings/{sid}` on `origin` (function key). */
export function recordingUrl(origin: string, sid: string): string {
    return appUrl(origin, ROUTES.recording, {}, { sid });
}

/** Where the API answers for one message or call: `GET /api/messages/{id}` on `origin`. */
export function messageUrl(origin: string, id: string): string {
    return appUrl(origin, ROUTES.message, {}, { id });
}

/** Where the API serves media item `n` of inbound message `id`: `GET /api/messages/{id}/media/{n}`. */
export function messageMediaUrl(origin: string, id: string, n: number): string {
    return appUrl(origin, ROUTES.messageMedia, {}, { id, n: String(n) });
}

/** The app's status callback for a message or call id, or undefined when no public URL is known. */
export function statusCallbackUrl(publicBaseUrl: string | undefined, id: string): string | undefined {
    return publicBaseUrl === undefined ? undefined : appUrl(publicBaseUrl, ROUTES.status, { id });
}

/** The app's voice endpoint, for calls placed without url/twiml/say/message. */
export function defaultVoiceUrl(publicBaseUrl: string | undefined): string | undefined {
    return publicBaseUrl === undefined ? undefined : appUrl(publicBaseUrl, ROUTES.voice);
}

// ---- TwiML action URLs ---------------------------------------------------------------------------------
// The voice flows' <Gather> / <Record> / <Dial> `action` URLs go here, built as statusCallbackUrl is: on a
// route added to ROUTES (which the flow's function file registers), absolute on the public base URL,
// because Twilio signs the URL it requests and the webhook check rebuilds it from that base.

/**
 * The route among `routes` (templates: a `{name}` segment matches any one segment) that `url` was
 * requested on, from the last segments of its path (a proxy may add a prefix), compared
 * case-insensitively as the host routes; undefined for any other path.
 */
export function routeOfUrl(url: string, routes: readonly string[]): string | undefined {
    const schemeEnd = url.indexOf('://');
    const pathStart = schemeEnd === -1 ? -1 : url.indexOf('/', schemeEnd + 3);
    const path = pathStart === -1 ? '' : (url.slice(pathStart).split(/[?#]/, 1)[0] ?? '');
    const segments = path
        .split('/')
        .filter((segment) => segment !== '')
        .map((segment) => segment.toLowerCase());
    return routes.find((route) => {
        const template = route.split('/');
        const tail = segments.slice(-template.length);
        return (
            tail.length === template.length &&
            template.every((part, i) => /^\{[A-Za-z]+\}$/.test(part) || part === tail[i])
        );
    });
}

/**
 * A route's name for logs: its segments before the first parameter (`twimlets/{name}` → `twimlets`), so
 * an outcome line never carries text of the request.
 */
export function routeName(route: string): string {
    return route.split('/{', 1)[0] ?? route;
}

/**
 * The base a signed webhook URL was requested on: its origin and any path prefix before `/api/<route>`
 * (`https://apim.example.com/twilio/api/twimlets/forward?…` → `https://apim.example.com/twilio`), so the
 * URLs a step hands Twilio for the next one land where this one was signed. The origin alone when the
 * path holds no `/api/` segment.
 */
export function webhookBase(url: string): string {
    if (!URL.canParse(url)) return url;
    const parsed = new URL(url);
    const segments = parsed.pathname.split('/');
    const api = segments.map((segment) => segment.toLowerCase()).lastIndexOf(ROUTE_PREFIX);
    const prefix = api <= 0 ? '' : segments.slice(0, api).join('/');
    return `${parsed.origin}${prefix}`.replace(/\/+$/, '');
}

/**
 * A value as a query string carries it: `encodeURIComponent`, and `! ' ( ) *` too, so the URL Twilio
 * signs is exactly the one the Functions host hands the function (which would percent-encode `'`).
 */
function queryComponent(value: string): string {
    return encodeURIComponent(value).replace(
        /[!'()*]/g,
        (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
    );
}

/**
 * The URL of the twimlet `name` on `base` (see {@link webhookBase}), with `query` in order (a name may
 * repeat: `PhoneNumbers[]`): what a twimlet's `<Gather action>`, `<Dial action>`, `<Number url>` and
 * `<Redirect>` point at. `query` values must be well-formed UTF-16 (no lone surrogates).
 */
export function twimletUrl(
    base: string,
    name: string,
    query: readonly (readonly [string, string])[] = [],
): string {
    const pairs = query.map(([n, v]) => `${queryComponent(n)}=${queryComponent(v)}`);
    return `${appUrl(base, ROUTES.twimlet, {}, { name })}${pairs.length === 0 ? '' : `?${pairs.join('&')}`}`;
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

/** Routes a URL in a twimlet's parameters may point at on this app: how flows chain. */
const FLOW_TARGETS = [
    new RegExp(`^/${ROUTE_PREFIX}/${ROUTES.voice}$`),
    new RegExp(`^/${ROUTE_PREFIX}/${routeName(ROUTES.twimlet)}/[a-z0-9-]+$`),
];

/**
 * What is wrong with `url` as a URL in a twimlet's parameters (`FailUrl`, `Options[n]`, a `Message` to
 * play, `Music`), or undefined when Twilio may be sent there: an absolute http(s) URL in printable ASCII
 * (no spaces, controls or raw non-ASCII: percent-encode them), which, on one of the app's own origins
 * (`ownBases`, as for {@link pointsAtRecordingRoute}), is the voice route or a twimlet and nothing else —
 * Twilio signs whatever it is sent to, so a parameter pointing at the status or SMS route would have it
 * write into the ledger. The path is compared as a router would: case folded, percent-decoding undone,
 * dot segments resolved; a path on an own origin that cannot be decoded is refused.
 */
export function flowUrlProblem(url: string, ownBases: readonly string[]): string | undefined {
    if (!/^https?:\/\/[\x21-\x7e]+$/i.test(url) || !URL.canParse(url)) {
        return 'is not an http(s) URL in printable ASCII';
    }
    const target = new URL(url);
    if (target.hostname === '') return 'is not an http(s) URL in printable ASCII';
    const key = hostKey(target);
    const path = routePath(target.pathname);
    for (const base of ownBases) {
        if (!URL.canParse(base)) continue;
        const own = new URL(base);
        if (hostKey(own) !== key) continue;
        const prefix = routePath(own.pathname) ?? '';
        if (path !== undefined && prefix !== '' && path !== prefix && !path.startsWith(`${prefix}/`))
            continue;
        const rest = path?.slice(prefix.length);
        if (rest === undefined || !FLOW_TARGETS.some((route) => route.test(rest))) {
            return `points at this app outside /${ROUTE_PREFIX}/${ROUTES.voice} and /${ROUTE_PREFIX}/${ROUTES.twimlet}`;
        }
    }
    return undefined;
}
