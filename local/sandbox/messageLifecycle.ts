/**
 * An outbound message's life after it is accepted: `queued` (after `accepted`, once a Messaging Service
 * has picked the sender) → `sent` → `delivered`, a pause before each step and a signed status callback
 * after each, as Twilio reports them. A message deleted meanwhile stops moving.
 *
 * A message to one of the sandbox's reserved numbers (testNumbers.ts `DELIVERY_FAILURES`) ends badly, as
 * Twilio reports a carrier's refusal: `queued` → `sent` → `undelivered`, or `queued` → `failed` (never
 * sent, so no `date_sent`), with the error's code and title on the resource (`error_code`,
 * `error_message`) and Twilio's `ErrorCode` parameter in that last status callback. Twilio documents
 * `ErrorCode` as the only parameter its message status callbacks add for a failure (no `ErrorMessage`),
 * so none is sent.
 */

import { shortSid, type SandboxContext } from './context';
import {
    API_VERSION,
    SANDBOX_NUMBER,
    segmentCount,
    type MessageStatus,
    type SandboxMessage,
} from './resources';
import { sendSignedRequest } from './signedCallbacks';
import { deliveryFailureFor, type DeliveryFailure } from './testNumbers';

/** Runs `message` through its statuses in the background. */
export function startMessageLifecycle(ctx: SandboxContext, message: SandboxMessage): void {
    ctx.lifecycles.start(`message ${shortSid(message.sid)}`, () => runMessage(ctx, message));
}

/**
 * queued (after `accepted` when a Messaging Service picks the sender) → sent → delivered; to a reserved
 * number, → sent → undelivered or straight to failed.
 */
export async function runMessage(ctx: SandboxContext, message: SandboxMessage): Promise<void> {
    const stored = () => ctx.store.messages.holds(message);
    await ctx.lifecycles.pause();
    if (!stored()) return;
    if (message.status === 'accepted') {
        message.from = SANDBOX_NUMBER;
        message.numSegments = segmentCount(message.body);
        setMessageStatus(ctx, message, 'queued');
    }
    await messageStatusCallback(ctx, message);
    const failure = deliveryFailureFor(message.to);
    // A failed message was never sent; an undelivered one was sent, then refused downstream.
    const steps: readonly ('sent' | 'delivered')[] =
        failure === undefined ? ['sent', 'delivered'] : failure.status === 'undelivered' ? ['sent'] : [];
    for (const status of steps) {
        await ctx.lifecycles.pause();
        if (!stored()) return;
        setMessageStatus(ctx, message, status);
        await messageStatusCallback(ctx, message);
    }
    if (failure === undefined) return;
    await ctx.lifecycles.pause();
    if (!stored()) return;
    failMessage(ctx, message, failure);
    await messageStatusCallback(ctx, message);
}

/** Ends the message `undelivered` or `failed` with the failure's code and title. */
export function failMessage(ctx: SandboxContext, message: SandboxMessage, failure: DeliveryFailure): void {
    message.errorCode = failure.code;
    message.errorMessage = failure.message;
    setMessageStatus(ctx, message, failure.status);
}

/** Moves the message to `status`, in its history and `date_updated` (and `date_sent` once sent). */
export function setMessageStatus(ctx: SandboxContext, message: SandboxMessage, status: MessageStatus): void {
    const now = new Date();
    message.status = status;
    message.dateUpdated = now;
    if (status === 'sent') message.dateSent = now;
    message.history.push({ status, at: now });
    const error = message.errorCode === null ? '' : ` (error ${String(message.errorCode)})`;
    ctx.log(`sandbox: ${shortSid(message.sid)} ${status}${error}`);
}

/**
 * Posts the message's current status to its `StatusCallback`, with Twilio's parameters in its order;
 * `ErrorCode` (first, as Twilio puts it) once the message has failed.
 */
export async function messageStatusCallback(ctx: SandboxContext, message: SandboxMessage): Promise<void> {
    if (message.statusCallback === null) return;
    const params: Record<string, string> = {};
    if (message.errorCode !== null) params.ErrorCode = String(message.errorCode);
    Object.assign(params, {
        SmsSid: message.sid,
        SmsStatus: message.status,
        MessageStatus: message.status,
        To: message.to,
    });
    if (message.messagingServiceSid !== null) params.MessagingServiceSid = message.messagingServiceSid;
    Object.assign(params, {
        MessageSid: message.sid,
        AccountSid: message.accountSid,
        From: message.from ?? '',
        ApiVersion: API_VERSION,
    });
    await sendSignedRequest(
        ctx,
        message,
        { kind: 'status-callback', url: message.statusCallback, method: 'POST', status: message.status },
        params,
    );
}
