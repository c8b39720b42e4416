/**
 * List endpoints the way the 2010-04-01 API serves them: filters, newest first, and the paging envelope
 * (`page`, `page_size`, `start`, `end`, `uri`, `first_page_uri`, `next_page_uri`, `previous_page_uri`)
 * whose `next_page_uri` the `twilio` SDK follows for `.list()`, `.each()` and `.page()`.
 *
 * Paging is by token, like Twilio's: `PageToken=PA<sid>` continues after that record, `PB<sid>` goes back
 * before it, so pages stay consistent while new records arrive at the top.
 */

import { errors } from './errors';

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 1000;

/** A date filter (`DateSent`, `DateSent<`, `DateSent>`, `StartTime…`) as a predicate on a record's date. */
export type DateFilter = (date: Date | null) => boolean;

const DATE_ONLY = /^(\d{4})-(\d{2})-(\d{2})$/;
const DAY_MS = 86_400_000;

/**
 * Builds the predicate for `name`, `name<` and `name>` in `query` (all that are present), or `undefined`
 * when none is. Dates are GMT; a `YYYY-MM-DD` value means the whole day, a date-time the second it names
 * (Twilio keeps dates to the second). `name` matches that day or second, `name>` on or after it, `name<`
 * on or before it — or strictly before it with `beforeInclusive: false` (calls' `StartTime<`/`EndTime<`,
 * "started before this date"). A record with no date (a message not sent yet, a call not started) matches
 * no filter.
 *
 * @throws TwilioApiError 20001 for a value that is not a date.
 */
export function dateFilter(
    query: URLSearchParams,
    name: string,
    { beforeInclusive }: { beforeInclusive: boolean },
): DateFilter | undefined {
    const checks: ((seconds: number) => boolean)[] = [];
    for (const [suffix, make] of [
        ['', (from: number, to: number) => (s: number) => s >= from && s < to],
        ['>', (from: number) => (s: number) => s >= from],
        ['<', (from: number, to: number) => (s: number) => s < (beforeInclusive ? to : from)],
    ] as const) {
        const raw = query.get(name + suffix);
        if (raw === null) continue;
        const range = parseDateRange(raw.trim());
        if (range === undefined) throw errors.invalidParameter(`Invalid value for ${name}${suffix}: ${raw}`);
        checks.push(make(range.from, range.to));
    }
    if (checks.length === 0) return undefined;
    return (date) => {
        if (date === null) return false;
        const seconds = Math.floor(date.getTime() / 1000) * 1000;
        return checks.every((check) => check(seconds));
    };
}

/** `[from, to)` in epoch ms: a whole day for `YYYY-MM-DD`, one second for a date-time. */
function parseDateRange(value: string): { from: number; to: number } | undefined {
    const day = DATE_ONLY.exec(value);
    if (day !== null) {
        const from = Date.UTC(Number(day[1]), Number(day[2]) - 1, Number(day[3]));
        return Number.isNaN(from) ? undefined : { from, to: from + DAY_MS };
    }
    // ISO 8601 date-times with a zone, as the SDK sends them (`2024-05-01T10:00:00Z`).
    if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/.test(value)) return undefined;
    const ms = Date.parse(value);
    if (Number.isNaN(ms)) return undefined;
    const from = Math.floor(ms / 1000) * 1000;
    return { from, to: from + 1000 };
}

export interface PageRequest {
    pageSize: number;
    page: number;
    pageToken: string | undefined;
}

/** `PageSize` (1–1000, default 50), `Page` (from 0) and `PageToken`. @throws TwilioApiError 20001 */
export function pageRequest(query: URLSearchParams): PageRequest {
    const integer = (name: string, fallback: number, min: number): number => {
        const raw = query.get(name);
        if (raw === null || raw === '') return fallback;
        if (!/^\d+$/.test(raw) || Number(raw) < min) throw errors.invalidParameter(`Invalid ${name}: ${raw}`);
        return Number(raw);
    };
    const pageSize = Math.min(integer('PageSize', DEFAULT_PAGE_SIZE, 1), MAX_PAGE_SIZE);
    const page = integer('Page', 0, 0);
    const token = query.get('PageToken');
    return { pageSize, page, pageToken: token === null || token === '' ? undefined : token };
}

export interface ListOptions<T> {
    /** `messages` or `calls`. */
    key: string;
    /** The list's path, e.g. `/2010-04-01/Accounts/AC…/Messages.json`. */
    path: string;
    query: URLSearchParams;
    /** The names of the filter parameters to carry into the page URIs. */
    filterNames: readonly string[];
    /** The matching records, newest first. */
    items: readonly T[];
    sid: (item: T) => string;
    /** Creation order of any SID ever stored (deleted ones included), for page tokens. */
    sequenceOf: (sid: string) => number | undefined;
    render: (item: T) => unknown;
}

/** One page of a list with Twilio's envelope. @throws TwilioApiError 20001 for a bad page request. */
export function listPage<T>(options: ListOptions<T>): Record<string, unknown> {
    const { pageSize, page, pageToken } = pageRequest(options.query);
    const { items } = options;
    const seq = (item: T) => options.sequenceOf(options.sid(item)) ?? -1;

    let selected: readonly T[];
    if (pageToken === undefined) {
        selected = items.slice(page * pageSize, page * pageSize + pageSize);
    } else {
        const direction = pageToken.slice(0, 2);
        const anchor = options.sequenceOf(pageToken.slice(2));
        if ((direction !== 'PA' && direction !== 'PB') || anchor === undefined) {
            throw errors.invalidParameter(`Invalid PageToken: ${pageToken}`);
        }
        if (direction === 'PA') {
            selected = items.filter((item) => seq(item) < anchor).slice(0, pageSize);
        } else {
            selected = items.filter((item) => seq(item) > anchor).slice(-pageSize);
        }
    }

    const filters = new URLSearchParams();
    for (const name of options.filterNames) {
        for (const value of options.query.getAll(name)) filters.append(name, value);
    }
    const uri = (pageNumber: number, token?: string) => {
        const params = new URLSearchParams(filters);
        params.set('PageSize', String(pageSize));
        params.set('Page', String(pageNumber));
        if (token !== undefined) params.set('PageToken', token);
        return `${options.path}?${params.toString()}`;
    };

    const first = selected[0];
    const last = selected.at(-1);
    const hasNext = last !== undefined && items.some((item) => seq(item) < seq(last));
    const hasPrevious = page > 0 && first !== undefined && items.some((item) => seq(item) > seq(first));
    const start = page * pageSize;
    return {
        [options.key]: selected.map(options.render),
        end: selected.length === 0 ? start : start + selected.length - 1,
        first_page_uri: uri(0),
        next_page_uri: hasNext ? uri(page + 1, `PA${options.sid(last)}`) : null,
        page,
        page_size: pageSize,
        previous_page_uri: hasPrevious ? uri(page - 1, `PB${options.sid(first)}`) : null,
        start,
        uri: uri(page, pageToken),
    };
}
