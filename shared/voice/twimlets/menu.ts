/**
 * The `menu` twimlet (twimlets.com/menu): says or plays `Message` in a `<Gather>` of as many digits as the
 * longest `Options[<digits>]` key, then:
 *
 * - digits that are an option → `<Redirect method="GET">` to its URL (GET, as twimlets.com's HTTP
 *   redirect had Twilio do);
 * - other digits → `ErrorMessage` ("I'm sorry, that wasn't a valid option." by default), then the menu
 *   again;
 * - nothing pressed → the menu again.
 *
 * Each play of the menu is counted in the `Attempt` marker of its `<Gather action>` and `<Redirect>`;
 * after {@link MAX_MENU_PLAYS} the caller hears "Goodbye." and the call ends, where twimlets.com would
 * loop for as long as the caller stays on the line. Digits are only read on a step carrying the marker,
 * so a menu reached from another menu never acts on the digits pressed there.
 */

import type VoiceResponse from 'twilio/lib/twiml/VoiceResponse';
import { newVoiceResponse } from '../../platform/twiml';
import type { Twimlet, TwimletStep } from './contract';
import {
    indexedEntries,
    MAX_MENU_OPTIONS,
    MAX_OPTION_DIGITS,
    ownBases,
    pairsOf,
    refusal,
    speak,
    spokenParam,
    spokenText,
    urlValue,
    type Parsed,
    type Spoken,
} from './params';

/** twimlets.com's error message for digits that are no option. */
export const INVALID_OPTION = "I'm sorry, that wasn't a valid option.";
/** How many times the menu is played before the call ends. */
export const MAX_MENU_PLAYS = 5;
/** The marker counting the plays of a menu (or the pass code prompts of a conference). */
export const ATTEMPT = 'Attempt';

/** The play (1, 2, …) a step reports on, from its `Attempt` marker; 0 for a step without one. */
export function attemptOf(step: TwimletStep): number {
    const value = step.query.get(ATTEMPT) ?? '';
    return /^[1-9]\d{0,2}$/.test(value) ? Number(value) : 0;
}

/**
 * `Options[<digits>]=<url>` as a map from keys to URLs, in the order given; a bare `Options` or
 * `Options[]` is option 0, 1, … in order, as twimlets.com reads them. A key given twice, one over
 * {@link MAX_OPTION_DIGITS} digits, more than {@link MAX_MENU_OPTIONS} options, no option at all, or a
 * URL that `urlValue` refuses fails the step.
 */
export function optionsParam(query: URLSearchParams, bases: readonly string[]): Parsed<Map<string, string>> {
    const entries = indexedEntries(query, 'Options');
    const fail = (parameter: string, problem: string) => ({ ok: false as const, parameter, problem });
    if (entries.length === 0) return fail('Options', 'is missing');
    if (entries.length > MAX_MENU_OPTIONS)
        return fail('Options', `has more than ${String(MAX_MENU_OPTIONS)} options`);
    const options = new Map<string, string>();
    let next = 0;
    for (const entry of entries) {
        const key = entry.index ?? String(next++);
        if (key.length > MAX_OPTION_DIGITS) {
            return fail(entry.parameter, `has a key over ${String(MAX_OPTION_DIGITS)} digits`);
        }
        if (options.has(key)) return fail(entry.parameter, 'is given twice');
        const url = urlValue(entry.value, entry.parameter, bases);
        if (!url.ok) return url;
        options.set(key, url.value);
    }
    return { ok: true, value: options };
}

export const menu: Twimlet = async (step, deps, log) => {
    const bases = ownBases(step, deps);
    const options = optionsParam(step.query, bases);
    if (!options.ok) return refusal(step.name, options, log);
    const message = spokenParam(step.query, 'Message', bases);
    if (!message.ok) return refusal(step.name, message, log);
    const errorMessage = spokenParam(step.query, 'ErrorMessage', bases);
    if (!errorMessage.ok) return refusal(step.name, errorMessage, log);

    const response = await newVoiceResponse();
    const attempt = attemptOf(step);
    if (attempt === 0) {
        play(response, step, 1, message.value, errorMessage.value, options.value);
        return { twiml: response.toString() };
    }
    const digits = step.param('Digits') ?? '';
    if (digits !== '') {
        const target = options.value.get(digits);
        if (target !== undefined) {
            response.redirect({ method: 'GET' }, target);
            return { twiml: response.toString() };
        }
        speak(response, errorMessage.value ?? { say: INVALID_OPTION });
    }
    if (attempt >= MAX_MENU_PLAYS) {
        log.log(
            `Twimlet ${step.name}: no option chosen after ${String(MAX_MENU_PLAYS)} plays; the call ends`,
        );
        response.say('Goodbye.');
        response.hangup();
    } else {
        play(response, step, attempt + 1, message.value, errorMessage.value, options.value);
    }
    return { twiml: response.toString() };
};

/** Play `attempt` of the menu: the `<Gather>` and, when nothing is pressed, the `<Redirect>` back here. */
function play(
    response: VoiceResponse,
    step: TwimletStep,
    attempt: number,
    message: Spoken | undefined,
    errorMessage: Spoken | undefined,
    options: ReadonlyMap<string, string>,
): void {
    const here = step.selfUrl([
        ...pairsOf([
            ['Message', message && spokenText(message)],
            ['ErrorMessage', errorMessage && spokenText(errorMessage)],
        ]),
        ...[...options].map(([key, url]): [string, string] => [`Options[${key}]`, url]),
        [ATTEMPT, String(attempt)],
    ]);
    const numDigits = Math.max(1, ...[...options.keys()].map((key) => key.length));
    const gather = response.gather({ numDigits, action: here });
    if (message !== undefined) speak(gather, message);
    response.redirect(here);
}
