/**
 * An outbound message's life after it is accepted: `queued` (after `accepted`, once a Messaging Service
 * has picked the sender) → `sent` → `delivered`, a pause before each step and a signed status callback
 * after each, as Twilio reports them. A message deleted meanwhile stops moving.
 *
 * Delivery failures extend {@link runMessage}: the step after `sent` decides the ending; a failure (by
 * a rule on the recipient, kept on the context) sets `errorCode` / `errorMessage` (30003 unreachable,
 * 30005 unknown destination, …) and ends the message `undelivered` or `failed` through
 * {@link setMessageStatus}, and {@link messageStatusCallback} then adds Twilio's `ErrorCode` parameter.
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

/** Runs `message` through its statuses in the background. */
export function startMessageLifecycle(ctx: SandboxContext, message: SandboxMessage): void {
    ctx.lifecycles.start(`message ${shortSid(message.sid)}`, () => runMessage(ctx, message));
}

/** queued (after `accepted` when a Messaging Service picks the sender) → sent → delivered. */
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
    for (const status of ['sent', 'delivered'] as const) {
        await ctx.lifecycles.pause();
        if (!stored()) return;
        setMessageStatus(ctx, message, status);
        await messageStatusCallback(ctx, message);
    }
}

/** Moves the message to `status`, in its history and `date_updated` (and `date_sent` once sent). */
export function setMessageStatus(ctx: SandboxContext, message: SandboxMessage, status: MessageStatus): void {
    const now = new Date();
    message.status = status;
    message.dateUpdated = now;
    if (status === 'sent') message.dateSent = now;
    message.history.push({ status, at: now });
    ctx.log(`sandbox: ${shortSid(message.sid)} ${status}`);
}

/** Posts the message's current status to its `StatusCallback`, with Twilio's parameters in its order. */
export async function messageStatusCallback(ctx: SandboxContext, message: SandboxMessage): Promise<void> {
    if (message.statusCallback === null) return;
    const params: Record<string, string> = {
        SmsSid: message.sid,
        SmsStatus: message.status,
        MessageStatus: message.status,
        To: message.to,
    };
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
