/**
 * The HTTP API over the outbound queue and the ledger: Send (enqueue), Get and List — what the Logic Apps
 * Twilio connector offers, with idempotent sends.
 *
 * Every send request that gets an id logs one outcome line (shared/platform/outcomes.ts) with that id and the route:
 * `accepted` (202), `conflict` (422), `in-progress` (409) or `queue-unavailable` (503). A 400 names its
 * fields to the client and records nothing, so it logs nothing.
 */

import { randomUUID } from 'node:crypto';
import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import { readLimitedBody } from '../platform/httpBody';
import type { Ledger, LedgerRecord, ListQueryField } from '../ledger/table';
import { LedgerQueryError } from '../ledger/table';
import { applyStatus } from '../ledger/status';
import {
    MAX_REPORTED_ERRORS,
    parseOutbound,
    requestFingerprint,
    summarize,
    type OutboundRequest,
    type ParseOptions,
} from '../outbound/message';
import { outcomeLine, subjectOf, type OutcomeAction } from '../platform/outcomes';
import { ROUTES } from '../platform/routes';

export interface FieldError {
    field: string;
    message: string;
}

export interface MessagesApiDependencies {
    ledger: Ledger;
    /** Sender defaults and default call URL, so a request that cannot be sent is refused with a 400. */
    parseOptions: ParseOptions;
    /** Puts one message (JSON text) on the outbound queue. */
    enqueue: (text: string) => Promise<void>;
    now?: () => Date;
    /** How long a POST may take to put its request on the queue before a retry may take over. */
    acceptLeaseMs?: number;
    log?: { log(...args: unknown[]): void; warn(...args: unknown[]): void };
}

const ID = /^[A-Za-z0-9._~:-]{1,200}$/;
const DAY = /^\d{4}-\d{2}-\d{2}$/;
export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 1000;
/** A storage queue message holds at most 64 KiB, so no larger request could be enqueued. */
export const MAX_API_BODY_BYTES = 64 * 1024;
export const DEFAULT_ACCEPT_LEASE_MS = 30_000;
/** Seconds a client is asked to wait before retrying a request that is still being accepted. */
const RETRY_AFTER_SECONDS = '2';

function badRequest(errors: readonly FieldError[]): HttpResponseInit {
    const body: Record<string, unknown> = {
        error: 'invalid_request',
        errors: errors.slice(0, MAX_REPORTED_ERRORS),
    };
    if (errors.length > MAX_REPORTED_ERRORS) body.errorCount = errors.length;
    return { status: 400, jsonBody: body };
}

function keyReused(id: string, message: string): HttpResponseInit {
    return { status: 422, jsonBody: { error: 'idempotency_key_reused', id, message } };
}

/**
 * POST /api/messages and /api/calls: validates the request as the queue function will, records it, puts
 * it on the queue and answers 202.
 *
 * An `Idempotency-Key` header becomes the id, with the IETF `Idempotency-Key` draft's meaning: the same
 * key with the same request (its {@link requestFingerprint}) answers 202 with the id and its current
 * status and is sent once; the same key with another request (body, recipient, kind, …) answers 422; while
 * the first request with that key is still being put on the queue, 409. The record is written first, as
 * `accepting`, and becomes `queued` once the queue has the message; when the queue cannot be reached the
 * record says so and the answer is 503, and a retry with the same key and request enqueues it once.
 */
export async function acceptOutbound(
    request: HttpRequest,
    kind: 'sms' | 'call',
    deps: MessagesApiDependencies,
): Promise<HttpResponseInit> {
    const read = await readLimitedBody(request, MAX_API_BODY_BYTES);
    if (!read.ok) return read.response;
    let body: unknown;
    try {
        body = JSON.parse(read.text);
    } catch {
        return badRequest([{ field: '(body)', message: 'must be a JSON object' }]);
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
        return badRequest([{ field: '(body)', message: 'must be a JSON object' }]);
    }
    const key = request.headers.get('idempotency-key');
    const bodyId = (body as { id?: unknown }).id;
    if (key !== null) {
        if (!ID.test(key)) {
            return badRequest([
                { field: 'Idempotency-Key', message: 'must be 1-200 of A-Z a-z 0-9 . _ ~ : -' },
            ]);
        }
        if (bodyId !== undefined && bodyId !== key) {
            return badRequest([{ field: 'id', message: 'differs from the Idempotency-Key header' }]);
        }
    }
    if ((body as { fingerprint?: unknown }).fingerprint !== undefined) {
        return badRequest([{ field: 'fingerprint', message: 'is set by the API, not by the client' }]);
    }
    const id = key ?? (typeof bodyId === 'string' ? bodyId : randomUUID());
    const parsed = parseOutbound({ ...body, id }, kind, deps.parseOptions);
    if (!parsed.ok) return badRequest(parsed.errors);
    const route = kind === 'call' ? ROUTES.calls : ROUTES.messages;
    const outcome = (action: OutcomeAction, status?: string) => {
        const line = outcomeLine({ event: `${subjectOf(kind)}.${action}`, id, status, route });
        if (action === 'accepted') deps.log?.log(line);
        else deps.log?.warn(line);
    };
    const answer = (status: string) => {
        outcome('accepted', status);
        return accepted(request, id, status);
    };

    const fingerprint = requestFingerprint(parsed.value);
    const message: OutboundRequest = { ...parsed.value, fingerprint };
    const now = deps.now ?? (() => new Date());
    const leaseMs = deps.acceptLeaseMs ?? DEFAULT_ACCEPT_LEASE_MS;
    const lease = { token: randomUUID(), until: new Date(now().getTime() + leaseMs).toISOString() };

    const created = await deps.ledger.create(acceptingRecord(id, message, fingerprint, lease, now()));
    if (created === 'exists') {
        const existing = await deps.ledger.get(id);
        if (existing === undefined) throw new Error(`The ledger has no record ${id} after a conflict`);
        const sameRequest = isSameRequest(existing, message, fingerprint);
        if (sameRequest !== true) {
            outcome('conflict');
            return keyReused(id, sameRequest);
        }
        if (existing.status !== 'accepting') return answer(existing.status);
        // Accepted before but never confirmed on the queue: take over, unless that POST is still at it.
        const taken = await deps.ledger.update(id, (current) =>
            current?.status === 'accepting' && !leaseIsLive(current.acceptLease, now())
                ? { ...current, acceptLease: lease }
                : undefined,
        );
        if (taken?.acceptLease?.token !== lease.token) {
            if (taken !== undefined && taken.status !== 'accepting') return answer(taken.status);
            outcome('in-progress');
            return {
                status: 409,
                headers: { 'Retry-After': RETRY_AFTER_SECONDS },
                jsonBody: {
                    error: 'request_in_progress',
                    id,
                    message: 'a request with this Idempotency-Key is still being accepted; retry shortly',
                },
            };
        }
    }

    try {
        await deps.enqueue(JSON.stringify(message));
    } catch (error) {
        // The error's name and code only: a storage SDK message can quote the request URL.
        const reason = describeEnqueueError(error);
        await deps.ledger
            .update(id, (current) =>
                current?.acceptLease?.token === lease.token
                    ? {
                          ...current,
                          acceptLease: undefined,
                          errorMessage: `not yet on the outbound queue (${reason}); retry the request with the same Idempotency-Key`,
                      }
                    : undefined,
            )
            .catch(() => undefined);
        outcome('queue-unavailable');
        return {
            status: 503,
            headers: { 'Retry-After': '5' },
            jsonBody: {
                error: 'queue_unavailable',
                id,
                message: 'the request was recorded but not queued; retry it with the same Idempotency-Key',
            },
        };
    }
    // Confirmed on the queue. If this write fails the message is still sent: the queue function claims an
    // `accepting` record as it does a `queued` one.
    const confirmed = await deps.ledger
        .update(id, (current) => {
            if (current?.acceptLease?.token !== lease.token) return undefined;
            const next = { ...current, acceptLease: undefined, errorMessage: undefined };
            return current.status === 'accepting'
                ? (applyStatus(next, { status: 'queued', at: now().toISOString(), source: 'app' }) ?? next)
                : next;
        })
        .catch(() => undefined);
    return answer(confirmed === undefined || confirmed.status === 'accepting' ? 'queued' : confirmed.status);
}

/**
 * Whether `existing` was created for the same request: `true`, or why not. A record from before
 * fingerprints were kept is compared on what it holds (kind and recipient).
 */
function isSameRequest(existing: LedgerRecord, message: OutboundRequest, fingerprint: string): true | string {
    if (existing.direction === 'inbound') return 'this id is already used by an inbound message';
    if (existing.type !== message.type) {
        return `this Idempotency-Key was used for a ${existing.type === 'call' ? 'call' : 'message'}`;
    }
    const same =
        existing.fingerprint === undefined
            ? existing.to === message.to
            : existing.fingerprint === fingerprint;
    return same
        ? true
        : 'this Idempotency-Key was used for another request (body, recipient or options differ)';
}

function describeEnqueueError(error: unknown): string {
    const name = error instanceof Error ? error.name : typeof error;
    const code = (error as { code?: unknown } | null)?.code;
    const status = (error as { statusCode?: unknown } | null)?.statusCode;
    return [
        name,
        typeof code === 'string' ? code : '',
        typeof status === 'number' ? `HTTP ${String(status)}` : '',
    ]
        .filter((part) => part !== '')
        .join(' ')
        .slice(0, 100);
}

function leaseIsLive(lease: LedgerRecord['acceptLease'], now: Date): boolean {
    return lease !== undefined && Date.parse(lease.until) > now.getTime();
}

function accepted(request: HttpRequest, id: string, status: string): HttpResponseInit {
    const location = `${new URL(request.url).origin}/api/messages/${encodeURIComponent(id)}`;
    return { status: 202, headers: { Location: location }, jsonBody: { id, status } };
}

function acceptingRecord(
    id: string,
    request: OutboundRequest,
    fingerprint: string,
    acceptLease: { token: string; until: string },
    now: Date,
): LedgerRecord {
    const at = now.toISOString();
    return {
        ...summarize(request),
        id,
        direction: 'outbound',
        status: 'accepting',
        fingerprint,
        acceptLease,
        history: [{ status: 'accepting', at, source: 'app' }],
        attempts: 0,
        createdAt: at,
        updatedAt: at,
    };
}

/** GET /api/messages/{id}: the ledger record, or 404. */
export async function getMessage(id: string, ledger: Ledger): Promise<HttpResponseInit> {
    if (!ID.test(id)) return { status: 404, jsonBody: { error: 'not_found', id } };
    const record = await ledger.get(id);
    if (record === undefined) return { status: 404, jsonBody: { error: 'not_found', id } };
    return { status: 200, jsonBody: toView(record) };
}

/**
 * GET /api/messages: the connector's List Messages filters (`to`, `from`, `dateSent`, `dateSentBefore`,
 * `dateSentAfter` as YYYY-MM-DD, `pageSize`), newest first, with a continuation token for the next page.
 */
export async function listMessages(request: HttpRequest, ledger: Ledger): Promise<HttpResponseInit> {
    const query = request.query;
    const errors: FieldError[] = [];
    const day = (name: string): string | undefined => {
        const value = query.get(name) ?? undefined;
        // Round-tripped, because Date.parse quietly turns 2024-02-30 into March 1st; nothing in the ledger
        // is older than 1970.
        if (value !== undefined && (!DAY.test(value) || value < '1970' || !isCalendarDay(value))) {
            errors.push({
                field: name,
                message: 'must be a date as YYYY-MM-DD, from 1970-01-01 to 9999-12-31',
            });
            return undefined;
        }
        return value;
    };
    const dateSent = day('dateSent');
    const before = day('dateSentBefore');
    const after = day('dateSentAfter');
    if (dateSent !== undefined && (before !== undefined || after !== undefined)) {
        errors.push({
            field: 'dateSent',
            message: 'cannot be combined with dateSentBefore or dateSentAfter',
        });
    }
    let pageSize = DEFAULT_PAGE_SIZE;
    const size = query.get('pageSize');
    if (size !== null) {
        pageSize = /^\d+$/.test(size) ? Number(size) : NaN;
        if (!(pageSize >= 1 && pageSize <= MAX_PAGE_SIZE)) {
            errors.push({ field: 'pageSize', message: `must be a whole number from 1 to ${MAX_PAGE_SIZE}` });
        }
    }
    const address = (name: string): string | undefined => {
        const value = query.get(name) ?? undefined;
        if (value !== undefined && (value === '' || value.length > 256)) {
            errors.push({ field: name, message: 'must be 1-256 characters' });
            return undefined;
        }
        return value;
    };
    const to = address('to');
    const from = address('from');
    const continuationToken = query.get('continuationToken') ?? undefined;
    if (errors.length > 0) return badRequest(errors);

    let page;
    try {
        page = await ledger.list({
            ...(to === undefined ? {} : { to }),
            ...(from === undefined ? {} : { from }),
            ...((dateSent ?? after) === undefined ? {} : { dateFrom: dateSent ?? after }),
            ...((dateSent ?? before) === undefined ? {} : { dateTo: dateSent ?? before }),
            pageSize,
            ...(continuationToken === undefined ? {} : { continuationToken }),
        });
    } catch (error) {
        if (error instanceof LedgerQueryError) {
            return badRequest([
                { field: apiField(error.field, dateSent !== undefined), message: error.message },
            ]);
        }
        throw error;
    }
    const body: Record<string, unknown> = { messages: page.items.map(toView) };
    if (page.continuationToken !== undefined) {
        const next = new URL(request.url);
        next.searchParams.set('continuationToken', page.continuationToken);
        body.continuationToken = page.continuationToken;
        body.nextPageUrl = next.toString();
    }
    return { status: 200, jsonBody: body };
}

/** The API's name for a ledger query field: `dateFrom` / `dateTo` come from one of three parameters. */
function apiField(field: ListQueryField, byDateSent: boolean): string {
    if (field === 'dateFrom') return byDateSent ? 'dateSent' : 'dateSentAfter';
    if (field === 'dateTo') return byDateSent ? 'dateSent' : 'dateSentBefore';
    return field;
}

function isCalendarDay(value: string): boolean {
    const date = new Date(`${value}T00:00:00Z`);
    return !Number.isNaN(date.getTime()) && date.toISOString().slice(0, 10) === value;
}

/**
 * The record as the API shows it: everything but the internal send claim and accept lease, and the
 * request fingerprint (a hash of the content, bodies included).
 */
export function toView(record: LedgerRecord): Record<string, unknown> {
    const { claim: _claim, acceptLease: _lease, fingerprint: _fingerprint, ...view } = record;
    return view;
}
