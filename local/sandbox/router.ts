/**
 * The REST router: authenticates a request (HTTP Basic with the auth token or an API key), maps its path
 * under `/2010-04-01/Accounts/{AccountSid}` to the resource's handlers, enforces which methods each
 * path answers and what a Standard key may reach, and turns what a handler rejects into Twilio's error
 * JSON (`{ code, message, more_info, status }`, with `Allow` on a 405). List paging is listing.ts's,
 * called by each list handler.
 *
 * A new resource is one row in {@link RESOURCES} (its handlers in a module of its own, see
 * restHandler.ts); a nested one (a call's `Recordings`, for `<Record>`) widens the path pattern here to
 * `…/Calls/{CallSid}/Recordings…` and passes the parent SID on.
 */

import { maskPhone } from '../../shared/platform/redact';
import { callRoutes } from './calls';
import type { SandboxContext } from './context';
import type { Principal } from './credentials';
import { errors, TwilioApiError } from './errors';
import { incomingPhoneNumberRoutes } from './incomingPhoneNumbers';
import { keyRoutes } from './keys';
import { messageRoutes } from './messages';
import { API_VERSION, rfc2822 } from './resources';
import {
    REST_METHODS,
    type Answer,
    type ListHandler,
    type ResourceRoutes,
    type RestMethod,
} from './restHandler';

/** The collections under the account, by the name in their path. */
const RESOURCES: Readonly<Record<string, ResourceRoutes>> = {
    Messages: messageRoutes,
    Calls: callRoutes,
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

interface ResolvedPath {
    readonly pathAccount: string;
    /** `undefined` for the Account resource itself. */
    readonly resource: ResourceRoutes | undefined;
    readonly sid: string | undefined;
}

function resolve(path: string): ResolvedPath | undefined {
    const match = PATH.exec(path);
    if (match === null) return undefined;
    const [, pathAccount = '', collection, sid] = match;
    return { pathAccount, resource: collection === undefined ? undefined : RESOURCES[collection], sid };
}

function handlersOf({ resource, sid }: ResolvedPath): Partial<Record<RestMethod, unknown>> {
    if (resource === undefined) return ACCOUNT_ROUTES;
    return sid === undefined ? resource.list : resource.instance;
}

/** The methods a REST path answers, as its `Allow` header lists them. */
export function allowedMethods(path: string): string {
    const resolved = resolve(path);
    const handlers = resolved === undefined ? ACCOUNT_ROUTES : handlersOf(resolved);
    return REST_METHODS.filter((method) => handlers[method] !== undefined).join(', ');
}

function route(ctx: SandboxContext, principal: Principal, request: IncomingRestRequest): Answer {
    const resolved = resolve(request.path);
    if (resolved === undefined) throw errors.notFound(request.path);
    const { resource, sid } = resolved;
    // A key belongs to one account: the path must name that account, as with the auth token.
    if (resolved.pathAccount !== ctx.accountSid) throw errors.authenticate();
    // Standard keys reach everything but the Account and the Keys (Twilio's rule).
    const standardKey = principal.kind === 'key' && principal.key.type === 'standard';
    if (standardKey && (resource === undefined || resource.mainKeyOnly === true)) throw errors.authenticate();
    if (resource === undefined) return handlerFor(ACCOUNT_ROUTES, request.method)(ctx, request);
    if (sid === undefined) return handlerFor(resource.list, request.method)(ctx, request);
    return handlerFor(resource.instance, request.method)(ctx, request, sid);
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
            incoming_phone_numbers: `${base}/IncomingPhoneNumbers.json`,
            keys: `${base}/Keys.json`,
        },
    };
}
