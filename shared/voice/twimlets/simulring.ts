/**
 * The `simulring` twimlet (twimlets.com/simulring): rings up to {@link MAX_DIAL_NUMBERS} `PhoneNumbers`
 * at once for `Timeout` seconds (20 by default); the first to answer and press a key in the whisper
 * (whisper.ts, `Message`) gets the call, the others stop ringing. Back from the `<Dial>` (`Dial=true`):
 * answered → `<Hangup/>`; otherwise `<Redirect method="GET">` to `FailUrl`, or `<Hangup/>`.
 */

import { newVoiceResponse } from '../../platform/twiml';
import type { Twimlet } from './contract';
import { afterDial, whisperedDialStart } from './dial';
import { MAX_DIAL_NUMBERS, pairsOf, phoneListParam, refusal, timeoutParam } from './params';
import { whisperUrl } from './whisper';

/** twimlets.com's default ring time for simulring, in seconds. */
export const SIMULRING_TIMEOUT = 20;

export const simulring: Twimlet = async (step, deps, log) => {
    const start = await whisperedDialStart(step, deps, log);
    if ('answer' in start) return start.answer;
    const { message, failUrl } = start;
    if (step.query.has('Dial')) return afterDial(step, failUrl);

    const numbers = phoneListParam(step.query, 'PhoneNumbers', MAX_DIAL_NUMBERS);
    if (!numbers.ok) return refusal(step.name, numbers, log);
    if (numbers.value.length === 0)
        return refusal(step.name, { parameter: 'PhoneNumbers', problem: 'is missing' }, log);
    const timeout = timeoutParam(step.query, SIMULRING_TIMEOUT);
    if (!timeout.ok) return refusal(step.name, timeout, log);

    const response = await newVoiceResponse();
    const dial = response.dial({
        action: step.selfUrl(
            pairsOf([
                ['Dial', 'true'],
                ['FailUrl', failUrl],
            ]),
        ),
        timeout: timeout.value,
    });
    const url = whisperUrl(step, message);
    // The same number twice would ring the same phone twice.
    for (const number of new Set(numbers.value)) dial.number({ url }, number);
    return { twiml: response.toString() };
};
