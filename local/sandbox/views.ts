/**
 * The sandbox's own views, outside Twilio's API and without auth: `GET /sandbox/messages`,
 * `/sandbox/calls`, `/sandbox/phone-numbers` and `/sandbox/requests` show everything it received and
 * did, newest first, with each resource's status history and callbacks, and each number's updates.
 *
 * `GET /sandbox/calls/{CallSid}` shows one call with its transcript (what the call simulator did: each
 * verb, the digits gathered, the callees dialled, the recordings, each request and callback), and
 * `POST /sandbox/calls` places a simulated inbound call (the one view that changes anything, so it takes
 * the account's Basic auth).
 */

import type { SandboxContext } from './context';
import { InboundCallError, parseInboundCall, placeInboundCall } from './inboundCalls';
import { phoneNumberResource } from './phoneNumbers';
import { callResource, messageResource, type SandboxCall, type SandboxMessage } from './resources';
import type { Answer } from './restHandler';

/** A request under `/sandbox`, as the server read it. */
export interface ViewRequest {
    readonly method: string;
    readonly path: string;
    /** The body as text (JSON for `POST /sandbox/calls`). */
    readonly body: string;
    readonly contentType: string;
    readonly authorization: string | undefined;
}

const CALL_PATH = /^\/sandbox\/calls\/(CA[0-9a-fA-F]{32})$/;

/** Answers a request under `/sandbox`. */
export async function sandboxView(ctx: SandboxContext, request: ViewRequest): Promise<Answer> {
    const { method, path } = request;
    if (method === 'POST' && path === '/sandbox/calls') return placeCall(ctx, request);
    if (method !== 'GET') return { status: 405, body: { message: 'Method not allowed' } };
    const single = CALL_PATH.exec(path);
    if (single !== null) {
        const call = ctx.store.calls.find(single[1] ?? '');
        return call === undefined
            ? { status: 404, body: { message: `No call ${single[1] ?? ''}` } }
            : { status: 200, body: callView(call) };
    }
    const { store } = ctx;
    if (path === '/sandbox/messages') {
        return { status: 200, body: { messages: store.messages.newestFirst().map(messageView) } };
    }
    if (path === '/sandbox/calls')
        return { status: 200, body: { calls: store.calls.newestFirst().map(callView) } };
    if (path === '/sandbox/phone-numbers') {
        return {
            status: 200,
            body: {
                phone_numbers: store.phoneNumbers.oldestFirst().map((n) => ({
                    ...phoneNumberResource(n),
                    updates: n.updates,
                })),
            },
        };
    }
    if (path === '/sandbox/requests') {
        return {
            status: 200,
            body: {
                requests: store
                    .requests()
                    .reverse()
                    .map((r) => ({
                        ...r,
                        query: Object.fromEntries(r.query),
                        form: Object.fromEntries(r.form),
                    })),
            },
        };
    }
    return { status: 404, body: { message: `No sandbox view at ${path}` } };
}

/**
 * `POST /sandbox/calls`: a simulated inbound call (inboundCalls.ts), for a process that has no handle on
 * the sandbox (`npm run call`). It places calls into the app with the account's signature, so it takes
 * the account's credentials (Basic auth, as the REST API does). Answers once the call has ended: 200 with
 * the call's view and transcript; 400 naming what is wrong; 401 without credentials.
 */
async function placeCall(ctx: SandboxContext, request: ViewRequest): Promise<Answer> {
    if (ctx.store.authenticate(request.authorization) === undefined) {
        return { status: 401, body: { message: 'POST /sandbox/calls takes the account’s Basic auth' } };
    }
    if (!request.contentType.startsWith('application/json')) {
        return { status: 415, body: { message: 'POST /sandbox/calls takes application/json' } };
    }
    let body: unknown;
    try {
        body = JSON.parse(request.body) as unknown;
    } catch {
        return { status: 400, body: { message: 'the body is not JSON' } };
    }
    const parsed = parseInboundCall(body);
    if (!parsed.ok) return { status: 400, body: { message: parsed.error } };
    try {
        const call = await placeInboundCall(ctx, parsed.value);
        return { status: 200, body: callView(call) };
    } catch (error) {
        if (error instanceof InboundCallError) return { status: 400, body: { message: error.message } };
        throw error;
    }
}

/** A message as Twilio's resource, with what only the sandbox knows: its callback and history. */
export function messageView(message: SandboxMessage): Record<string, unknown> {
    return {
        ...messageResource(message),
        media_urls: message.mediaUrls,
        status_callback: message.statusCallback,
        history: message.history,
        callbacks: message.callbacks,
    };
}

/** A call as Twilio's resource, with the request that made it, its history and callbacks. */
export function callView(call: SandboxCall): Record<string, unknown> {
    return {
        ...callResource(call),
        url: call.url,
        method: call.method,
        twiml: call.twiml,
        status_callback: call.statusCallback,
        status_callback_method: call.statusCallbackMethod,
        status_callback_event: call.statusCallbackEvents,
        timeout: call.timeout,
        record: call.record,
        machine_detection: call.machineDetection,
        error_code: call.errorCode,
        error_message: call.errorMessage,
        history: call.history,
        callbacks: call.callbacks,
        transcript: call.transcript,
    };
}
