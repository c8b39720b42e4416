/**
 * The HTTP API over the outbound queue and the ledger: Send (enqueue), Get and List — what the Logic Apps
 * Twilio connector offers, with idempotent sends.
 */

import { randomUUID } from 'node:crypto';
import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import type { Ledger, LedgerRecord } from './ledger';
import { LedgerQueryError } from './ledger';
import { isTerminal } from './messageStatus';
import { parseOutbound, summarize, type OutboundRequest, type ParseOptions } from './outboundMessage';

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
}

const ID = /^[A-Za-z0-9._~:-]{1,200}$/;
const DAY = /^\d{4}-\d{2}-\d{2}$/;
export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 1000;

function badRequest(errors: FieldError[]): HttpResponseInit {
    return { status: 400, jsonBody: { error: 'invalid_request', errors } };
}

/**
 * POST /api/messages and /api/calls: validates the request as the queue function will, records it as
 * `queued`, puts it on the queue and answers 202. An `Idempotency-Key` header becomes the id, so a retried
 * POST is recognised: it is not sent twice, and an already-final message is not enqueued again.
 */
export async function acceptOutbound(
    request: HttpRequest,
    kind: 'sms' | 'call',
    deps: MessagesApiDependencies,
): Promise<HttpResponseInit> {
    let body: unknown;
    try {
        body = JSON.parse(await request.text());
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
    const id = key ?? (typeof bodyId === 'string' ? bodyId : randomUUID());
    const parsed = parseOutbound({ ...body, id }, kind, deps.parseOptions);
    if (!parsed.ok) return badRequest(parsed.errors);

    const at = (deps.now ?? (() => new Date()))().toISOString();
    const created = await deps.ledger.create(queuedRecord(id, parsed.value, at));
    let status = 'queued';
    if (created === 'exists') {
        const existing = await deps.ledger.get(id);
        if (existing !== undefined && existing.direction === 'inbound') {
            return badRequest([{ field: 'id', message: 'is already used by an inbound message' }]);
        }
        status = existing?.status ?? status;
        if (
            existing !== undefined &&
            (existing.sid !== undefined || isTerminal(existing.type, existing.status))
        ) {
            return accepted(request, id, status);
        }
    }
    // Enqueued again for a retried POST that was never sent: the queue function sends an id at most once.
    await deps.enqueue(JSON.stringify(parsed.value));
    return accepted(request, id, status);
}

function accepted(request: HttpRequest, id: string, status: string): HttpResponseInit {
    const location = `${new URL(request.url).origin}/api/messages/${encodeURIComponent(id)}`;
    return { status: 202, headers: { Location: location }, jsonBody: { id, status } };
}

function queuedRecord(id: string, request: OutboundRequest, at: string): LedgerRecord {
    return {
        ...summarize(request),
        id,
        direction: 'outbound',
        status: 'queued',
        history: [{ status: 'queued', at, source: 'app' }],
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
        // Round-tripped, because Date.parse quietly turns 2024-02-30 into March 1st.
        if (value !== undefined && (!DAY.test(value) || !isCalendarDay(value))) {
            errors.push({ field: name, message: 'must be a date as YYYY-MM-DD' });
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
            return badRequest([{ field: 'continuationToken', message: error.message }]);
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

function isCalendarDay(value: string): boolean {
    const date = new Date(`${value}T00:00:00Z`);
    return !Number.isNaN(date.getTime()) && date.toISOString().slice(0, 10) === value;
}

/** The record as the API shows it: everything but the internal send claim. */
export function toView(record: LedgerRecord): Record<string, unknown> {
    const { claim: _claim, ...view } = record;
    return view;
}
