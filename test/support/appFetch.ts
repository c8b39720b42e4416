import { HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { status } from '../../functions/status';
import { voice } from '../../functions/voice';

/**
 * A `fetch` for the Twilio sandbox that answers its requests to the app (status callbacks, a call's
 * TwiML URL) with the real `status` and `voice` functions, each invocation given `context(<route>)`;
 * nothing leaves the process. Any other path is a 404.
 */
export function functionsAppFetch(context: (functionName: string) => InvocationContext): typeof fetch {
    return async (input, init) => {
        const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
        const method = init?.method ?? 'GET';
        const request = new HttpRequest({
            method,
            url,
            headers: Object.fromEntries(new Headers(init?.headers).entries()),
            ...(method === 'GET' || typeof init?.body !== 'string' ? {} : { body: { string: init.body } }),
        });
        const pathname = new URL(url).pathname;
        const handler = pathname === '/api/status' ? status : pathname === '/api/voice' ? voice : undefined;
        if (handler === undefined) return new Response('not found', { status: 404 });
        const response: HttpResponseInit = await handler(request, context(pathname.slice(5)));
        const code = response.status ?? 200;
        return new Response(code === 204 ? null : typeof response.body === 'string' ? response.body : '', {
            status: code,
            headers: { 'Content-Type': 'text/xml' },
        });
    };
}
