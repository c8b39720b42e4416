/**
 * The `conference` twimlet (twimlets.com/conference): puts the caller in the conference `Name`.
 *
 * 1. With a `Password` (digits), a `<Gather>` of at least 3 digits asks "Please enter your conference
 *    pass code"; a wrong or missing code asks again, at most {@link MAX_PASSWORD_PROMPTS} times, then
 *    the call ends. The code is only read on a step carrying the `Attempt` marker of our own
 *    `<Gather action>`, so digits pressed in a menu that led here never count as the code.
 * 2. `Message` is said or played ("You are now entering the conference line." by default), then
 *    `<Dial><Conference>`: with `Moderators`, a moderator (the caller's number is one of them) starts the
 *    conference on entering and ends it on leaving, anyone else waits for one; `Music` is one of
 *    twimlets.com's hold music genres (its holdmusic twimlet plays them) or a URL, requested with GET.
 *
 * Without a `Name`, the name is derived from `Message` and `Moderators`, as twimlets.com derived it.
 */

import { createHash } from 'node:crypto';
import { newVoiceResponse } from '../../platform/twiml';
import type { Twimlet } from './contract';
import { ATTEMPT, attemptOf } from './menu';
import {
    callerNumber,
    listPairs,
    MAX_LISTED_NUMBERS,
    ownBases,
    pairsOf,
    phoneListParam,
    refusal,
    single,
    speak,
    spokenParam,
    spokenText,
    urlValue,
    type Parsed,
} from './params';

export const ENTERING = 'You are now entering the conference line.';
export const ENTER_PASS_CODE = 'Please enter your conference pass code';
export const WRONG_PASS_CODE = 'Sorry, that pass code is incorrect.';
/** How many times the pass code is asked for before the call ends. */
export const MAX_PASSWORD_PROMPTS = 3;
/** The longest `Name` and `Password`. */
export const MAX_NAME_LENGTH = 128;
export const MAX_PASSWORD_DIGITS = 16;
/** twimlets.com's hold music genres, each a bucket its holdmusic twimlet plays. */
export const MUSIC_GENRES: readonly string[] = [
    'ambient',
    'classical',
    'electronica',
    'guitars',
    'rock',
    'soft-rock',
];

/** `Music`: a genre's holdmusic URL, or a URL as given (checked like every URL parameter). */
export function musicParam(query: URLSearchParams, bases: readonly string[]): Parsed<string | undefined> {
    const value = single(query, 'Music');
    if (value === undefined) return { ok: true, value: undefined };
    const genre = value.toLowerCase();
    if (MUSIC_GENRES.includes(genre)) {
        return { ok: true, value: `https://twimlets.com/holdmusic?Bucket=com.twilio.music.${genre}` };
    }
    if (/^https?:/i.test(value)) return urlValue(value, 'Music', bases);
    return {
        ok: false,
        parameter: 'Music',
        problem: `is neither a URL nor one of ${MUSIC_GENRES.join(', ')}`,
    };
}

export const conference: Twimlet = async (step, deps, log) => {
    const bases = ownBases(step, deps);
    const name = single(step.query, 'Name');
    if (name !== undefined && name.length > MAX_NAME_LENGTH) {
        return refusal(
            step.name,
            { parameter: 'Name', problem: `is over ${String(MAX_NAME_LENGTH)} characters` },
            log,
        );
    }
    const password = single(step.query, 'Password');
    if (password !== undefined && !new RegExp(`^\\d{1,${String(MAX_PASSWORD_DIGITS)}}$`).test(password)) {
        return refusal(
            step.name,
            { parameter: 'Password', problem: `is not 1 to ${String(MAX_PASSWORD_DIGITS)} digits` },
            log,
        );
    }
    const message = spokenParam(step.query, 'Message', bases);
    if (!message.ok) return refusal(step.name, message, log);
    const music = musicParam(step.query, bases);
    if (!music.ok) return refusal(step.name, music, log);
    const moderators = phoneListParam(step.query, 'Moderators', MAX_LISTED_NUMBERS);
    if (!moderators.ok) return refusal(step.name, moderators, log);

    const response = await newVoiceResponse();
    if (password !== undefined) {
        const attempt = attemptOf(step);
        const digits = attempt === 0 ? '' : (step.param('Digits') ?? '');
        if (digits !== password) {
            if (digits !== '') response.say(WRONG_PASS_CODE);
            if (attempt >= MAX_PASSWORD_PROMPTS) {
                log.log(
                    `Twimlet ${step.name}: no valid pass code after ${String(MAX_PASSWORD_PROMPTS)} prompts; the call ends`,
                );
                response.say('Goodbye.');
                response.hangup();
                return { twiml: response.toString() };
            }
            const here = step.selfUrl([
                ...pairsOf([
                    ['Name', name],
                    ['Password', password],
                    ['Message', message.value && spokenText(message.value)],
                    ['Music', single(step.query, 'Music')],
                ]),
                ...listPairs('Moderators', moderators.value),
                [ATTEMPT, String(attempt + 1)],
            ]);
            response.gather({ numDigits: Math.max(3, password.length), action: here }).say(ENTER_PASS_CODE);
            response.redirect(here);
            return { twiml: response.toString() };
        }
    }

    speak(response, message.value ?? { say: ENTERING });
    const room =
        name ??
        `twimlet-${createHash('sha256')
            .update([message.value ? spokenText(message.value) : '', ...moderators.value].join('\n'))
            .digest('hex')
            .slice(0, 32)}`;
    const caller = callerNumber(step);
    const isModerator = caller !== undefined && moderators.value.includes(caller);
    response.dial().conference(
        {
            ...(moderators.value.length === 0
                ? {}
                : isModerator
                  ? { startConferenceOnEnter: true, endConferenceOnExit: true }
                  : { startConferenceOnEnter: false }),
            ...(music.value === undefined ? {} : { waitUrl: music.value, waitMethod: 'GET' }),
        },
        room,
    );
    return { twiml: response.toString() };
};
