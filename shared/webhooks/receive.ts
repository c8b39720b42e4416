/**
 * The common front of every Twilio webhook function: settings, then the signature check. Every request it
 * refuses logs one `webhook.rejected` outcome line with the status answered and the route (never the
 * query string, which can carry phone numbers).
 */

import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { dependenciesOr500, getDependencies, type AppDependencies } from '../platform/dependencies';
import { outcomeLine } from '../platform/outcomes';
import { routeName, routeOfUrl, WEBHOOK_ROUTES } from '../platform/routes';
import { validateTwilioWebhook, type TwilioWebhook } from './signature';

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
    if (!loaded.ok) return rejected(request, context, loaded);
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
    return checked.ok
        ? { ok: true, webhook: checked.webhook, dependencies: deps }
        : rejected(request, context, checked);
}

function rejected(
    request: HttpRequest,
    context: InvocationContext,
    refusal: { ok: false; response: HttpResponseInit },
): ReceivedWebhook {
    context.warn(
        outcomeLine({
            event: 'webhook.rejected',
            status: refusal.response.status,
            route: webhookRoute(request.url),
        }),
    );
    return refusal;
}

/**
 * The webhook route a request came in on (`voice`, `sms`, `status`, `twimlets` for any
 * `/api/twimlets/<name>`), from the last segments of its path (a proxy may add a prefix); `other` for
 * anything else, so no text of the request (a twimlet's name included) reaches the log.
 */
export function webhookRoute(url: string): string {
    const route = routeOfUrl(url, WEBHOOK_ROUTES);
    return route === undefined ? 'other' : routeName(route);
}
