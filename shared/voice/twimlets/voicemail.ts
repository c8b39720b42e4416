/**
 * The `voicemail` twimlet (twimlets.com/voicemail): greets the caller, records a message, thanks them and
 * hangs up; the recording is kept in the ledger as a `voicemail` record and its owner is notified
 * (shared/voice/voicemail.ts; docs/voicemail.md).
 *
 * Parameters, as twimlets.com reads them, plus one of ours:
 *
 * - `Message` — said before the beep, or played when it is an http(s) URL; default
 *   "Please leave a message after the beep." (twimlets.com's).
 * - `Transcribe` — `true` unless given as anything else (twimlets.com's rule): Twilio transcribes the
 *   recording and posts the text to the transcription step.
 * - `Email` — where the e-mail notice goes: only an address the settings allow (`VOICEMAIL_EMAIL_TO`,
 *   `VOICEMAIL_EMAIL_ALLOWED`), and only when an e-mail sender is configured; otherwise the record says why.
 * - `Notify` — ours: the number (E.164 or as twimlets accepts numbers) the SMS notice goes to, instead of
 *   `VOICEMAIL_NOTIFY_NUMBER`.
 *
 * Steps, told apart by the `Step` marker of the URLs the first one hands Twilio (each built with
 * `step.selfUrl`, carrying `Email`, `Notify` and `Transcribe` so every step knows them):
 *
 * 1. no marker — `<Say>`/`<Play>` the message and `<Record>` with `action` (`Step=recorded`),
 *    `recordingStatusCallback` (`Step=recording`) and, with `Transcribe`, `transcribe="true"` and
 *    `transcribeCallback` (`Step=transcription`);
 * 2. `recorded` (the `action`) — merges the caller, the called number and the call into the record, and
 *    answers "Thanks. Good bye." and `<Hangup/>`, as twimlets.com does;
 * 3. `recording` (the status callback) — records the recording's status and duration and, once it is
 *    `completed`, sends the notices; answers an empty `<Response/>`;
 * 4. `transcription` — records the transcription's outcome (its text only with `LEDGER_STORE_BODY`).
 *
 * A bad parameter is a spoken error and a log line naming it (params.ts `refusal`). A step whose ledger
 * write fails still answers TwiML (the caller hears the goodbye), and logs the failure with the record's
 * id: Twilio does not retry a callback that was answered, so the log is where it shows.
 */

import { isEmailAddress } from '../../platform/config';
import { newVoiceResponse } from '../../platform/twiml';
import {
    callSidOf,
    durationOf,
    RECORDING_SID,
    recordVoicemail,
    type VoicemailFacts,
    type VoicemailRecipients,
} from '../voicemail';
import type { Twimlet, TwimletLog, TwimletStep } from './contract';
import {
    e164,
    ownBases,
    pairsOf,
    phoneParam,
    refusal,
    single,
    speak,
    spokenParam,
    type Parsed,
} from './params';

/** twimlets.com's greeting when no `Message` is given. */
export const DEFAULT_GREETING = 'Please leave a message after the beep.';
/** What the caller hears after recording, as on twimlets.com. */
export const GOODBYE = 'Thanks. Good bye.';
/** The marker naming a step. */
export const STEP = 'Step';
export const STEPS = {
    recorded: 'recorded',
    recording: 'recording',
    transcription: 'transcription',
} as const;

/** `Transcribe` as twimlets.com reads it: absent, empty or `true` (any case) is on; anything else off. */
export function transcribeParam(query: URLSearchParams): boolean {
    const value = single(query, 'Transcribe');
    return value === undefined || value.toLowerCase() === 'true';
}

/** `Email`: an address (lowercased) or absent. */
export function emailParam(query: URLSearchParams): Parsed<string | undefined> {
    const value = single(query, 'Email');
    if (value === undefined) return { ok: true, value: undefined };
    return isEmailAddress(value)
        ? { ok: true, value: value.toLowerCase() }
        : { ok: false, parameter: 'Email', problem: 'is not an e-mail address' };
}

export const voicemail: Twimlet = async (step, deps, log) => {
    const email = emailParam(step.query);
    if (!email.ok) return refusal(step.name, email, log);
    const notify = phoneParam(step.query, 'Notify');
    if (!notify.ok) return refusal(step.name, notify, log);
    const transcribe = transcribeParam(step.query);
    const recipients: VoicemailRecipients = { email: email.value, notify: notify.value };
    const marker = step.query.get(STEP);

    if (marker === null) {
        const message = spokenParam(step.query, 'Message', ownBases(step, deps));
        if (!message.ok) return refusal(step.name, message, log);
        const carried = pairsOf([
            ['Email', email.value],
            ['Notify', notify.value],
            ['Transcribe', transcribe ? 'true' : 'false'],
        ]);
        const at = (name: string) => step.selfUrl([...carried, [STEP, name]]);
        const response = await newVoiceResponse();
        speak(response, message.value ?? { say: DEFAULT_GREETING });
        response.record({
            action: at(STEPS.recorded),
            recordingStatusCallback: at(STEPS.recording),
            ...(transcribe ? { transcribe: true, transcribeCallback: at(STEPS.transcription) } : {}),
        });
        return { twiml: response.toString() };
    }

    const facts = factsOf(step, marker, transcribe);
    if (marker === STEPS.recorded) {
        if (facts !== undefined) await store(step, deps, facts, recipients, log);
        else log.warn(`Twimlet ${step.name}: the record step came without a RecordingSid; nothing stored`);
        const response = await newVoiceResponse();
        response.say(GOODBYE);
        response.hangup();
        return { twiml: response.toString() };
    }
    if (marker === STEPS.recording || marker === STEPS.transcription) {
        if (facts === undefined) {
            log.warn(
                `Twimlet ${step.name}: the ${marker} callback came without a RecordingSid; nothing stored`,
            );
        } else {
            await store(step, deps, facts, recipients, log);
        }
        return { twiml: (await newVoiceResponse()).toString() };
    }
    return refusal(step.name, { parameter: STEP, problem: 'is not a step of this twimlet' }, log);
};

/** What this step's request says about the recording; undefined without a RecordingSid. */
function factsOf(step: TwimletStep, marker: string, transcribe: boolean): VoicemailFacts | undefined {
    const recordingSid = step.param('RecordingSid');
    if (recordingSid === undefined || !RECORDING_SID.test(recordingSid)) return undefined;
    const number = (name: string) => {
        const raw = step.param(name);
        return raw === undefined ? undefined : (e164(raw) ?? undefined);
    };
    const facts: VoicemailFacts = {
        recordingSid,
        callSid: callSidOf(step.param('CallSid')),
        from: number('From') ?? number('Caller'),
        to: number('To') ?? number('Called'),
        durationSeconds: durationOf(step.param('RecordingDuration')),
        transcribe,
    };
    if (marker === STEPS.recording) facts.recordingStatus = recordingStatusOf(step.param('RecordingStatus'));
    if (marker === STEPS.transcription) {
        const status = step.param('TranscriptionStatus');
        if (status === 'completed' || status === 'failed') {
            facts.transcription = {
                status,
                text: status === 'completed' ? (step.param('TranscriptionText') ?? '') : '',
            };
        }
    }
    return facts;
}

/** Twilio's `RecordingStatus`, when it is one of its words. */
function recordingStatusOf(value: string | undefined): string | undefined {
    return value !== undefined && /^[a-z-]{1,20}$/.test(value) ? value : undefined;
}

async function store(
    step: TwimletStep,
    deps: Parameters<Twimlet>[1],
    facts: VoicemailFacts,
    recipients: VoicemailRecipients,
    log: TwimletLog,
): Promise<void> {
    try {
        await recordVoicemail(deps, facts, recipients, log);
    } catch (error) {
        log.error(
            `event=voicemail.unrecorded id=${facts.recordingSid} route=twimlets: the ${step.query.get(STEP) ?? ''} step could not be stored (${error instanceof Error ? error.name : 'error'})`,
        );
    }
}
