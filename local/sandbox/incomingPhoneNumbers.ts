/**
 * The IncomingPhoneNumbers resource's handlers: list (Twilio's filters, in the order the numbers were
 * provisioned), fetch, update (the rules are phoneNumbers.ts's) and release. Buying a number (`POST` to
 * the list) is not served.
 *
 * An inbound call or text to a number (the voice-flows issue's simulated caller) starts from the
 * number found here and its `VoiceUrl` / `SmsUrl` settings.
 */

import { maskPhone } from '../../shared/platform/redact';
import { shortSid } from './context';
import { errors } from './errors';
import { listPage } from './listing';
import {
    PHONE_NUMBER_FILTERS,
    phoneNumberFilter,
    phoneNumberResource,
    updatePhoneNumber,
} from './phoneNumbers';
import type { InstanceHandler, ResourceRoutes } from './restHandler';

const fetchNumber: InstanceHandler = (ctx, { path }, sid) => {
    const number = ctx.store.phoneNumbers.find(sid);
    if (number === undefined) throw errors.notFound(path);
    return { status: 200, body: phoneNumberResource(number) };
};

export const incomingPhoneNumberRoutes: ResourceRoutes = {
    list: {
        GET: (ctx, { path, query }) => ({
            status: 200,
            body: listPage({
                key: 'incoming_phone_numbers',
                path,
                query,
                filterNames: PHONE_NUMBER_FILTERS,
                // In the order the numbers were provisioned, as the console shows them.
                items: ctx.store.phoneNumbers.oldestFirst().filter(phoneNumberFilter(query)),
                sid: (n) => n.sid,
                sequenceOf: ctx.store.pageOrder.oldestFirst,
                render: phoneNumberResource,
            }),
        }),
    },
    instance: {
        GET: fetchNumber,
        POST(ctx, { path, form }, sid) {
            const number = ctx.store.phoneNumbers.find(sid);
            if (number === undefined) throw errors.notFound(path);
            const { changed } = updatePhoneNumber(number, form);
            const what = changed.length === 0 ? 'nothing changed' : changed.join(', ');
            ctx.log(`sandbox: ${shortSid(number.sid)} ${maskPhone(number.phoneNumber)} updated: ${what}`);
            return { status: 200, body: phoneNumberResource(number) };
        },
        DELETE(ctx, { path }, sid) {
            const number = ctx.store.phoneNumbers.remove(sid);
            if (number === undefined) throw errors.notFound(path);
            ctx.log(`sandbox: ${shortSid(number.sid)} ${maskPhone(number.phoneNumber)} released`);
            return { status: 204 };
        },
    },
};
