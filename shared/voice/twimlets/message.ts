/**
 * The `message` twimlet (twimlets.com/message): says or plays `Message`, `Message[0]`, `Message[1]`, … in
 * order, then the call ends. The TwiML is `/api/voice`'s (shared/platform/twiml.ts `voiceTwiml`), with
 * this app's checks on top: at most {@link MAX_MESSAGES} messages, each text at most
 * {@link MAX_TEXT_LENGTH} characters, each URL to play an http(s) URL that may point into this app only at
 * its flows. Without a message it says the configured greeting, as `/api/voice` does.
 */

import { voiceTwiml } from '../../platform/twiml';
import type { Twimlet } from './contract';
import { indexedEntries, MAX_MESSAGES, ownBases, refusal, spokenValue } from './params';

export const message: Twimlet = async (step, deps, log) => {
    const entries = indexedEntries(step.query, 'Message');
    if (entries.length > MAX_MESSAGES) {
        return refusal(
            step.name,
            { parameter: 'Message', problem: `has more than ${String(MAX_MESSAGES)} entries` },
            log,
        );
    }
    const bases = ownBases(step, deps);
    for (const entry of entries) {
        const spoken = spokenValue(entry.value, entry.parameter, bases);
        if (!spoken.ok) return refusal(step.name, spoken, log);
    }
    const messages = entries.map((entry) => entry.value);
    return { twiml: await voiceTwiml(deps.config.voiceGreeting, messages) };
};
