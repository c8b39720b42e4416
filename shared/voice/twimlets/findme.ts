/**
 * The `findme` twimlet (twimlets.com/findme): rings up to {@link MAX_DIAL_NUMBERS} `PhoneNumbers` one
 * after another, each for `Timeout` seconds (60 by default), with the whisper (whisper.ts, `Message`) on
 * each. The `<Dial action>` comes back here with `Dial=true` and the numbers not tried yet: answered →
 * `<Hangup/>`; otherwise the next number, and when none is left `<Redirect method="GET">` to `FailUrl`,
 * or `<Hangup/>`. A call takes at most as many steps as there are numbers.
 */

import { newVoiceResponse } from '../../platform/twiml';
import type { Twimlet } from './contract';
import { afterDial, whisperedDialStart } from './dial';
import {
    dialAnswered,
    listPairs,
    MAX_DIAL_NUMBERS,
    pairsOf,
    phoneListParam,
    refusal,
    spokenText,
    timeoutParam,
} from './params';
import { whisperUrl } from './whisper';

/** twimlets.com's default ring time for findme, in seconds. */
export const FINDME_TIMEOUT = 60;

export const findme: Twimlet = async (step, deps, log) => {
    const start = await whisperedDialStart(step, deps, log);
    if ('answer' in start) return start.answer;
    const { message, failUrl } = start;
    const numbers = phoneListParam(step.query, 'PhoneNumbers', MAX_DIAL_NUMBERS);
    if (!numbers.ok) return refusal(step.name, numbers, log);
    const timeout = timeoutParam(step.query, FINDME_TIMEOUT);
    if (!timeout.ok) return refusal(step.name, timeout, log);

    const [next, ...rest] = numbers.value;
    // Back from a `<Dial>` that was answered, or after the last number: the call ends or fails over.
    if (step.query.has('Dial') && (dialAnswered(step) || next === undefined)) return afterDial(step, failUrl);
    if (next === undefined)
        return refusal(step.name, { parameter: 'PhoneNumbers', problem: 'is missing' }, log);
    const action = step.selfUrl([
        ['Dial', 'true'],
        ...listPairs('PhoneNumbers', rest),
        ...pairsOf([
            ['Timeout', String(timeout.value)],
            ['Message', message && spokenText(message)],
            ['FailUrl', failUrl],
        ]),
    ]);
    const response = await newVoiceResponse();
    const dial = response.dial({ action, timeout: timeout.value });
    dial.number({ url: whisperUrl(step, message) }, next);
    return { twiml: response.toString() };
};
