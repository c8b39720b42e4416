/**
 * An outbound call's life after it is created: dialled (the `initiated` event; the resource stays
 * `queued`) → `ringing` → answered, its TwiML fetched and checked (callTwiml.ts) → `in-progress` →
 * `completed`, a pause before each step. Status callbacks go out for the events the call asked for, with
 * Twilio's sequence numbers; a TwiML failure ends the call `failed` with the debugger error.
 *
 * The next issues extend {@link runCall} at two marked points:
 * - Ringing: whether the call is answered. Calls ending `busy`, `no-answer` (after `timeout`) or
 *   `failed` end there through {@link endCall}, with no TwiML fetched.
 * - In progress: today the call hangs up after one pause. The call simulator runs the checked TwiML
 *   there (`<Say>`, `<Gather>`, `<Dial>`, `<Record>`, `<Redirect>`, in a module of its own) and the call
 *   completes when the document ends or says `<Hangup>`.
 */

import { callParams, callTwiml } from './callTwiml';
import { shortSid, type SandboxContext } from './context';
import { rfc2822, type CallCallbackStatus, type CallStatus, type SandboxCall } from './resources';
import { sendSignedRequest } from './signedCallbacks';

/** The events a call's `StatusCallbackEvent` may ask for, in the order they happen. */
export const CALL_EVENTS = ['initiated', 'ringing', 'answered', 'completed'] as const;

export type CallEvent = (typeof CALL_EVENTS)[number];

/** Runs `call` through its statuses in the background. */
export function startCallLifecycle(ctx: SandboxContext, call: SandboxCall): void {
    ctx.lifecycles.start(`call ${shortSid(call.sid)}`, () => runCall(ctx, call));
}

/**
 * Status callbacks report `initiated` for `initiated`, `in-progress` for `answered`, and for `completed`
 * whichever way the call ended.
 */
export async function runCall(ctx: SandboxContext, call: SandboxCall): Promise<void> {
    const { lifecycles } = ctx;
    await lifecycles.pause();
    call.startTime = new Date();
    call.dateUpdated = call.startTime;
    ctx.log(`sandbox: ${shortSid(call.sid)} initiated`);
    await callStatusCallback(ctx, call, 'initiated');
    await lifecycles.pause();
    setCallStatus(ctx, call, 'ringing');
    await callStatusCallback(ctx, call, 'ringing');
    await lifecycles.pause();

    // Ringing: answered, always (busy / no-answer / failed outcomes go here).
    if (call.machineDetection !== null) call.answeredBy = 'human';
    const failure = await callTwiml(ctx, call);
    if (failure !== undefined) {
        call.errorCode = failure.code;
        call.errorMessage = failure.message;
        ctx.log(`sandbox: ${shortSid(call.sid)} error ${String(failure.code)}: ${failure.message}`);
        await endCall(ctx, call, 'failed', 0);
        return;
    }
    setCallStatus(ctx, call, 'in-progress');
    const answeredAt = Date.now();
    await callStatusCallback(ctx, call, 'answered');
    // In progress: the call simulator runs the TwiML here.
    await lifecycles.pause();
    const ended = Date.now();
    await endCall(ctx, call, 'completed', Math.max(1, Math.round((ended - answeredAt) / 1000)), ended);
}

/** Ends the call with `status` after `duration` seconds, and reports the `completed` event. */
export async function endCall(
    ctx: SandboxContext,
    call: SandboxCall,
    status: CallStatus,
    duration: number,
    endedAt = Date.now(),
): Promise<void> {
    call.endTime = new Date(endedAt);
    call.duration = duration;
    setCallStatus(ctx, call, status);
    await callStatusCallback(ctx, call, 'completed');
}

/** Moves the call's REST status to `status`, in its history and `date_updated`. */
export function setCallStatus(ctx: SandboxContext, call: SandboxCall, status: CallStatus): void {
    const now = new Date();
    call.status = status;
    call.dateUpdated = now;
    call.history.push({ status, at: now });
    ctx.log(`sandbox: ${shortSid(call.sid)} ${status}`);
}

/** Reports `event` to the call's `StatusCallback` when the call asked for it. */
export async function callStatusCallback(
    ctx: SandboxContext,
    call: SandboxCall,
    event: CallEvent,
): Promise<void> {
    if (call.statusCallback === null || !call.statusCallbackEvents.includes(event)) return;
    const sent = call.callbacks.filter((attempt) => attempt.kind === 'status-callback').length;
    // The callback says `initiated` while the REST resource still says `queued`.
    const status: CallCallbackStatus = event === 'initiated' ? 'initiated' : call.status;
    const params: Record<string, string> = {
        ...callParams(call),
        CallStatus: status,
        CallbackSource: 'call-progress-events',
        SequenceNumber: String(sent),
        Timestamp: rfc2822(new Date()),
    };
    if (event === 'completed') params.CallDuration = String(call.duration ?? 0);
    await sendSignedRequest(
        ctx,
        call,
        { kind: 'status-callback', url: call.statusCallback, method: call.statusCallbackMethod, status },
        params,
    );
}
