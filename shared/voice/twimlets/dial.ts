/**
 * What the dialling twimlets (forward, findme, simulring) do alike: the step back from their `<Dial
 * action>` (`Dial=true`), and, for the two that whisper to the callee (findme, simulring), the checks
 * every one of their steps starts with. Each twimlet keeps its own dialling (one number, one after
 * another, all at once).
 */

import { newVoiceResponse } from '../../platform/twiml';
import type { AppDependencies } from '../../platform/dependencies';
import type { TwimletAnswer, TwimletLog, TwimletStep } from './contract';
import { dialAnswered, ownBases, refusal, spokenParam, urlParam, type Spoken } from './params';
import { isWhisperStep, whisperStep } from './whisper';

/**
 * The end of a call back from its `<Dial>`: answered → `<Hangup/>`; busy, no answer or failed →
 * `<Redirect method="GET">` to `failUrl` (requested with GET, as twimlets.com's HTTP redirect had Twilio
 * do), or `<Hangup/>` without one.
 */
export async function afterDial(step: TwimletStep, failUrl: string | undefined): Promise<TwimletAnswer> {
    const response = await newVoiceResponse();
    if (!dialAnswered(step) && failUrl !== undefined) response.redirect({ method: 'GET' }, failUrl);
    else response.hangup();
    return { twiml: response.toString() };
}

/**
 * The start of every step of a twimlet that whispers to the callee: `Message` checked (the whisper's
 * steps carry it too), a whisper step answered (whisper.ts), then `FailUrl` checked. Either the answer
 * (a refusal or the whisper's), or the two parameters for the caller's step.
 */
export async function whisperedDialStart(
    step: TwimletStep,
    deps: AppDependencies,
    log: TwimletLog,
): Promise<{ answer: TwimletAnswer } | { message: Spoken | undefined; failUrl: string | undefined }> {
    const bases = ownBases(step, deps);
    const message = spokenParam(step.query, 'Message', bases);
    if (!message.ok) return { answer: await refusal(step.name, message, log) };
    if (isWhisperStep(step)) return { answer: await whisperStep(step, message.value) };
    const failUrl = urlParam(step.query, 'FailUrl', bases);
    if (!failUrl.ok) return { answer: await refusal(step.name, failUrl, log) };
    return { message: message.value, failUrl: failUrl.value };
}
