/**
 * Calls the `twimlets` function as Twilio does: a real `HttpRequest` on `/api/twimlets/<name>?…` with the
 * route parameter the host fills in, GET (signed with its query) or POST (signed with its form), and the
 * step's answer as text. Shared by the twimlets' function tests and their fuzz test.
 */

import { HttpRequest, InvocationContext } from '@azure/functions';
import { twimlets } from '../../functions/twimlets';
import { bodyText, formBody, testContext, twilioSignature, type CapturedLog } from './webhooks';

export interface TwimletCall {
    method?: 'GET' | 'POST';
    /** Twilio's parameters: the form of a POST, appended to the query of a GET. */
    form?: Record<string, string>;
    /** The auth token to sign with; `null` for an unsigned request. */
    token: string | null;
    /** A quiet context (fuzzing) instead of one that keeps the logs. */
    quiet?: boolean;
    /**
     * The URL Twilio requested and signed, when a proxy hands the app another (`PUBLIC_BASE_URL` with a
     * path prefix): `url` with its base replaced by this one. Default: `url` itself.
     */
    signedBase?: { requested: string; signed: string };
}

export interface TwimletResult {
    status: number | undefined;
    body: string;
    contentType: string | undefined;
    logs: CapturedLog[];
}

/** The twimlet's name as the host routes `url` (`/api/twimlets/<name>`), or '' when the path has none. */
export function routedName(url: string): string {
    const path = url.split(/[?#]/, 1)[0] ?? '';
    const match = /\/api\/twimlets\/([^/]+)$/i.exec(path);
    return match?.[1] === undefined ? '' : decodeURIComponent(match[1]);
}

/** One step of a call: `url` (absolute, on the app) requested as Twilio would. */
export async function callTwimlet(url: string, call: TwimletCall): Promise<TwimletResult> {
    const method = call.method ?? 'POST';
    const form = call.form ?? {};
    let requestUrl = url;
    const headers: Record<string, string> = {};
    let body: string | undefined;
    if (method === 'GET') {
        const extra = formBody(form);
        if (extra !== '') requestUrl += (url.includes('?') ? '&' : '?') + extra;
    } else {
        body = formBody(form);
        headers['Content-Type'] = 'application/x-www-form-urlencoded';
    }
    const signed =
        call.signedBase === undefined
            ? requestUrl
            : requestUrl.replace(call.signedBase.requested, call.signedBase.signed);
    if (call.token !== null) {
        headers['X-Twilio-Signature'] = twilioSignature(call.token, signed, method === 'GET' ? {} : form);
    }
    const request = new HttpRequest({
        method,
        url: requestUrl,
        headers,
        params: { name: routedName(url) },
        body: body === undefined ? undefined : { string: body },
    });
    const { context, logs } = call.quiet
        ? {
              context: new InvocationContext({ functionName: 'twimlets', logHandler: () => undefined }),
              logs: [],
          }
        : testContext('twimlets');
    const response = await twimlets(request, context);
    const responseHeaders = response.headers as Record<string, string> | undefined;
    return {
        status: response.status,
        body: response.body === undefined ? '' : bodyText(response.body),
        contentType: responseHeaders?.['Content-Type'],
        logs,
    };
}
