/**
 * The call simulator: runs an answered call's TwiML the way Twilio does, one verb after another, and
 * fetches the next document when a verb says so. `<Say>`, `<Play>` and `<Pause>` are written to the
 * transcript; `<Gather>` takes the caller's keys from the call's script and requests its `action` with
 * `Digits` (or goes on to the next verb when nothing was pressed); `<Redirect>` fetches its URL;
 * `<Hangup>` ends the call; `<Reject>` as the very first verb ends it unanswered (`busy` with
 * `reason="busy"`, `no-answer` otherwise, as Twilio documents). `<Dial>` is dialVerb.ts's and `<Record>`
 * recordVerb.ts's. Every request is signed as Twilio signs (signedCallbacks.ts) and carries
 * {@link callParams} plus the verb's own parameters, by GET or POST as the verb's `method` says;
 * relative URLs resolve against the document's URL, and a verb's `action` defaults to it.
 *
 * Time is simulated, not waited for: each verb moves the call's clock (a `<Say>` one second per 15
 * characters, a `<Play>` 5 s, a `<Pause>` its `length`, a `<Gather>` its `timeout` when it waits), which
 * becomes the call's duration. Two bounds end any call: {@link MAX_STEPS} verbs and documents (a
 * `<Redirect>` to itself, an action that answers the same menu forever), and {@link MAX_CALL_SECONDS}
 * of simulated time (Twilio's own four-hour limit). Either ends the call with an `error` step that says
 * which.
 *
 * Verbs Twilio runs but the sandbox does not simulate (`<Enqueue>`, `<Connect>`, `<Start>`, `<Pay>`, …)
 * end the call with an error naming the verb; an element that is no TwiML verb at all ends it with
 * Twilio's debugger error 12200 (schema validation).
 */

import {
    actionRequest,
    inProgressParams,
    integer,
    MAX_CALL_SECONDS,
    MAX_STEPS,
    methodOf,
    resolveUrl,
    SimulatorError,
    invalidUrl,
    write,
    type Budget,
    type Leg,
    type LegEnd,
    type VerbContext,
    type VerbResult,
} from './callSteps';
import { fetchTwiml, type TwimlDocument, type TwimlFetch } from './callTwiml';
import type { SandboxContext } from './context';
import { runDial } from './dialVerb';
import { runRecord } from './recordVerb';
import { textOf, type XmlElement } from './twiml';

export { MAX_CALL_SECONDS, MAX_STEPS, type Budget, type Leg, type LegEnd } from './callSteps';

const NEXT: VerbResult = { kind: 'next' };
const NOT_SIMULATED = new Set([
    'Enqueue',
    'Connect',
    'Start',
    'Stop',
    'Stream',
    'Pay',
    'Prompt',
    'Refer',
    'Echo',
    'Leave',
    'Queue',
    'Sms',
    'Siprec',
]);

/**
 * Runs `leg` from `first` (a document already fetched and checked) until its TwiML ends.
 * `answered: false` while the call is not picked up yet: a first `<Reject>` then refuses it.
 */
export async function runLeg(
    ctx: SandboxContext,
    leg: Leg,
    budget: Budget,
    first: TwimlFetch & { ok: true },
    { answered }: { answered: boolean },
): Promise<LegEnd> {
    let current: TwimlFetch & { ok: true } = first;
    let firstVerb = !answered;
    for (;;) {
        const verbCtx: VerbContext = {
            ctx,
            leg,
            budget,
            documentUrl: current.url,
            runLeg: (child, whisper) => runLeg(ctx, child, budget, whisper, { answered: true }),
        };
        let fetch: (VerbResult & { kind: 'fetch' }) | undefined;
        for (const verb of verbsOf(current.document)) {
            const bound = checkBounds(leg, budget);
            if (bound !== undefined) return bound;
            const result =
                firstVerb && verb.name === 'Reject' ? reject(leg, verb) : await runVerb(verbCtx, verb);
            firstVerb = false;
            if (result.kind === 'next') continue;
            if (result.kind === 'end') return result.end;
            fetch = result;
            break;
        }
        if (fetch === undefined) return { how: 'completed' };
        const bound = checkBounds(leg, budget);
        if (bound !== undefined) return bound;
        const fetched = await fetchTwiml(
            ctx,
            leg.call,
            { url: fetch.url, method: fetch.method, purpose: fetch.purpose, at: leg.seconds },
            fetch.params,
        );
        await fetch.after?.();
        if (!fetched.ok) return { how: 'error', ...fetched.failure };
        current = fetched;
    }
}

/** Counts one step. @returns the end when a bound is passed. */
function checkBounds(leg: Leg, budget: Budget): LegEnd | undefined {
    budget.steps += 1;
    if (budget.steps > MAX_STEPS) {
        return {
            how: 'error',
            code: null,
            message: `sandbox: the call ran more than ${String(MAX_STEPS)} verbs and documents and was ended (a <Redirect> or action that loops?)`,
        };
    }
    if (leg.seconds > MAX_CALL_SECONDS) {
        return {
            how: 'error',
            code: null,
            message: `sandbox: the call passed ${String(MAX_CALL_SECONDS)} simulated seconds (Twilio's four-hour limit) and was ended`,
        };
    }
    return undefined;
}

/** The verbs of a document: a TwiML document's elements, or what Twilio does with text and audio. */
function verbsOf(document: TwimlDocument): XmlElement[] {
    if (document.kind === 'text') return [{ name: 'Say', attributes: {}, children: [document.text] }];
    if (document.kind === 'audio') return [{ name: 'Play', attributes: {}, children: [document.url] }];
    return document.root.children.filter((child): child is XmlElement => typeof child !== 'string');
}

async function runVerb(verbCtx: VerbContext, verb: XmlElement): Promise<VerbResult> {
    const { leg } = verbCtx;
    switch (verb.name) {
        case 'Say':
        case 'Play':
        case 'Pause':
            return prompt(leg, verb);
        case 'Gather':
            return gather(verbCtx, verb);
        case 'Dial':
            return runDial(verbCtx, verb);
        case 'Record':
            return runRecord(verbCtx, verb);
        case 'Redirect':
            return redirect(verbCtx, verb);
        case 'Hangup':
            write(leg, { step: 'hangup' });
            return { kind: 'end', end: { how: 'hangup' } };
        case 'Reject':
            // After the answer, <Reject> can only hang up.
            write(leg, { step: 'reject', reason: verb.attributes.reason ?? 'rejected' });
            return { kind: 'end', end: { how: 'hangup' } };
        default: {
            const message = NOT_SIMULATED.has(verb.name)
                ? `sandbox: <${verb.name}> is a TwiML verb the sandbox does not simulate`
                : `Schema validation warning: invalid content was found starting with element '${verb.name}'`;
            const code = NOT_SIMULATED.has(verb.name) ? null : SimulatorError.schemaValidation;
            write(leg, { step: 'error', code, message });
            return { kind: 'end', end: { how: 'error', code, message } };
        }
    }
}

function reject(leg: Leg, verb: XmlElement): VerbResult {
    const reason = verb.attributes.reason ?? 'rejected';
    write(leg, { step: 'reject', reason });
    return { kind: 'end', end: { how: 'rejected', status: reason === 'busy' ? 'busy' : 'no-answer' } };
}

/**
 * `<Say>`, `<Play>` or `<Pause>`: written to the transcript, the clock moved. `loop="0"` (repeat until
 * the caller hangs up) plays once, and then the simulated caller hangs up.
 */
function prompt(leg: Leg, verb: XmlElement): VerbResult {
    if (verb.name === 'Pause') {
        const seconds = integer(verb.attributes.length, 1, 0, MAX_CALL_SECONDS);
        write(leg, { step: 'pause', seconds });
        leg.seconds += seconds;
        return NEXT;
    }
    const loop = integer(verb.attributes.loop, 1, 0, 1000);
    const times = Math.max(1, loop);
    if (verb.name === 'Say') {
        const text = textOf(verb).trim();
        const voice = verb.attributes.voice;
        write(leg, { step: 'say', text, loop, ...(voice === undefined ? {} : { voice }) });
        leg.seconds += times * Math.max(1, Math.ceil(text.length / 15));
    } else if (verb.attributes.digits !== undefined) {
        write(leg, { step: 'play-digits', digits: verb.attributes.digits });
        leg.seconds += Math.max(1, Math.ceil(verb.attributes.digits.length / 2));
    } else {
        write(leg, { step: 'play', url: textOf(verb).trim(), loop });
        leg.seconds += times * 5;
    }
    return loop === 0 ? { kind: 'end', end: { how: 'caller-hung-up' } } : NEXT;
}

/**
 * `<Gather>`: its nested `<Say>`/`<Play>`/`<Pause>` play, then the caller's next keys from the script are
 * read against `finishOnKey` (default `#`; `''` turns it off) and `numDigits`; keys that end neither way
 * wait `timeout` seconds (default 5). Digits entered → the `action` (default: this document) with
 * `Digits` and `FinishedOnKey`; nothing → the next verb, unless `actionOnEmptyResult="true"`.
 * Speech is not simulated: `input="speech"` alone gathers nothing.
 */
function gather(verbCtx: VerbContext, verb: XmlElement): VerbResult {
    const { leg } = verbCtx;
    for (const child of verb.children) {
        if (typeof child === 'string' || !['Say', 'Play', 'Pause'].includes(child.name)) continue;
        const played = prompt(leg, child);
        if (played.kind === 'end') return played;
    }
    const timeout = integer(verb.attributes.timeout, 5, 1, 600);
    const finishOnKey = verb.attributes.finishOnKey ?? '#';
    const numDigits = integer(verb.attributes.numDigits, 0, 1, 1000);
    const input = (verb.attributes.input ?? 'dtmf').toLowerCase();
    const acceptsKeys = input.split(/\s+/).includes('dtmf');
    const keys = acceptsKeys ? (verbCtx.leg.cursor.nextDigits() ?? '') : '';

    let digits = '';
    let finishedOnKey = '';
    let complete = false;
    for (const key of keys.replace(/w/g, '')) {
        if (finishOnKey !== '' && finishOnKey.includes(key)) {
            finishedOnKey = key;
            complete = true;
            break;
        }
        digits += key;
        if (numDigits > 0 && digits.length >= numDigits) {
            complete = true;
            break;
        }
    }
    leg.seconds += Math.max(1, Math.ceil(keys.length / 2)) + (complete ? 0 : timeout);
    const entered = digits === '' ? null : digits;
    write(leg, {
        step: 'gather',
        digits: entered,
        finishedOnKey,
        timedOut: !complete,
        ...(acceptsKeys ? {} : { note: 'speech input is not simulated' }),
    });
    if (entered === null && verb.attributes.actionOnEmptyResult !== 'true') return NEXT;
    return actionRequest(verbCtx, verb, 'gather-action', { Digits: digits, FinishedOnKey: finishedOnKey });
}

/** `<Redirect>`: its URL (default: this document), by its `method` (default POST). */
function redirect(verbCtx: VerbContext, verb: XmlElement): VerbResult {
    const target = textOf(verb).trim();
    const url = resolveUrl(target === '' ? null : target, verbCtx.documentUrl);
    const method = methodOf(verb.attributes.method);
    if (url === undefined) return invalidUrl(verbCtx.leg);
    write(verbCtx.leg, { step: 'redirect', url, method });
    return { kind: 'fetch', url, method, purpose: 'redirect', params: inProgressParams(verbCtx.leg.call) };
}
