/**
 * The ledger's contract: what a record is, what a {@link Ledger} does with it, the errors it throws and the
 * limits every implementation shares. Types and constants only, so any module may import it for free.
 *
 * Where the rest lives:
 *
 * - shared/ledger/rules.ts — the record rules every implementation applies: which ids are ledger ids,
 *   the checks on every write, how a record is shaped for storage (history, text limits, body, claims),
 *   how an update's result becomes the next revision, list queries and list order, and `newRecord`, the
 *   one factory that makes a record.
 * - shared/ledger/status.ts — status ordering (`applyStatus`, `isTerminal`): a record's status never
 *   moves backwards.
 * - shared/ledger/table.ts — the Azure Table storage implementation (the app's).
 * - test/support/memoryLedger.ts — an in-memory implementation for tests; test/support/ledgerContract.ts
 *   is the suite every implementation passes (test/integration/ledgerContract.test.ts runs it for both).
 *
 * A new backend (Cosmos DB, …) is one module implementing {@link Ledger} with the rules, and one branch
 * in the composition root (shared/platform/dependencies.ts).
 *
 * **Storage limits.** The rules keep what they control within {@link MAX_TEXT}, {@link MAX_HISTORY_JSON}
 * and {@link MAX_ID_LENGTH}, which any store can hold. The other strings (`to`, `from`, `status`, SIDs)
 * are stored as given, and an implementation whose store cannot hold a value refuses the write by
 * throwing its store's own error (Table storage: HTTP 400 for a string property over 64 KiB or a key over
 * 512 characters) instead of cutting it. What such a failed write leaves is the implementation's to say;
 * the contract only promises that a value it accepted is read back as it was written.
 */

export type Direction = 'outbound' | 'inbound';
/** `voicemail`: a recording left through the voicemail twimlet (inbound; shared/voice/voicemail.ts). */
export type MessageKind = 'sms' | 'call' | 'voicemail';

export interface StatusEvent {
    status: string;
    /** ISO 8601 */
    at: string;
    source: 'app' | 'twilio';
    /** The Twilio SID the event was about, when known (status events are deduplicated on SID and status). */
    sid?: string;
    /** Why the event was recorded, when its status alone does not say (e.g. a refused queue copy). */
    detail?: string;
}

/** An outbound send in progress: who holds it (`token`), since when, and until when others must wait. */
export interface SendClaim {
    token: string;
    at: string;
    leaseUntil: string;
}

/** The HTTP API is putting a request on the queue until `until`; `token` names that request. */
export interface AcceptLease {
    token: string;
    until: string;
}

export interface LedgerRecord {
    id: string;
    direction: Direction;
    type: MessageKind;
    to?: string;
    from?: string;
    messagingServiceSid?: string;
    bodyLength?: number;
    /** Only stored when the ledger was created with `storeBody: true`. */
    body?: string;
    mediaCount: number;
    sid?: string;
    status: string;
    /** Oldest first; at most the last {@link MAX_HISTORY} events are kept. */
    history: StatusEvent[];
    /** Twilio's error code and message, or the validation field errors for `rejected`. */
    errorCode?: string;
    errorMessage?: string;
    attempts: number;
    /** An outbound send in progress. */
    claim?: SendClaim;
    /**
     * The fingerprint of the validated request the record was created for (shared/outbound/message.ts
     * `requestFingerprint`): the first copy to create the record fixes it, and a request or queue copy with
     * another fingerprint under the same id is refused, never sent. A hash of the content, bodies
     * included: it is never shown by the API nor logged.
     */
    fingerprint?: string;
    /** The HTTP API is putting the request on the queue (status `accepting`) until this lease ends. */
    acceptLease?: AcceptLease;
    /**
     * A `voicemail` record's own fields. Its recording SID is `sid`, and its transcription is `body` /
     * `bodyLength` (the text only with `storeBody`, as a message body).
     */
    voicemail?: VoicemailDetails;
    /**
     * An inbound MMS's media, once the media copy (shared/media/) has decided each item; absent while the
     * copy is pending (a record with `mediaCount` > 0 and no `media`).
     */
    media?: InboundMedia;
    /** ISO 8601; fixed at creation (it places the record in the day index). */
    createdAt: string;
    /** ISO 8601; stamped by {@link Ledger.update} on every write. */
    updatedAt: string;
}

/** What a `voicemail` record holds beside the common fields (shared/voice/voicemail.ts writes it). */
export interface VoicemailDetails {
    /** The call the voicemail was left on (`CA…`). */
    callSid?: string;
    /** The recording's length in seconds, as Twilio reports it. */
    durationSeconds?: number;
    /** Twilio's recording status (`completed`, `absent`, `failed`), once its status callback came. */
    recordingStatus?: string;
    /** `requested` until Twilio's transcription callback says `completed` or `failed`; absent when not asked. */
    transcription?: string;
    /** Each notification channel's outcome, one entry per channel (at most {@link MAX_NOTIFICATIONS}). */
    notifications: VoicemailNotification[];
}

/**
 * One channel's notification of a voicemail. `pending` while one invocation is delivering it; then
 * `queued` (an SMS on the outbound queue: its own record under `id` says the rest), `sent` (an e-mail the
 * service accepted: `id` is its operation), `failed` or `not-configured`, with `reason`.
 */
export interface VoicemailNotification {
    channel: 'sms' | 'email';
    outcome: 'pending' | 'queued' | 'sent' | 'failed' | 'not-configured';
    /** ISO 8601: when the outcome was recorded. */
    at: string;
    /** The outbound message's id (SMS) or the e-mail operation's id. */
    id?: string;
    /** Why it failed or was not configured: a sentence naming settings or parameters, never values. */
    reason?: string;
}

/**
 * What became of an inbound message's media. `copied`: every item has its outcome in `items`; `refused`:
 * the message's media were refused as a whole (more than {@link MAX_MEDIA_ITEMS}), `reason` says why;
 * `not-queued`: the copy job could not be put on the queue (the media stay at Twilio); `dead-lettered`:
 * the job failed every attempt and went to the poison queue, `reason` says so, and `items` holds what
 * was stored before.
 */
export interface InboundMedia {
    status: 'copied' | 'refused' | 'not-queued' | 'dead-lettered';
    /** One entry per media item decided, by `index` (`MediaUrl{index}`); at most {@link MAX_MEDIA_ITEMS}. */
    items: MediaItem[];
    /** A sentence naming what went wrong (never a URL, a credential or a body). */
    reason?: string;
}

/** Why one media item was not copied. */
export type MediaRefusal =
    /** Its URL is not a Twilio media URL of this account and message: never fetched. */
    | 'foreign-url'
    /** Its content type is not one Twilio accepts for MMS. */
    | 'content-type'
    /** Over the per-item size limit (5 MB), counted while reading. */
    | 'too-large'
    /** Twilio has no such media (404), e.g. deleted already. */
    | 'not-found'
    /** Twilio answered it with another status that a retry would not change. */
    | 'upstream';

/** One media item: `stored` in the media container as `blob`, or `refused` with its `refusal`. */
export interface MediaItem {
    index: number;
    outcome: 'stored' | 'refused';
    /** The media's content type (Twilio's, as stored on the blob), lowercased, without parameters. */
    contentType?: string;
    /** The blob's name in the media container (`<MessageSid>/<index>`). */
    blob?: string;
    /** Bytes stored. */
    size?: number;
    refusal?: MediaRefusal;
    /** A sentence with the refusal's particulars (a status, a type, a limit). */
    detail?: string;
    /** The Twilio media SID (`ME…`). */
    mediaSid?: string;
    /** Whether the media was deleted at Twilio after the copy (`DELETE_MEDIA_AFTER_COPY`). */
    deletedAtTwilio?: boolean;
}

export interface ListQuery {
    to?: string;
    from?: string;
    /** YYYY-MM-DD (UTC), inclusive. Default: 29 days before `dateTo` (30 days in all). */
    dateFrom?: string;
    /** YYYY-MM-DD (UTC), inclusive. Default: today. */
    dateTo?: string;
    /** 1 to 1000. */
    pageSize: number;
    continuationToken?: string;
}

export interface ListPage {
    items: LedgerRecord[];
    /** Present when more items may follow; pass it back with the same query for the next page. */
    continuationToken?: string;
}

/**
 * The message ledger: one record per message or call, outbound and inbound. Every implementation applies
 * the record rules of shared/ledger/rules.ts on every write, and answers as test/support/ledgerContract.ts
 * checks. Nothing an implementation does may log: records hold phone numbers (and bodies, when
 * `storeBody` is on).
 */
export interface Ledger {
    /**
     * Insert if absent (atomic): 'created', or 'exists' (the record is then unchanged).
     *
     * @throws RangeError for a record the rules refuse (rules.ts `checkRecord`).
     */
    create(record: LedgerRecord): Promise<'created' | 'exists'>;
    /** Point read by id; undefined when absent (or when `id` cannot be a ledger id). */
    get(id: string): Promise<LedgerRecord | undefined>;
    /**
     * Optimistic-concurrency read-modify-write: `mutate` gets the current record (or undefined when absent)
     * and returns the new record, or undefined for "no change". An implementation may retry on a
     * concurrent write, re-reading each time, so `mutate` may run several times and must not have side
     * effects that matter. `id` and `createdAt` cannot change; `updatedAt` is stamped with the ledger's
     * clock (rules.ts `nextRevision`).
     *
     * `options` are hints that may save a round trip; a wrong hint costs one, never correctness.
     *
     * @returns the stored record after the write, or the current one when unchanged.
     * @throws RangeError for an id that cannot be a ledger id, or a result the rules refuse.
     */
    update(
        id: string,
        mutate: (current: LedgerRecord | undefined) => LedgerRecord | undefined,
        options?: UpdateOptions,
    ): Promise<LedgerRecord | undefined>;
    /**
     * Newest first (by `createdAt`; rules.ts `listOrderKey`), filtered (rules.ts `matchesListQuery`),
     * paged. A page may hold fewer than `pageSize` items and still carry a continuation token when a long
     * date range is walked in several calls; the last page has none. Continuation tokens are each
     * implementation's own.
     *
     * @throws LedgerQueryError for an invalid query or continuation token.
     */
    list(query: ListQuery): Promise<ListPage>;
    /** The id of the record that holds Twilio SID `sid`, if any (a point read of the SID index). */
    idForSid(sid: string): Promise<string | undefined>;
}

/** Hints for {@link Ledger.update}; an implementation may ignore them. */
export interface UpdateOptions {
    /**
     * The caller expects no record under this id yet (e.g. a queue message no API call recorded first):
     * the implementation may try an atomic insert of `mutate(undefined)` before reading.
     */
    expectAbsent?: boolean;
}

/** The {@link ListQuery} field a {@link LedgerQueryError} is about. */
export type ListQueryField = 'pageSize' | 'to' | 'from' | 'dateFrom' | 'dateTo' | 'continuationToken';

/** A list query or continuation token that cannot be served; the API answers 400 naming `field`. */
export class LedgerQueryError extends Error {
    override readonly name = 'LedgerQueryError';

    constructor(
        message: string,
        readonly field: ListQueryField = 'continuationToken',
    ) {
        super(message);
    }
}

/** How many status events a record keeps (the newest). */
export const MAX_HISTORY = 50;
/** The most characters of JSON a record's history takes; older events beyond it are dropped. */
export const MAX_HISTORY_JSON = 30_000;
/** A history event's `detail`: a sentence, not a payload. */
export const MAX_DETAIL = 300;
/** The body, error code and error message are cut to this many characters. */
export const MAX_TEXT = 16_000;
/** The most media items an inbound message has (Twilio's limit for an MMS). */
export const MAX_MEDIA_ITEMS = 10;
/** How many notification entries a voicemail record keeps. */
export const MAX_NOTIFICATIONS = 10;
/** The longest ledger id. */
export const MAX_ID_LENGTH = 200;
/** Days listed when the query gives no `dateFrom`. */
export const DEFAULT_LIST_DAYS = 30;
export const MAX_PAGE_SIZE = 1000;
/** The longest `to` / `from` filter of a list query. */
export const MAX_FILTER_VALUE = 256;
