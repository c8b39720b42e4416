/**
 * The twimlets' parameters, read the way twimlets.com reads them and checked the way this app checks
 * every input: indexed lists (`PhoneNumbers[0]`, `PhoneNumbers[]`, a bare `PhoneNumbers`), maps
 * (`Options[1]`), phone numbers normalised to E.164, `Timeout` within Twilio's bounds, texts and URLs
 * bounded, URLs that may not point into this app except at its flows (shared/platform/routes.ts
 * `flowUrlProblem`). Each reader returns a {@link Parsed} union; the first problem fails the step with
 * {@link refusal}: a spoken error, a hang-up, and a log line naming the parameter, never its value.
 *
 * A twimlet's own parameters are read from the query string only (the URL its owner configured); what
 * Twilio says about the call (`From`, `Digits`, `DialCallStatus`) is read with `step.param`, from the form
 * of a POST or the query of a GET.
 */

import type { AppDependencies } from '../../platform/dependencies';
import { flowUrlProblem, webhookBase } from '../../platform/routes';
import { newVoiceResponse, toXmlText } from '../../platform/twiml';
import type { TwimletAnswer, TwimletLog, TwimletStep } from './contract';

/** A parameter's value, or the parameter at fault and what is wrong with it (never the value). */
export type Parsed<T> = { ok: true; value: T } | { ok: false; parameter: string; problem: string };

/** The longest text a twimlet says (`Message`, `ErrorMessage`, `Name`): about a minute of speech. */
export const MAX_TEXT_LENGTH = 1_000;
/** The longest URL accepted in a parameter. */
export const MAX_URL_LENGTH = 1_000;
/** Numbers dialled by findme and simulring: Twilio's `<Dial>` rings at most 10 `<Number>`s. */
export const MAX_DIAL_NUMBERS = 10;
/** Numbers in `AllowedCallers` and `Moderators`. */
export const MAX_LISTED_NUMBERS = 50;
/** Entries of `Message[n]` in the message twimlet. */
export const MAX_MESSAGES = 20;
/** Options of a menu, and the longest option key (`Options[1234]`: 4 digits). */
export const MAX_MENU_OPTIONS = 20;
export const MAX_OPTION_DIGITS = 8;
/** `Timeout` bounds, in seconds, as Twilio's `<Dial timeout>` allows. */
export const MIN_TIMEOUT = 5;
export const MAX_TIMEOUT = 600;

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const fail = (parameter: string, problem: string): { ok: false; parameter: string; problem: string } => ({
    ok: false,
    parameter,
    problem,
});

/** One value of an indexed parameter, with the name logs call it by. */
export interface Entry {
    /** `Name`, `Name[]` or `Name[3]` (an index over 4 digits is shown as `Name[…]`). */
    readonly parameter: string;
    /** The index between the brackets; undefined for `Name` and `Name[]`. */
    readonly index: string | undefined;
    readonly value: string;
}

const INDEXED = /^([A-Za-z]+)(?:\[(\d*)\])?$/;

/** An index as a number for sorting, exact for any length: by length without leading zeros, then text. */
function compareIndexes(a: string, b: string): number {
    const x = a.replace(/^0+(?=\d)/, '');
    const y = b.replace(/^0+(?=\d)/, '');
    return x.length - y.length || (x < y ? -1 : x > y ? 1 : 0);
}

/**
 * The values of `name`, `name[]` and `name[<digits>]` in `query`, in twimlets' order: `name` and `name[]`
 * as they occur, then the indexed ones by index (ties in the order given). Values are trimmed, the
 * characters XML cannot carry dropped, and empty values skipped (twimlets filters them out too).
 */
export function indexedEntries(query: URLSearchParams, name: string): Entry[] {
    const plain: Entry[] = [];
    const indexed: Entry[] = [];
    for (const [key, raw] of query) {
        const match = INDEXED.exec(key);
        if (match?.[1] !== name) continue;
        const value = toXmlText(raw).trim();
        if (value === '') continue;
        const index = match[2];
        if (index === undefined || index === '') {
            plain.push({ parameter: index === undefined ? name : `${name}[]`, index: undefined, value });
        } else {
            const shown = index.length <= 4 ? index : '…';
            indexed.push({ parameter: `${name}[${shown}]`, index, value });
        }
    }
    indexed.sort((a, b) => compareIndexes(a.index ?? '', b.index ?? ''));
    return [...plain, ...indexed];
}

/** A single parameter, trimmed, XML-undrawable characters dropped; undefined when absent or empty. */
export function single(query: URLSearchParams, name: string): string | undefined {
    const raw = query.get(name);
    if (raw === null) return undefined;
    const value = toXmlText(raw).trim();
    return value === '' ? undefined : value;
}

const SEPARATORS = /[\s.\-()]/g;
const NANP = /^[2-9]\d{2}[2-9]\d{6}$/;

/**
 * A phone number as twimlets accepts it, in E.164, or undefined: `+14155551212`, `+44 20 7946 0000`,
 * `415-555-1212`, `(415) 555-1212`, `415.555.1212`, `4155551212` and `1-415-555-1212` (10-digit and
 * 1-prefixed 11-digit numbers are North American: +1, with the area code and exchange of a real NANP
 * number). A leading space before the digits is read as the `+` it was before the query string was
 * decoded (`?PhoneNumber=+14155551212` written unencoded). Anything else (letters, extensions, `00`
 * prefixes, SIP or client addresses) is not a number here.
 */
export function e164(raw: string | null | undefined): string | undefined {
    if (raw === null || raw === undefined) return undefined;
    const plussed = /^ \d/.test(raw) ? `+${raw.trimStart()}` : raw.trim();
    const compact = plussed.replace(SEPARATORS, '');
    if (compact.length > 16) return undefined;
    if (/^\+[1-9]\d{7,14}$/.test(compact)) {
        if (compact.startsWith('+1') && !NANP.test(compact.slice(2))) return undefined;
        return compact;
    }
    const national = /^1?(\d{10})$/.exec(compact)?.[1];
    return national !== undefined && NANP.test(national) ? `+1${national}` : undefined;
}

/** An optional phone number parameter (`CallerId`), in E.164. */
export function phoneParam(query: URLSearchParams, name: string): Parsed<string | undefined> {
    const value = single(query, name);
    if (value === undefined) return ok(undefined);
    const number = e164(value);
    return number === undefined ? fail(name, 'is not a phone number') : ok(number);
}

/** A required phone number parameter (`PhoneNumber`), in E.164. */
export function requiredPhoneParam(query: URLSearchParams, name: string): Parsed<string> {
    const number = phoneParam(query, name);
    if (!number.ok) return number;
    return number.value === undefined ? fail(name, 'is missing') : ok(number.value);
}

/** A list of phone numbers (`PhoneNumbers[n]`, `AllowedCallers[n]`, …), at most `max`, each in E.164. */
export function phoneListParam(query: URLSearchParams, name: string, max: number): Parsed<string[]> {
    const entries = indexedEntries(query, name);
    if (entries.length > max) return fail(name, `has more than ${String(max)} numbers`);
    const numbers: string[] = [];
    for (const entry of entries) {
        const number = e164(entry.value);
        if (number === undefined) return fail(entry.parameter, 'is not a phone number');
        numbers.push(number);
    }
    return ok(numbers);
}

/** `Timeout`: whole seconds within {@link MIN_TIMEOUT}–{@link MAX_TIMEOUT}, else `fallback`. */
export function timeoutParam(query: URLSearchParams, fallback: number): Parsed<number> {
    const value = single(query, 'Timeout');
    if (value === undefined) return ok(fallback);
    const seconds = /^\d{1,4}$/.test(value) ? Number(value) : NaN;
    if (!(seconds >= MIN_TIMEOUT && seconds <= MAX_TIMEOUT)) {
        return fail(
            'Timeout',
            `is not a whole number of seconds from ${String(MIN_TIMEOUT)} to ${String(MAX_TIMEOUT)}`,
        );
    }
    return ok(seconds);
}

/** A URL parameter's value checked by shared/platform/routes.ts `flowUrlProblem`. */
export function urlValue(value: string, parameter: string, ownBases: readonly string[]): Parsed<string> {
    if (value.length > MAX_URL_LENGTH) return fail(parameter, `is over ${String(MAX_URL_LENGTH)} characters`);
    const problem = flowUrlProblem(value, ownBases);
    return problem === undefined ? ok(value) : fail(parameter, problem);
}

/** An optional URL parameter (`FailUrl`). */
export function urlParam(
    query: URLSearchParams,
    name: string,
    ownBases: readonly string[],
): Parsed<string | undefined> {
    const value = single(query, name);
    return value === undefined ? ok(undefined) : urlValue(value, name, ownBases);
}

/** Something a twimlet says or plays: twimlets plays a message that is a URL and says any other. */
export type Spoken = { readonly play: string } | { readonly say: string };

const URL_TO_PLAY = /^https?:\/\/\S+$/i;

/** A message's value as {@link Spoken}: an http(s) URL is played (and checked as a URL), other text said. */
export function spokenValue(value: string, parameter: string, ownBases: readonly string[]): Parsed<Spoken> {
    if (URL_TO_PLAY.test(value)) {
        const url = urlValue(value, parameter, ownBases);
        return url.ok ? ok({ play: url.value }) : url;
    }
    if (value.length > MAX_TEXT_LENGTH)
        return fail(parameter, `is over ${String(MAX_TEXT_LENGTH)} characters`);
    return ok({ say: value });
}

/** An optional message parameter (`Message`, `ErrorMessage`). */
export function spokenParam(
    query: URLSearchParams,
    name: string,
    ownBases: readonly string[],
): Parsed<Spoken | undefined> {
    const value = single(query, name);
    return value === undefined ? ok(undefined) : spokenValue(value, name, ownBases);
}

/** The text of a {@link Spoken}, as a query parameter's value carries it to the next step. */
export function spokenText(spoken: Spoken): string {
    return 'play' in spoken ? spoken.play : spoken.say;
}

/** Appends `spoken` to a `<Response>` or `<Gather>`. */
export function speak(
    node: { say(text: string): unknown; play(url: string): unknown },
    spoken: Spoken,
): void {
    if ('play' in spoken) node.play(spoken.play);
    else node.say(spoken.say);
}

/**
 * The app's own bases, for {@link urlParam}: the public base URL and the base this step was signed on
 * (a proxy's host, the local host), so a URL back into the app is recognised whichever it names.
 */
export function ownBases(step: TwimletStep, deps: AppDependencies): string[] {
    const here = webhookBase(step.selfUrl([]));
    const configured = deps.config.publicBaseUrl;
    return configured === undefined || configured === here ? [here] : [configured, here];
}

/** The caller's number in E.164 (`From`, or the older `Caller`), or undefined for a client, SIP or hidden caller. */
export function callerNumber(step: TwimletStep): string | undefined {
    return e164(step.param('From') ?? step.param('Caller'));
}

/** Whether the `<Dial>` this step reports on was answered (`DialCallStatus`, or the older `DialStatus`). */
export function dialAnswered(step: TwimletStep): boolean {
    const status = step.param('DialCallStatus') ?? step.param('DialStatus');
    return status === 'completed' || status === 'answered';
}

/** Query pairs for a list, indexed from 0 (`PhoneNumbers[0]`, `PhoneNumbers[1]`, …). */
export function listPairs(name: string, values: readonly string[]): [string, string][] {
    return values.map((value, i) => [`${name}[${String(i)}]`, value]);
}

/** Query pairs for the parameters that are set, in the order given. */
export function pairsOf(entries: readonly (readonly [string, string | undefined])[]): [string, string][] {
    return entries.flatMap(([name, value]) =>
        value === undefined ? [] : [[name, value] as [string, string]],
    );
}

/** What a caller hears when the twimlet's URL is misconfigured. */
export const MISCONFIGURED = 'Sorry, this line is not set up correctly. Goodbye.';

/**
 * The answer to a step with a bad parameter: {@link MISCONFIGURED} then `<Hangup/>`, and a warning naming
 * the twimlet and the parameter (never its value, which can be a phone number).
 */
export async function refusal(
    twimlet: string,
    failure: { parameter: string; problem: string },
    log: TwimletLog,
): Promise<TwimletAnswer> {
    log.warn(
        `Twimlet ${twimlet}: parameter ${failure.parameter} ${failure.problem}; the call ends with a spoken error`,
    );
    const response = await newVoiceResponse();
    response.say(MISCONFIGURED);
    response.hangup();
    return { twiml: response.toString() };
}
