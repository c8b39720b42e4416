/**
 * What the API's Send and Get share: the id an `Idempotency-Key` may be, and the 400 that names each
 * field at fault.
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
