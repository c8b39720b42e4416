/**
 * The sandbox's own views, outside Twilio's API and without auth: `GET /sandbox/messages`,
 * `/sandbox/calls`, `/sandbox/phone-numbers` and `/sandbox/requests` show everything it received and
 * did, newest first, with each resource's status history and callbacks, and each number's updates.
 *
 * What the call simulator records (the verbs a call ran, the digits gathered, the recordings) shows
 * here as more fields of {@link callView}, or as a view of its own.
 */

import type { SandboxContext } from './context';
import { phoneNumberResource } from './phoneNumbers';
import { callResource, messageResource, type SandboxCall, type SandboxMessage } from './resources';
import type { Answer } from './restHandler';

/** Answers a request under `/sandbox`. */
export function sandboxView(ctx: SandboxContext, method: string, path: string): Answer {
    if (method !== 'GET') return { status: 405, body: { message: 'Method not allowed' } };
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
    };
}
