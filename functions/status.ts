import {
    app,
    type HttpFunctionOptions,
    type HttpRequest,
    type HttpResponseInit,
    type InvocationContext,
} from '@azure/functions';
import { receiveTwilioWebhook } from '../shared/twilioWebhook';
import { lazy } from '../shared/lazy';

// Loaded on first use: not every function needs it on a cold start.
const statusCallbackModule = lazy(() => import('../shared/statusCallback'));

/**
 * Twilio's status callback for messages and calls (signature-validated like every webhook): the status
 * goes into the ledger, idempotently and never backwards.
 */
export async function status(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
    const received = await receiveTwilioWebhook(request, context);
    if (!received.ok) return received.response;
    const { webhook, dependencies } = received;
    const result = await (
        await statusCallbackModule()
    ).recordStatusCallback(dependencies.ledger(), webhook.form, webhook.query.get('id'));
    if (result.kind === 'invalid') {
        context.warn(`Ignored a status callback: ${result.message}`);
        return { status: 400, body: result.message };
    }
    context.log(`Status ${result.status} for ${result.id} (${result.sid}): ${result.kind}`);
    return { status: 204 };
}

export const statusOptions = {
    route: 'status',
    methods: ['POST'],
    authLevel: 'anonymous',
    handler: status,
} satisfies HttpFunctionOptions;

app.http('status', statusOptions);
