/**
 * The Calls resource: create (with the checks Twilio makes, and its error codes), fetch, delete and
 * list (filters and paging). What happens to a call after it is created is callLifecycle.ts's.
 *
 * Parameters the call simulator will act on (`Record`, `MachineDetection`, `Timeout`) are checked and
 * kept on the call here; the lifecycle reads them. A call update (`POST …/Calls/{Sid}.json` with
 * `Status=completed` or new `Twiml`, to hang up or redirect a live call) is one more `instance.POST`
 * handler below, which adds POST to the instance's `Allow`.
 */

import { maskPhone } from '../../shared/platform/redact';
import { loggableUrl } from './callbacks';
import { CALL_EVENTS, startCallLifecycle } from './callLifecycle';
import { shortSid, type SandboxContext } from './context';
import { errors } from './errors';
import { httpMethod, nonEmpty } from './formParams';
import { scriptForNumber } from './callScript';
import { callTestNumberError } from './testNumbers';
import { dateFilter, listPage } from './listing';
import type { ResourceRoutes, RestRequest } from './restHandler';
import { callResource, isCallParty, isHttpUrl, newSid, type SandboxCall } from './resources';

const MACHINE_DETECTION = ['Enable', 'DetectMessageEnd'];
const LIST_FILTERS = [
    'To',
    'From',
    'ParentCallSid',
    'Status',
    'StartTime',
    'StartTime<',
    'StartTime>',
    'EndTime',
    'EndTime<',
    'EndTime>',
];

/**
 * Checks and stores a call made through the API, and starts its lifecycle.
 *
 * @throws TwilioApiError with Twilio's code for what it rejects (21201, 21211, 21213, 21212, 21218,
 *   21205, 21609, 20001; Twilio's test-credential numbers, testNumbers.ts). A sandbox-only To number
 *   (callScript.ts) chooses how the call is answered.
 */
export function createCall(ctx: SandboxContext, form: URLSearchParams): SandboxCall {
    const to = nonEmpty(form.get('To'));
    const from = nonEmpty(form.get('From'));
    const url = nonEmpty(form.get('Url'));
    const twiml = nonEmpty(form.get('Twiml'));
    const statusCallback = nonEmpty(form.get('StatusCallback'));

    if (to === null) throw errors.callToMissing();
    if (!isCallParty(to, true)) throw errors.invalidTo(to);
    if (from === null) throw errors.callFromMissing();
    if (!isCallParty(from, false)) throw errors.callFromInvalid(from);
    if (nonEmpty(form.get('ApplicationSid')) !== null) throw errors.invalidApplicationSid();
    if (url === null && twiml === null) throw errors.callUrlMissing();
    if (url !== null && !isHttpUrl(url)) throw errors.callUrlInvalid(url);
    if (statusCallback !== null && !isHttpUrl(statusCallback))
        throw errors.statusCallbackInvalid(statusCallback);
    const method = httpMethod(form, 'Method');
    const statusCallbackMethod = httpMethod(form, 'StatusCallbackMethod');
    const events = form
        .getAll('StatusCallbackEvent')
        .flatMap((value) => value.split(/[\s,]+/))
        .filter((value) => value !== '');
    const unknown = events.find((event) => !(CALL_EVENTS as readonly string[]).includes(event));
    if (unknown !== undefined) throw errors.invalidParameter(`Invalid StatusCallbackEvent: ${unknown}`);
    const timeoutText = form.get('Timeout') ?? '60';
    const timeout = Number(timeoutText);
    if (!/^\d+$/.test(timeoutText) || timeout < 1 || timeout > 600) {
        throw errors.invalidParameter(`Invalid Timeout: ${timeoutText} (1–600 seconds)`);
    }
    const machineDetection = nonEmpty(form.get('MachineDetection'));
    if (machineDetection !== null && !MACHINE_DETECTION.includes(machineDetection)) {
        throw errors.invalidParameter(`Invalid MachineDetection: ${machineDetection}`);
    }

    const refused = callTestNumberError(from, to);
    if (refused !== undefined) throw refused;

    const call = newCallRecord(ctx, {
        direction: 'outbound-api',
        to,
        from,
        // Twilio ignores Twiml when Url is given too.
        url,
        method,
        twiml: url === null ? twiml : null,
        statusCallback,
        statusCallbackMethod,
        // Without StatusCallbackEvent Twilio reports only `completed`.
        statusCallbackEvents: events.length > 0 ? [...new Set(events)] : ['completed'],
        timeout,
        record: (form.get('Record') ?? '').toLowerCase() === 'true',
        machineDetection,
        script: scriptForNumber(to),
    });
    ctx.store.calls.add(call);
    const source = url === null ? 'inline TwiML' : `Url ${loggableUrl(url)}`;
    ctx.log(`sandbox: ${shortSid(call.sid)} queued → ${maskPhone(to)} (${source})`);
    startCallLifecycle(ctx, call);
    return call;
}

/** What a new call is made of; everything else starts empty. */
export type NewCall = Pick<
    SandboxCall,
    | 'direction'
    | 'to'
    | 'from'
    | 'url'
    | 'method'
    | 'twiml'
    | 'statusCallback'
    | 'statusCallbackMethod'
    | 'statusCallbackEvents'
    | 'timeout'
    | 'record'
    | 'machineDetection'
    | 'script'
> & { parentCallSid?: string; status?: SandboxCall['status'] };

/** A call record (API-placed, inbound, or a `<Dial>` leg), not stored yet. */
export function newCallRecord(ctx: SandboxContext, fields: NewCall): SandboxCall {
    const now = new Date();
    const status = fields.status ?? 'queued';
    return {
        ...fields,
        sid: newSid('CA'),
        accountSid: ctx.accountSid,
        parentCallSid: fields.parentCallSid ?? null,
        status,
        answeredBy: null,
        dateCreated: now,
        dateUpdated: now,
        startTime: null,
        endTime: null,
        duration: null,
        errorCode: null,
        errorMessage: null,
        history: [{ status, at: now }],
        callbacks: [],
        transcript: [],
        conference: null,
    };
}

/** One page of calls, newest first, filtered as Twilio filters them (a `<Dial>`'s legs by `ParentCallSid`). */
export function listCalls(ctx: SandboxContext, { path, query }: RestRequest): Record<string, unknown> {
    const to = query.get('To');
    const from = query.get('From');
    const status = query.get('Status');
    const parent = query.get('ParentCallSid');
    const started = dateFilter(query, 'StartTime', { beforeInclusive: false });
    const ended = dateFilter(query, 'EndTime', { beforeInclusive: false });
    const items = ctx.store.calls
        .newestFirst()
        .filter(
            (c) =>
                (to === null || c.to === to) &&
                (from === null || c.from === from) &&
                (status === null || c.status === status) &&
                (parent === null || c.parentCallSid === parent) &&
                (started === undefined || started(c.startTime)) &&
                (ended === undefined || ended(c.endTime)),
        );
    return listPage({
        key: 'calls',
        path,
        query,
        filterNames: LIST_FILTERS,
        items,
        sid: (c) => c.sid,
        sequenceOf: ctx.store.pageOrder.newestFirst,
        render: callResource,
    });
}

export const callRoutes: ResourceRoutes = {
    list: {
        GET: (ctx, request) => ({ status: 200, body: listCalls(ctx, request) }),
        POST: (ctx, { form }) => ({ status: 201, body: callResource(createCall(ctx, form)) }),
    },
    instance: {
        GET(ctx, { path }, sid) {
            const call = ctx.store.calls.find(sid);
            if (call === undefined) throw errors.notFound(path);
            return { status: 200, body: callResource(call) };
        },
        DELETE(ctx, { path }, sid) {
            const call = ctx.store.calls.remove(sid);
            if (call === undefined) throw errors.notFound(path);
            ctx.log(`sandbox: ${shortSid(call.sid)} deleted`);
            return { status: 204 };
        },
    },
};
