/**
 * The Keys resource (API keys of the account): create — a Standard key, its secret shown only in that
 * answer —, list in creation order, fetch, rename and revoke. The credentials themselves, and the rule
 * of what a Standard key may reach, are credentials.ts's and the router's.
 */

import { shortSid, type SandboxContext } from './context';
import type { SandboxApiKey } from './credentials';
import { errors } from './errors';
import { listPage } from './listing';
import type { ResourceRoutes } from './restHandler';
import { rfc2822 } from './resources';

/** The Key resource as Twilio's API returns it (never the secret). */
export function keyResource(key: Readonly<SandboxApiKey>): Record<string, unknown> {
    return {
        sid: key.sid,
        friendly_name: key.friendlyName,
        date_created: rfc2822(key.dateCreated),
        date_updated: rfc2822(key.dateUpdated),
    };
}

/** Adds a key of the account and logs it (without the secret). */
export function createApiKey(
    ctx: SandboxContext,
    options: Parameters<SandboxContext['store']['addKey']>[0],
): { key: SandboxApiKey; secret: string } {
    const created = ctx.store.addKey(options);
    ctx.log(`sandbox: API key ${shortSid(created.key.sid)} created`);
    return created;
}

/** Revokes a key and logs it. @returns whether it existed. */
export function revokeApiKey(ctx: SandboxContext, sid: string): boolean {
    const removed = ctx.store.removeKey(sid);
    if (removed) ctx.log(`sandbox: API key ${shortSid(sid)} revoked`);
    return removed;
}

const findKey = (ctx: SandboxContext, path: string, sid: string): SandboxApiKey => {
    const key = ctx.store.keys().find((k) => k.sid === sid);
    if (key === undefined) throw errors.notFound(path);
    return key;
};

export const keyRoutes: ResourceRoutes = {
    mainKeyOnly: true,
    list: {
        GET: (ctx, { path, query }) => ({
            status: 200,
            body: listPage({
                key: 'keys',
                path,
                query,
                filterNames: [],
                items: ctx.store.keys(),
                sid: (k) => k.sid,
                sequenceOf: ctx.store.pageOrder.oldestFirst,
                render: keyResource,
            }),
        }),
        POST(ctx, { form }) {
            // Keys made through the REST API are Standard keys; Main keys come only from the console.
            const { key, secret } = createApiKey(ctx, { friendlyName: form.get('FriendlyName') ?? '' });
            return { status: 201, body: { ...keyResource(key), secret } };
        },
    },
    instance: {
        GET: (ctx, { path }, sid) => ({ status: 200, body: keyResource(findKey(ctx, path, sid)) }),
        POST(ctx, { path, form }, sid) {
            const key = findKey(ctx, path, sid);
            const friendlyName = form.get('FriendlyName');
            if (friendlyName !== null) key.friendlyName = friendlyName;
            key.dateUpdated = new Date();
            return { status: 200, body: keyResource(key) };
        },
        DELETE(ctx, { path }, sid) {
            findKey(ctx, path, sid);
            revokeApiKey(ctx, sid);
            return { status: 204 };
        },
    },
};
