/**
 * The common front of every Twilio webhook function: settings, then the signature check.
 */

import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { dependenciesOr500, getDependencies, type AppDependencies } from './dependencies';
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
    const loaded = dependenciesOr500(context, dependencies);
    if (!loaded.ok) return loaded;
    const deps = loaded.deps;
    const checked = await validateTwilioWebhook(
        request,
        {
            authToken: deps.authToken,
            enabled: deps.config.webhookValidation,
            publicBaseUrl: deps.config.publicBaseUrl,
            trustedForwardedHosts: deps.config.trustedForwardedHosts,
        },
        context,
    );
    return checked.ok ? { ok: true, webhook: checked.webhook, dependencies: deps } : checked;
}
