/**
 * Outcome lines: one structured log line per outcome of a message, a call or a webhook, so App Insights
 * queries and the alert rules (infra/app/alerts.bicep) read stable fields instead of prose:
 *
 *     event=<name> id=<id> sid=<sid> status=<status> code=<code> attempt=<n> route=<route>
 *
 * Fields always come in that order; a field that does not apply is left out. `id` is ours (the API's id,
 * the queue message's `id`, or the one derived from the queue message), the same on every line about a
 * message from the API through the queue to its status callbacks; `sid` is Twilio's. `status` is the
 * message's or call's status (Twilio's, or our own `queued`), except on `webhook.*` lines, where it is the
 * HTTP status answered. `code` is Twilio's error code, else a transport error code (`ECONNRESET`), else
 * `http-<status>`. `attempt` is the host's delivery count of the queue message (1 for the first; not on
 * lines from the poison queue or from webhooks). `route` is the route a webhook or API request came in on:
 * `voice`, `sms`, `status` or `twimlets` on webhook lines (`other` for any other path:
 * shared/webhooks/receive.ts `webhookRoute`), `messages` or `calls` on the API's (shared/api/send.ts).
 * Phone numbers, bodies, tokens, query strings and payload field names are never fields: the id and the
 * SID identify the message, and its ledger record (GET /api/messages/{id}) holds the rest.
 *
 * The vocabulary (`message.*` for SMS/MMS, `call.*` for calls), by level:
 *
 * - information: `sent` (created at Twilio), `accepted` (API 202), `delivered` / `completed` (Twilio's
 *   final success), `unanswered` (a call ended `busy`, `no-answer` or `canceled`: not a failure of
 *   ours), `status` (any other status callback), `already-sent`, `already-final` and
 *   `found-at-twilio` (a copy found the send already done, or an attempt whose answer was lost had
 *   reached Twilio: recorded, not resent; `found-at-twilio` is a warning when the attempt that reached
 *   Twilio died before recording it), `poisoned` (a poison-queue copy of a message whose record was
 *   already final: nothing changed);
 * - warning: `failed` (Twilio refused the create for good — 21610 for an opted-out recipient, also when
 *   the app refuses the send before asking, shared/messaging/outbound.ts — or reported `failed` /
 *   `undelivered` for a message, `failed` for a call — one alert counts both: the message will not reach
 *   its recipient), `rejected` (an invalid queue message, never sent; `code=validation`), `conflict`
 *   (another request under an id already used: a queue copy that differs from the recorded one, or an API
 *   request answered 422), `in-progress` (API 409), `queue-unavailable` (API 503), `retrying` (a
 *   transient failure; the host redelivers), `delayed` (Twilio pushed back — 429, 21611, 30001 — and a
 *   copy was re-enqueued to try again after a visibility delay; `code` is Twilio's; an early copy of a
 *   delayed message put back for the rest of its wait is the same event at information level, without a
 *   code), `unmatched` (a status callback for no send of ours, kept under its SID), `webhook.rejected`
 *   (every webhook refused before it was processed: 400 unsigned, 403 bad signature, 413 too large, 500
 *   misconfigured, 503 token unreadable), `webhook.invalid` (a signed status callback without a SID and
 *   status, 400);
 * - error: `dead-lettered` (retries exhausted, never sent), logged once: by the outbound function's last
 *   attempt when it records it, else by the poison function.
 *
 * A status callback's final event is logged when the callback moved the record; a repeat of it is a
 * `status` line, so the failure alert counts a message once. Inbound messages and voice webhooks keep
 * their own lines.
 *
 * Two more subjects are written in this format by their own modules (not through {@link outcomeLine},
 * whose types hold the three above); the alerts count some of their events (docs/operations.md has the
 * tables):
 *
 * - `media.*`, the inbound MMS media copy (shared/media/, functions/inboundSms.ts, getMessageMedia.ts),
 *   `id` and `sid` the message's SID: information `queued`, `copied`, `already-copied`, `poisoned`;
 *   warning `refused`, `not-queued` (error when queueing threw), `rejected`, `retrying`, `unrecorded`;
 *   error `dead-lettered`, `oversized` (`route=messages`).
 * - `voicemail.*`, the voicemail twimlet (shared/voice/voicemail.ts `voicemailLine`,
 *   shared/voice/twimlets/voicemail.ts), `id` and `sid` the RecordingSid, `route=twimlets`: information
 *   `recorded`, `notify-sms` / `notify-email` (`status=queued`, `sent`, `not-configured`; a warning with
 *   `status=failed`); error `unrecorded`.
 *
 * Pure and dependency-free: the webhook front imports it on a cold start.
 */

export type OutcomeSubject = 'message' | 'call';

export type OutcomeAction =
    | 'accepted'
    | 'sent'
    | 'failed'
    | 'rejected'
    | 'conflict'
    | 'in-progress'
    | 'queue-unavailable'
    | 'retrying'
    | 'delayed'
    | 'dead-lettered'
    | 'already-sent'
    | 'already-final'
    | 'found-at-twilio'
    | 'poisoned'
    | 'delivered'
    | 'completed'
    | 'unanswered'
    | 'status'
    | 'unmatched';

export type OutcomeEvent = `${OutcomeSubject}.${OutcomeAction}` | 'webhook.rejected' | 'webhook.invalid';

export interface Outcome {
    event: OutcomeEvent;
    id?: string | null | undefined;
    sid?: string | null | undefined;
    status?: string | number | null | undefined;
    code?: string | number | null | undefined;
    attempt?: number | null | undefined;
    route?: string | null | undefined;
}

/** The fields after `event`, in the order they are written. */
const FIELDS = ['id', 'sid', 'status', 'code', 'attempt', 'route'] as const;

/** Our ids are at most 200 characters (the API and queue schemas); nothing else needs more than 64. */
const MAX_LENGTH: Readonly<Record<'event' | (typeof FIELDS)[number], number>> = {
    event: 64,
    id: 200,
    sid: 64,
    status: 64,
    code: 64,
    attempt: 10,
    route: 32,
};

/**
 * A value as it may appear in a field: only the characters of our ids (`A-Z a-z 0-9 . _ ~ : -`), every
 * other one (space, `=`, newline, control, `+`, non-ASCII) replaced by `_`, so no value can end its field
 * early, start another or spill onto another line; cut to `max` characters.
 */
export function sanitiseValue(value: string, max = 64): string {
    return value.slice(0, max).replace(/[^A-Za-z0-9._~:-]/g, '_');
}

/**
 * The outcome line for `outcome`. Fields that are absent, empty, or (for `attempt`) not a whole number
 * are left out.
 */
export function outcomeLine(outcome: Outcome): string {
    const parts = [`event=${sanitiseValue(outcome.event, MAX_LENGTH.event)}`];
    for (const field of FIELDS) {
        const raw = outcome[field];
        if (raw === undefined || raw === null) continue;
        if (field === 'attempt' && !(typeof raw === 'number' && Number.isSafeInteger(raw) && raw >= 0))
            continue;
        const value = sanitiseValue(String(raw), MAX_LENGTH[field]);
        if (value !== '') parts.push(`${field}=${value}`);
    }
    return parts.join(' ');
}

/** `message` for an SMS/MMS, `call` for a call (any other record type, e.g. a voicemail, is `message`). */
export function subjectOf(type: string): OutcomeSubject {
    return type === 'call' ? 'call' : 'message';
}

/**
 * What a status callback that moved a record to `status` is, as an outcome: Twilio's final statuses get
 * their own events (a message `failed` or `undelivered`, a call `failed` → `failed`, which the failure
 * alert counts); anything else is a `status` line.
 */
export function callbackEvent(type: 'sms' | 'call', status: string): OutcomeEvent {
    if (type === 'call') {
        if (status === 'completed') return 'call.completed';
        if (status === 'failed') return 'call.failed';
        if (status === 'busy' || status === 'no-answer' || status === 'canceled') return 'call.unanswered';
        return 'call.status';
    }
    if (status === 'delivered') return 'message.delivered';
    if (status === 'failed' || status === 'undelivered') return 'message.failed';
    return 'message.status';
}
