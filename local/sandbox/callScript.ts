/**
 * A call's script: what the people on a simulated call do, since the sandbox has no one to ask. The
 * caller's key presses (one entry per `<Gather>`), how each recording goes (one entry per `<Record>`),
 * and each callee a `<Dial>` rings (answers — and presses keys in its whisper —, is busy, does not answer,
 * or fails), plus whether the called party answers the call at all.
 *
 * A simulated inbound call (inboundCalls.ts, `npm run call`) is given its script. A call placed through
 * the REST API cannot carry one, so its To number chooses how it is answered ({@link CALL_OUTCOME_NUMBERS},
 * the sandbox-only test inputs in docs/sandbox.md) and the rest is the defaults: no keys pressed, every
 * recording 5 seconds ended by hanging up, every callee answering.
 *
 * {@link parseCallScript} checks a script that arrives as JSON (`POST /sandbox/calls`), bounded in every
 * list and string; {@link scriptCursor} hands its entries out in order while the call runs.
 */

/** How the called party meets the call. `machine` answers as an answering machine would. */
export const CALL_ANSWERS = ['answered', 'busy', 'no-answer', 'failed', 'canceled', 'machine'] as const;
export type CallAnswer = (typeof CALL_ANSWERS)[number];

/** How a callee of `<Dial>` meets the call. */
export const CALLEE_ANSWERS = ['answered', 'busy', 'no-answer', 'failed'] as const;
export type CalleeOutcome = (typeof CALLEE_ANSWERS)[number];

export interface CalleeAnswer {
    /** The callee this answer is for (as dialled); without it, the next callee without an answer of its own. */
    readonly number?: string | undefined;
    readonly answer: CalleeOutcome;
    /**
     * What the callee presses, one entry per `<Gather>` of its whisper (`<Number url>`); default `['1']`,
     * so a callee who answers accepts the call. `['']` answers and presses nothing.
     */
    readonly digits?: readonly string[] | undefined;
    /** How long the callee talks once connected (`DialCallDuration`); default 5. */
    readonly seconds?: number | undefined;
}

/** How one `<Record>` goes. */
export interface RecordInput {
    /** Seconds of audio; 0 is an empty recording (Twilio then skips the action). Default 5. */
    readonly seconds?: number | undefined;
    /**
     * How it ends: a key (if the verb's `finishOnKey` has it), `hangup` (the caller hangs up) or `silence`
     * (the verb's `timeout` of silence). Default `hangup`.
     */
    readonly end?: string | undefined;
}

export interface CallScript {
    /** Default `answered`. */
    readonly answer?: CallAnswer | undefined;
    /** The caller's keys, one entry per `<Gather>`, e.g. `['1#', '']` (`''` presses nothing). */
    readonly digits?: readonly string[] | undefined;
    /** The callees' answers, by `number` or in the order they are rung. */
    readonly dial?: readonly CalleeAnswer[] | undefined;
    /** One entry per `<Record>`. */
    readonly record?: readonly RecordInput[] | undefined;
}

export const DEFAULT_RECORD_SECONDS = 5;
export const DEFAULT_TALK_SECONDS = 5;
const MAX_ENTRIES = 100;
const MAX_SECONDS = 14_400;
const KEYS = /^[0-9*#w]{0,64}$/;
const RECORD_END = /^(?:[0-9*#]|hangup|silence)$/;
const NUMBER = /^[\w+:@.-]{1,256}$/;

/**
 * The sandbox-only To numbers of calls placed through the API, and how each call ends. Twilio's own
 * test-credential numbers (`+15005550001`…`+15005550009`) keep their meaning (testNumbers.ts); these sit
 * beside them at `+1500555006N`, a range Twilio documents nothing for.
 */
export const CALL_OUTCOME_NUMBERS: ReadonlyMap<string, CallAnswer> = new Map<string, CallAnswer>([
    ['+15005550060', 'busy'],
    ['+15005550061', 'no-answer'],
    ['+15005550062', 'failed'],
    ['+15005550063', 'canceled'],
    ['+15005550064', 'machine'],
]);

/** The script of a call placed through the API to `to`. */
export function scriptForNumber(to: string): CallScript {
    const answer = CALL_OUTCOME_NUMBERS.get(to);
    return answer === undefined ? {} : { answer };
}

export type ScriptParse = { ok: true; script: CallScript } | { ok: false; error: string };

/** Checks a script given as JSON: every field named when it is wrong, every list at most 100 entries. */
export function parseCallScript(value: unknown): ScriptParse {
    if (value === undefined || value === null) return { ok: true, script: {} };
    if (!isRecord(value)) return { ok: false, error: 'script must be an object' };
    const unknown = Object.keys(value).find((key) => !['answer', 'digits', 'dial', 'record'].includes(key));
    if (unknown !== undefined) return { ok: false, error: `script.${unknown} is not a script field` };
    const { answer, digits, dial, record } = value;
    if (answer !== undefined && !(CALL_ANSWERS as readonly unknown[]).includes(answer)) {
        return { ok: false, error: `script.answer must be one of ${CALL_ANSWERS.join(', ')}` };
    }
    const keys = keyList(digits, 'script.digits');
    if (typeof keys === 'string') return { ok: false, error: keys };
    const callees = list(dial, 'script.dial', calleeAnswer);
    if (typeof callees === 'string') return { ok: false, error: callees };
    const records = list(record, 'script.record', recordInput);
    if (typeof records === 'string') return { ok: false, error: records };
    return {
        ok: true,
        script: { answer: answer as CallAnswer | undefined, digits: keys, dial: callees, record: records },
    };
}

function keyList(value: unknown, name: string): string[] | undefined | string {
    // Keys are strings themselves, so they are checked here rather than by list()'s item check.
    const items = list(value, name, (item) => ({ item }));
    if (items === undefined || typeof items === 'string') return items;
    const bad = items.findIndex(({ item }) => typeof item !== 'string' || !KEYS.test(item));
    if (bad !== -1) return `${name}[${String(bad)}] must be up to 64 of 0-9 * # w`;
    return items.map(({ item }) => item as string);
}

/** A bounded list of checked items; a string is the error. */
function list<T>(
    value: unknown,
    name: string,
    item: (value: unknown, field: string) => T | string,
): T[] | undefined | string {
    if (value === undefined) return undefined;
    if (!Array.isArray(value)) return `${name} must be a list`;
    if (value.length > MAX_ENTRIES) return `${name} has more than ${String(MAX_ENTRIES)} entries`;
    const items: T[] = [];
    for (const [index, entry] of (value as unknown[]).entries()) {
        const checked = item(entry, `${name}[${String(index)}]`);
        if (typeof checked === 'string') return checked;
        items.push(checked);
    }
    return items;
}

function calleeAnswer(value: unknown, field: string): CalleeAnswer | string {
    if (!isRecord(value)) return `${field} must be an object`;
    const { number, answer, digits, seconds } = value;
    if (number !== undefined && (typeof number !== 'string' || !NUMBER.test(number))) {
        return `${field}.number must be a number as dialled`;
    }
    if (!(CALLEE_ANSWERS as readonly unknown[]).includes(answer)) {
        return `${field}.answer must be one of ${CALLEE_ANSWERS.join(', ')}`;
    }
    const keys = keyList(digits, `${field}.digits`);
    if (typeof keys === 'string') return keys;
    if (seconds !== undefined && !isSeconds(seconds))
        return `${field}.seconds must be 0–${String(MAX_SECONDS)}`;
    return { number, answer: answer as CalleeOutcome, digits: keys, seconds };
}

function recordInput(value: unknown, field: string): RecordInput | string {
    if (!isRecord(value)) return `${field} must be an object`;
    const { seconds, end } = value;
    if (seconds !== undefined && !isSeconds(seconds))
        return `${field}.seconds must be 0–${String(MAX_SECONDS)}`;
    if (end !== undefined && (typeof end !== 'string' || !RECORD_END.test(end))) {
        return `${field}.end must be a key (0-9 * #), hangup or silence`;
    }
    return { seconds, end };
}

function isSeconds(value: unknown): value is number {
    return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= MAX_SECONDS;
}

function isRecord(value: unknown): value is Record<string, unknown> {
    return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Hands out a script's entries in order, while one call (or one callee's leg) runs. */
export interface ScriptCursor {
    /** The keys for the next `<Gather>`, or `undefined` when the script has no more (nothing pressed). */
    nextDigits(): string | undefined;
    /** How the next `<Record>` goes. */
    nextRecord(): Required<RecordInput>;
    /** The answer for a callee, by its number first, else the next answer without a number. */
    calleeFor(number: string): CalleeAnswer;
}

export function scriptCursor(script: CallScript): ScriptCursor {
    const digits = [...(script.digits ?? [])];
    const records = [...(script.record ?? [])];
    const callees = [...(script.dial ?? [])];
    return {
        nextDigits: () => digits.shift(),
        nextRecord() {
            const next = records.shift();
            return { seconds: next?.seconds ?? DEFAULT_RECORD_SECONDS, end: next?.end ?? 'hangup' };
        },
        calleeFor(number) {
            let index = callees.findIndex((callee) => callee.number === number);
            if (index === -1) index = callees.findIndex((callee) => callee.number === undefined);
            if (index === -1) return { answer: 'answered' };
            return callees.splice(index, 1)[0] ?? { answer: 'answered' };
        },
    };
}
