/**
 * A text arriving at one of the account's numbers, as Twilio handles it: recorded as an `inbound`
 * message, posted signed to the app's Messaging webhook (inbound.ts), and each `<Message>` of the TwiML
 * the app answers recorded as an `outbound-reply` that then lives like any outbound message
 * (messageLifecycle.ts).
 *
 * An inbound call (the voice-flows issue's call command) is the same story for Voice: a module of its
 * own beside this one, recording an `inbound` call to the number's `VoiceUrl` and handing it to the
 * call lifecycle (callLifecycle.ts).
 */

import { maskPhone } from '../../shared/platform/redact';
import { describeRequestError, loggableUrl } from './callbacks';
import { shortSid, type SandboxContext } from './context';
import { contentTypeOf as guessContentType, simulateInboundSms, type InboundSmsResult } from './inbound';
import { addMessageMedia, type InboundMediaItem } from './media';
import { startMessageLifecycle } from './messageLifecycle';
import { newMessage } from './messages';
import { newSid, SANDBOX_NUMBER, segmentCount } from './resources';

export interface SandboxInboundSms {
    /** The app's Messaging webhook, e.g. `http://localhost:7071/api/sms`. */
    appUrl: string;
    from: string;
    /** Default: the sandbox's number, `+15005550006`. */
    to?: string;
    body: string;
    /** Media URLs sent as they are (`MediaUrl{n}`), e.g. a public image: the app refuses them as foreign. */
    mediaUrls?: readonly string[];
    /**
     * Media the sandbox keeps and serves behind Basic auth, as Twilio keeps an MMS's media (media.ts): each
     * one's `MediaUrl{n}` (after `mediaUrls`) is on the sandbox's origin, its `MediaContentType{n}` the one
     * given. At most 10 in all.
     */
    media?: readonly InboundMediaItem[];
    /**
     * The origin a GET of `media` redirects to (`<origin>/media/<MediaSid>`), as Twilio redirects to its CDN;
     * without it the sandbox serves the bytes itself.
     */
    mediaRedirect?: string;
    messagingServiceSid?: string;
    /** The URL to sign when the app checks signatures against another origin (its `PUBLIC_BASE_URL`). */
    signatureUrl?: string;
}

/**
 * Delivers `inbound` to the app and sends the replies its TwiML asks for.
 *
 * @throws the request's error when the app cannot be reached (logged first).
 */
export async function receiveSms(ctx: SandboxContext, inbound: SandboxInboundSms): Promise<InboundSmsResult> {
    const to = inbound.to ?? SANDBOX_NUMBER;
    const hosted = inbound.media ?? [];
    // The SID first: the hosted media's URLs name it.
    const sid = newSid(hosted.length > 0 || (inbound.mediaUrls ?? []).length > 0 ? 'MM' : 'SM');
    const mediaUrls = [
        ...(inbound.mediaUrls ?? []),
        ...addMessageMedia(ctx, sid, hosted, inbound.mediaRedirect),
    ];
    const mediaContentTypes = [
        ...(inbound.mediaUrls ?? []).map(() => undefined),
        ...hosted.map((item) => item.contentType),
    ];
    const now = new Date();
    const created = newMessage(
        ctx.accountSid,
        {
            direction: 'inbound',
            to,
            from: inbound.from,
            body: inbound.body,
            mediaUrls: [...mediaUrls],
            messagingServiceSid: inbound.messagingServiceSid ?? null,
            status: 'received',
            numSegments: segmentCount(inbound.body),
            statusCallback: null,
        },
        now,
    );
    const message = { ...created, sid };
    ctx.store.messages.add(message);
    const target = `POST ${loggableUrl(inbound.appUrl)}`;
    ctx.log(
        `sandbox: ${shortSid(message.sid)} inbound from ${maskPhone(inbound.from)} (${String(inbound.body.length)} chars) → ${target}`,
    );
    const result = await simulateInboundSms({
        appUrl: inbound.appUrl,
        from: inbound.from,
        to,
        body: inbound.body,
        accountSid: ctx.accountSid,
        authToken: ctx.authToken,
        mediaUrls,
        mediaContentTypes: mediaContentTypes.map(
            (type, index) => type ?? guessContentType(mediaUrls[index] ?? ''),
        ),
        messagingServiceSid: inbound.messagingServiceSid,
        signatureUrl: inbound.signatureUrl,
        messageSid: message.sid,
        fetch: ctx.fetch,
        signal: ctx.lifecycles.signal,
    }).catch((error: unknown) => {
        ctx.log(`sandbox: ${shortSid(message.sid)} webhook ${target} failed: ${describeRequestError(error)}`);
        throw error;
    });
    message.callbacks.push({
        kind: 'twiml',
        url: inbound.appUrl,
        method: 'POST',
        status: 'received',
        at: now,
        httpStatus: result.status,
        error: null,
    });
    ctx.log(`sandbox: ${shortSid(message.sid)} webhook ${target}: HTTP ${String(result.status)}`);
    for (const reply of result.replies) {
        const replyTo = reply.to ?? inbound.from;
        const outbound = newMessage(ctx.accountSid, {
            direction: 'outbound-reply',
            to: replyTo,
            from: reply.from ?? to,
            body: reply.body,
            mediaUrls: reply.mediaUrls,
            messagingServiceSid: null,
            status: 'queued',
            numSegments: segmentCount(reply.body),
            statusCallback: null,
        });
        ctx.store.messages.add(outbound);
        ctx.log(
            `sandbox: ${shortSid(outbound.sid)} queued reply → ${maskPhone(replyTo)} (${String(reply.body.length)} chars)`,
        );
        startMessageLifecycle(ctx, outbound);
    }
    return result;
}
