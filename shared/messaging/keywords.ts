/**
 * Which inbound messages opt their sender out, back in, or ask for help: Twilio's default keywords and,
 * with Advanced Opt-Out on a Messaging Service, the `OptOutType` parameter Twilio adds for the service's
 * own keywords. Pure, importing only the light keyword lists (the webhook loads it on a cold start).
 *
 * The rules, as Twilio documents them:
 *
 * - **Whole message, any case.** Only a message that *is* the keyword counts (surrounding white space
 *   aside): `Stop` opts out, `Stop please` does not.
 * - **`OptOutType` wins.** When a Messaging Service has Advanced Opt-Out, Twilio sends `OptOutType=STOP`,
 *   `START` or `HELP` with every keyword message, the service's custom keywords (another language,
 *   `ARRET`, …) included, and the service may have removed most default keywords. So when the parameter
 *   is present with one of those values it decides, and the body is not looked at.
 *
 * One rule of the app's own: **trailing punctuation on an opt-out.** Twilio's documentation does not say
 * whether `stop.` or `STOP!` opts out (we could not confirm it either way), and the two ways of being
 * wrong are not alike: honouring an opt-out Twilio did not record only stops messages the recipient asked
 * to stop (and START undoes it), while ignoring one keeps texting someone who asked us not to. So the
 * STOP family also counts with trailing `. ! ? , ; :`, and gets no auto-reply. Opting back in needs the
 * exact keyword: `Yes.` in a conversation must not undo an opt-out.
 */

import { HELP_KEYWORDS, START_KEYWORDS, STOP_KEYWORDS } from '../platform/twilioKeywords';

// Twilio's default keywords: one list, in shared/platform/twilioKeywords.ts, shared with the auto-reply.
export { HELP_KEYWORDS, START_KEYWORDS, STOP_KEYWORDS };

export type KeywordAction = 'opt-out' | 'opt-in' | 'help';

export interface KeywordMatch {
    action: KeywordAction;
    /** `OptOutType` when Twilio's parameter decided, `keyword` when the body did. */
    via: 'OptOutType' | 'keyword';
}

const OPT_OUT_TYPES: Readonly<Record<string, KeywordAction>> = {
    STOP: 'opt-out',
    START: 'opt-in',
    HELP: 'help',
};

/** Keywords are short: a longer trimmed body is no keyword (and is not upper-cased or matched). */
const MAX_KEYWORD_LENGTH = 32;

/**
 * What an inbound message (its webhook form) asks for: opt out, opt in, help, or nothing (undefined).
 * `OptOutType` (`STOP` / `START` / `HELP`, any case) decides when present; otherwise the trimmed body,
 * case-insensitive, is matched against Twilio's default keywords, an opt-out also with trailing
 * punctuation.
 */
export function classifyInbound(form: URLSearchParams): KeywordMatch | undefined {
    const type = form.get('OptOutType');
    if (type !== null) {
        const action = OPT_OUT_TYPES[type.trim().toUpperCase()];
        if (action !== undefined) return { action, via: 'OptOutType' };
        // An OptOutType Twilio does not document: fall back to the body.
    }
    const action = keywordAction(form.get('Body'));
    return action === undefined ? undefined : { action, via: 'keyword' };
}

/** The action of a message body that is one of Twilio's default keywords (see {@link classifyInbound}). */
export function keywordAction(body: string | null | undefined): KeywordAction | undefined {
    if (typeof body !== 'string') return undefined;
    const trimmed = body.trim();
    if (trimmed.length > MAX_KEYWORD_LENGTH) return undefined;
    const word = trimmed.toUpperCase();
    if (STOP_KEYWORDS.has(word)) return 'opt-out';
    if (START_KEYWORDS.has(word)) return 'opt-in';
    if (HELP_KEYWORDS.has(word)) return 'help';
    const bare = word.replace(/[.!?,;:]+$/, '').trimEnd();
    if (bare !== word && STOP_KEYWORDS.has(bare)) return 'opt-out';
    return undefined;
}
