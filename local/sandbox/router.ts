/**
 * The REST router: authenticates a request (HTTP Basic with the auth token or an API key), maps its path
 * under `/2010-04-01/Accounts/{AccountSid}` to the resource's handlers, enforces which methods each
 * path answers and what a Standard key may reach, and turns what a handler rejects into Twilio's error
 * JSON (`{ code, message, more_info, status }`, with `Allow` on a 405). List paging is listing.ts's,
 * called by each list handler.
 *
 * A new resource is one row in {@link RESOURCES} (its handlers in a module of its own, see
 * restHandler.ts). Paths outside the `{Collection}/{Sid}.json` pattern are resolved before it, with their
 * SIDs bound into the handlers: the Recordings (recordings.ts), whose audio has no `.json` extension, and
 * a call's `Calls/{CallSid}/Recordings…`.
 */

import { maskPhone } from '../../shared/platform/redact';
import { callRoutes } from './calls';
import type { SandboxContext } from './context';
import type { Principal } from './credentials';
import { errors, TwilioApiError } from './errors';
import { incomingPhoneNumberRoutes } from './incomingPhoneNumbers';
import { keyRoutes } from './keys';
import { resolveMedia } from './media';
import { messageRoutes } from './messages';
import { answerRecording, listRecordings, type RecordingFormat } from './recordings';
import { rateLimitedCreates } from './rateLimit';
import { API_VERSION, rfc2822 } from './resources';
import {
    REST_METHODS,
    type Answer,
    type ListHandler,
    type ResourceRoutes,
    type RestMethod,
    type RestRequest,
} from './restHandler';

/** The collections under the account, by the name in their path. */
const RESOURCES: Readonly<Record<string, ResourceRoutes>> = {
    // The sandbox's `rateLimit` option refuses a share of both creates (rateLimit.ts).
    Messages: rateLimitedCreates(messageRoutes),
    Calls: rateLimitedCreates(callRoutes),
    IncomingPhoneNumbers: incomingPhoneNumberRoutes,
    Keys: keyRoutes,
};

const ACCOUNT_ROUTES: Partial<Record<RestMethod, ListHandler>> = {
    GET: (ctx) => ({ status: 200, body: accountResource(ctx.accountSid) }),
};

const PATH = new RegExp(
    `^/${API_VERSION}/Accounts/([^/]+?)(?:/(${Object.keys(RESOURCES).join('|')})(?:/([^/]+?))?)?\\.json$`,
);

/** A REST request as it arrived, before authentication. */
export interface IncomingRestRequest {
    readonly method: string;
    /** The path without the query. */
    readonly path: string;
    readonly query: URLSearchParams;
    readonly form: URLSearchParams;
    /** The `Authorization` header, if any. */
    readonly authorization: string | undefined;
}

/** Answers a REST request: the handler's answer, or Twilio's error JSON for what it rejects. */
export function answerRestRequest(ctx: SandboxContext, request: IncomingRestRequest): Answer {
    const { method, path } = request;
    try {
        const principal = ctx.store.authenticate(request.authorization);
        if (principal === undefined) throw errors.authenticate();
        return route(ctx, principal, request);
    } catch (error) {
        if (!(error instanceof TwilioApiError)) throw error;
        const answer: Answer = { status: error.status, body: error.toJSON() };
        if (error.status === 405) answer.headers = { Allow: allowedMethods(path) };
        // The code only: Twilio's messages quote the request's values (numbers, URLs).
        const shown = path.replace(/(?<![\dA-Za-z])\+?\d{7,}(?![\dA-Za-z])/g, (digits) => maskPhone(digits));
        ctx.log(`sandbox: ${method} ${shown} → ${String(error.status)}, error ${String(error.code)}`);
        return answer;
    }
}

type BoundHandler = (ctx: SandboxContext, request: RestRequest) => Answer;

interface ResolvedPath {
    readonly pathAccount: string;
    /** Whether a Standard key is kept out (the Account itself, the Keys). */
    readonly mainKeyOnly: boolean;
    /** What the path answers, by method, with its SIDs bound. */
    readonly handlers: Partial<Record<RestMethod, BoundHandler>>;
}

// A recording's metadata (`.json`) or audio (no extension, `.wav`, `.mp3`); a call's recordings.
const RECORDING_PATH = new RegExp(
    `^/${API_VERSION}/Accounts/([^/]+?)/Recordings/([^/.]+?)(\\.json|\\.wav|\\.mp3)?$`,
);
const RECORDINGS_PATH = new RegExp(
    `^/${API_VERSION}/Accounts/([^/]+?)/(?:Calls/([^/]+?)/)?Recordings\\.json$`,
);
const CALL_RECORDING_PATH = new RegExp(
    `^/${API_VERSION}/Accounts/([^/]+?)/Calls/([^/]+?)/Recordings/([^/]+?)\\.json$`,
);

function resolve(path: string): ResolvedPath | undefined {
    // A message's Media before Messages: its paths are deeper than `{Collection}/{Sid}.json` (media.ts).
    return resolveMedia(path) ?? resolveRecordings(path) ?? resolveResource(path);
}

function resolveResource(path: string): ResolvedPath | undefined {
    const match = PATH.exec(path);
    if (match === null) return undefined;
    const [, pathAccount = '', collection, sid] = match;
    if (collection === undefined) return { pathAccount, mainKeyOnly: true, handlers: ACCOUNT_ROUTES };
    const resource = RESOURCES[collection];
    if (resource === undefined) return undefined;
    const mainKeyOnly = resource.mainKeyOnly === true;
    if (sid === undefined) return { pathAccount, mainKeyOnly, handlers: resource.list };
    const handlers: Partial<Record<RestMethod, BoundHandler>> = {};
    for (const method of REST_METHODS) {
        const handler = resource.instance[method];
        if (handler !== undefined) handlers[method] = (ctx, request) => handler(ctx, request, sid);
    }
    return { pathAccount, mainKeyOnly, handlers };
}

function resolveRecordings(path: string): ResolvedPath | undefined {
    const list = RECORDINGS_PATH.exec(path);
    if (list !== null) {
        const [, pathAccount = '', callSid] = list;
        const handlers = {
            GET: (ctx: SandboxContext, request: RestRequest) => listRecordings(ctx, request, callSid),
        };
        return { pathAccount, mainKeyOnly: false, handlers };
    }
    const nested = CALL_RECORDING_PATH.exec(path);
    const single = nested === null ? RECORDING_PATH.exec(path) : null;
    if (nested === null && single === null) return undefined;
    const [pathAccount = '', sid = '', extension = ''] =
        nested === null ? (single ?? []).slice(1) : [nested[1], nested[3], '.json'];
    const format: RecordingFormat = extension === '.json' ? 'json' : extension === '.mp3' ? 'mp3' : 'wav';
    const answer: BoundHandler = (ctx, request) => answerRecording(ctx, request, sid, format);
    const handlers: Partial<Record<RestMethod, BoundHandler>> =
        format === 'json' ? { GET: answer, DELETE: answer } : { GET: answer };
    return { pathAccount, mainKeyOnly: false, handlers };
}

/** The methods a REST path answers, as its `Allow` header lists them. */
export function allowedMethods(path: string): string {
    const handlers = resolve(path)?.handlers ?? ACCOUNT_ROUTES;
    return REST_METHODS.filter((method) => handlers[method] !== undefined).join(', ');
}

function route(ctx: SandboxContext, principal: Principal, request: IncomingRestRequest): Answer {
    const resolved = resolve(request.path);
    if (resolved === undefined) throw errors.notFound(request.path);
    // A key belongs to one account: the path must name that account, as with the auth token.
    if (resolved.pathAccount !== ctx.accountSid) throw errors.authenticate();
    // Standard keys reach everything but the Account and the Keys (Twilio's rule).
    const standardKey = principal.kind === 'key' && principal.key.type === 'standard';
    if (standardKey && resolved.mainKeyOnly) throw errors.authenticate();
    return handlerFor(resolved.handlers, request.method)(ctx, request);
}

/** The handler for `method`. @throws TwilioApiError 405 (20004) when the path does not answer it. */
function handlerFor<H>(handlers: Partial<Record<RestMethod, H>>, method: string): H {
    const known = REST_METHODS.find((candidate) => candidate === method);
    const handler = known === undefined ? undefined : handlers[known];
    if (handler === undefined) throw errors.methodNotAllowed();
    return handler;
}

/** The Account resource, as used to check credentials. */
function accountResource(accountSid: string): Record<string, unknown> {
    const base = `/${API_VERSION}/Accounts/${accountSid}`;
    const created = rfc2822(new Date(0));
    return {
        sid: accountSid,
        owner_account_sid: accountSid,
        friendly_name: 'Twilio sandbox',
        status: 'active',
        type: 'Full',
        date_created: created,
        date_updated: created,
        uri: `${base}.json`,
        subresource_uris: {
            messages: `${base}/Messages.json`,
            calls: `${base}/Calls.json`,
            recordings: `${base}/Recordings.json`,
            incoming_phone_numbers: `${base}/IncomingPhoneNumbers.json`,
            keys: `${base}/Keys.json`,
        },
    };
}
