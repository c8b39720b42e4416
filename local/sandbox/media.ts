/**
 * A message's Media subresource, served as Twilio serves inbound MMS media with "HTTP Basic authentication
 * for media" on (all behind the sandbox's Basic auth, like every REST path):
 *
 * - `GET …/Messages/{MessageSid}/Media/{MediaSid}`: the bytes, with the media's `Content-Type`; or, for a
 *   message received with a `mediaRedirect` origin, Twilio's redirect (302) to that origin's
 *   `/media/{MediaSid}`, as Twilio redirects to a pre-signed URL on its CDN, which needs no credentials (a
 *   test's loopback server there can check that none arrive);
 * - `GET …/Media/{MediaSid}.json`: Twilio's Media resource JSON;
 * - `DELETE …/Media/{MediaSid}.json`: 204, and 404 (20404) from then on, for the JSON and the bytes alike;
 * - `GET …/Messages/{MessageSid}/Media.json`: the message's media list.
 *
 * And one sandbox-only extension, for `npm run sms -- --media <file>` (the command runs in another process
 * than the sandbox): `POST …/Messages/{MessageSid}/Media.json` with `ContentType` and `Body` (base64, within
 * the sandbox's 1 MB request limit) stores a media item for a message about to arrive and answers its JSON.
 * Twilio has no such endpoint: its media come with the message.
 *
 * The media live beside the sandbox's store (a WeakMap keyed by it), so nothing else needs to know them.
 */

import { shortSid, type SandboxContext } from './context';
import { errors, TwilioApiError } from './errors';
import type { Answer, RestMethod, RestRequest } from './restHandler';
import { API_VERSION, newSid, rfc2822 } from './resources';

/** Twilio's limit of media items on one message. */
export const MAX_SANDBOX_MEDIA = 10;

export interface SandboxMedia {
    readonly sid: string;
    readonly messageSid: string;
    readonly contentType: string;
    readonly body: Uint8Array;
    /** The origin a GET of the bytes redirects to (`<origin>/media/<sid>`); served directly when absent. */
    readonly redirectOrigin: string | undefined;
    readonly dateCreated: Date;
    deleted: boolean;
}

/** A media item of an inbound message, as a test or the sms command hands it to the sandbox. */
export interface InboundMediaItem {
    contentType: string;
    body: Uint8Array;
}

const media = new WeakMap<object, Map<string, SandboxMedia>>();

function mediaOf(ctx: SandboxContext): Map<string, SandboxMedia> {
    let items = media.get(ctx.store);
    if (items === undefined) {
        items = new Map();
        media.set(ctx.store, items);
    }
    return items;
}

/** The media path without extension: Twilio's `MediaUrl{n}` is the API's origin + this. */
export function mediaPath(accountSid: string, messageSid: string, mediaSid: string): string {
    return `/${API_VERSION}/Accounts/${accountSid}/Messages/${messageSid}/Media/${mediaSid}`;
}

/**
 * Stores `items` as the media of message `messageSid` and returns their `MediaUrl`s on the sandbox's
 * origin, in order.
 *
 * @throws Error for more than {@link MAX_SANDBOX_MEDIA} items.
 */
export function addMessageMedia(
    ctx: SandboxContext,
    messageSid: string,
    items: readonly InboundMediaItem[],
    redirectOrigin?: string,
): string[] {
    if (items.length > MAX_SANDBOX_MEDIA) {
        throw new Error(`A message carries at most ${String(MAX_SANDBOX_MEDIA)} media items`);
    }
    const store = mediaOf(ctx);
    return items.map((item) => {
        const stored: SandboxMedia = {
            sid: newSid('ME'),
            messageSid,
            contentType: item.contentType,
            body: item.body,
            redirectOrigin: redirectOrigin?.replace(/\/+$/, ''),
            dateCreated: new Date(),
            deleted: false,
        };
        store.set(stored.sid, stored);
        return `${ctx.url}${mediaPath(ctx.accountSid, messageSid, stored.sid)}`;
    });
}

/** The media of the sandbox (deleted ones included, flagged), oldest first. */
export function sandboxMedia(ctx: SandboxContext): readonly Readonly<SandboxMedia>[] {
    return [...mediaOf(ctx).values()];
}

type Handler = (ctx: SandboxContext, request: RestRequest) => Answer;

// A media item's bytes or `.json`, and a message's media list.
const MEDIA_PATH = new RegExp(
    `^/${API_VERSION}/Accounts/([^/]+?)/Messages/([^/]+?)/Media/([^/.]+?)(\\.json)?$`,
);
const MEDIA_LIST_PATH = new RegExp(`^/${API_VERSION}/Accounts/([^/]+?)/Messages/([^/]+?)/Media\\.json$`);

/**
 * The handlers of a media path, by method, with its SIDs bound (the router's ResolvedPath shape), or
 * undefined when `path` is not one.
 */
export function resolveMedia(
    path: string,
): { pathAccount: string; mainKeyOnly: false; handlers: Partial<Record<RestMethod, Handler>> } | undefined {
    const list = MEDIA_LIST_PATH.exec(path);
    if (list !== null) {
        const [, pathAccount = '', messageSid = ''] = list;
        return {
            pathAccount,
            mainKeyOnly: false,
            handlers: {
                GET: (ctx, request) => listMedia(ctx, request, messageSid),
                POST: (ctx, request) => uploadMedia(ctx, request, messageSid),
            },
        };
    }
    const single = MEDIA_PATH.exec(path);
    if (single === null) return undefined;
    const [, pathAccount = '', messageSid = '', mediaSid = '', json] = single;
    const answer: Handler = (ctx, request) =>
        answerMedia(ctx, request, messageSid, mediaSid, json !== undefined);
    return {
        pathAccount,
        mainKeyOnly: false,
        handlers: json === undefined ? { GET: answer } : { GET: answer, DELETE: answer },
    };
}

function find(ctx: SandboxContext, path: string, messageSid: string, mediaSid: string): SandboxMedia {
    const item = mediaOf(ctx).get(mediaSid);
    if (item === undefined || item.deleted || item.messageSid !== messageSid) throw errors.notFound(path);
    return item;
}

function answerMedia(
    ctx: SandboxContext,
    { method, path }: RestRequest,
    messageSid: string,
    mediaSid: string,
    json: boolean,
): Answer {
    const item = find(ctx, path, messageSid, mediaSid);
    if (method === 'DELETE') {
        item.deleted = true;
        ctx.log(`sandbox: ${shortSid(mediaSid)} media of ${shortSid(messageSid)} deleted`);
        return { status: 204 };
    }
    if (json) return { status: 200, body: mediaResource(ctx, item) };
    if (item.redirectOrigin !== undefined) {
        return { status: 302, headers: { Location: `${item.redirectOrigin}/media/${item.sid}` } };
    }
    return { status: 200, body: item.body, headers: { 'Content-Type': item.contentType } };
}

function listMedia(ctx: SandboxContext, { path }: RestRequest, messageSid: string): Answer {
    const items = sandboxMedia(ctx).filter((m) => m.messageSid === messageSid && !m.deleted);
    return {
        status: 200,
        body: {
            media_list: items.map((item) => mediaResource(ctx, item)),
            end: Math.max(items.length - 1, 0),
            first_page_uri: `${path}?PageSize=50&Page=0`,
            next_page_uri: null,
            page: 0,
            page_size: 50,
            previous_page_uri: null,
            start: 0,
            uri: `${path}?PageSize=50&Page=0`,
        },
    };
}

/** The sandbox-only upload (see the module comment). */
function uploadMedia(ctx: SandboxContext, { form }: RestRequest, messageSid: string): Answer {
    if (!/^MM[0-9a-f]{32}$/.test(messageSid)) {
        throw new TwilioApiError(20001, 'Media can only be added to an MM message SID (sandbox only)');
    }
    const contentType = form.get('ContentType') ?? '';
    const body = form.get('Body') ?? '';
    if (!/^[\w.+-]+\/[\w.+-]+$/.test(contentType) || !/^[A-Za-z0-9+/]*={0,2}$/.test(body)) {
        throw new TwilioApiError(20001, 'ContentType (a MIME type) and Body (base64) are required');
    }
    if (sandboxMedia(ctx).filter((m) => m.messageSid === messageSid).length >= MAX_SANDBOX_MEDIA) {
        throw errors.tooManyMedia();
    }
    const [url = ''] = addMessageMedia(ctx, messageSid, [{ contentType, body: Buffer.from(body, 'base64') }]);
    const item = mediaOf(ctx).get(url.split('/').pop() ?? '');
    if (item === undefined) throw new Error('the uploaded media was not stored');
    return { status: 201, body: mediaResource(ctx, item) };
}

/** The Media resource as Twilio's API returns it. */
function mediaResource(ctx: SandboxContext, item: SandboxMedia): Record<string, unknown> {
    return {
        account_sid: ctx.accountSid,
        content_type: item.contentType,
        date_created: rfc2822(item.dateCreated),
        date_updated: rfc2822(item.dateCreated),
        parent_sid: item.messageSid,
        sid: item.sid,
        uri: `${mediaPath(ctx.accountSid, item.messageSid, item.sid)}.json`,
    };
}
