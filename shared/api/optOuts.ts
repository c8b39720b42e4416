/**
 * The HTTP API's opt-outs (function key): list them, remove one (the recipient asked to be texted again
 * some other way, or an opt-out was recorded by mistake), and add one by hand (an import from Twilio's
 * opt-out list, a request made by phone).
 *
 * - `GET /api/opt-outs?sender=&recipient=&pageSize=&continuationToken=`: 200 `{optOuts, continuationToken?,
 *   nextPageUrl?}` in key order (sender, then recipient); `pageSize` 1-1000, default 50.
 * - `PUT /api/opt-outs/{sender}/{recipient}`: 201 with the new opt-out (source `api`), or 200 with the one
 *   already recorded (kept as it was: the first opt-out's date and source stay). An optional JSON body
 *   `{"since": "<ISO 8601>"}` dates an imported opt-out.
 * - `DELETE /api/opt-outs/{sender}/{recipient}`: 204, or 404 when there was none.
 *
 * A sender is an E.164 number, a short code or a Messaging Service SID; a recipient an E.164 number
 * (shared/messaging/optOuts.ts). Anything else is a 400 naming the parameter at fault. Phone numbers are the
 * API's to show (it is function-key protected); nothing here logs them.
 *
 * The PUT body is checked by a zod schema ({@link optOutBodySchema}), the one shared/api/openapi.ts writes
 * into the API's documents. zod is `require`d on the first PUT with a body, not when this module loads:
 * the list and remove functions load this module too and need no zod.
 */

import type { z } from 'zod';
import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import {
    canonicalRecipient,
    canonicalSender,
    MAX_OPT_OUT_PAGE_SIZE,
    MSG_BAD_RECIPIENT,
    MSG_BAD_SENDER,
    OptOutQueryError,
    type OptOut,
    type OptOutStore,
} from '../messaging/optOuts';
import { readLimitedBody } from '../platform/httpBody';
import { badRequest, listPage, type FieldError } from './fields';

export const DEFAULT_OPT_OUT_PAGE_SIZE = 50;
/** A PUT body holds one date at most. */
export const MAX_OPT_OUT_BODY_BYTES = 1024;
/** What is wrong with a `since` that is not a time the API takes. */
export const MSG_BAD_SINCE = 'must be an ISO 8601 time from 1970 up to now';
const MSG_UNKNOWN_FIELD = 'is not a field of an opt-out (only since)';

/** `since` as a time from 1970 on: the milliseconds, or NaN (the "up to now" check needs the request's now). */
function sinceMillis(value: string): number {
    return /^\d{4}-\d{2}-\d{2}T/.test(value) ? Date.parse(value) : Number.NaN;
}

function buildBodySchema(zod: typeof z) {
    return zod
        .object({
            since: zod
                .string({ error: MSG_BAD_SINCE })
                .refine((value) => sinceMillis(value) >= 0, { error: MSG_BAD_SINCE })
                // What the refinement checks, as JSON Schema says it (RFC 3339 is the stricter reading).
                .meta({ format: 'date-time' })
                .optional(),
        })
        .strict();
}

let bodySchema: ReturnType<typeof buildBodySchema> | undefined;

/**
 * The zod schema of the PUT body (`{"since"?: "<ISO 8601>"}`, nothing else), loaded on first use; also
 * what the documents' `AddOptOutRequest` is converted from. Not checked here: that `since` is not in the
 * future (it depends on the request's time; {@link addOptOut} checks it with the same message).
 */
export function optOutBodySchema(): ReturnType<typeof buildBodySchema> {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use, not at cold start
    bodySchema ??= buildBodySchema((require('zod') as { z: typeof z }).z);
    return bodySchema;
}

/** The body's fields at fault: unknown fields first (as the API has always listed them), then `since`. */
function bodyErrors(issues: readonly z.core.$ZodIssue[]): FieldError[] {
    const unknown: FieldError[] = [];
    const fields: FieldError[] = [];
    for (const issue of issues) {
        if (issue.code === 'unrecognized_keys') {
            for (const key of issue.keys) unknown.push({ field: key, message: MSG_UNKNOWN_FIELD });
        } else if (!fields.some((e) => e.field === String(issue.path[0]))) {
            fields.push({ field: String(issue.path[0] ?? '(body)'), message: issue.message });
        }
    }
    return [...unknown, ...fields];
}

/** GET /api/opt-outs: opt-outs filtered by sender and/or recipient, paged. */
export async function listOptOuts(request: HttpRequest, store: OptOutStore): Promise<HttpResponseInit> {
    const query = request.query;
    const errors: FieldError[] = [];
    const sender = query.get('sender') ?? undefined;
    if (sender !== undefined && canonicalSender(sender) === undefined) {
        errors.push({ field: 'sender', message: MSG_BAD_SENDER });
    }
    const recipient = query.get('recipient') ?? undefined;
    if (recipient !== undefined && canonicalRecipient(recipient) === undefined) {
        errors.push({ field: 'recipient', message: MSG_BAD_RECIPIENT });
    }
    let pageSize = DEFAULT_OPT_OUT_PAGE_SIZE;
    const size = query.get('pageSize');
    if (size !== null) {
        pageSize = /^\d{1,4}$/.test(size) ? Number(size) : NaN;
        if (!(pageSize >= 1 && pageSize <= MAX_OPT_OUT_PAGE_SIZE)) {
            errors.push({
                field: 'pageSize',
                message: `must be a whole number from 1 to ${String(MAX_OPT_OUT_PAGE_SIZE)}`,
            });
        }
    }
    const continuationToken = query.get('continuationToken') ?? undefined;
    if (errors.length > 0) return badRequest(errors);

    let page;
    try {
        page = await store.list({
            ...(sender === undefined ? {} : { sender }),
            ...(recipient === undefined ? {} : { recipient }),
            pageSize,
            ...(continuationToken === undefined ? {} : { continuationToken }),
        });
    } catch (error) {
        if (error instanceof OptOutQueryError)
            return badRequest([{ field: error.field, message: error.message }]);
        throw error;
    }
    return listPage(request.url, 'optOuts', page.items.map(toView), page.continuationToken);
}

/** The route's `{sender}` and `{recipient}`, canonical, or the 400 naming the one at fault. */
function pathAddresses(
    params: Readonly<Record<string, string | undefined>>,
): { ok: true; sender: string; recipient: string } | { ok: false; response: HttpResponseInit } {
    const sender = canonicalSender(params.sender);
    const recipient = canonicalRecipient(params.recipient);
    const errors: FieldError[] = [];
    if (sender === undefined) errors.push({ field: 'sender', message: MSG_BAD_SENDER });
    if (recipient === undefined) errors.push({ field: 'recipient', message: MSG_BAD_RECIPIENT });
    return sender === undefined || recipient === undefined
        ? { ok: false, response: badRequest(errors) }
        : { ok: true, sender, recipient };
}

/** DELETE /api/opt-outs/{sender}/{recipient}: 204 when removed, 404 when there was none. */
export async function removeOptOut(
    params: Readonly<Record<string, string | undefined>>,
    store: OptOutStore,
): Promise<HttpResponseInit> {
    const path = pathAddresses(params);
    if (!path.ok) return path.response;
    const removed = await store.remove(path.sender, path.recipient);
    if (removed === 'absent') {
        return {
            status: 404,
            jsonBody: { error: 'not_found', sender: path.sender, recipient: path.recipient },
        };
    }
    return { status: 204 };
}

/**
 * PUT /api/opt-outs/{sender}/{recipient}: records an opt-out (source `api`); 201 with it, or 200 with the
 * one already recorded. The body, when there is one, is `{"since": "<ISO 8601 time>"}` (not in the future).
 */
export async function addOptOut(
    request: HttpRequest,
    store: OptOutStore,
    now: () => Date = () => new Date(),
): Promise<HttpResponseInit> {
    const path = pathAddresses(request.params);
    if (!path.ok) return path.response;
    const read = await readLimitedBody(request, MAX_OPT_OUT_BODY_BYTES);
    if (!read.ok) return read.response;
    const at = now();
    let since = at.toISOString();
    if (read.text.trim() !== '') {
        let body: unknown;
        try {
            body = JSON.parse(read.text);
        } catch {
            return badRequest([{ field: '(body)', message: 'must be a JSON object, or empty' }]);
        }
        if (typeof body !== 'object' || body === null || Array.isArray(body)) {
            return badRequest([{ field: '(body)', message: 'must be a JSON object, or empty' }]);
        }
        const parsed = optOutBodySchema().safeParse(body);
        if (!parsed.success) return badRequest(bodyErrors(parsed.error.issues));
        const errors: FieldError[] = [];
        if (parsed.data.since !== undefined) {
            const ms = sinceMillis(parsed.data.since);
            if (ms > at.getTime()) errors.push({ field: 'since', message: MSG_BAD_SINCE });
            else since = new Date(ms).toISOString();
        }
        if (errors.length > 0) return badRequest(errors);
    }
    const optOut: OptOut = { sender: path.sender, recipient: path.recipient, since, source: 'api' };
    const added = await store.add(optOut);
    if (added === 'created') return { status: 201, jsonBody: toView(optOut) };
    const existing = await store.get(path.sender, path.recipient);
    // Removed between the two requests: what this request asked for is then not recorded; say so plainly.
    if (existing === undefined) return { status: 409, jsonBody: { error: 'changed_concurrently' } };
    return { status: 200, jsonBody: toView(existing) };
}

/** An opt-out as the API shows it. */
export function toView(optOut: OptOut): Record<string, unknown> {
    return { ...optOut };
}
