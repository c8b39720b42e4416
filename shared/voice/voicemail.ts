/**
 * A voicemail in the ledger, and its notifications: what the voicemail twimlet's steps
 * (shared/voice/twimlets/voicemail.ts) record about one recording, and the SMS and e-mail that tell its
 * owner about it. docs/voicemail.md describes the flow.
 *
 * **The record.** One `voicemail` record per recording (direction `inbound`), its id and `sid` the
 * RecordingSid: Twilio retries a callback, and the three steps that know about a recording (the
 * `<Record action>`, the recording status callback, the transcription callback) arrive in any order, so
 * each one merges what it knows into the same record ({@link mergeVoicemail}), and a repeat changes
 * nothing. The RecordingSid (not the CallSid) is the `sid` because it is what the record is about, what
 * `GET /api/recordings/{sid}` serves and what a call with two recordings would tell apart; the CallSid is
 * kept in `voicemail.callSid`. `from` / `to` come from the `action` step and the transcription callback:
 * Twilio's recording status callback does not carry them. The transcription is the record's body: its
 * text only when the ledger stores bodies (`LEDGER_STORE_BODY`), its length always.
 *
 * **Notifications** are sent once the recording status callback says `completed`: one SMS through the
 * outbound queue, and one e-mail when an e-mail sender is configured. Each channel is claimed on the
 * record (`pending`) in the same write that records the status, so of two concurrent copies of the
 * callback one notifies; its outcome then replaces the claim (`queued`, `sent`, `failed` or
 * `not-configured`, with the reason). A copy that finds a channel `failed`, or `pending` for longer than
 * {@link STALE_CLAIM_MS} (an invocation that died), tries it again; the SMS's id and the e-mail's
 * operation id derive from the voicemail's, so the outbound pipeline sends that SMS once however often it
 * is enqueued. Nothing is ever dropped: a notice that cannot be sent says why on the record.
 *
 * Log lines name the record (id, SID) and outcomes; never a phone number unmasked, an address, or what the
 * caller said.
 */

import type { LedgerRecord, VoicemailDetails, VoicemailNotification } from '../ledger/contract';
import { newRecord } from '../ledger/rules';
import type { AppDependencies } from '../platform/dependencies';
import { sanitiseValue } from '../platform/outcomes';
import { maskPhone } from '../platform/redact';
import { messageUrl, recordingUrl } from '../platform/routes';
import { operationIdFor } from './email';

/** A recording SID as Twilio writes it. */
export const RECORDING_SID = /^RE[0-9a-f]{32}$/;
const CALL_SID = /^CA[0-9a-f]{32}$/;
/** A `pending` notification older than this is taken to belong to an invocation that died. */
export const STALE_CLAIM_MS = 5 * 60_000;
/** The longest transcription kept (Twilio transcribes at most two minutes of speech). */
export const MAX_TRANSCRIPTION = 8_000;

/** What one step of the twimlet knows about a recording. */
export interface VoicemailFacts {
    recordingSid: string;
    callSid?: string | undefined;
    /** The caller and the number called, E.164 or as Twilio gave them. */
    from?: string | undefined;
    to?: string | undefined;
    durationSeconds?: number | undefined;
    /** The recording status callback's `RecordingStatus`. */
    recordingStatus?: string | undefined;
    /** Whether the twimlet asked for a transcription (known to every step from its URL). */
    transcribe?: boolean | undefined;
    /** The transcription callback's outcome. */
    transcription?: { status: 'completed' | 'failed'; text: string } | undefined;
}

/** Where the notifications go, from the twimlet's `Notify` / `Email` parameters (checked). */
export interface VoicemailRecipients {
    /** `Notify`, E.164, when the URL names one. */
    notify?: string | undefined;
    /** `Email`, lowercased, when the URL names one. */
    email?: string | undefined;
}

/** The log a step writes to (the invocation's). */
export interface VoicemailLog {
    log(line: string): void;
    warn(line: string): void;
    error(line: string): void;
}

// ---------------------------------------------------------------------------------------------------------
// The record (pure)

/** A duration parameter (`RecordingDuration`) as whole seconds, or undefined. */
export function durationOf(value: string | undefined): number | undefined {
    return value !== undefined && /^\d{1,7}$/.test(value) ? Number(value) : undefined;
}

/** A CallSid parameter, or undefined when it is not one. */
export function callSidOf(value: string | undefined): string | undefined {
    return value !== undefined && CALL_SID.test(value) ? value : undefined;
}

/**
 * The record after one step's `facts` (`current` is what the ledger holds, if anything), or undefined when
 * they add nothing: a new record, or `current` with each fact it lacks or that moved on (the recording
 * status, the transcription). The status is the recording's: `recorded`, then Twilio's `absent` or
 * `failed` if it says so. Events are in the history once each (`recorded`, `transcription-completed`, …).
 */
export function mergeVoicemail(
    current: LedgerRecord | undefined,
    facts: VoicemailFacts,
    at: Date,
): LedgerRecord | undefined {
    const time = at.toISOString();
    const base =
        current ??
        newRecord(
            {
                id: facts.recordingSid,
                direction: 'inbound',
                type: 'voicemail',
                status: 'recorded',
                sid: facts.recordingSid,
            },
            at,
        );
    const before = current?.voicemail ?? { notifications: [] };
    const details: VoicemailDetails = { ...before, notifications: [...before.notifications] };
    const next: LedgerRecord = { ...base, history: [...base.history] };
    const event = (status: string) => {
        if (!next.history.some((entry) => entry.status === status)) {
            next.history.push({ status, at: time, source: 'twilio', sid: facts.recordingSid });
        }
    };
    event('recorded');
    if (next.from === undefined && facts.from !== undefined) next.from = facts.from;
    if (next.to === undefined && facts.to !== undefined) next.to = facts.to;
    if (details.callSid === undefined && facts.callSid !== undefined) details.callSid = facts.callSid;
    if (facts.durationSeconds !== undefined && details.durationSeconds !== facts.durationSeconds) {
        details.durationSeconds = facts.durationSeconds;
    }
    if (facts.recordingStatus !== undefined && details.recordingStatus !== facts.recordingStatus) {
        details.recordingStatus = facts.recordingStatus;
        if (facts.recordingStatus === 'absent' || facts.recordingStatus === 'failed') {
            next.status = facts.recordingStatus;
            event(`recording-${facts.recordingStatus}`);
        }
    }
    if (facts.transcription !== undefined) {
        if (details.transcription !== facts.transcription.status) {
            details.transcription = facts.transcription.status;
            const text = facts.transcription.text.slice(0, MAX_TRANSCRIPTION);
            next.body = text;
            next.bodyLength = text.length;
            event(`transcription-${facts.transcription.status}`);
        }
    } else if (facts.transcribe === true && details.transcription === undefined) {
        details.transcription = 'requested';
    }
    next.voicemail = details;
    if (current !== undefined && sameRecord(current, next)) return undefined;
    return next;
}

function sameRecord(a: LedgerRecord, b: LedgerRecord): boolean {
    return JSON.stringify(a) === JSON.stringify(b);
}

/** The channels a voicemail notifies on. */
export const CHANNELS: readonly VoicemailNotification['channel'][] = ['sms', 'email'];

/**
 * `record` with a `pending` claim for each channel that has no outcome yet, `failed`, or a stale claim;
 * and the channels claimed. Only a completed recording is notified about.
 */
export function claimNotifications(
    record: LedgerRecord,
    at: Date,
): { record: LedgerRecord; claimed: VoicemailNotification['channel'][] } {
    const details = record.voicemail ?? { notifications: [] };
    if (details.recordingStatus !== 'completed') return { record, claimed: [] };
    const claimed: VoicemailNotification['channel'][] = [];
    const notifications = [...details.notifications];
    for (const channel of CHANNELS) {
        const index = notifications.findIndex((entry) => entry.channel === channel);
        const entry = notifications[index];
        const stale = entry?.outcome === 'pending' && at.getTime() - Date.parse(entry.at) >= STALE_CLAIM_MS;
        if (entry !== undefined && entry.outcome !== 'failed' && !stale) continue;
        const claim: VoicemailNotification = { channel, outcome: 'pending', at: at.toISOString() };
        if (index === -1) notifications.push(claim);
        else notifications[index] = claim;
        claimed.push(channel);
    }
    if (claimed.length === 0) return { record, claimed };
    return { record: { ...record, voicemail: { ...details, notifications } }, claimed };
}

/** `record` with `outcome` in place of its channel's entry, or undefined when that entry is not a claim. */
export function recordOutcome(
    record: LedgerRecord | undefined,
    outcome: VoicemailNotification,
): LedgerRecord | undefined {
    const details = record?.voicemail;
    if (record === undefined || details === undefined) return undefined;
    const index = details.notifications.findIndex((entry) => entry.channel === outcome.channel);
    if (index === -1 || details.notifications[index]?.outcome !== 'pending') return undefined;
    const notifications = [...details.notifications];
    notifications[index] = outcome;
    return { ...record, voicemail: { ...details, notifications } };
}

// ---------------------------------------------------------------------------------------------------------
// Notifications

/** The outbound message id of a voicemail's SMS notice. */
export function smsNoticeId(voicemailId: string): string {
    return `${voicemailId}-sms`;
}

/** The e-mail operation id of a voicemail's notice: a UUID derived from its id. */
export function emailOperationId(voicemailId: string): string {
    return operationIdFor(`voicemail-email:${voicemailId}`);
}

/**
 * The SMS notice: `New voicemail from <masked caller>, <n> s`, and the app's link to the recording when
 * the public base URL is known (never Twilio's media URL).
 */
export function smsNoticeText(record: LedgerRecord, publicBaseUrl: string | undefined): string {
    const caller = record.from === undefined ? 'an unknown caller' : maskPhone(record.from);
    const duration = record.voicemail?.durationSeconds;
    const head = `New voicemail from ${caller}${duration === undefined ? '' : `, ${String(duration)} s`}`;
    return publicBaseUrl === undefined || record.sid === undefined
        ? head
        : `${head} ${recordingUrl(publicBaseUrl, record.sid)}`;
}

/** The e-mail notice's subject and text: as the SMS, with the ledger record's link. No transcription. */
export function emailNotice(
    record: LedgerRecord,
    publicBaseUrl: string | undefined,
): { subject: string; plainText: string } {
    const caller = record.from === undefined ? 'an unknown caller' : maskPhone(record.from);
    const duration = record.voicemail?.durationSeconds;
    const lines = [
        `You have a new voicemail from ${caller}${duration === undefined ? '' : ` (${String(duration)} seconds)`}.`,
    ];
    if (publicBaseUrl !== undefined && record.sid !== undefined) {
        lines.push('', `Listen: ${recordingUrl(publicBaseUrl, record.sid)}`);
        lines.push(`Details: ${messageUrl(publicBaseUrl, record.id)}`);
        lines.push('(Both need the app’s function key.)');
    }
    return { subject: `New voicemail from ${caller}`, plainText: lines.join('\n') };
}

/** Whether the app's settings let the twimlet's `Email` parameter name `address`. */
export function emailAllowed(
    address: string,
    settings: Pick<AppDependencies['config']['voicemail'], 'emailTo' | 'emailAllowed'>,
): boolean {
    const lower = address.toLowerCase();
    const domain = lower.slice(lower.lastIndexOf('@'));
    return (
        lower === settings.emailTo ||
        settings.emailAllowed.some((entry) => entry === lower || entry === domain)
    );
}

/** Sends the SMS notice through the outbound queue. Never throws. */
export async function notifyBySms(
    deps: Pick<AppDependencies, 'config' | 'enqueueOutbound'>,
    record: LedgerRecord,
    recipients: VoicemailRecipients,
    at: () => Date,
): Promise<VoicemailNotification> {
    const done = (outcome: VoicemailNotification['outcome'], extra: Partial<VoicemailNotification> = {}) => ({
        channel: 'sms' as const,
        outcome,
        at: at().toISOString(),
        ...extra,
    });
    const to = recipients.notify ?? deps.config.voicemail.notifyNumber;
    if (to === undefined) {
        return done('not-configured', { reason: 'no Notify parameter and no VOICEMAIL_NOTIFY_NUMBER' });
    }
    // The app's default sender when it has one, else the number the caller dialled (the account's own).
    const hasDefault = deps.config.messagingServiceSid !== undefined || deps.config.fromNumber !== undefined;
    const from = hasDefault
        ? undefined
        : record.to !== undefined && /^\+[1-9]\d{7,14}$/.test(record.to)
          ? record.to
          : undefined;
    if (!hasDefault && from === undefined) {
        return done('not-configured', {
            reason: 'no sender: set TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID',
        });
    }
    const id = smsNoticeId(record.id);
    const message = {
        version: 1,
        type: 'sms',
        id,
        to,
        ...(from === undefined ? {} : { from }),
        body: smsNoticeText(record, deps.config.publicBaseUrl),
    };
    try {
        await deps.enqueueOutbound(JSON.stringify(message));
        return done('queued', { id });
    } catch (error) {
        return done('failed', {
            id,
            reason: `the outbound queue could not be reached (${errorName(error)})`,
        });
    }
}

/** Sends the e-mail notice when an e-mail sender is configured. Never throws. */
export async function notifyByEmail(
    deps: Pick<AppDependencies, 'config' | 'sendEmail'>,
    record: LedgerRecord,
    recipients: VoicemailRecipients,
    at: () => Date,
): Promise<VoicemailNotification> {
    const done = (outcome: VoicemailNotification['outcome'], extra: Partial<VoicemailNotification> = {}) => ({
        channel: 'email' as const,
        outcome,
        at: at().toISOString(),
        ...extra,
    });
    if (deps.sendEmail === undefined) {
        return done('not-configured', {
            reason: 'no e-mail sender: EMAIL_ENDPOINT and EMAIL_SENDER are not set',
        });
    }
    const settings = deps.config.voicemail;
    let to: string;
    if (recipients.email !== undefined) {
        if (!emailAllowed(recipients.email, settings)) {
            return done('failed', {
                reason: 'the Email parameter names a recipient neither VOICEMAIL_EMAIL_TO nor VOICEMAIL_EMAIL_ALLOWED allows',
            });
        }
        to = recipients.email;
    } else if (settings.emailTo !== undefined) {
        to = settings.emailTo;
    } else {
        return done('not-configured', { reason: 'no Email parameter and no VOICEMAIL_EMAIL_TO' });
    }
    const operationId = emailOperationId(record.id);
    const notice = emailNotice(record, deps.config.publicBaseUrl);
    const sent = await deps.sendEmail({ to, operationId, ...notice }).catch((error: unknown) => ({
        ok: false as const,
        reason: `the e-mail could not be sent (${errorName(error)})`,
    }));
    return sent.ok
        ? done('sent', { id: sent.operationId })
        : done('failed', { id: operationId, reason: sent.reason });
}

/**
 * Records `facts` and, when that write claimed any channel, sends those notifications and records their
 * outcomes. Returns the record as stored last. A ledger failure propagates (the step answers Twilio with an
 * error and Twilio's retry tries again); a notification failure is recorded, never thrown.
 */
export async function recordVoicemail(
    deps: Pick<AppDependencies, 'config' | 'ledger' | 'enqueueOutbound' | 'sendEmail'>,
    facts: VoicemailFacts,
    recipients: VoicemailRecipients,
    log: VoicemailLog,
    now: () => Date = () => new Date(),
): Promise<LedgerRecord | undefined> {
    const ledger = deps.ledger();
    const id = facts.recordingSid;
    // Set by the mutate callback; its last run is the one whose result was written.
    const write = { claimed: [] as VoicemailNotification['channel'][], created: false };
    const stored = await ledger.update(id, (current) => {
        const at = now();
        const merged = mergeVoicemail(current, facts, at) ?? current;
        write.created = current === undefined;
        write.claimed = [];
        if (merged === undefined) return undefined;
        // Only the recording status callback notifies (and, repeated, retries a failed notice): the other
        // steps come whether or not the recording is usable, and a transcription can come much later.
        if (facts.recordingStatus === undefined) return merged === current ? undefined : merged;
        const claim = claimNotifications(merged, at);
        write.claimed = claim.claimed;
        return claim.record === current ? undefined : claim.record;
    });
    if (stored === undefined) return undefined;
    if (write.created) {
        log.log(voicemailLine('voicemail.recorded', stored, stored.voicemail?.recordingStatus));
    }
    const claimed = write.claimed;
    if (claimed.length === 0) return stored;

    const outcomes = await Promise.all(
        claimed.map((channel) =>
            channel === 'sms'
                ? notifyBySms(deps, stored, recipients, now)
                : notifyByEmail(deps, stored, recipients, now),
        ),
    );
    let last: LedgerRecord | undefined = stored;
    for (const outcome of outcomes) {
        last = await ledger.update(id, (current) => recordOutcome(current, outcome));
        const line = voicemailLine(`voicemail.notify-${outcome.channel}`, stored, outcome.outcome);
        if (outcome.outcome === 'failed') log.warn(`${line}: ${outcome.reason ?? ''}`);
        else log.log(line);
    }
    return last;
}

/** `event=<name> id=<id> sid=<sid> status=<status> route=twimlets`: never a number, address or text. */
export function voicemailLine(event: string, record: LedgerRecord, status?: string): string {
    const parts = [`event=${sanitiseValue(event)}`, `id=${sanitiseValue(record.id, 200)}`];
    if (record.sid !== undefined) parts.push(`sid=${sanitiseValue(record.sid)}`);
    if (status !== undefined) parts.push(`status=${sanitiseValue(status)}`);
    parts.push('route=twimlets');
    return parts.join(' ');
}

function errorName(error: unknown): string {
    // Duck-typed: an SDK's error may come from another realm than this module's `Error`.
    const { name, code } = (error ?? {}) as { name?: unknown; code?: unknown };
    if (typeof code === 'string' && /^[A-Za-z0-9_]{1,40}$/.test(code)) return code;
    return typeof name === 'string' && /^[A-Za-z]{1,40}$/.test(name) ? name : 'error';
}
