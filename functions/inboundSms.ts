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

// Loaded on first use: not every function needs it on a cold start.
const inboundMessageModule = lazy(() => import('../shared/webhooks/inboundMessage'));

/**
 * Twilio's Messaging webhook for an inbound SMS/MMS: replies with the configured text, or with an empty
 * response to the opt-out/opt-in/help keywords that Twilio answers itself.
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
    try {
        const recorded = await inbound.recordInboundMessage(dependencies.ledger(), webhook.form);
        if (recorded === 'exists')
            context.log(`Inbound message ${sid} was already recorded (a webhook retry)`);
    } catch (error) {
        // The reply matters more to the sender than our record; the message stays at Twilio to reconcile.
        context.error(
            `Could not record inbound message ${sid}: ${error instanceof Error ? error.message : String(error)}`,
        );
    }
    return twimlResponse(await smsReplyTwiml(dependencies.config.smsReply, body));
}

export const inboundSmsOptions = {
    route: ROUTES.sms,
    methods: ['POST'],
    authLevel: 'anonymous',
    handler: inboundSms,
} satisfies HttpFunctionOptions;

app.http('inboundSms', inboundSmsOptions);
