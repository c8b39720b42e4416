import {
    app,
    type HttpFunctionOptions,
    type HttpRequest,
    type HttpResponseInit,
    type InvocationContext,
} from '@azure/functions';
import { maskPhone } from '../shared/platform/redact';
import { emptyMessagingTwiml, smsReplyTwiml, twimlResponse } from '../shared/platform/twiml';
import { receiveTwilioWebhook } from '../shared/webhooks/receive';
import { lazy } from '../shared/platform/lazy';
import { ROUTES } from '../shared/platform/routes';
import type { AppDependencies } from '../shared/platform/dependencies';

// Loaded on first use: not every function needs it on a cold start.
const inboundMessageModule = lazy(() => import('../shared/webhooks/inboundMessage'));
const messagingModule = lazy(() => import('../shared/messaging/inbound'));
const mediaModule = lazy(() => import('../shared/media/inbound'));

/**
 * Twilio's Messaging webhook for an inbound SMS/MMS: replies with the configured text, or with an empty
 * response to the opt-out/opt-in/help keywords that Twilio answers itself (recording the opt-out or opt-in,
 * shared/messaging/inbound.ts) and to a sender the loop guard holds back.
 */
export async function inboundSms(
    request: HttpRequest,
    context: InvocationContext,
): Promise<HttpResponseInit> {
    const received = await receiveTwilioWebhook(request, context);
    if (!received.ok) return received.response;
    const { webhook, dependencies } = received;
    const body = webhook.form.get('Body') ?? undefined;
    const sid = webhook.form.get('MessageSid') ?? '(no MessageSid)';
    const inbound = await inboundMessageModule();
    if (inbound.isMessageStatusCallback(webhook.form)) {
        // A send whose status callback pointed here: not a message from anyone, so nothing is recorded
        // and nothing is sent back.
        context.warn(`Ignored a message status callback for ${sid} posted to the Messaging webhook`);
        return twimlResponse(await emptyMessagingTwiml());
    }
    context.log(`Inbound message ${sid} from ${maskPhone(webhook.form.get('From'))}`);
    let recorded: 'created' | 'exists' | 'invalid' | 'not-inbound' | 'unknown' = 'unknown';
    try {
        recorded = await inbound.recordInboundMessage(dependencies.ledger(), webhook.form);
        if (recorded === 'exists')
            context.log(`Inbound message ${sid} was already recorded (a webhook retry)`);
    } catch (error) {
        // The reply matters more to the sender than our record; the message stays at Twilio to reconcile.
        context.error(
            `Could not record inbound message ${sid}: ${error instanceof Error ? error.message : String(error)}`,
        );
    }
    if (recorded === 'created' || recorded === 'exists')
        await queueMedia(webhook.form, dependencies, context);
    const verdict = await (
        await messagingModule()
    ).handleInboundMessaging(
        {
            optOuts: dependencies.optOuts,
            replyWindows: dependencies.replyWindows,
            ledger: dependencies.ledger,
            guard: dependencies.config.smsReplyGuard,
            log: context,
        },
        webhook.form,
        recorded === 'not-inbound' ? 'invalid' : recorded,
    );
    if (!verdict.reply) return twimlResponse(await emptyMessagingTwiml());
    return twimlResponse(await smsReplyTwiml(dependencies.config.smsReply, body));
}

/**
 * An MMS's media are copied by the inboundMedia function from a queue job (shared/media/inbound.ts): the
 * webhook fetches nothing, and a failure here never costs the sender the reply.
 */
async function queueMedia(
    form: URLSearchParams,
    dependencies: AppDependencies,
    context: InvocationContext,
): Promise<void> {
    const numMedia = form.get('NumMedia');
    const sid = form.get('MessageSid') ?? form.get('SmsMessageSid');
    if (numMedia === null || numMedia === '0' || sid === null) return;
    try {
        const queued = await (
            await mediaModule()
        ).queueInboundMedia(form, sid, {
            ledger: dependencies.ledger(),
            enqueue: dependencies.enqueueInboundMedia,
            policy: {
                accountSid: dependencies.config.accountSid,
                twilioApiUrl: dependencies.config.twilioApiUrl,
            },
        });
        if (queued.kind === 'queued')
            context.log(`event=media.queued id=${sid} sid=${sid}: ${String(queued.items)} item(s)`);
        else if (queued.kind !== 'none')
            context.warn(`event=media.${queued.kind} id=${sid} sid=${sid}: ${queued.reason}`);
    } catch (error) {
        context.error(
            `event=media.not-queued id=${sid} sid=${sid}: ${error instanceof Error ? error.message : String(error)}`,
        );
    }
}

export const inboundSmsOptions = {
    route: ROUTES.sms,
    methods: ['POST'],
    authLevel: 'anonymous',
    handler: inboundSms,
} satisfies HttpFunctionOptions;

app.http('inboundSms', inboundSmsOptions);
