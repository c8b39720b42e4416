/**
 * A call's transcript: what the call simulator did, one step at a time, kept on the call and shown by
 * `GET /sandbox/calls/{sid}` and `npm run call`. Each step carries `at`, the simulated second of the call
 * it happened at (the simulator keeps its own clock: a `<Pause length="3">` moves it 3 s, it does not wait).
 *
 * The text a `<Say>` spoke is here, as Twilio's own call logs keep the TwiML; it is the sandbox's own view
 * and never goes into a log line. Requests are listed by URL without the query (where the parameters of a
 * GET go), with the method and the HTTP status answered.
 */

import type { CalleeOutcome } from './callScript';
import type { SandboxCall } from './resources';
import { sendSignedRequest, type PlannedAttempt, type SignedRequestOutcome } from './signedCallbacks';

/** What a request was for. */
export type RequestPurpose =
    | 'twiml'
    | 'gather-action'
    | 'record-action'
    | 'dial-action'
    | 'redirect'
    | 'whisper'
    | 'status-callback'
    | 'recording-status-callback'
    | 'transcribe-callback';

/** The `DialCallStatus` a `<Dial>` ends with. */
export type DialCallStatus = 'completed' | 'answered' | 'busy' | 'no-answer' | 'failed' | 'canceled';

export type TranscriptStep = { readonly at: number } & (
    | {
          readonly step: 'request';
          readonly purpose: RequestPurpose;
          readonly method: 'GET' | 'POST';
          /** Without the query. */
          readonly url: string;
          /** The HTTP status answered, `null` when no answer came. */
          readonly status: number | null;
          readonly error?: string;
      }
    | { readonly step: 'say'; readonly text: string; readonly loop: number; readonly voice?: string }
    | { readonly step: 'play'; readonly url: string; readonly loop: number }
    | { readonly step: 'play-digits'; readonly digits: string }
    | { readonly step: 'pause'; readonly seconds: number }
    | {
          readonly step: 'gather';
          /** What was entered (`null`: nothing, the next verb runs). */
          readonly digits: string | null;
          /** The `finishOnKey` key that ended it, `''` when `numDigits` or the timeout did. */
          readonly finishedOnKey: string;
          readonly timedOut: boolean;
          readonly note?: string;
      }
    | {
          readonly step: 'dial';
          readonly callees: readonly {
              readonly number: string;
              readonly outcome: CalleeOutcome | 'declined' | 'canceled';
              readonly callSid: string;
          }[];
          readonly dialCallStatus: DialCallStatus;
          readonly dialCallSid: string | null;
          readonly duration: number;
          readonly callerId: string;
      }
    | {
          readonly step: 'conference';
          readonly name: string;
          /** The other calls that joined this room before, with whether they are still in it. */
          readonly participants: readonly { readonly callSid: string; readonly inConference: boolean }[];
          readonly startConferenceOnEnter: boolean;
          /** Whether the conference had started (someone with startConferenceOnEnter is in). */
          readonly started: boolean;
          /** The hold music while it has not started: noted, not fetched. */
          readonly waitUrl: string;
          readonly seconds: number;
      }
    | {
          readonly step: 'record';
          readonly recordingSid: string | null;
          readonly duration: number;
          /** The key that ended it, `hangup`, or `''` (silence, maxLength). */
          readonly digits: string;
          readonly transcribe: boolean;
      }
    | { readonly step: 'redirect'; readonly url: string; readonly method: 'GET' | 'POST' }
    | { readonly step: 'hangup' }
    | { readonly step: 'reject'; readonly reason: string }
    | { readonly step: 'error'; readonly code: number | null; readonly message: string }
    | { readonly step: 'note'; readonly message: string }
    | { readonly step: 'end'; readonly status: string; readonly duration: number }
);

/** A transcript step before its time is stamped. */
export type TranscriptEntry = TranscriptStep extends infer S
    ? S extends TranscriptStep
        ? Omit<S, 'at'>
        : never
    : never;

/** `scheme://host/path`: a URL as the transcript shows it. */
export function withoutQuery(url: string): string {
    try {
        const parsed = new URL(url);
        return `${parsed.origin}${parsed.pathname}`;
    } catch {
        return url;
    }
}

/**
 * {@link sendSignedRequest} for `call`, with the request written to its transcript at second `at`.
 *
 * @throws SandboxClosedError when the sandbox closed while waiting.
 */
export async function transcribedRequest(
    ctx: Parameters<typeof sendSignedRequest>[0],
    call: SandboxCall,
    at: number,
    purpose: RequestPurpose,
    attempt: PlannedAttempt,
    params: Record<string, string>,
): Promise<SignedRequestOutcome> {
    const outcome = await sendSignedRequest(ctx, call, attempt, params);
    call.transcript.push({
        at,
        step: 'request',
        purpose,
        method: attempt.method,
        url: withoutQuery(attempt.url),
        status: 'result' in outcome ? outcome.result.status : null,
        ...('error' in outcome ? { error: outcome.error } : {}),
    });
    return outcome;
}
