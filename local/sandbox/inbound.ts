/**
 * A simulated inbound SMS/MMS: the signed webhook Twilio sends to a number's Messaging URL when a text
 * arrives, with the parameters Twilio sends, and the TwiML the app answered.
 */

import { sendTwilioRequest } from './callbacks';
import { API_VERSION, countryOf, newSid, segmentCount } from './resources';
import { childElements, parseTwiml, textOf, type XmlElement } from './twiml';

export interface InboundSmsOptions {
    /** The app's Messaging webhook, e.g. `http://localhost:7071/api/sms`. */
    appUrl: string;
    from: string;
    to: string;
    body: string;
    accountSid: string;
    authToken: string;
    mediaUrls?: readonly string[] | undefined;
    /**
     * `MediaContentType{n}` for each of `mediaUrls`, by position; one missing (or the whole list) is guessed
     * from the URL's extension, `application/octet-stream` without one.
     */
    mediaContentTypes?: readonly string[] | undefined;
    messagingServiceSid?: string | undefined;
    /** The URL to sign when the app checks signatures against another origin (its `PUBLIC_BASE_URL`). */
    signatureUrl?: string | undefined;
    /** Defaults to a new `SM…` (or `MM…` with media) SID. */
    messageSid?: string | undefined;
    fetch?: typeof fetch | undefined;
    signal?: AbortSignal | undefined;
}

export interface InboundSmsResult {
    /** The HTTP status the app answered. */
    status: number;
    contentType: string;
    /** The response body as received (TwiML when the app accepted the message). */
    twiml: string;
    messageSid: string;
    /** The parameters that were sent, as Twilio would send them. */
    params: Readonly<Record<string, string>>;
    /** The replies the TwiML asks Twilio to send (`<Message>` verbs); empty if it is not valid TwiML. */
    replies: InboundReply[];
}

export interface InboundReply {
    body: string;
    /** `to` / `from` attributes of the `<Message>` verb, when set. */
    to: string | undefined;
    from: string | undefined;
    mediaUrls: string[];
}

/** Sends a signed, Twilio-shaped inbound message webhook to `appUrl` and returns the app's answer. */
export async function simulateInboundSms(options: InboundSmsOptions): Promise<InboundSmsResult> {
    const mediaUrls = options.mediaUrls ?? [];
    const messageSid = options.messageSid ?? newSid(mediaUrls.length > 0 ? 'MM' : 'SM');
    const params = inboundSmsParams({ ...options, mediaUrls, messageSid });
    const answer = await sendTwilioRequest({
        url: options.appUrl,
        method: 'POST',
        params,
        authToken: options.authToken,
        fetch: options.fetch ?? globalThis.fetch,
        signatureUrl: options.signatureUrl,
        signal: options.signal,
    });
    return {
        status: answer.status,
        contentType: answer.contentType,
        twiml: answer.body,
        messageSid,
        params,
        replies: answer.status === 200 ? messageReplies(answer.body) : [],
    };
}

/** The webhook parameters Twilio sends for an inbound message. */
export function inboundSmsParams(
    options: Pick<
        InboundSmsOptions,
        'from' | 'to' | 'body' | 'accountSid' | 'messagingServiceSid' | 'mediaContentTypes'
    > & {
        messageSid: string;
        mediaUrls: readonly string[];
    },
): Record<string, string> {
    const params: Record<string, string> = {
        ToCountry: countryOf(options.to),
        ToState: '',
        SmsMessageSid: options.messageSid,
        NumMedia: String(options.mediaUrls.length),
        ToCity: '',
        FromZip: '',
        SmsSid: options.messageSid,
        FromState: '',
        SmsStatus: 'received',
        FromCity: '',
        Body: options.body,
        FromCountry: countryOf(options.from),
        To: options.to,
    };
    if (options.messagingServiceSid !== undefined) params.MessagingServiceSid = options.messagingServiceSid;
    Object.assign(params, {
        ToZip: '',
        NumSegments: String(segmentCount(options.body)),
        ReferralNumMedia: '0',
        MessageSid: options.messageSid,
        AccountSid: options.accountSid,
        From: options.from,
        ApiVersion: API_VERSION,
    });
    options.mediaUrls.forEach((url, index) => {
        params[`MediaContentType${index}`] = options.mediaContentTypes?.[index] ?? contentTypeOf(url);
        params[`MediaUrl${index}`] = url;
    });
    return params;
}

/** The `<Message>` verbs of a TwiML answer (text from the element or its `<Body>`, media from `<Media>`). */
export function messageReplies(twiml: string): InboundReply[] {
    const parsed = parseTwiml(twiml);
    if (!parsed.ok) return [];
    return childElements(parsed.root, 'Message').map((message) => {
        const bodies = childElements(message, 'Body');
        return {
            body: bodies.length > 0 ? bodies.map(textOf).join('') : textOfDirect(message),
            to: message.attributes.to,
            from: message.attributes.from,
            mediaUrls: childElements(message, 'Media').map((media) => textOf(media).trim()),
        };
    });
}

/** Text directly inside an element (not inside its `<Media>` children). */
function textOfDirect(message: XmlElement): string {
    return message.children.map((child) => (typeof child === 'string' ? child : '')).join('');
}

/** The content type of a media URL, guessed from its extension; `application/octet-stream` without one. */
export function contentTypeOf(url: string): string {
    const extension = /\.([a-z0-9]+)(?:[?#]|$)/i.exec(url)?.[1]?.toLowerCase();
    const types: Record<string, string> = {
        jpg: 'image/jpeg',
        jpeg: 'image/jpeg',
        png: 'image/png',
        gif: 'image/gif',
        mp4: 'video/mp4',
        mp3: 'audio/mpeg',
        pdf: 'application/pdf',
        vcf: 'text/vcard',
    };
    return (extension === undefined ? undefined : types[extension]) ?? 'application/octet-stream';
}
