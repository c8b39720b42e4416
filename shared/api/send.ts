/**
 * The HTTP API's Send: POST /api/messages and /api/calls validate a request as the queue function will,
 * record it and put it on the outbound queue, with idempotent sends — the Logic Apps Twilio connector's
 * Send Message, for SMS/MMS and calls.
 *
 * Every send request that gets an id logs one outcome line (shared/platform/outcomes.ts) with that id and the route:
 * `accepted` (202), `conflict` (422), `in-progress` (409) or `queue-unavailable` (503). A 400 names its
 * fields to the client and records nothing, so it logs nothing.
 */

import { randomUUID } from 'node:crypto';
import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import { readLimitedBody } from '../platform/httpBody';
import type { Ledger, LedgerRecord } from '../ledger/contract';
import { newRecord } from '../ledger/rules';
import { applyStatus } from '../ledger/status';
import {
    parseOutbound,
    requestFingerprint,
    summarize,
    type OutboundRequest,
    type ParseOptions,
} from '../outbound/message';
import { parseOptions } from '../outbound/pipeline';
import type { AppDependencies } from '../platform/dependencies';
import { outcomeLine, subjectOf, type OutcomeAction } from '../platform/outcomes';
import { messageUrl, ROUTES } from '../platform/routes';
import { API_ID, badRequest } from './fields';

export interface SendDependencies {
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

/** A storage queue message holds at most 64 KiB, so no larger request could be enqueued. */
export const MAX_API_BODY_BYTES = 64 * 1024;
export const DEFAULT_ACCEPT_LEASE_MS = 30_000;
/** Seconds a client is asked to wait before retrying a request that is still being accepted. */
const RETRY_AFTER_SECONDS = '2';

function keyReused(id: string, message: string): HttpResponseInit {
    return { status: 422, jsonBody: { error: 'idempotency_key_reused', id, message } };
}

/** POST /api/messages: an SMS/MMS, answered as {@link sendOutbound} describes. */
export function sendMessage(request: HttpRequest, deps: SendDependencies): Promise<HttpResponseInit> {
    return sendOutbound(request, 'sms', deps);
}

/** POST /api/calls: a call, answered as {@link sendOutbound} describes. */
export function sendCall(request: HttpRequest, deps: SendDependencies): Promise<HttpResponseInit> {
    return sendOutbound(request, 'call', deps);
}

/**
 * What a send needs, from the app's services: its ledger and queue, and the sender defaults and default
 * call URL from its settings.
 */
export function sendDependencies(
    app: AppDependencies,
    log: NonNullable<SendDependencies['log']>,
): SendDependencies {
    return {
        ledger: app.ledger(),
        enqueue: app.enqueueOutbound,
        parseOptions: parseOptions(app.config),
        log,
    };
}

/**
 * Validates the request as the queue function will, records it, puts it on the queue and answers 202
 * with `Location` set to where GET /api/messages/{id} answers for it.
 *
 * An `Idempotency-Key` header becomes the id, with the IETF `Idempotency-Key` draft's meaning: the same
 * key with the same request (its {@link requestFingerprint}) answers 202 with the id and its current
 * status and is sent once; the same key with another request (body, recipient, kind, …) answers 422; while
 * the first request with that key is still being put on the queue, 409. The record is written first, as
 * `accepting`, and becomes `queued` once the queue has the message; when the queue cannot be reached the
 * record says so and the answer is 503, and a retry with the same key and request enqueues it once.
 */
async function sendOutbound(
    request: HttpRequest,
    kind: 'sms' | 'call',
    deps: SendDependencies,
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
        if (!API_ID.test(key)) {
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
    const location = messageUrl(new URL(request.url).origin, id);
    return { status: 202, headers: { Location: location }, jsonBody: { id, status } };
}

function acceptingRecord(
    id: string,
    request: OutboundRequest,
    fingerprint: string,
    acceptLease: { token: string; until: string },
    now: Date,
): LedgerRecord {
    return newRecord(
        {
            ...summarize(request),
            id,
            direction: 'outbound',
            status: 'accepting',
            source: 'app',
            fingerprint,
            acceptLease,
        },
        now,
    );
}
