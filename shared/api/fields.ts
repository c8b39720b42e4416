/**
 * What the API's operations share: the id an `Idempotency-Key` may be, the 400 that names each field
 * at fault, and the 200 of a list page.
 */

import type { HttpResponseInit } from '@azure/functions';
import { MAX_REPORTED_ERRORS } from '../outbound/message';

export interface FieldError {
    field: string;
    message: string;
}

/** An API id: what a client may send as `Idempotency-Key` or `id`, and so all GET /api/messages/{id} can find. */
export const API_ID = /^[A-Za-z0-9._~:-]{1,200}$/;

/** 400 `invalid_request` with the first {@link MAX_REPORTED_ERRORS} errors (and their count when more). */
export function badRequest(errors: readonly FieldError[]): HttpResponseInit {
    const body: Record<string, unknown> = {
        error: 'invalid_request',
        errors: errors.slice(0, MAX_REPORTED_ERRORS),
    };
    if (errors.length > MAX_REPORTED_ERRORS) body.errorCount = errors.length;
    return { status: 400, jsonBody: body };
}

/**
 * 200 with a list page: its items under `key`, and when more follow, the continuation token and
 * `nextPageUrl` (the request's URL with that token), so a client (a Logic App's pagination) can follow it.
 */
export function listPage(
    requestUrl: string,
    key: string,
    items: readonly unknown[],
    continuationToken: string | undefined,
): HttpResponseInit {
    const body: Record<string, unknown> = { [key]: items };
    if (continuationToken !== undefined) {
        const next = new URL(requestUrl);
        next.searchParams.set('continuationToken', continuationToken);
        body.continuationToken = continuationToken;
        body.nextPageUrl = next.toString();
    }
    return { status: 200, jsonBody: body };
}
