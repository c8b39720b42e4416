/**
 * The contract between the router and each REST resource's handlers (messages.ts, calls.ts,
 * incomingPhoneNumbers.ts, keys.ts): a resource says which methods its list and its instances answer,
 * and the router derives from that both the dispatch and the 405 / `Allow` answer, so a new resource
 * (a call's Recordings for `<Record>`, Conferences for `<Dial>`) is one module and one row in the
 * router's table. Handlers throw `TwilioApiError` (errors.ts) for what Twilio rejects; the router
 * turns it into Twilio's error JSON.
 */

import type { SandboxContext } from './context';

/** What a handler answers: the status, the JSON body (none for 204) and extra headers. */
export interface Answer {
    status: number;
    body?: unknown;
    headers?: Record<string, string>;
}

/** A REST request as the handlers see it, authenticated and routed. */
export interface RestRequest {
    readonly method: string;
    /** The path without the query, e.g. `/2010-04-01/Accounts/AC…/Messages.json`. */
    readonly path: string;
    readonly query: URLSearchParams;
    /** The form-encoded body (empty for GET). */
    readonly form: URLSearchParams;
}

export type RestMethod = 'GET' | 'POST' | 'DELETE';

/** The methods Twilio serves, in the order an `Allow` header lists them. */
export const REST_METHODS: readonly RestMethod[] = ['GET', 'POST', 'DELETE'];

export type ListHandler = (ctx: SandboxContext, request: RestRequest) => Answer;
export type InstanceHandler = (ctx: SandboxContext, request: RestRequest, sid: string) => Answer;

/** A collection under the account (`…/Messages.json`, `…/Messages/{Sid}.json`). */
export interface ResourceRoutes {
    readonly list: Partial<Record<RestMethod, ListHandler>>;
    readonly instance: Partial<Record<RestMethod, InstanceHandler>>;
    /** Twilio keeps Standard API keys out of some resources (the Keys); they need a Main key or the token. */
    readonly mainKeyOnly?: boolean;
}
