/**
 * `<Record>` in the call simulator. How the recording goes comes from the call's script: its length
 * (at most `maxLength`, default 3600) and how it ends — a key (when `finishOnKey`, default
 * `1234567890*#`, has it), the caller hanging up, or `timeout` seconds of silence (default 5). Each
 * recording is a Recording resource (recordings.ts) that the sandbox serves behind Basic auth.
 *
 * Then, in the order Twilio makes them:
 * 1. the `action` (default: this document) with `RecordingUrl`, `RecordingSid`, `RecordingDuration` and
 *    `Digits` (the key, `hangup`, or none); its TwiML runs next — unless the caller hung up, when the
 *    call is over and the answer is ignored. An empty recording (0 s) requests no action: the next verb
 *    runs, as Twilio documents.
 * 2. `recordingStatusCallback` for each `recordingStatusCallbackEvent` asked (default `completed`;
 *    `in-progress`, `absent` for an empty one), with Twilio's recording parameters.
 * 3. `transcribeCallback` (when `transcribe="true"` or a callback is given) with `TranscriptionText` =
 *    {@link SANDBOX_TRANSCRIPTION}, `TranscriptionStatus=completed` (Twilio transcribes 2–120 s
 *    recordings; outside that `failed`, without text), `TranscriptionSid`, `RecordingSid`, `RecordingUrl`.
 */

import {
    actionRequest,
    integer,
    methodOf,
    resolveUrl,
    write,
    type VerbContext,
    type VerbResult,
} from './callSteps';
import { callParams } from './callTwiml';
import { transcribedRequest } from './callTranscript';
import { shortSid } from './context';
import { newRecording, recordingUrl, type SandboxRecording } from './recordings';
import { API_VERSION, newSid, rfc2822 } from './resources';
import type { XmlElement } from './twiml';

/** The text every sandbox transcription has: the sandbox hears no one. */
export const SANDBOX_TRANSCRIPTION = 'This is a sandbox transcription: the Twilio sandbox records no audio.';

const MIN_TRANSCRIBED_SECONDS = 2;
const MAX_TRANSCRIBED_SECONDS = 120;

/** Runs `<Record>`. */
export async function runRecord(verbCtx: VerbContext, verb: XmlElement): Promise<VerbResult> {
    const { leg, ctx } = verbCtx;
    const call = leg.call;
    const input = leg.cursor.nextRecord();
    const maxLength = integer(verb.attributes.maxLength, 3600, 1, 86_400);
    const timeout = integer(verb.attributes.timeout, 5, 0, 600);
    const finishOnKey = verb.attributes.finishOnKey ?? '1234567890*#';
    const duration = Math.min(input.seconds, maxLength);
    const hungUp = input.end === 'hangup';
    const digits = hungUp
        ? 'hangup'
        : input.end.length === 1 && finishOnKey.includes(input.end) && duration < maxLength
          ? input.end
          : '';
    const transcribe =
        verb.attributes.transcribe?.toLowerCase() === 'true' ||
        verb.attributes.transcribeCallback !== undefined;
    const events = (verb.attributes.recordingStatusCallbackEvent ?? 'completed').split(/[\s,]+/);
    const statusCallback = verb.attributes.recordingStatusCallback;

    leg.seconds += duration + (digits === '' && duration < maxLength ? timeout : 0);
    if (duration === 0) {
        write(leg, { step: 'record', recordingSid: null, duration: 0, digits, transcribe: false });
        if (statusCallback !== undefined && events.includes('absent')) {
            await recordingCallback(verbCtx, verb, statusCallback, undefined, 'absent');
        }
        return hungUp ? { kind: 'end', end: { how: 'caller-hung-up' } } : { kind: 'next' };
    }

    const recording = newRecording(ctx, call.parentCallSid ?? call.sid, duration);
    ctx.store.recordings.add(recording);
    ctx.log(`sandbox: ${shortSid(call.sid)} recorded ${shortSid(recording.sid)} (${String(duration)} s)`);
    write(leg, { step: 'record', recordingSid: recording.sid, duration, digits, transcribe });
    const recordingParams = {
        RecordingUrl: recordingUrl(ctx, recording),
        RecordingSid: recording.sid,
        RecordingDuration: String(duration),
        ...(digits === '' ? {} : { Digits: digits }),
    };
    if (statusCallback !== undefined && events.includes('in-progress')) {
        await recordingCallback(verbCtx, verb, statusCallback, recording, 'in-progress');
    }

    const action = actionRequest(verbCtx, verb, 'record-action', recordingParams);
    let next: VerbResult = action;
    if (hungUp && action.kind === 'fetch') {
        // The caller is gone: Twilio still requests the action, and ignores what it answers.
        await transcribedRequest(
            ctx,
            call,
            leg.seconds,
            'record-action',
            { kind: 'twiml', url: action.url, method: action.method, status: 'completed' },
            { ...action.params, CallStatus: 'completed' },
        );
        next = { kind: 'end', end: { how: 'caller-hung-up' } };
    } else if (action.kind === 'fetch') {
        next = { ...action, after: () => afterAction(verbCtx, verb, recording, transcribe, events) };
        return next;
    }
    await afterAction(verbCtx, verb, recording, transcribe, events);
    return next;
}

/** The recording's callbacks, once the action has been requested. */
async function afterAction(
    verbCtx: VerbContext,
    verb: XmlElement,
    recording: SandboxRecording,
    transcribe: boolean,
    events: readonly string[],
): Promise<void> {
    const statusCallback = verb.attributes.recordingStatusCallback;
    if (statusCallback !== undefined && events.includes('completed')) {
        await recordingCallback(verbCtx, verb, statusCallback, recording, 'completed');
    }
    if (transcribe) await transcriptionCallback(verbCtx, verb, recording);
}

async function recordingCallback(
    verbCtx: VerbContext,
    verb: XmlElement,
    target: string,
    recording: SandboxRecording | undefined,
    status: 'in-progress' | 'completed' | 'absent',
): Promise<void> {
    const { ctx, leg } = verbCtx;
    const url = resolveUrl(target, verbCtx.documentUrl);
    if (url === undefined) return;
    const params: Record<string, string> = {
        AccountSid: ctx.accountSid,
        CallSid: leg.call.parentCallSid ?? leg.call.sid,
        RecordingSid: recording?.sid ?? '',
        RecordingUrl: recording === undefined ? '' : recordingUrl(ctx, recording),
        RecordingStatus: status,
        RecordingDuration: status === 'completed' ? String(recording?.duration ?? 0) : '0',
        RecordingChannels: '1',
        RecordingStartTime: rfc2822(recording?.startTime ?? new Date()),
        RecordingSource: 'RecordVerb',
        ErrorCode: '0',
    };
    await transcribedRequest(
        ctx,
        leg.call,
        leg.seconds,
        'recording-status-callback',
        {
            kind: 'status-callback',
            url,
            method: methodOf(verb.attributes.recordingStatusCallbackMethod),
            status,
        },
        params,
    );
}

async function transcriptionCallback(
    verbCtx: VerbContext,
    verb: XmlElement,
    recording: SandboxRecording,
): Promise<void> {
    const { ctx, leg } = verbCtx;
    const target = verb.attributes.transcribeCallback;
    if (target === undefined) return;
    const url = resolveUrl(target, verbCtx.documentUrl);
    if (url === undefined) return;
    const sid = newSid('TR');
    const transcribed =
        recording.duration >= MIN_TRANSCRIBED_SECONDS && recording.duration <= MAX_TRANSCRIBED_SECONDS;
    const params: Record<string, string> = {
        ...callParams(leg.call),
        CallStatus: leg.call.status,
        TranscriptionSid: sid,
        TranscriptionStatus: transcribed ? 'completed' : 'failed',
        ...(transcribed ? { TranscriptionText: SANDBOX_TRANSCRIPTION } : {}),
        TranscriptionUrl: `${ctx.url}/${API_VERSION}/Accounts/${ctx.accountSid}/Transcriptions/${sid}`,
        RecordingSid: recording.sid,
        RecordingUrl: recordingUrl(ctx, recording),
        url: recordingUrl(ctx, recording),
    };
    await transcribedRequest(
        ctx,
        leg.call,
        leg.seconds,
        'transcribe-callback',
        { kind: 'status-callback', url, method: 'POST', status: params.TranscriptionStatus ?? 'completed' },
        params,
    );
}
