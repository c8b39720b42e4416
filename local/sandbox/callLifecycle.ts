/**
 * A call's life after it is created: dialled (the `initiated` event; the resource stays `queued`) →
 * `ringing` → answered or not, as its script says (callScript.ts: a sandbox-only To number, or the script
 * of a simulated inbound call) → its first TwiML fetched and checked (callTwiml.ts) → `in-progress`, the
 * TwiML run by the call simulator (callSimulator.ts) → `completed`, with the simulated duration. A pause
 * comes before each status step. Status callbacks go out for the events the call asked for, with
 * Twilio's sequence numbers, each one also written to the call's transcript.
 *
 * How it can end otherwise:
 * - not answered: `busy`, `no-answer` (after the call's `Timeout`), `failed` or `canceled`, with no
 *   TwiML fetched; the `completed` callback carries Twilio's `SipResponseCode` for it (486, 487, 404,
 *   487);
 * - the first TwiML cannot be used: `failed`, with the debugger error (11200, 12100, 12300);
 * - the first verb is `<Reject>`: `busy` or `no-answer`, never answered;
 * - a later error (an action that cannot be fetched, a verb not simulated, a bound passed): the call is
 *   hung up, `completed`, with the error on the call and in its transcript, as Twilio's debugger keeps it.
 *
 * An answering machine (`machine` in the script) answers like a person; with `MachineDetection` the
 * requests carry `AnsweredBy=machine_start` (`machine_end_beep` with `DetectMessageEnd`), else `human`.
 * A call made with `Record=true` leaves a Recording of the whole call, reported in the `completed`
 * callback (`RecordingUrl`, `RecordingSid`, `RecordingDuration`).
 */

import { runLeg, type LegEnd } from './callSimulator';
import { scriptCursor } from './callScript';
import { withoutQuery } from './callTranscript';
import { callParams, callTwiml } from './callTwiml';
import { shortSid, type SandboxContext } from './context';
import { newRecording, recordingUrl, type SandboxRecording } from './recordings';
import { rfc2822, type CallCallbackStatus, type CallStatus, type SandboxCall } from './resources';
import { sendSignedRequest } from './signedCallbacks';

/** The events a call's `StatusCallbackEvent` may ask for, in the order they happen. */
export const CALL_EVENTS = ['initiated', 'ringing', 'answered', 'completed'] as const;

export type CallEvent = (typeof CALL_EVENTS)[number];

/** The SIP response Twilio reports in the final callback, by how the call ended. */
const SIP_RESPONSE: Partial<Record<CallStatus, string>> = {
    completed: '200',
    busy: '486',
    'no-answer': '487',
    canceled: '487',
    failed: '404',
};

/** Runs `call` through its statuses in the background. */
export function startCallLifecycle(ctx: SandboxContext, call: SandboxCall): void {
    ctx.lifecycles.start(`call ${shortSid(call.sid)}`, () => runCall(ctx, call));
}

/**
 * Status callbacks report `initiated` for `initiated`, `in-progress` for `answered`, and for `completed`
 * whichever way the call ended. An inbound call starts ringing: it has no `initiated` step.
 */
export async function runCall(ctx: SandboxContext, call: SandboxCall): Promise<void> {
    const { lifecycles } = ctx;
    await lifecycles.pause();
    call.startTime = new Date();
    call.dateUpdated = call.startTime;
    if (call.direction !== 'inbound') {
        ctx.log(`sandbox: ${shortSid(call.sid)} initiated`);
        await callStatusCallback(ctx, call, 'initiated');
        await lifecycles.pause();
        setCallStatus(ctx, call, 'ringing');
        await callStatusCallback(ctx, call, 'ringing');
        await lifecycles.pause();
    }

    const answer = call.script.answer ?? 'answered';
    if (answer === 'busy' || answer === 'failed' || answer === 'canceled' || answer === 'no-answer') {
        await endCall(ctx, call, answer, 0);
        return;
    }
    if (call.machineDetection !== null) {
        call.answeredBy =
            answer !== 'machine'
                ? 'human'
                : call.machineDetection === 'DetectMessageEnd'
                  ? 'machine_end_beep'
                  : 'machine_start';
    }
    const first = await callTwiml(ctx, call);
    if (!first.ok) {
        fail(ctx, call, first.failure.code, first.failure.message);
        await endCall(ctx, call, 'failed', 0);
        return;
    }
    const leg = { call, cursor: scriptCursor(call.script), seconds: 0 };
    const budget = { steps: 1 };
    // <Reject> as the first verb refuses the call before it is answered.
    const firstVerb =
        first.document.kind === 'twiml'
            ? first.document.root.children.find((c) => typeof c !== 'string')
            : undefined;
    let end: LegEnd | undefined;
    if (firstVerb !== undefined && typeof firstVerb !== 'string' && firstVerb.name === 'Reject') {
        end = await runLeg(ctx, leg, budget, first, { answered: false });
        if (end.how === 'rejected') {
            await endCall(ctx, call, end.status, 0);
            return;
        }
    }
    setCallStatus(ctx, call, 'in-progress');
    await callStatusCallback(ctx, call, 'answered');
    end ??= await runLeg(ctx, leg, budget, first, { answered: true });
    if (end.how === 'error') {
        // The TwiML's own error steps are in the transcript already; a failed fetch or a bound is not.
        if (call.transcript.at(-1)?.step !== 'error') {
            call.transcript.push({ at: leg.seconds, step: 'error', code: end.code, message: end.message });
        }
        fail(ctx, call, end.code, end.message);
    }
    await lifecycles.pause();
    await endCall(ctx, call, 'completed', Math.max(1, leg.seconds));
}

function fail(ctx: SandboxContext, call: SandboxCall, code: number | null, message: string): void {
    call.errorCode = code;
    call.errorMessage = message;
    // The messages name no URL or number: the debugger's reason, or the sandbox's own.
    ctx.log(`sandbox: ${shortSid(call.sid)} error ${code === null ? '(sandbox)' : String(code)}: ${message}`);
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
    call.conference = null;
    if (call.record && status === 'completed') {
        const recording = newRecording(ctx, call.sid, duration, 'OutboundAPI');
        ctx.store.recordings.add(recording);
        callRecordings.set(call, recording);
    }
    setCallStatus(ctx, call, status);
    call.transcript.push({ at: duration, step: 'end', status, duration });
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
    if (event === 'completed') Object.assign(params, completedParams(ctx, call));
    const outcome = await sendSignedRequest(
        ctx,
        call,
        { kind: 'status-callback', url: call.statusCallback, method: call.statusCallbackMethod, status },
        params,
    );
    call.transcript.push({
        at: event === 'completed' ? (call.duration ?? 0) : 0,
        step: 'request',
        purpose: 'status-callback',
        method: call.statusCallbackMethod,
        url: withoutQuery(call.statusCallback),
        status: 'result' in outcome ? outcome.result.status : null,
        ...('error' in outcome ? { error: outcome.error } : {}),
    });
}

/** The recording a `Record=true` call left, for its `completed` callback. */
const callRecordings = new WeakMap<SandboxCall, SandboxRecording>();

/**
 * What the `completed` callback adds: `CallDuration` (seconds), `Duration` (whole minutes, rounded up,
 * on a completed call), the `SipResponseCode` of the outcome (not for a TwiML failure), and the
 * recording of a `Record=true` call.
 */
function completedParams(ctx: SandboxContext, call: SandboxCall): Record<string, string> {
    const seconds = call.duration ?? 0;
    const params: Record<string, string> = { CallDuration: String(seconds) };
    if (call.status === 'completed') params.Duration = String(Math.ceil(seconds / 60));
    const sip = SIP_RESPONSE[call.status];
    if (sip !== undefined && !(call.status === 'failed' && call.errorCode !== null))
        params.SipResponseCode = sip;
    const recording = callRecordings.get(call);
    if (recording !== undefined) {
        params.RecordingUrl = recordingUrl(ctx, recording);
        params.RecordingSid = recording.sid;
        params.RecordingDuration = String(recording.duration);
    }
    return params;
}
