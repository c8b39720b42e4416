/**
 * The {@link TwimletStep} of a signed request: the twimlet's parameters from the query, Twilio's from the
 * form (or the query of a GET), and `selfUrl` on the base the request was signed on, so every URL a
 * step hands Twilio is built by shared/platform/routes.ts, never copied from the request.
 */

import { twimletUrl, webhookBase } from '../../platform/routes';
import type { TwilioWebhook } from '../../webhooks/signature';
import type { TwimletStep } from './contract';

/** The step of `webhook` (already signature-checked) for the twimlet `name` (lowercased). */
export function createTwimletStep(
    name: string,
    webhook: Pick<TwilioWebhook, 'query' | 'form' | 'url'>,
): TwimletStep {
    const base = webhookBase(webhook.url);
    return {
        name,
        query: webhook.query,
        form: webhook.form,
        param: (parameter) => webhook.form.get(parameter) ?? webhook.query.get(parameter) ?? undefined,
        selfUrl: (query, other) => twimletUrl(base, other ?? name, query),
    };
}
