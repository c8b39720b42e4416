/**
 * The `forward` twimlet (twimlets.com/forward), in two steps on the same URL:
 *
 * 1. A caller not in `AllowedCallers` (when given) hears that the number is restricted and the call
 *    ends; anyone else is dialled through to `PhoneNumber` (`CallerId`, `Timeout`: 20 s by default), the
 *    `<Dial action>` pointing back here with the marker `Dial=true` and the `FailUrl`.
 * 2. Back from the `<Dial>` (`Dial=true`): answered → `<Hangup/>`; busy, no answer or failed →
 *    `<Redirect method="GET">` to `FailUrl` (requested with GET, as twimlets.com's HTTP redirect had
 *    Twilio do), or `<Hangup/>` without one.
 */

import { newVoiceResponse } from '../../platform/twiml';
import type { Twimlet } from './contract';
import { afterDial } from './dial';
import {
    callerNumber,
    MAX_LISTED_NUMBERS,
    ownBases,
    pairsOf,
    phoneListParam,
    phoneParam,
    refusal,
    requiredPhoneParam,
    timeoutParam,
    urlParam,
} from './params';

/** twimlets.com's default ring time for forward, in seconds. */
export const FORWARD_TIMEOUT = 20;
/** What a caller not in `AllowedCallers` hears (twimlets.com's wording). */
export const RESTRICTED = 'Sorry, you are calling from a restricted number. Good bye.';

export const forward: Twimlet = async (step, deps, log) => {
    const failUrl = urlParam(step.query, 'FailUrl', ownBases(step, deps));
    if (!failUrl.ok) return refusal(step.name, failUrl, log);
    if (step.query.has('Dial')) return afterDial(step, failUrl.value);

    const phoneNumber = requiredPhoneParam(step.query, 'PhoneNumber');
    if (!phoneNumber.ok) return refusal(step.name, phoneNumber, log);
    const callerId = phoneParam(step.query, 'CallerId');
    if (!callerId.ok) return refusal(step.name, callerId, log);
    const timeout = timeoutParam(step.query, FORWARD_TIMEOUT);
    if (!timeout.ok) return refusal(step.name, timeout, log);
    const allowed = phoneListParam(step.query, 'AllowedCallers', MAX_LISTED_NUMBERS);
    if (!allowed.ok) return refusal(step.name, allowed, log);

    const response = await newVoiceResponse();
    if (allowed.value.length > 0) {
        const caller = callerNumber(step);
        if (caller === undefined || !allowed.value.includes(caller)) {
            log.log(`Twimlet ${step.name}: the caller is not one of AllowedCallers; the call ends`);
            response.say(RESTRICTED);
            response.hangup();
            return { twiml: response.toString() };
        }
    }
    const action = step.selfUrl(
        pairsOf([
            ['Dial', 'true'],
            ['FailUrl', failUrl.value],
        ]),
    );
    const dial = response.dial({
        action,
        timeout: timeout.value,
        ...(callerId.value === undefined ? {} : { callerId: callerId.value }),
    });
    dial.number(phoneNumber.value);
    return { twiml: response.toString() };
};
