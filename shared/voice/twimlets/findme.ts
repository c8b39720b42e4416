/**
 * The `findme` twimlet (twimlets.com/findme): rings up to {@link MAX_DIAL_NUMBERS} `PhoneNumbers` one
 * after another, each for `Timeout` seconds (60 by default), with the whisper (whisper.ts, `Message`) on
 * each. The `<Dial action>` comes back here with `Dial=true` and the numbers not tried yet: answered →
 * `<Hangup/>`; otherwise the next number, and when none is left `<Redirect method="GET">` to `FailUrl`,
 * or `<Hangup/>`. A call takes at most as many steps as there are numbers.
 */

import { newVoiceResponse } from '../../platform/twiml';
import type { Twimlet } from './contract';
import {
    dialAnswered,
    listPairs,
    MAX_DIAL_NUMBERS,
    ownBases,
    pairsOf,
    phoneListParam,
    refusal,
    spokenParam,
    spokenText,
    timeoutParam,
    urlParam,
} from './params';
import { isWhisperStep, whisperStep, whisperUrl } from './whisper';

/** twimlets.com's default ring time for findme, in seconds. */
export const FINDME_TIMEOUT = 60;

export const findme: Twimlet = async (step, deps, log) => {
    const bases = ownBases(step, deps);
    const message = spokenParam(step.query, 'Message', bases);
    if (!message.ok) return refusal(step.name, message, log);
    if (isWhisperStep(step)) return whisperStep(step, message.value);

    const failUrl = urlParam(step.query, 'FailUrl', bases);
    if (!failUrl.ok) return refusal(step.name, failUrl, log);
    const numbers = phoneListParam(step.query, 'PhoneNumbers', MAX_DIAL_NUMBERS);
    if (!numbers.ok) return refusal(step.name, numbers, log);
    const timeout = timeoutParam(step.query, FINDME_TIMEOUT);
    if (!timeout.ok) return refusal(step.name, timeout, log);
    const returning = step.query.has('Dial');

    const response = await newVoiceResponse();
    if (returning && dialAnswered(step)) {
        response.hangup();
        return { twiml: response.toString() };
    }
    const [next, ...rest] = numbers.value;
    if (next === undefined) {
        if (!returning) return refusal(step.name, { parameter: 'PhoneNumbers', problem: 'is missing' }, log);
        if (failUrl.value !== undefined) response.redirect({ method: 'GET' }, failUrl.value);
        else response.hangup();
        return { twiml: response.toString() };
    }
    const action = step.selfUrl([
        ['Dial', 'true'],
        ...listPairs('PhoneNumbers', rest),
        ...pairsOf([
            ['Timeout', String(timeout.value)],
            ['Message', message.value && spokenText(message.value)],
            ['FailUrl', failUrl.value],
        ]),
    ]);
    const dial = response.dial({ action, timeout: timeout.value });
    dial.number({ url: whisperUrl(step, message.value) }, next);
    return { twiml: response.toString() };
};
