/**
 * The `simulring` twimlet (twimlets.com/simulring): rings up to {@link MAX_DIAL_NUMBERS} `PhoneNumbers`
 * at once for `Timeout` seconds (20 by default); the first to answer and press a key in the whisper
 * (whisper.ts, `Message`) gets the call, the others stop ringing. Back from the `<Dial>` (`Dial=true`):
 * answered → `<Hangup/>`; otherwise `<Redirect method="GET">` to `FailUrl`, or `<Hangup/>`.
 */

import { newVoiceResponse } from '../../platform/twiml';
import type { Twimlet } from './contract';
import {
    dialAnswered,
    MAX_DIAL_NUMBERS,
    ownBases,
    pairsOf,
    phoneListParam,
    refusal,
    spokenParam,
    timeoutParam,
    urlParam,
} from './params';
import { isWhisperStep, whisperStep, whisperUrl } from './whisper';

/** twimlets.com's default ring time for simulring, in seconds. */
export const SIMULRING_TIMEOUT = 20;

export const simulring: Twimlet = async (step, deps, log) => {
    const bases = ownBases(step, deps);
    const message = spokenParam(step.query, 'Message', bases);
    if (!message.ok) return refusal(step.name, message, log);
    if (isWhisperStep(step)) return whisperStep(step, message.value);

    const failUrl = urlParam(step.query, 'FailUrl', bases);
    if (!failUrl.ok) return refusal(step.name, failUrl, log);
    const response = await newVoiceResponse();
    if (step.query.has('Dial')) {
        if (!dialAnswered(step) && failUrl.value !== undefined)
            response.redirect({ method: 'GET' }, failUrl.value);
        else response.hangup();
        return { twiml: response.toString() };
    }

    const numbers = phoneListParam(step.query, 'PhoneNumbers', MAX_DIAL_NUMBERS);
    if (!numbers.ok) return refusal(step.name, numbers, log);
    if (numbers.value.length === 0)
        return refusal(step.name, { parameter: 'PhoneNumbers', problem: 'is missing' }, log);
    const timeout = timeoutParam(step.query, SIMULRING_TIMEOUT);
    if (!timeout.ok) return refusal(step.name, timeout, log);

    const dial = response.dial({
        action: step.selfUrl(
            pairsOf([
                ['Dial', 'true'],
                ['FailUrl', failUrl.value],
            ]),
        ),
        timeout: timeout.value,
    });
    const url = whisperUrl(step, message.value);
    // The same number twice would ring the same phone twice.
    for (const number of new Set(numbers.value)) dial.number({ url }, number);
    return { twiml: response.toString() };
};
