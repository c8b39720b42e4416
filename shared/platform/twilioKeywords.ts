/**
 * The keywords Twilio itself acts on in a message to a long code or toll-free number: its default opt-out,
 * opt-in and help keywords. One list for the two places that need it: the opt-out rules
 * (shared/messaging/keywords.ts), and the auto-reply, which must not answer a message Twilio answers
 * (shared/platform/twiml.ts). Constants only, no import: the webhook loads it on a cold start.
 */

/** Twilio's default opt-out keywords. */
export const STOP_KEYWORDS: ReadonlySet<string> = new Set([
    'STOP',
    'STOPALL',
    'UNSUBSCRIBE',
    'CANCEL',
    'END',
    'QUIT',
    'OPTOUT',
    'REVOKE',
]);
/** Twilio's default opt-in keywords. */
export const START_KEYWORDS: ReadonlySet<string> = new Set(['START', 'YES', 'UNSTOP']);
/** Twilio's default help keywords: Twilio answers them; nothing is recorded. */
export const HELP_KEYWORDS: ReadonlySet<string> = new Set(['HELP', 'INFO']);

/**
 * Keywords Twilio itself answers on long codes and toll-free numbers (opt-out, opt-in and help): a reply
 * from us would be a second message the user did not ask for, and after STOP one Twilio would refuse.
 */
export const TWILIO_HANDLED_KEYWORDS: ReadonlySet<string> = new Set([
    ...STOP_KEYWORDS,
    ...START_KEYWORDS,
    ...HELP_KEYWORDS,
]);
