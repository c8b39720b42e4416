/**
 * The Messages resource: create (with the checks Twilio makes, and its error codes), fetch, delete and
 * list (filters and paging), and the one factory every stored message comes from — outbound from the
 * API here, inbound and replies in inboundMessages.ts. What happens to a message after it is created is
 * messageLifecycle.ts's.
 *
 * A check Twilio makes at create time (a blocked recipient, 21610 for one that replied STOP) goes into
 * {@link createMessage}; a failure Twilio only reports later (30003, 30005, …) belongs to the lifecycle.
 * Twilio's test-credential numbers (21212, 21606, 21611 for the sender; 21211, 21612, 21408, 21610,
 * 21614 for the recipient) are answered here, once the request is otherwise valid (testNumbers.ts).
 */

import { maskPhone } from '../../shared/platform/redact';
import { shortSid, type SandboxContext } from './context';
import { errors } from './errors';
import { nonEmpty } from './formParams';
import { dateFilter, listPage } from './listing';
import { startMessageLifecycle } from './messageLifecycle';
import { messageTestNumberError } from './testNumbers';
import type { ResourceRoutes, RestRequest } from './restHandler';
import {
    isHttpUrl,
    isMessageRecipient,
    isMessageSender,
    messageResource,
    newSid,
    segmentCount,
    type MessageDirection,
    type MessageStatus,
    type SandboxMessage,
} from './resources';

const MAX_MEDIA = 10;
const MAX_BODY_CHARS = 1600;
const LIST_FILTERS = ['To', 'From', 'DateSent', 'DateSent<', 'DateSent>'];

/** What differs between a new outbound, inbound or reply message. */
export interface NewMessage {
    direction: MessageDirection;
    to: string;
    from: string | null;
    body: string;
    mediaUrls: readonly string[];
    messagingServiceSid: string | null;
    status: MessageStatus;
    numSegments: number;
    statusCallback: string | null;
}

/** A message record created `now`: an `SM` SID, or `MM` with media; a received message is sent already. */
export function newMessage(accountSid: string, fields: NewMessage, now = new Date()): SandboxMessage {
    return {
        sid: newSid(fields.mediaUrls.length > 0 ? 'MM' : 'SM'),
        accountSid,
        ...fields,
        dateCreated: now,
        dateUpdated: now,
        dateSent: fields.status === 'received' ? now : null,
        errorCode: null,
        errorMessage: null,
        history: [{ status: fields.status, at: now }],
        callbacks: [],
    };
}

/**
 * Checks and stores a message sent through the API, and starts its lifecycle.
 *
 * @throws TwilioApiError with Twilio's code for what it rejects (21604, 21211, 21603, 21701, 21606,
 *   21602, 21617, 21623, 21620, 21609), and for Twilio's test numbers (testNumbers.ts).
 */
export function createMessage(ctx: SandboxContext, form: URLSearchParams): SandboxMessage {
    const to = nonEmpty(form.get('To'));
    const from = nonEmpty(form.get('From'));
    const messagingServiceSid = nonEmpty(form.get('MessagingServiceSid'));
    const body = form.get('Body') ?? '';
    const mediaUrls = form.getAll('MediaUrl').filter((url) => url !== '');
    const statusCallback = nonEmpty(form.get('StatusCallback'));

    if (to === null) throw errors.messageToMissing();
    if (!isMessageRecipient(to)) throw errors.invalidTo(to);
    if (from === null && messagingServiceSid === null) throw errors.messageFromMissing();
    if (messagingServiceSid !== null && !/^MG[0-9a-fA-F]{32}$/.test(messagingServiceSid)) {
        throw errors.messagingServiceSidInvalid(messagingServiceSid);
    }
    if (from !== null && !isMessageSender(from)) throw errors.messageFromInvalid(from);
    if (body === '' && mediaUrls.length === 0) throw errors.messageBodyMissing();
    if (body.length > MAX_BODY_CHARS) throw errors.messageBodyTooLong();
    if (mediaUrls.length > MAX_MEDIA) throw errors.tooManyMedia();
    const badMedia = mediaUrls.find((url) => !isHttpUrl(url));
    if (badMedia !== undefined) throw errors.mediaUrlInvalid(badMedia);
    if (statusCallback !== null && !isHttpUrl(statusCallback))
        throw errors.statusCallbackInvalid(statusCallback);
    const refused = messageTestNumberError(from, to);
    if (refused !== undefined) throw refused;

    const viaService = from === null;
    const status: MessageStatus = viaService ? 'accepted' : 'queued';
    const message = newMessage(ctx.accountSid, {
        direction: 'outbound-api',
        to,
        from,
        body,
        mediaUrls,
        messagingServiceSid,
        status,
        // With a Messaging Service the sender, and so the encoding, is not known yet: Twilio says 0.
        numSegments: viaService ? 0 : segmentCount(body),
        statusCallback,
    });
    ctx.store.messages.add(message);
    const media = mediaUrls.length > 0 ? `, ${String(mediaUrls.length)} media` : '';
    ctx.log(
        `sandbox: ${shortSid(message.sid)} ${status} → ${maskPhone(to)} (${String(body.length)} chars${media})`,
    );
    startMessageLifecycle(ctx, message);
    return message;
}

/** One page of messages, newest first, filtered by `To`, `From` and `DateSent` as Twilio filters. */
export function listMessages(ctx: SandboxContext, { path, query }: RestRequest): Record<string, unknown> {
    const to = query.get('To');
    const from = query.get('From');
    const sent = dateFilter(query, 'DateSent', { beforeInclusive: true });
    const items = ctx.store.messages
        .newestFirst()
        .filter(
            (m) =>
                (to === null || m.to === to) &&
                (from === null || m.from === from) &&
                (sent === undefined || sent(m.dateSent)),
        );
    return listPage({
        key: 'messages',
        path,
        query,
        filterNames: LIST_FILTERS,
        items,
        sid: (m) => m.sid,
        sequenceOf: ctx.store.pageOrder.newestFirst,
        render: messageResource,
    });
}

export const messageRoutes: ResourceRoutes = {
    list: {
        GET: (ctx, request) => ({ status: 200, body: listMessages(ctx, request) }),
        POST: (ctx, { form }) => ({ status: 201, body: messageResource(createMessage(ctx, form)) }),
    },
    instance: {
        GET(ctx, { path }, sid) {
            const message = ctx.store.messages.find(sid);
            if (message === undefined) throw errors.notFound(path);
            return { status: 200, body: messageResource(message) };
        },
        DELETE(ctx, { path }, sid) {
            const message = ctx.store.messages.remove(sid);
            if (message === undefined) throw errors.notFound(path);
            ctx.log(`sandbox: ${shortSid(message.sid)} deleted`);
            return { status: 204 };
        },
    },
};
