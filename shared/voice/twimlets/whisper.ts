/**
 * The whisper that findme and simulring play to the person called, before the caller is put through
 * (twimlets.com's `whisper` with `HumanCheck`, as the Find Me and Simulring funlets run it): the callee's
 * leg asks for `<Number url>` = this twimlet with `Whisper=true`, hears `Message` (by default "You are
 * receiving a call from <the caller's number, digit by digit>. Press any key to accept.") in a one-digit
 * `<Gather>`, and:
 *
 * - presses a key → the `<Gather action>` (`Whisper=gathered`) answers an empty `<Response/>`: the calls
 *   are bridged;
 * - presses nothing (an answering machine, a voicemail box) → `<Hangup/>` on the callee's leg only, so
 *   the caller's `<Dial>` goes on ringing the others (simulring) or moves to the next number (findme).
 */

import { newVoiceResponse } from '../../platform/twiml';
import type { TwimletAnswer, TwimletStep } from './contract';
import { e164, pairsOf, speak, spokenText, type Spoken } from './params';

/** The marker of the whisper's steps, and its values. */
export const WHISPER = 'Whisper';

/** Whether `step` is one of the whisper's (a callee's leg), not the caller's. */
export function isWhisperStep(step: TwimletStep): boolean {
    return step.query.has(WHISPER);
}

/** The callee leg's `<Number url>` for a whisper saying `message` (or the default). */
export function whisperUrl(step: TwimletStep, message: Spoken | undefined): string {
    return step.selfUrl(
        pairsOf([
            [WHISPER, 'true'],
            ['Message', message && spokenText(message)],
        ]),
    );
}

/** The default whisper: the caller's number spelled out, when it is a number. */
export function defaultWhisper(from: string | undefined): string {
    const number = e164(from);
    const spelled = number === undefined ? '' : ` from ${number.slice(1).split('').join(' ')}`;
    return `You are receiving a call${spelled}. Press any key to accept.`;
}

/** A whisper step's TwiML: the question, or the answer to a key pressed. */
export async function whisperStep(step: TwimletStep, message: Spoken | undefined): Promise<TwimletAnswer> {
    const response = await newVoiceResponse();
    if (step.query.get(WHISPER) === 'gathered') {
        if ((step.param('Digits') ?? '') === '') response.hangup();
        return { twiml: response.toString() };
    }
    const action = step.selfUrl(
        pairsOf([
            [WHISPER, 'gathered'],
            ['Message', message && spokenText(message)],
        ]),
    );
    const gather = response.gather({ numDigits: 1, action });
    speak(gather, message ?? { say: defaultWhisper(step.param('From')) });
    response.hangup();
    return { twiml: response.toString() };
}
