/**
 * The HTTP API's handlers, light to import: the modules behind them (zod, the storage SDKs) load on the
 * first API call, not when the app starts.
 */

import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { dependenciesOr500 } from '../platform/dependencies';
import { lazy } from '../platform/lazy';

const api = lazy(() => import('./messages'));
const pipeline = lazy(() => import('../outbound/pipeline'));

/** POST /api/messages and /api/calls. */
export async function acceptOutboundRequest(
    request: HttpRequest,
    context: InvocationContext,
    kind: 'sms' | 'call',
): Promise<HttpResponseInit> {
    const loaded = dependenciesOr500(context);
    if (!loaded.ok) return loaded.response;
    const { deps } = loaded;
    const [{ acceptOutbound }, { parseOptions }] = await Promise.all([api(), pipeline()]);
    return acceptOutbound(request, kind, {
        ledger: deps.ledger(),
        enqueue: deps.enqueueOutbound,
        parseOptions: parseOptions(deps.config),
        log: context,
    });
}

/** GET /api/messages/{id}. */
export async function readMessage(
    request: HttpRequest,
    context: InvocationContext,
): Promise<HttpResponseInit> {
    const loaded = dependenciesOr500(context);
    if (!loaded.ok) return loaded.response;
    const { getMessage } = await api();
    return getMessage(request.params.id ?? '', loaded.deps.ledger());
}

/** GET /api/messages. */
export async function readMessages(
    request: HttpRequest,
    context: InvocationContext,
): Promise<HttpResponseInit> {
    const loaded = dependenciesOr500(context);
    if (!loaded.ok) return loaded.response;
    const { listMessages } = await api();
    return listMessages(request, loaded.deps.ledger());
}
