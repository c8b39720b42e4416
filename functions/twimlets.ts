import {
    app,
    type HttpFunctionOptions,
    type HttpRequest,
    type HttpResponseInit,
    type InvocationContext,
} from '@azure/functions';
import { APOLOGY_TWIML, twimlResponse } from '../shared/platform/twiml';
import { ROUTES } from '../shared/platform/routes';
import { findTwimlet } from '../shared/voice/twimlets/registry';
import { createTwimletStep } from '../shared/voice/twimlets/step';
import { receiveTwilioWebhook } from '../shared/webhooks/receive';

/**
 * The twimlets.com call flows, hosted here and signed: `/api/twimlets/{name}` takes the query parameters
 * twimlets.com/<name> takes (shared/voice/twimlets/). The signature is checked first, so an unknown name
 * is a 404 only to Twilio; each step's TwiML comes from the twimlet's module, loaded on first use.
 */
export async function twimlets(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
    const received = await receiveTwilioWebhook(request, context);
    if (!received.ok) return received.response;
    const { webhook, dependencies } = received;
    const name = (request.params.name ?? '').toLowerCase();
    const load = findTwimlet(name);
    if (load === undefined) {
        context.warn('No such twimlet on route=twimlets: answered 404');
        return { status: 404, headers: { 'Content-Type': 'text/plain' }, body: 'No such twimlet' };
    }
    try {
        const twimlet = await load();
        const answer = await twimlet(createTwimletStep(name, webhook), dependencies, context);
        return twimlResponse(answer.twiml);
    } catch (error) {
        // A twimlet never throws for its input; this is a bug, and the caller still hears why the call ends.
        context.error(`Twimlet ${name} failed: ${error instanceof Error ? error.message : String(error)}`);
        return twimlResponse(APOLOGY_TWIML);
    }
}

export const twimletsOptions = {
    route: ROUTES.twimlet,
    methods: ['GET', 'POST'],
    authLevel: 'anonymous',
    handler: twimlets,
} satisfies HttpFunctionOptions;

app.http('twimlets', twimletsOptions);
