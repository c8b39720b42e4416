/**
 * The media copy job: what the Messaging webhook puts on `INBOUND_MEDIA_QUEUE` for an inbound MMS, and the
 * rules both sides apply to it. Pure and dependency-free (no SDK, no zod): the webhook loads it on a cold
 * start.
 *
 * - **Bounded.** Twilio sends at most {@link MAX_MEDIA_ITEMS} media with a message (`NumMedia`); a webhook
 *   claiming more is refused as a whole, without a job.
 * - **Only Twilio's media URLs are ever fetched** ({@link mediaUrlProblem}): `https://api.twilio.com` (or
 *   the configured `TWILIO_API_URL`), path `/2010-04-01/Accounts/{this account}/Messages/{this message}/
 *   Media/{ME…}`, nothing else (no user info, port, query or fragment). The request is signed, but a
 *   signature only proves it came from someone holding the auth token: the app fetches with its REST
 *   credentials, so a URL anywhere else would hand them to it (and make the app a request forger). The
 *   webhook leaves a foreign URL out of the job (the item is refused), and the copy function checks every
 *   URL again, since anyone who can write to the queue can write a job.
 * - **Content types** are Twilio's accepted MMS types ({@link ACCEPTED_MEDIA_TYPES}); the declared type is
 *   checked before anything is fetched and the served one after.
 * - **Small.** The job holds the message SID and, per item, its index, URL and declared type: a few
 *   kilobytes at most, far under the queue's 64 KiB.
 */

import { MAX_MEDIA_ITEMS, type MediaRefusal } from '../ledger/contract';

export { MAX_MEDIA_ITEMS };

/** The largest media item copied (Twilio's MMS limit), counted while reading, not from Content-Length. */
export const MAX_MEDIA_BYTES = 5 * 1024 * 1024;
/** The longest media URL a job carries; Twilio's are about 150 characters. */
export const MAX_MEDIA_URL_LENGTH = 512;
/** Twilio's REST origin, where its media URLs point. */
export const TWILIO_API_ORIGIN = 'https://api.twilio.com';

/**
 * The content types Twilio accepts for MMS ("Accepted content types for media", Twilio's Messaging docs),
 * lowercased: the images it formats for devices, and the audio, video, text and application types it
 * passes through.
 */
export const ACCEPTED_MEDIA_TYPES: ReadonlySet<string> = new Set(
    [
        'image/jpeg',
        'image/jpg',
        'image/gif',
        'image/png',
        'image/heic',
        'image/heif',
        'image/tiff',
        'image/bmp',
        'audio/basic',
        'audio/L24',
        'audio/mp4',
        'audio/mpeg',
        'audio/ogg',
        'audio/vnd.rn-realaudio',
        'audio/vnd.wave',
        'audio/3gpp',
        'audio/3gpp2',
        'audio/ac3',
        'audio/webm',
        'audio/amr-nb',
        'audio/amr',
        'audio/aac',
        'video/mpeg',
        'video/mpeg4',
        'video/mp4',
        'video/quicktime',
        'video/webm',
        'video/3gpp',
        'video/3gpp2',
        'video/3gpp-tt',
        'video/H261',
        'video/H263',
        'video/H263-1998',
        'video/H263-2000',
        'video/H264',
        'text/vcard',
        'text/x-vcard',
        'text/csv',
        'text/rtf',
        'text/richtext',
        'text/calendar',
        'text/directory',
        'application/pdf',
        'application/vcard',
        'application/vnd.apple.pkpass',
        'application/msword',
        'application/vnd.ms-excel',
        'application/vnd.ms-powerpoint',
        'application/vnd.openxmlformats-officedocument.presentationml.presentation',
        'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
        'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
    ].map((type) => type.toLowerCase()),
);

/** A media content type as compared and stored: lowercased, without parameters (`; charset=…`). */
export function baseContentType(value: string | null | undefined): string {
    return (value ?? '').split(';', 1)[0]?.trim().toLowerCase() ?? '';
}

/** Whether `value` (a Content-Type header or a `MediaContentType{n}`) is an accepted MMS type. */
export function isAcceptedMediaType(value: string | null | undefined): boolean {
    return ACCEPTED_MEDIA_TYPES.has(baseContentType(value));
}

const MESSAGE_SID = /^(MM|SM)[0-9a-fA-F]{32}$/;
const MEDIA_SID = /^ME[0-9a-fA-F]{32}$/;

/** One item of a job: its URL and declared type, or the refusal the webhook already decided. */
export type MediaJobItem =
    | { index: number; url: string; contentType: string }
    | { index: number; refusal: MediaRefusal; detail: string };

/** A media copy job (JSON on the queue). `v` is the format's version. */
export interface MediaJob {
    v: 1;
    /** The message's SID, which is its ledger id. */
    sid: string;
    items: MediaJobItem[];
}

/** Where the app accepts media URLs from: Twilio's origin, and the configured stand-in's base URL. */
export interface MediaUrlPolicy {
    /** `TWILIO_ACCOUNT_SID`: media URLs must be under this account. */
    accountSid: string | undefined;
    /** `TWILIO_API_URL` (tests and local runs), without a trailing slash. */
    twilioApiUrl: string | undefined;
}

/**
 * Why `url` is not a Twilio media URL of message `messageSid` under the configured account (a sentence
 * without the URL), or undefined when it is one; its last path segment is then the media SID.
 */
export function mediaUrlProblem(url: string, messageSid: string, policy: MediaUrlPolicy): string | undefined {
    if (url.length > MAX_MEDIA_URL_LENGTH) return 'the media URL is too long';
    if (!URL.canParse(url)) return 'the media URL is not a URL';
    const parsed = new URL(url);
    if (parsed.username !== '' || parsed.password !== '') return 'the media URL carries credentials';
    if (parsed.search !== '' || parsed.hash !== '' || url.includes('?') || url.includes('#')) {
        return 'the media URL has a query or fragment';
    }
    const base = [TWILIO_API_ORIGIN, policy.twilioApiUrl].find(
        (candidate) => candidate !== undefined && underBase(parsed, candidate),
    );
    if (base === undefined) return 'the media URL is not on Twilio’s API origin';
    const rest = parsed.pathname.slice(new URL(base).pathname.replace(/\/+$/, '').length);
    const match = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages\/([^/]+)\/Media\/([^/]+)$/.exec(rest);
    if (match === null) return 'the media URL is not a message media path';
    const [, account = '', message = '', media = ''] = match;
    if (policy.accountSid !== undefined && account !== policy.accountSid) {
        return 'the media URL is under another account';
    }
    if (message !== messageSid) return 'the media URL is for another message';
    if (!MEDIA_SID.test(media)) return 'the media URL does not name a media SID';
    return undefined;
}

/** The media SID a checked media URL names. */
export function mediaSidOf(url: string): string {
    return new URL(url).pathname.split('/').pop() ?? '';
}

function underBase(url: URL, base: string): boolean {
    const parsedBase = new URL(base);
    if (url.origin !== parsedBase.origin) return false;
    const prefix = parsedBase.pathname.replace(/\/+$/, '');
    return url.pathname.startsWith(`${prefix}/`);
}

/** The blob an item is copied to: `<MessageSid>/<index>`. */
export function mediaBlobName(sid: string, index: number): string {
    return `${sid}/${String(index)}`;
}

/** What the webhook does with a message's media. */
export type MediaPlan =
    | { kind: 'none' }
    /** Refused as a whole: `reason` names the parameter. */
    | { kind: 'refused'; reason: string }
    | { kind: 'job'; job: MediaJob };

/**
 * The plan for an inbound message's media, from its webhook parameters: no media (`NumMedia` absent or
 * 0), refused (`NumMedia` not a whole number from 0 to {@link MAX_MEDIA_ITEMS}), or a job with one item per
 * index below `NumMedia`, each either its checked URL and declared type or its refusal.
 */
export function planMediaJob(form: URLSearchParams, sid: string, policy: MediaUrlPolicy): MediaPlan {
    const numMedia = form.get('NumMedia') ?? '0';
    if (!/^\d{1,3}$/.test(numMedia)) return { kind: 'refused', reason: 'NumMedia is not a whole number' };
    const count = Number(numMedia);
    if (count === 0) return { kind: 'none' };
    if (count > MAX_MEDIA_ITEMS) {
        return {
            kind: 'refused',
            reason: `NumMedia is ${String(count)}: Twilio sends at most ${String(MAX_MEDIA_ITEMS)} media`,
        };
    }
    const items: MediaJobItem[] = [];
    for (let index = 0; index < count; index++) {
        const url = form.get(`MediaUrl${String(index)}`);
        const contentType = baseContentType(form.get(`MediaContentType${String(index)}`));
        const problem =
            url === null ? `no MediaUrl${String(index)} in the webhook` : mediaUrlProblem(url, sid, policy);
        if (url === null || problem !== undefined) {
            items.push({ index, refusal: 'foreign-url', detail: problem ?? 'no media URL' });
        } else if (!isAcceptedMediaType(contentType)) {
            items.push({ index, refusal: 'content-type', detail: contentTypeDetail(contentType) });
        } else {
            items.push({ index, url, contentType });
        }
    }
    return { kind: 'job', job: { v: 1, sid, items } };
}

/** The refusal detail for a content type Twilio does not accept for MMS. */
export function contentTypeDetail(contentType: string): string {
    // The type is the sender's; kept short and printable, as a ledger detail.
    const shown = /^[a-z0-9.+-]{1,40}\/[a-z0-9.+-]{1,80}$/.test(contentType)
        ? contentType
        : 'an unknown type';
    return `${shown} is not a content type Twilio accepts for MMS`;
}

/**
 * A job from a queue item (the host hands JSON over parsed), or why it is not one. Checked field by field
 * with the same rules as the webhook's, since anyone who can write to the queue can write a job.
 */
export function parseMediaJob(item: unknown): { ok: true; job: MediaJob } | { ok: false; error: string } {
    let value = item;
    if (typeof value === 'string') {
        try {
            value = JSON.parse(value) as unknown;
        } catch {
            return { ok: false, error: 'the queue item is not JSON' };
        }
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        return { ok: false, error: 'the queue item is not a media job object' };
    }
    const { v, sid, items } = value as Record<string, unknown>;
    if (v !== 1) return { ok: false, error: 'the media job has no known version' };
    if (typeof sid !== 'string' || !MESSAGE_SID.test(sid)) {
        return { ok: false, error: 'the media job has no message SID' };
    }
    if (!Array.isArray(items) || items.length === 0 || items.length > MAX_MEDIA_ITEMS) {
        return { ok: false, error: `the media job needs 1-${String(MAX_MEDIA_ITEMS)} items` };
    }
    const parsed: MediaJobItem[] = [];
    for (const entry of items as unknown[]) {
        if (typeof entry !== 'object' || entry === null)
            return { ok: false, error: 'a media item is not an object' };
        const { index, url, contentType, refusal, detail } = entry as Record<string, unknown>;
        if (
            typeof index !== 'number' ||
            !Number.isInteger(index) ||
            index < 0 ||
            index >= MAX_MEDIA_ITEMS ||
            parsed.some((other) => other.index === index)
        ) {
            return { ok: false, error: 'a media item has no index of its own from 0 to 9' };
        }
        if (typeof url === 'string' && typeof contentType === 'string') {
            parsed.push({
                index,
                url: url.slice(0, MAX_MEDIA_URL_LENGTH + 1),
                contentType: contentType.slice(0, 200),
            });
        } else if (typeof refusal === 'string' && (refusal === 'foreign-url' || refusal === 'content-type')) {
            parsed.push({ index, refusal, detail: typeof detail === 'string' ? detail.slice(0, 200) : '' });
        } else {
            return { ok: false, error: 'a media item has neither a URL and type nor a refusal' };
        }
    }
    return { ok: true, job: { v: 1, sid, items: parsed } };
}
