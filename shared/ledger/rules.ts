/**
 * The ledger's record rules, shared by every `Ledger` implementation (shared/ledger/table.ts, the
 * in-memory test/support/memoryLedger.ts, …) so that none writes them again. Pure: no I/O, no clock.
 *
 * - Ids: {@link isValidLedgerId} / {@link checkLedgerId}; SIDs: {@link isSidLike}.
 * - New records: {@link newRecord}, the one factory every place that creates a record uses.
 * - Every write: {@link checkRecord} (createdAt from 1970, direction, type, counts) and
 *   {@link shapeForStorage} (history trimmed to the newest events that fit, text limits, the body only with
 *   `storeBody`, claim / accept lease / fingerprint / voicemail details / media reduced to their known fields,
 *   absent fields omitted).
 *   What an implementation stores is the shaped record, and what it reads back must equal it.
 * - Updates: {@link nextRevision} (the id and createdAt cannot change; updatedAt is stamped).
 * - Lists: {@link checkListQuery} (page size, filters, the day range), {@link matchesListQuery} and
 *   {@link listOrderKey} (newest first).
 *
 * Status ordering (`applyStatus`, `isTerminal`) is a rules module of its own: shared/ledger/status.ts. The
 * types, the errors and the limits are in shared/ledger/contract.ts.
 */

import { createHash } from 'node:crypto';
import {
    DEFAULT_LIST_DAYS,
    LedgerQueryError,
    MAX_DETAIL,
    MAX_FILTER_VALUE,
    MAX_HISTORY,
    MAX_HISTORY_JSON,
    MAX_ID_LENGTH,
    MAX_MEDIA_ITEMS,
    MAX_NOTIFICATIONS,
    MAX_PAGE_SIZE,
    MAX_TEXT,
    type AcceptLease,
    type Direction,
    type InboundMedia,
    type LedgerRecord,
    type ListQuery,
    type MediaItem,
    type MessageKind,
    type SendClaim,
    type StatusEvent,
    type VoicemailDetails,
    type VoicemailNotification,
} from './contract';

export const DAY_MS = 86_400_000;
/** The latest createdAt a record may have (its millis fit the 13 digits of the list order key). */
const MAX_CREATED_MS = 9_999_999_999_999;

// ---------------------------------------------------------------------------------------------------------
// Ids

/**
 * Whether `id` can be a ledger id: 1-200 characters, well-formed Unicode, none of `/ \ # ?` (which Table
 * keys cannot hold) nor control characters. Ids are encoded into keys anyway (base64url), so this is a
 * policy that keeps ids printable and unambiguous, not a key-syntax requirement.
 */
export function isValidLedgerId(id: string): boolean {
    if (id.length < 1 || id.length > MAX_ID_LENGTH) return false;
    for (let i = 0; i < id.length; i++) {
        const code = id.charCodeAt(i);
        if (code < 0x20 || (code >= 0x7f && code <= 0x9f)) return false;
        if (code === 0x2f || code === 0x5c || code === 0x23 || code === 0x3f) return false;
    }
    // Lone surrogates would encode to U+FFFD and two ids could then share a key.
    return Buffer.from(id, 'utf8').toString('utf8') === id;
}

/**
 * Refuses an id that cannot be a ledger id (see {@link isValidLedgerId}).
 *
 * @throws RangeError
 */
export function checkLedgerId(id: string): void {
    if (!isValidLedgerId(id)) {
        throw new RangeError('Invalid ledger id: 1-200 characters without / \\ # ? or control characters');
    }
}

/** Whether `sid` has the shape of a Twilio SID; `idForSid` answers undefined for anything else. */
export function isSidLike(sid: string): boolean {
    return /^[A-Z]{2}[0-9a-fA-F]{32}$/.test(sid);
}

/** An id as it goes into a storage key: base64url of its UTF-8, so any allowed character is safe. */
export function encodeLedgerId(id: string): string {
    return Buffer.from(id, 'utf8').toString('base64url');
}

// ---------------------------------------------------------------------------------------------------------
// New records

/** What a new record is made of: {@link newRecord} fills in the rest. */
export interface NewRecordFields {
    id: string;
    direction: Direction;
    type: MessageKind;
    /** The first status. */
    status: string;
    /**
     * Who reported the first status, when it is an event worth keeping: the history then starts with it.
     * Without it the history starts empty (a status the pipeline sets before anything has happened).
     */
    source?: StatusEvent['source'];
    to?: string | undefined;
    from?: string | undefined;
    messagingServiceSid?: string | undefined;
    bodyLength?: number | undefined;
    body?: string | undefined;
    /** Default 0. */
    mediaCount?: number | undefined;
    sid?: string | undefined;
    /** Default 0. */
    attempts?: number | undefined;
    fingerprint?: string | undefined;
    acceptLease?: AcceptLease | undefined;
    voicemail?: VoicemailDetails | undefined;
    media?: InboundMedia | undefined;
}

/**
 * A new ledger record, created at `at` (a Date, or an ISO 8601 time): createdAt and updatedAt are `at`,
 * counts default to 0, optional fields left undefined are absent. Not checked here: the ledger checks
 * every record it writes ({@link checkRecord}).
 */
export function newRecord(fields: NewRecordFields, at: Date | string): LedgerRecord {
    const time = typeof at === 'string' ? at : at.toISOString();
    const { id, direction, type, status, source, mediaCount, attempts, ...optional } = fields;
    const record: LedgerRecord = {
        id,
        direction,
        type,
        mediaCount: mediaCount ?? 0,
        status,
        history: source === undefined ? [] : [{ status, at: time, source }],
        attempts: attempts ?? 0,
        createdAt: time,
        updatedAt: time,
    };
    return withDefined(record, optional);
}

// ---------------------------------------------------------------------------------------------------------
// Every write

/**
 * The checks every write applies (records are built at run time from webhook and queue input, so the
 * types alone do not hold): a ledger id, createdAt as an ISO 8601 time from 1970 on, a known direction
 * and type, and whole, non-negative counts.
 *
 * @throws RangeError naming what is wrong.
 */
export function checkRecord(record: LedgerRecord): void {
    checkLedgerId(record.id);
    const created = Date.parse(record.createdAt);
    if (!(created >= 0 && created <= MAX_CREATED_MS)) {
        throw new RangeError('A ledger record needs createdAt as an ISO 8601 time from 1970 on');
    }
    if (!(['outbound', 'inbound'] as string[]).includes(record.direction)) {
        throw new RangeError('A ledger record direction is "outbound" or "inbound"');
    }
    if (!(['sms', 'call', 'voicemail'] as string[]).includes(record.type)) {
        throw new RangeError('A ledger record type is "sms", "call" or "voicemail"');
    }
    checkCount(record.mediaCount);
    checkCount(record.attempts);
    if (record.bodyLength !== undefined) checkCount(record.bodyLength);
}

/** A non-negative Int32 (what Table storage infers for a plain JSON integer). */
function checkCount(value: number): void {
    if (!Number.isInteger(value) || value < 0 || value > 0x7fffffff) {
        throw new RangeError('Ledger counts (mediaCount, attempts, bodyLength) are whole numbers from 0');
    }
}

/**
 * The record as a ledger stores it, after {@link checkRecord}: the body only with `storeBody` (cut to
 * {@link MAX_TEXT}), error code and message cut to {@link MAX_TEXT}, the history trimmed
 * ({@link storedHistory}), the claim and accept lease reduced to their known fields (dropped when
 * malformed), text fields that are not text dropped, and absent optional fields omitted.
 *
 * @throws RangeError for a record {@link checkRecord} refuses.
 */
export function shapeForStorage(record: LedgerRecord, storeBody: boolean): LedgerRecord {
    checkRecord(record);
    const shaped: LedgerRecord = {
        id: record.id,
        direction: record.direction,
        type: record.type,
        mediaCount: record.mediaCount,
        status: record.status,
        history: storedHistory(record.history),
        attempts: record.attempts,
        createdAt: record.createdAt,
        updatedAt: record.updatedAt,
    };
    const optional: Partial<LedgerRecord> = {
        to: text(record.to),
        from: text(record.from),
        messagingServiceSid: text(record.messagingServiceSid),
        bodyLength: record.bodyLength,
        body: storeBody ? text(record.body)?.slice(0, MAX_TEXT) : undefined,
        sid: text(record.sid),
        errorCode: text(record.errorCode)?.slice(0, MAX_TEXT),
        errorMessage: text(record.errorMessage)?.slice(0, MAX_TEXT),
        claim: knownClaim(record.claim),
        fingerprint: text(record.fingerprint),
        acceptLease: knownAcceptLease(record.acceptLease),
        voicemail: knownVoicemail(record.voicemail),
        media: knownMedia(record.media),
    };
    return withDefined(shaped, optional);
}

/**
 * `target` with each of `fields` that is defined: an optional field is absent, never present as
 * `undefined`, so records compare and serialise alike whichever ledger made them.
 */
export function withDefined<T extends object>(target: T, fields: Readonly<Record<string, unknown>>): T {
    for (const [name, value] of Object.entries(fields)) {
        if (value !== undefined) Object.assign(target, { [name]: value });
    }
    return target;
}

function text(value: unknown): string | undefined {
    return typeof value === 'string' ? value : undefined;
}

/**
 * The newest events that fit: at most {@link MAX_HISTORY}, each `detail` cut to {@link MAX_DETAIL}, within
 * {@link MAX_HISTORY_JSON} characters of JSON; then only the well-formed ones ({@link knownEvents}).
 */
export function storedHistory(history: readonly StatusEvent[]): StatusEvent[] {
    // Counted as given, malformed events included, before they are dropped: the order the Table ledger
    // has always applied (it wrote them, and dropped them on read), so trimming stays where it was.
    const events = history.slice(-MAX_HISTORY).map(({ status, at, source, sid, detail }) => ({
        status,
        at,
        source,
        ...(sid === undefined ? {} : { sid }),
        ...(detail === undefined
            ? {}
            : { detail: typeof detail === 'string' ? detail.slice(0, MAX_DETAIL) : detail }),
    }));
    let json = JSON.stringify(events);
    while (json.length > MAX_HISTORY_JSON && events.length > 0) {
        events.shift();
        json = JSON.stringify(events);
    }
    return knownEvents(events);
}

/**
 * The well-formed status events of `values` (stored JSON, or events built from untyped input), reduced
 * to their known fields: a text status and time, source `app` or `twilio`, and a text SID and detail
 * when present.
 */
export function knownEvents(values: readonly unknown[]): StatusEvent[] {
    const events: StatusEvent[] = [];
    for (const item of values) {
        if (typeof item !== 'object' || item === null) continue;
        const { status, at, source, sid, detail } = item as Record<string, unknown>;
        if (typeof status !== 'string' || typeof at !== 'string') continue;
        if (source !== 'app' && source !== 'twilio') continue;
        events.push({
            status,
            at,
            source,
            ...(typeof sid === 'string' ? { sid } : {}),
            ...(typeof detail === 'string' ? { detail } : {}),
        });
    }
    return events;
}

/** A send claim reduced to its known fields; undefined when it is not one. */
export function knownClaim(value: unknown): SendClaim | undefined {
    if (typeof value !== 'object' || value === null) return undefined;
    const { token, at, leaseUntil } = value as Record<string, unknown>;
    if (typeof token !== 'string' || typeof at !== 'string' || typeof leaseUntil !== 'string') {
        return undefined;
    }
    return { token, at, leaseUntil };
}

/** An accept lease reduced to its known fields; undefined when it is not one. */
export function knownAcceptLease(value: unknown): AcceptLease | undefined {
    if (typeof value !== 'object' || value === null) return undefined;
    const { token, until } = value as Record<string, unknown>;
    return typeof token === 'string' && typeof until === 'string' ? { token, until } : undefined;
}

const NOTIFICATION_CHANNELS: readonly string[] = ['sms', 'email'];
const NOTIFICATION_OUTCOMES: readonly string[] = ['pending', 'queued', 'sent', 'failed', 'not-configured'];

/**
 * A voicemail's details reduced to their known fields (stored JSON, or details built from webhook input):
 * text fields that are text, a whole non-negative duration, and the well-formed notifications (the last
 * {@link MAX_NOTIFICATIONS}, each reason cut to {@link MAX_DETAIL}); undefined when it is not an object.
 */
export function knownVoicemail(value: unknown): VoicemailDetails | undefined {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
    const { callSid, durationSeconds, recordingStatus, transcription, notifications } = value as Record<
        string,
        unknown
    >;
    const known: VoicemailNotification[] = [];
    for (const item of Array.isArray(notifications) ? (notifications as unknown[]) : []) {
        if (typeof item !== 'object' || item === null) continue;
        const { channel, outcome, at, id, reason } = item as Record<string, unknown>;
        if (typeof channel !== 'string' || !NOTIFICATION_CHANNELS.includes(channel)) continue;
        if (typeof outcome !== 'string' || !NOTIFICATION_OUTCOMES.includes(outcome)) continue;
        if (typeof at !== 'string') continue;
        known.push(
            withDefined(
                {
                    channel: channel as VoicemailNotification['channel'],
                    outcome: outcome as VoicemailNotification['outcome'],
                    at,
                },
                { id: text(id), reason: text(reason)?.slice(0, MAX_DETAIL) },
            ),
        );
    }
    const duration =
        typeof durationSeconds === 'number' &&
        Number.isInteger(durationSeconds) &&
        durationSeconds >= 0 &&
        durationSeconds <= 0x7fffffff
            ? durationSeconds
            : undefined;
    return withDefined(
        { notifications: known.slice(-MAX_NOTIFICATIONS) },
        {
            callSid: text(callSid),
            durationSeconds: duration,
            recordingStatus: text(recordingStatus),
            transcription: text(transcription),
        },
    );
}

const MEDIA_STATUSES: readonly string[] = ['copied', 'refused', 'not-queued', 'dead-lettered'];
const MEDIA_REFUSALS: readonly string[] = [
    'foreign-url',
    'content-type',
    'too-large',
    'not-found',
    'upstream',
];

/**
 * An inbound message's media reduced to their known fields (stored JSON, or what the media copy built):
 * a known status, the reason cut to {@link MAX_DETAIL}, and the well-formed items (a whole index from 0 to
 * {@link MAX_MEDIA_ITEMS} − 1, once each, a known outcome and refusal, text that is text, a whole size);
 * undefined when it is not an object with a known status.
 */
export function knownMedia(value: unknown): InboundMedia | undefined {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
    const { status, items, reason } = value as Record<string, unknown>;
    if (typeof status !== 'string' || !MEDIA_STATUSES.includes(status)) return undefined;
    const known: MediaItem[] = [];
    for (const item of Array.isArray(items) ? (items as unknown[]) : []) {
        if (typeof item !== 'object' || item === null) continue;
        const fields = item as Record<string, unknown>;
        const { index, outcome, size, refusal, deletedAtTwilio } = fields;
        if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= MAX_MEDIA_ITEMS)
            continue;
        if (known.some((other) => other.index === index)) continue;
        if (outcome !== 'stored' && outcome !== 'refused') continue;
        known.push(
            withDefined(
                { index, outcome },
                {
                    contentType: text(fields.contentType),
                    blob: text(fields.blob),
                    size:
                        typeof size === 'number' && Number.isInteger(size) && size >= 0 && size <= 0x7fffffff
                            ? size
                            : undefined,
                    refusal:
                        typeof refusal === 'string' && MEDIA_REFUSALS.includes(refusal)
                            ? (refusal as MediaItem['refusal'])
                            : undefined,
                    detail: text(fields.detail)?.slice(0, MAX_DETAIL),
                    mediaSid: text(fields.mediaSid),
                    deletedAtTwilio: typeof deletedAtTwilio === 'boolean' ? deletedAtTwilio : undefined,
                },
            ),
        );
    }
    return withDefined(
        { status: status as InboundMedia['status'], items: known },
        { reason: text(reason)?.slice(0, MAX_DETAIL) },
    );
}

// ---------------------------------------------------------------------------------------------------------
// Updates

/**
 * What `Ledger.update` writes for `mutate`'s result `after` (`before` being the current record, if
 * any): `after` with the id checked, createdAt kept from `before`, and updatedAt stamped `now`. Not yet
 * shaped ({@link shapeForStorage} does that).
 *
 * @throws Error when `after` has another id.
 */
export function nextRevision(
    id: string,
    before: LedgerRecord | undefined,
    after: LedgerRecord,
    now: Date,
): LedgerRecord {
    if (after.id !== id) throw new Error('A ledger update cannot change the record id');
    return { ...after, createdAt: before?.createdAt ?? after.createdAt, updatedAt: now.toISOString() };
}

// ---------------------------------------------------------------------------------------------------------
// List queries

/** A list query, checked: its day range (days since the epoch, UTC) and a fingerprint of its filters. */
export interface CheckedListQuery {
    /** Newest day in range (not after tomorrow). */
    highest: number;
    /** Oldest day in range; may exceed `highest` for an empty range. */
    lowest: number;
    /** Ties a continuation token to the filters it was issued for. */
    fingerprint: string;
}

/**
 * Checks the page size and filters of a list query and works out its day range: from `dateFrom` (or
 * {@link DEFAULT_LIST_DAYS} before `dateTo`/today) to `dateTo` (or today). What every `Ledger`
 * implementation shares; the continuation token is each one's own.
 *
 * @throws LedgerQueryError naming the field at fault.
 */
export function checkListQuery(query: ListQuery, now: Date): CheckedListQuery {
    if (!Number.isInteger(query.pageSize) || query.pageSize < 1 || query.pageSize > MAX_PAGE_SIZE) {
        throw new LedgerQueryError(
            `pageSize must be a whole number from 1 to ${String(MAX_PAGE_SIZE)}`,
            'pageSize',
        );
    }
    for (const name of ['to', 'from'] as const) {
        const value = query[name];
        if (value !== undefined && (value === '' || value.length > MAX_FILTER_VALUE)) {
            throw new LedgerQueryError(`${name} must be 1-${String(MAX_FILTER_VALUE)} characters`, name);
        }
    }
    const day = (name: 'dateFrom' | 'dateTo'): number | undefined => {
        const value = query[name];
        if (value === undefined) return undefined;
        const parsed = parseDay(value);
        if (parsed === undefined) {
            throw new LedgerQueryError(`${name} must be a date as YYYY-MM-DD from 1970 to 9999`, name);
        }
        return parsed;
    };
    const dateFrom = day('dateFrom');
    const dateTo = day('dateTo');
    const today = Math.floor(now.getTime() / DAY_MS);
    // Records are never dated after today; a day of slack covers a clock running behind another.
    const highest = Math.min(dateTo ?? today, today + 1);
    const lowest = dateFrom ?? (dateTo ?? today) - (DEFAULT_LIST_DAYS - 1);
    const fingerprint = createHash('sha256')
        .update(
            JSON.stringify([
                query.to ?? null,
                query.from ?? null,
                query.dateFrom ?? null,
                query.dateTo ?? null,
            ]),
        )
        .digest('hex')
        .slice(0, 16);
    return { highest, lowest, fingerprint };
}

/** The day (since 1970-01-01 UTC) a record is listed under: that of its createdAt. */
export function dayOf(record: Pick<LedgerRecord, 'createdAt'>): number {
    return Math.floor(Date.parse(record.createdAt) / DAY_MS);
}

/** Whether `record` is in the result of `query` (checked as `checked`): its day in range, `to` and `from` equal. */
export function matchesListQuery(record: LedgerRecord, query: ListQuery, checked: CheckedListQuery): boolean {
    const day = dayOf(record);
    return (
        day >= checked.lowest &&
        day <= checked.highest &&
        (query.to === undefined || record.to === query.to) &&
        (query.from === undefined || record.from === query.from)
    );
}

/**
 * The list order: ascending order of this key is newest first by createdAt, and records created in the
 * same millisecond by the base64url of their ids. The Table ledger's day-index row key is exactly this
 * string, so changing it is a storage migration.
 */
export function listOrderKey(record: Pick<LedgerRecord, 'id' | 'createdAt'>): string {
    const ms = Date.parse(record.createdAt);
    return `${String(MAX_CREATED_MS - ms).padStart(13, '0')}_${encodeLedgerId(record.id)}`;
}

/**
 * `YYYY-MM-DD` (or `YYYYMMDD` when `compact`) → day number (days since 1970-01-01 UTC), or undefined when
 * it is not a real date from 1970 on.
 */
export function parseDay(text: string, compact = false): number | undefined {
    const match = (compact ? /^(\d{4})(\d{2})(\d{2})$/ : /^(\d{4})-(\d{2})-(\d{2})$/).exec(text);
    if (match === null) return undefined;
    const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
    // Nothing is dated before 1970 (createdAt is checked so), and Date.UTC reads years 0-99 as 19xx.
    if (year < 1970) return undefined;
    const ms = Date.UTC(year, month - 1, day);
    const date = new Date(ms);
    if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) {
        return undefined;
    }
    return ms / DAY_MS;
}
