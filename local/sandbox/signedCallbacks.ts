/**
 * The requests Twilio makes back to the app about a resource, signed with `X-Twilio-Signature`: status
 * callbacks and fetches of a call's TwiML `Url`. Each attempt is recorded on the resource (its
 * `callbacks`, shown by the views) and logged with its outcome; the wire format and the signing are
 * callbacks.ts's.
 *
 * A request that gets no answer is an outcome, not an error: the lifecycle reads it and carries on (a
 * message still moves on, a call fails with 11200). Only closing the sandbox stops a lifecycle here.
 * The call simulator's requests (`<Gather>` / `<Record>` `action`, `<Redirect>`, `<Dial>` callbacks)
 * and retries of failed callbacks go through {@link sendSignedRequest} too, as one more
 * `CallbackAttempt` kind when they need telling apart.
 */

import {
    describeRequestError,
    loggableUrl,
    sendTwilioRequest,
    type TwilioParams,
    type TwilioRequestResult,
} from './callbacks';
import { shortSid, type SandboxContext } from './context';
import { SandboxClosedError } from './lifecycleScheduler';
import type { CallbackAttempt } from './resources';

/** What to request, before it is made. */
export interface PlannedAttempt {
    readonly kind: CallbackAttempt['kind'];
    readonly url: string;
    readonly method: 'GET' | 'POST';
    /** The `MessageStatus` / `CallStatus` the request carries. */
    readonly status: string;
}

/** The app's answer, or why none came (refused, timed out, …). */
export type SignedRequestOutcome = { result: TwilioRequestResult } | { error: string };

/**
 * Sends one signed request for `record` and records the attempt on it.
 *
 * @throws SandboxClosedError when the sandbox closed while waiting; never otherwise.
 */
export async function sendSignedRequest(
    ctx: SandboxContext,
    record: { readonly sid: string; readonly callbacks: CallbackAttempt[] },
    attempt: PlannedAttempt,
    params: TwilioParams,
): Promise<SignedRequestOutcome> {
    const at = new Date();
    const label = attempt.kind === 'twiml' ? 'TwiML request' : `status callback ${attempt.status}`;
    const target = `${attempt.method} ${loggableUrl(attempt.url)}`;
    const { signal } = ctx.lifecycles;
    try {
        const result = await sendTwilioRequest({
            url: attempt.url,
            method: attempt.method,
            params,
            authToken: ctx.authToken,
            fetch: ctx.fetch,
            signal,
        });
        record.callbacks.push({ ...attempt, at, httpStatus: result.status, error: null });
        ctx.log(`sandbox: ${shortSid(record.sid)} ${label} → ${target}: HTTP ${result.status}`);
        return { result };
    } catch (error) {
        if (signal.aborted) throw new SandboxClosedError();
        const reason = describeRequestError(error);
        record.callbacks.push({ ...attempt, at, httpStatus: null, error: reason });
        ctx.log(`sandbox: ${shortSid(record.sid)} ${label} → ${target} failed: ${reason}`);
        return { error: reason };
    }
}
