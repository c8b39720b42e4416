/**
 * Message and call status ordering, so that recording a status is idempotent and never moves backwards.
 * Pure: no I/O, no clock.
 *
 * Twilio's status callbacks are not ordered (a `sent` can arrive after `delivered`) and are retried (the
 * same `delivered` twice), and our own pipeline records statuses of its own around them. Every status
 * therefore has a rank in its lifecycle; the record's current status only ever moves to a higher rank,
 * while every distinct event is kept in the history.
 *
 * One of the ledger's rules modules, beside shared/ledger/rules.ts (ids, record checks and shaping, the
 * `newRecord` factory, list queries); the types are shared/ledger/contract.ts.
 */

import type { LedgerRecord, MessageKind, StatusEvent } from './contract';

export type StatusSource = StatusEvent['source'];

export interface StatusUpdate {
    status: string;
    /** ISO 8601 time the status was observed. */
    at: string;
    source: StatusSource;
    /** The Twilio SID the event is about; absent for our own events before a send. */
    sid?: string;
    errorCode?: string;
    errorMessage?: string;
    /** Kept on the history entry: why the event was recorded. */
    detail?: string;
}

/** Ranks from this one up are final: nothing after them but another final status of a higher rank. */
const FINAL = 100;

/**
 * Messages. `queued` and `sending` are both ours (a message in our queue; a send claimed and in progress)
 * and Twilio's (in Twilio's queue; handed to the carrier), which come later: {@link statusRank} tells them
 * apart by source. `read` follows `delivered`.
 */
const MESSAGE_RANKS: Readonly<Record<string, number>> = {
    accepted: 30,
    scheduled: 40,
    queued: 50,
    sending: 60,
    sent: 70,
    receiving: 30,
    received: FINAL,
    delivered: FINAL,
    // Twilio's word for a message some of whose parts arrived (written with an underscore, as Twilio does).
    partially_delivered: FINAL,
    undelivered: FINAL,
    failed: FINAL,
    canceled: FINAL,
    rejected: FINAL,
    'dead-lettered': FINAL,
    read: FINAL + 10,
};

const CALL_RANKS: Readonly<Record<string, number>> = {
    queued: 30,
    initiated: 40,
    ringing: 50,
    'in-progress': 60,
    completed: FINAL,
    busy: FINAL,
    'no-answer': FINAL,
    failed: FINAL,
    canceled: FINAL,
    rejected: FINAL,
    'dead-lettered': FINAL,
};

/**
 * Our own pre-send statuses, before anything Twilio reports: `accepting` (the HTTP API has recorded the
 * request and is putting it on the queue), `queued` (on our queue), `sending` (a send claimed).
 */
const APP_RANKS: Readonly<Record<string, number>> = { accepting: 5, queued: 10, sending: 20 };

/**
 * The rank of `status` in the lifecycle of a message or call: higher is later, 0 for a status this module
 * does not know. `source` only matters for `queued` and `sending`, which mean an earlier stage when they
 * are ours (`'app'`) than when Twilio reports them (the default).
 */
export function statusRank(type: MessageKind, status: string, source: StatusSource = 'twilio'): number {
    if (source === 'app') {
        const rank = own(APP_RANKS, status);
        if (rank !== undefined) return rank;
    }
    return own(type === 'call' ? CALL_RANKS : MESSAGE_RANKS, status) ?? 0;
}

/** Whether `status` is final for a message or call (delivered, failed, completed, our `rejected`, …). */
export function isTerminal(type: MessageKind, status: string): boolean {
    return statusRank(type, status) >= FINAL;
}

/**
 * Applies a status observed at `at` (from Twilio callbacks or our own pipeline).
 *
 * - Dedupes on (sid, status): the same status for the same SID twice adds nothing. The event's SID defaults
 *   to the record's, and is kept on the history entry.
 * - The current status only moves forward in the lifecycle rank; a late `sent` after `delivered` is kept in
 *   history (once) but does not change `status`. A final status is never replaced by a non-final one, nor
 *   by another final one of the same rank (`delivered` then `undelivered` keeps `delivered`); `read`
 *   outranks `delivered`. An unknown status is recorded in history only.
 * - An event about another SID than the record's is recorded in history only.
 * - The record takes the event's SID when it has none yet, and the event's error (code and message) when
 *   the event moves the status.
 * - History is kept in order of `at` (an event arriving late is placed where it happened).
 *
 * `updatedAt` is left to the caller (the ledger stamps it on write).
 *
 * @returns the new record, or undefined when nothing changed.
 */
export function applyStatus(record: LedgerRecord, event: StatusUpdate): LedgerRecord | undefined {
    const sid = event.sid ?? record.sid;
    if (record.history.some((entry) => entry.status === event.status && entry.sid === sid)) return undefined;

    const entry: StatusEvent = {
        status: event.status,
        at: event.at,
        source: event.source,
        ...(sid === undefined ? {} : { sid }),
        ...(event.detail === undefined ? {} : { detail: event.detail }),
    };
    const next: LedgerRecord = { ...record, history: insertByTime(record.history, entry) };
    const foreign = record.sid !== undefined && sid !== record.sid;
    if (foreign) return next;
    if (record.sid === undefined && sid !== undefined) next.sid = sid;

    // Our `dead-lettered` says we gave up, not what Twilio did: when Twilio reports on the record's own SID
    // (a last attempt that did reach Twilio), Twilio's account wins.
    const supersededByTwilio = record.status === 'dead-lettered' && event.source === 'twilio';
    const currentRank = supersededByTwilio
        ? 0
        : statusRank(record.type, record.status, currentSource(record));
    if (statusRank(record.type, event.status, event.source) > currentRank) {
        next.status = event.status;
        if (event.errorCode !== undefined || event.errorMessage !== undefined) {
            next.errorCode = event.errorCode;
            next.errorMessage = event.errorMessage;
        }
    }
    return next;
}

/**
 * Who set the record's current status: the newest history entry with that status says; with none, it was
 * set directly by our pipeline (Twilio's statuses always arrive through {@link applyStatus}).
 */
function currentSource(record: LedgerRecord): StatusSource {
    for (let i = record.history.length - 1; i >= 0; i--) {
        const entry = record.history[i];
        if (entry?.status === record.status) return entry.source;
    }
    return 'app';
}

/** A copy of `history` with `entry` after every entry at or before its time (an unparsable time: last). */
function insertByTime(history: readonly StatusEvent[], entry: StatusEvent): StatusEvent[] {
    const time = Date.parse(entry.at);
    let index = history.length;
    if (!Number.isNaN(time)) {
        while (index > 0) {
            const before = Date.parse(history[index - 1]?.at ?? '');
            if (!(before > time)) break;
            index--;
        }
    }
    return [...history.slice(0, index), entry, ...history.slice(index)];
}

function own(table: Readonly<Record<string, number>>, key: string): number | undefined {
    return Object.prototype.hasOwnProperty.call(table, key) ? table[key] : undefined;
}
