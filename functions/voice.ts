import {
    app,
    type HttpFunctionOptions,
    type HttpRequest,
    type HttpResponseInit,
    type InvocationContext,
} from '@azure/functions';
import { twimletMessages, twimlResponse, voiceTwiml } from '../shared/platform/twiml';
import { ROUTES } from '../shared/platform/routes';
import { receiveTwilioWebhook } from '../shared/webhooks/receive';

/**
 * Answers a call with TwiML: the configured greeting, or the twimlets-style `Message` / `Message[n]`
 * parameters of the request, so a call placed with a twimlets `Message` URL can point here instead.
 */
export async function voice(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
    const received = await receiveTwilioWebhook(request, context);
    if (!received.ok) return received.response;
    const { webhook, dependencies } = received;
    const messages = twimletMessages([webhook.query, webhook.form]);
    return twimlResponse(await voiceTwiml(dependencies.config.voiceGreeting, messages));
}

export const voiceOptions = {
    route: ROUTES.voice,
    methods: ['GET', 'POST'],
    authLevel: 'anonymous',
    handler: voice,
} satisfies HttpFunctionOptions;

app.http('voice', voiceOptions);
