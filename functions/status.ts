import {
    app,
    type HttpFunctionOptions,
    type HttpRequest,
    type HttpResponseInit,
    type InvocationContext,
} from '@azure/functions';
import { callbackEvent, outcomeLine, subjectOf } from '../shared/platform/outcomes';
import { receiveTwilioWebhook } from '../shared/webhooks/receive';
import { lazy } from '../shared/platform/lazy';
import { ROUTES } from '../shared/platform/routes';

// Loaded on first use: not every function needs it on a cold start.
const statusCallbackModule = lazy(() => import('../shared/webhooks/statusCallback'));

/**
 * Twilio's status callback for messages and calls (signature-validated like every webhook): the status
 * goes into the ledger, idempotently and never backwards. One outcome line per callback, with the id from
 * the callback URL: Twilio's final statuses as `delivered` / `failed` / `completed` / `unanswered` (once,
 * when the callback moved the record), any other as `status`, a callback that belongs to no send of ours
 * as `unmatched`, one without a SID and status as `webhook.invalid`.
 */
export async function status(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
    const received = await receiveTwilioWebhook(request, context);
    if (!received.ok) return received.response;
    const { webhook, dependencies } = received;
    const id = webhook.query.get('id');
    const result = await (
        await statusCallbackModule()
    ).recordStatusCallback(dependencies.ledger(), webhook.form, id);
    if (result.kind === 'invalid') {
        context.warn(outcomeLine({ event: 'webhook.invalid', id, status: 400, route: ROUTES.status }));
        return { status: 400, body: result.message };
    }
    const type =
        webhook.form.get('CallSid') !== null && webhook.form.get('CallStatus') !== null ? 'call' : 'sms';
    const code = webhook.form.get('ErrorCode');
    // Filed under its SID: the URL named no record, or one this send does not belong to.
    if (result.kind === 'unmatched' || result.id === result.sid) {
        context.warn(
            outcomeLine({
                event: `${subjectOf(type)}.unmatched`,
                id,
                sid: result.sid,
                status: result.status,
                code,
            }),
        );
        return { status: 204 };
    }
    // A repeated or out-of-order callback leaves the record as it was: a `status` line, not a second outcome.
    const event =
        result.kind === 'updated'
            ? callbackEvent(type, result.status)
            : (`${subjectOf(type)}.status` as const);
    const line = outcomeLine({ event, id: result.id, sid: result.sid, status: result.status, code });
    if (event.endsWith('.failed')) context.warn(line);
    else context.log(line);
    return { status: 204 };
}

export const statusOptions = {
    route: ROUTES.status,
    methods: ['POST'],
    authLevel: 'anonymous',
    handler: status,
} satisfies HttpFunctionOptions;

app.http('status', statusOptions);
