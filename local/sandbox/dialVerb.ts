/**
 * `<Dial>` in the call simulator. Its callees — `<Number>`s, `<Client>`s, `<Sip>`s or a bare number as
 * the verb's text — ring at once; each one's outcome comes from the call's script (answered, busy,
 * no-answer, failed; by number, else in the order they are rung; answered by default). Each callee is a
 * call leg of its own (`outbound-dial`, its `ParentCallSid` the caller's, From the `callerId` or the
 * caller's number), stored with the calls. A callee who answers hears its `<Number url>` whisper first,
 * run on its own leg with the callee's keys from the script: a whisper that hangs up (`<Hangup>`,
 * `<Reject>`, an error) declines the call, one that runs to its end accepts it. The first callee to
 * accept is connected; the others are canceled. Connected, the two talk for the callee's `seconds`
 * (default 5, at most `timeLimit`), then the callee hangs up.
 *
 * The `action` (if any) is then requested with `DialCallStatus` (`completed` once connected, else
 * `busy` when every callee was busy, `failed` when every one failed, `no-answer` otherwise), `DialCallSid`
 * (the connected leg, or the last one rung) and `DialCallDuration` (once connected); its TwiML runs next.
 * Without `action` the call goes on with the next verb, as Twilio's does.
 *
 * `<Conference>` joins the room by its name: the transcript lists the calls that joined it before (and
 * whether they are still in it), `startConferenceOnEnter` and the `waitUrl` (noted, not fetched); the
 * caller stays 5 simulated seconds and leaves, `DialCallStatus=completed`. `<Queue>` is not simulated.
 */

import { DEFAULT_TALK_SECONDS, scriptCursor, type CalleeAnswer } from './callScript';
import {
    actionRequest,
    inProgressParams,
    integer,
    MAX_CALL_SECONDS,
    methodOf,
    resolveUrl,
    write,
    type Leg,
    type VerbContext,
    type VerbResult,
} from './callSteps';
import { fetchTwiml } from './callTwiml';
import type { DialCallStatus } from './callTranscript';
import { newCallRecord } from './calls';
import { shortSid } from './context';
import type { CallStatus, SandboxCall } from './resources';
import { textOf, type XmlElement } from './twiml';

/** Seconds a callee rings before it answers (or is found busy, or fails). */
const RING_SECONDS = 2;
/** Seconds a caller stays in a conference. */
const CONFERENCE_SECONDS = 5;
const DEFAULT_WAIT_URL = 'https://twimlets.com/holdmusic?Bucket=com.twilio.music.classical';

interface Callee {
    readonly number: string;
    /** The whisper `<Number url>`, and its `method`. */
    readonly url: string | undefined;
    readonly method: 'GET' | 'POST';
}

type CalleeResult = 'answered' | 'busy' | 'no-answer' | 'failed' | 'declined' | 'canceled';

/** Runs `<Dial>`. */
export async function runDial(verbCtx: VerbContext, verb: XmlElement): Promise<VerbResult> {
    const elements = verb.children.filter((child): child is XmlElement => typeof child !== 'string');
    const conference = elements.find((child) => child.name === 'Conference');
    if (conference !== undefined) return joinConference(verbCtx, verb, conference);
    if (elements.some((child) => child.name === 'Queue')) {
        const message = 'sandbox: <Dial><Queue> is not simulated';
        write(verbCtx.leg, { step: 'error', code: null, message });
        return { kind: 'end', end: { how: 'error', code: null, message } };
    }
    const callees = calleesOf(verb, elements, verbCtx.documentUrl);
    const { leg } = verbCtx;
    const caller = leg.call;
    const timeout = integer(verb.attributes.timeout, 30, 1, 600);
    const timeLimit = integer(verb.attributes.timeLimit, MAX_CALL_SECONDS, 1, MAX_CALL_SECONDS);
    const callerId = verb.attributes.callerId ?? caller.from;

    const results: { number: string; outcome: CalleeResult; callSid: string }[] = [];
    let connected: { call: SandboxCall; answer: CalleeAnswer } | undefined;
    let ringing = 0;
    for (const callee of callees) {
        const answer = leg.cursor.calleeFor(callee.number);
        const child = newCallRecord(verbCtx.ctx, {
            direction: 'outbound-dial',
            parentCallSid: caller.sid,
            to: callee.number,
            from: callerId,
            url: callee.url ?? null,
            method: callee.method,
            twiml: null,
            statusCallback: null,
            statusCallbackMethod: 'POST',
            statusCallbackEvents: [],
            timeout,
            record: false,
            machineDetection: null,
            script: { digits: answer.digits ?? ['1'] },
            status: 'ringing',
        });
        verbCtx.ctx.store.calls.add(child);
        child.startTime = new Date();
        if (connected !== undefined) {
            results.push({ number: callee.number, outcome: 'canceled', callSid: child.sid });
            endLeg(child, 'canceled', 0);
            continue;
        }
        const outcome = await ring(verbCtx, child, callee, answer, timeout);
        ringing = Math.max(ringing, outcome.seconds);
        results.push({ number: callee.number, outcome: outcome.result, callSid: child.sid });
        if (outcome.result === 'answered') connected = { call: child, answer };
    }
    leg.seconds += ringing;

    let status: DialCallStatus;
    let duration = 0;
    if (connected !== undefined) {
        duration = Math.min(connected.answer.seconds ?? DEFAULT_TALK_SECONDS, timeLimit);
        leg.seconds += duration;
        endLeg(connected.call, 'completed', duration);
        status = 'completed';
    } else {
        const outcomes = results.map((r) => r.outcome);
        status =
            outcomes.length > 0 && outcomes.every((o) => o === 'busy')
                ? 'busy'
                : outcomes.length > 0 && outcomes.every((o) => o === 'failed')
                  ? 'failed'
                  : 'no-answer';
    }
    const dialCallSid = connected?.call.sid ?? results.at(-1)?.callSid ?? null;
    write(leg, {
        step: 'dial',
        callees: results,
        dialCallStatus: status,
        dialCallSid,
        duration,
        callerId,
    });
    verbCtx.ctx.log(`sandbox: ${shortSid(caller.sid)} <Dial> ${String(results.length)} callee(s): ${status}`);
    if (verb.attributes.action === undefined) return { kind: 'next' };
    return actionRequest(verbCtx, verb, 'dial-action', {
        DialCallStatus: status,
        ...(dialCallSid === null ? {} : { DialCallSid: dialCallSid }),
        ...(connected === undefined ? {} : { DialCallDuration: String(duration) }),
    });
}

/** One callee's leg from ringing to its outcome (a whisper included); how long it rang. */
async function ring(
    verbCtx: VerbContext,
    child: SandboxCall,
    callee: Callee,
    answer: CalleeAnswer,
    timeout: number,
): Promise<{ result: CalleeResult; seconds: number }> {
    if (answer.answer !== 'answered') {
        const seconds = answer.answer === 'no-answer' ? timeout : RING_SECONDS;
        endLeg(child, answer.answer, 0);
        return { result: answer.answer, seconds };
    }
    setLegStatus(child, 'in-progress');
    if (callee.url === undefined) return { result: 'answered', seconds: RING_SECONDS };
    const calleeLeg: Leg = { call: child, cursor: scriptCursor(child.script), seconds: 0 };
    const whisper = await fetchTwiml(
        verbCtx.ctx,
        child,
        { url: callee.url, method: callee.method, purpose: 'whisper', at: 0 },
        inProgressParams(child),
    );
    // The whisper's requests and steps are the callee leg's; the caller's transcript shows the outcome.
    const end = whisper.ok ? await verbCtx.runLeg(calleeLeg, whisper) : { how: 'error' as const };
    const seconds = RING_SECONDS + calleeLeg.seconds;
    if (end.how === 'completed') return { result: 'answered', seconds };
    endLeg(child, 'completed', calleeLeg.seconds);
    return { result: 'declined', seconds };
}

/** The callees of a `<Dial>`: its nouns, or its text as one number. */
function calleesOf(verb: XmlElement, elements: readonly XmlElement[], base: string | null): Callee[] {
    const nouns = elements.filter((child) => ['Number', 'Client', 'Sip'].includes(child.name));
    if (nouns.length === 0) {
        const text = textOf(verb).trim();
        return text === '' ? [] : [{ number: text, url: undefined, method: 'POST' }];
    }
    return nouns.map((noun) => {
        const text = textOf(noun).trim();
        const number = noun.name === 'Client' && !text.startsWith('client:') ? `client:${text}` : text;
        const url = noun.attributes.url === undefined ? undefined : resolveUrl(noun.attributes.url, base);
        return { number, url, method: methodOf(noun.attributes.method) };
    });
}

/** `<Dial><Conference>`: joins the room, stays a while, leaves. */
function joinConference(verbCtx: VerbContext, verb: XmlElement, conference: XmlElement): VerbResult {
    const { leg, ctx } = verbCtx;
    const name = textOf(conference).trim();
    const startOnEnter = conference.attributes.startConferenceOnEnter !== 'false';
    const participants = ctx.store.calls
        .oldestFirst()
        .filter(
            (call) =>
                call !== leg.call &&
                call.transcript.some((step) => step.step === 'conference' && step.name === name),
        )
        .map((call) => ({ callSid: call.sid, inConference: call.conference === name }));
    const started =
        startOnEnter ||
        ctx.store.calls
            .oldestFirst()
            .some(
                (call) =>
                    call.conference === name &&
                    call.transcript.some(
                        (step) =>
                            step.step === 'conference' && step.name === name && step.startConferenceOnEnter,
                    ),
            );
    // In the room until the call ends, so calls running at the same time see each other.
    leg.call.conference = name;
    write(leg, {
        step: 'conference',
        name,
        participants,
        startConferenceOnEnter: startOnEnter,
        started,
        waitUrl: conference.attributes.waitUrl ?? DEFAULT_WAIT_URL,
        seconds: CONFERENCE_SECONDS,
    });
    leg.seconds += CONFERENCE_SECONDS;
    if (verb.attributes.action === undefined) return { kind: 'next' };
    return actionRequest(verbCtx, verb, 'dial-action', {
        DialCallStatus: 'completed',
        DialCallDuration: String(CONFERENCE_SECONDS),
    });
}

function setLegStatus(call: SandboxCall, status: CallStatus): void {
    const now = new Date();
    call.status = status;
    call.dateUpdated = now;
    call.history.push({ status, at: now });
}

function endLeg(call: SandboxCall, status: CallStatus, duration: number): void {
    call.endTime = new Date();
    call.duration = duration;
    setLegStatus(call, status);
}
