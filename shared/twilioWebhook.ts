/**
 * The common front of every Twilio webhook function: settings, then the signature check.
 */

import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { getDependencies, type AppDependencies } from './dependencies';
import { ConfigError } from './errors';
import { validateTwilioWebhook, type TwilioWebhook } from './webhookSignature';

export type ReceivedWebhook =
    | { ok: true; webhook: TwilioWebhook; dependencies: AppDependencies }
    | { ok: false; response: HttpResponseInit };

/**
 * Loads the app's services and validates the request as a Twilio webhook. Invalid settings answer 500 and
 * log which settings are at fault; the request is never processed unchecked.
 */
export async function receiveTwilioWebhook(
    request: HttpRequest,
    context: InvocationContext,
    dependencies: () => AppDependencies = getDependencies,
): Promise<ReceivedWebhook> {
    let deps: AppDependencies;
    try {
        deps = dependencies();
    } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        context.error(error.message);
        return {
            ok: false,
            response: { status: 500, body: 'The app is misconfigured; see the function logs' },
        };
    }
    const checked = await validateTwilioWebhook(
        request,
        {
            authToken: deps.authToken,
            enabled: deps.config.webhookValidation,
            publicBaseUrl: deps.config.publicBaseUrl,
        },
        context,
    );
    return checked.ok ? { ok: true, webhook: checked.webhook, dependencies: deps } : checked;
}
