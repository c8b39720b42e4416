/**
 * The opt-out store's contract: who asked not to get SMS/MMS from which sender, what a {@link OptOutStore}
 * does with it, its errors and limits, and the canonical forms of its keys. Types, constants and pure
 * rules only, so any module may import it for free.
 *
 * **Scope: one opt-out per (recipient, sender).** Twilio blocks a recipient per sender: the number they
 * replied STOP to, or, for a number in a Messaging Service, the whole service (a STOP to any of its
 * numbers opts the recipient out of every message sent through it). The app keeps the same shape: the
 * sender of an opt-out is an E.164 number, a short code, or a Messaging Service SID (`MG…`), and the
 * recipient an E.164 number. Other channels (`whatsapp:…`) have no opt-outs here: Twilio's STOP handling
 * is an SMS/MMS rule, so such a send is never checked (and costs no read).
 *
 * **Canonical forms, not hashes.** Keys are the addresses themselves ({@link canonicalSender},
 * {@link canonicalRecipient}): an E.164 number or short code as Twilio writes it (`+15551234567`,
 * `12345`), a Messaging Service SID with its hex lowercased. They are at most 34 characters and use none
 * of the characters Table keys refuse (`/ \ # ?`, control characters), so a look-up is a point read on
 * readable keys and a listing per sender is one partition.
 *
 * Where the rest lives:
 *
 * - shared/messaging/tableStores.ts — the Azure Table implementation (a partition per sender in the
 *   ledger's table), beside the loop guard's counters;
 * - test/support/memoryMessaging.ts — the in-memory implementation for tests;
 *   test/support/optOutContract.ts is the suite both pass (test/integration/optOutContract.test.ts).
 * - shared/messaging/keywords.ts — which inbound messages opt in or out; shared/messaging/inbound.ts and
 *   outbound.ts — what the webhook and the send pipeline do with the store.
 *
 * Nothing an implementation does may log: opt-outs are phone numbers.
 */

/** What made the opt-out: a STOP-family keyword, Twilio's `OptOutType`, Twilio refusing a send, or the API. */
export type OptOutSource = 'keyword' | 'OptOutType' | 'twilio-21610' | 'api';

export const OPT_OUT_SOURCES: readonly OptOutSource[] = ['keyword', 'OptOutType', 'twilio-21610', 'api'];

export interface OptOut {
    /** The number, short code or Messaging Service SID the opt-out applies to (canonical). */
    sender: string;
    /** The E.164 number that opted out (canonical). */
    recipient: string;
    /** ISO 8601: when the opt-out was first recorded. */
    since: string;
    source: OptOutSource;
    /** The inbound message SID (keyword, OptOutType) or the outbound id (twilio-21610) that caused it. */
    cause?: string;
}

export interface OptOutQuery {
    sender?: string;
    recipient?: string;
    /** 1 to {@link MAX_OPT_OUT_PAGE_SIZE}. */
    pageSize: number;
    continuationToken?: string;
}

export interface OptOutPage {
    /** Ordered by sender, then recipient (key order). */
    items: OptOut[];
    /**
     * Present when more items may follow: pass it back with the same query. A page may hold fewer than
     * `pageSize` items (even none) and still carry one; the last page has none.
     */
    continuationToken?: string;
}

/**
 * The opt-out store. Every method takes addresses in any form {@link canonicalSender} /
 * {@link canonicalRecipient} accept and works on their canonical form.
 */
export interface OptOutStore {
    /** The opt-out of `recipient` for `sender` (one point read); undefined when none, or not an SMS address. */
    get(sender: string, recipient: string): Promise<OptOut | undefined>;
    /**
     * Records an opt-out unless one exists for its (sender, recipient): 'created', or 'exists' (the one
     * recorded first is kept, with its `since` and `source`; a webhook retry changes nothing).
     *
     * @throws RangeError for an opt-out {@link checkOptOut} refuses.
     */
    add(optOut: OptOut): Promise<'created' | 'exists'>;
    /** Removes the opt-out: 'removed', or 'absent' when there was none (or the addresses cannot have one). */
    remove(sender: string, recipient: string): Promise<'removed' | 'absent'>;
    /**
     * Opt-outs filtered by sender and/or recipient, paged. By sender is one partition; by recipient alone,
     * or no filter, reads the opt-out partitions in key order (a service-side filter).
     *
     * @throws OptOutQueryError naming the field at fault.
     */
    list(query: OptOutQuery): Promise<OptOutPage>;
}

export type OptOutQueryField = 'sender' | 'recipient' | 'pageSize' | 'continuationToken';

/** A query or continuation token that cannot be served; the API answers 400 naming `field`. */
export class OptOutQueryError extends Error {
    override readonly name = 'OptOutQueryError';

    constructor(
        message: string,
        readonly field: OptOutQueryField,
    ) {
        super(message);
    }
}

export const MAX_OPT_OUT_PAGE_SIZE = 1000;
/** The longest `cause`: an id of the API (200 characters) or a Twilio SID. */
export const MAX_CAUSE_LENGTH = 200;

const E164 = /^\+[1-9]\d{6,14}$/;
const SHORT_CODE = /^\d{3,8}$/;
const SERVICE_SID = /^MG[0-9a-fA-F]{32}$/;

/**
 * The canonical form of a sender an opt-out can apply to: an E.164 number or a short code as given, a
 * Messaging Service SID with its hex lowercased; undefined for anything else (a `whatsapp:` address, an
 * alphanumeric sender ID, text that is no address).
 */
export function canonicalSender(value: string | null | undefined): string | undefined {
    if (typeof value !== 'string') return undefined;
    if (E164.test(value) || SHORT_CODE.test(value)) return value;
    if (SERVICE_SID.test(value)) return `MG${value.slice(2).toLowerCase()}`;
    return undefined;
}

/** The canonical form of a recipient that can opt out: an E.164 number as given; undefined otherwise. */
export function canonicalRecipient(value: string | null | undefined): string | undefined {
    return typeof value === 'string' && E164.test(value) ? value : undefined;
}

/** Whether `sender` (canonical) is a Messaging Service rather than a number. */
export function isServiceSender(sender: string): boolean {
    return sender.startsWith('MG');
}

/**
 * The opt-out with canonical addresses, after the checks every write applies: both addresses canonical,
 * `since` an ISO 8601 time from 1970 on, a known source, `cause` (when given) 1-200 printable ASCII
 * characters.
 *
 * @throws RangeError naming what is wrong.
 */
export function checkOptOut(optOut: OptOut): OptOut {
    const sender = canonicalSender(optOut.sender);
    if (sender === undefined) {
        throw new RangeError('An opt-out sender is an E.164 number, a short code or a Messaging Service SID');
    }
    const recipient = canonicalRecipient(optOut.recipient);
    if (recipient === undefined) throw new RangeError('An opt-out recipient is an E.164 number');
    const since = Date.parse(optOut.since);
    if (typeof optOut.since !== 'string' || !(since >= 0) || new Date(since).toISOString() !== optOut.since) {
        throw new RangeError('An opt-out needs since as an ISO 8601 time (toISOString) from 1970 on');
    }
    if (!OPT_OUT_SOURCES.includes(optOut.source)) {
        throw new RangeError(`An opt-out source is one of ${OPT_OUT_SOURCES.join(', ')}`);
    }
    const { cause } = optOut;
    if (cause !== undefined && !(typeof cause === 'string' && /^[\x21-\x7e]{1,200}$/.test(cause))) {
        throw new RangeError('An opt-out cause is 1-200 printable ASCII characters');
    }
    return {
        sender,
        recipient,
        since: optOut.since,
        source: optOut.source,
        ...(cause === undefined ? {} : { cause }),
    };
}

/**
 * Checks a list query's page size and filters, and canonicalises the filters.
 *
 * @throws OptOutQueryError naming the field at fault.
 */
export function checkOptOutQuery(query: OptOutQuery): { sender?: string; recipient?: string } {
    if (!Number.isInteger(query.pageSize) || query.pageSize < 1 || query.pageSize > MAX_OPT_OUT_PAGE_SIZE) {
        throw new OptOutQueryError(
            `pageSize must be a whole number from 1 to ${String(MAX_OPT_OUT_PAGE_SIZE)}`,
            'pageSize',
        );
    }
    const filters: { sender?: string; recipient?: string } = {};
    if (query.sender !== undefined) {
        const sender = canonicalSender(query.sender);
        if (sender === undefined) throw new OptOutQueryError(MSG_BAD_SENDER, 'sender');
        filters.sender = sender;
    }
    if (query.recipient !== undefined) {
        const recipient = canonicalRecipient(query.recipient);
        if (recipient === undefined) throw new OptOutQueryError(MSG_BAD_RECIPIENT, 'recipient');
        filters.recipient = recipient;
    }
    return filters;
}

export const MSG_BAD_SENDER =
    'must be an E.164 number (+15551234567), a short code (3-8 digits) or a Messaging Service SID (MG + 32 hex)';
export const MSG_BAD_RECIPIENT = 'must be an E.164 number (+15551234567)';

/**
 * Ties a continuation token to the filters it was issued for: the canonical sender and recipient, or `-`
 * for none. Every implementation puts it in its tokens.
 */
export function queryFingerprint(filters: { sender?: string; recipient?: string }): string {
    return `${filters.sender ?? '-'}|${filters.recipient ?? '-'}`;
}
