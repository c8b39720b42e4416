/**
 * The HTTP API's Get and List: GET /api/messages/{id} and GET /api/messages read the ledger — the Logic
 * Apps Twilio connector's Get Message and List Messages, over outbound and inbound messages and calls.
 */

import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import type { Ledger, LedgerRecord, ListQueryField } from '../ledger/contract';
import { LedgerQueryError } from '../ledger/contract';
import { API_ID, badRequest, listPage, type FieldError } from './fields';

const DAY = /^\d{4}-\d{2}-\d{2}$/;
export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 1000;

/** GET /api/messages/{id}: the ledger record, or 404. */
export async function getMessage(id: string, ledger: Ledger): Promise<HttpResponseInit> {
    if (!API_ID.test(id)) return { status: 404, jsonBody: { error: 'not_found', id } };
    const record = await ledger.get(id);
    if (record === undefined) return { status: 404, jsonBody: { error: 'not_found', id } };
    return { status: 200, jsonBody: toView(record) };
}

/**
 * GET /api/messages: the connector's List Messages filters (`to`, `from`, `dateSent`, `dateSentBefore`,
 * `dateSentAfter` as YYYY-MM-DD, `pageSize`), newest first, with a continuation token for the next page.
 */
export async function listMessages(request: HttpRequest, ledger: Ledger): Promise<HttpResponseInit> {
    const query = request.query;
    const errors: FieldError[] = [];
    const day = (name: string): string | undefined => {
        const value = query.get(name) ?? undefined;
        // Round-tripped, because Date.parse quietly turns 2024-02-30 into March 1st; nothing in the ledger
        // is older than 1970.
        if (value !== undefined && (!DAY.test(value) || value < '1970' || !isCalendarDay(value))) {
            errors.push({
                field: name,
                message: 'must be a date as YYYY-MM-DD, from 1970-01-01 to 9999-12-31',
            });
            return undefined;
        }
        return value;
    };
    const dateSent = day('dateSent');
    const before = day('dateSentBefore');
    const after = day('dateSentAfter');
    if (dateSent !== undefined && (before !== undefined || after !== undefined)) {
        errors.push({
            field: 'dateSent',
            message: 'cannot be combined with dateSentBefore or dateSentAfter',
        });
    }
    let pageSize = DEFAULT_PAGE_SIZE;
    const size = query.get('pageSize');
    if (size !== null) {
        pageSize = /^\d+$/.test(size) ? Number(size) : NaN;
        if (!(pageSize >= 1 && pageSize <= MAX_PAGE_SIZE)) {
            errors.push({ field: 'pageSize', message: `must be a whole number from 1 to ${MAX_PAGE_SIZE}` });
        }
    }
    const address = (name: string): string | undefined => {
        const value = query.get(name) ?? undefined;
        if (value !== undefined && (value === '' || value.length > 256)) {
            errors.push({ field: name, message: 'must be 1-256 characters' });
            return undefined;
        }
        return value;
    };
    const to = address('to');
    const from = address('from');
    const continuationToken = query.get('continuationToken') ?? undefined;
    if (errors.length > 0) return badRequest(errors);

    let page;
    try {
        page = await ledger.list({
            ...(to === undefined ? {} : { to }),
            ...(from === undefined ? {} : { from }),
            ...((dateSent ?? after) === undefined ? {} : { dateFrom: dateSent ?? after }),
            ...((dateSent ?? before) === undefined ? {} : { dateTo: dateSent ?? before }),
            pageSize,
            ...(continuationToken === undefined ? {} : { continuationToken }),
        });
    } catch (error) {
        if (error instanceof LedgerQueryError) {
            return badRequest([
                { field: apiField(error.field, dateSent !== undefined), message: error.message },
            ]);
        }
        throw error;
    }
    return listPage(request.url, 'messages', page.items.map(toView), page.continuationToken);
}

/** The API's name for a ledger query field: `dateFrom` / `dateTo` come from one of three parameters. */
function apiField(field: ListQueryField, byDateSent: boolean): string {
    if (field === 'dateFrom') return byDateSent ? 'dateSent' : 'dateSentAfter';
    if (field === 'dateTo') return byDateSent ? 'dateSent' : 'dateSentBefore';
    return field;
}

function isCalendarDay(value: string): boolean {
    const date = new Date(`${value}T00:00:00Z`);
    return !Number.isNaN(date.getTime()) && date.toISOString().slice(0, 10) === value;
}

/**
 * The record as the API shows it: everything but the internal send claim and accept lease, and the
 * request fingerprint (a hash of the content, bodies included).
 */
export function toView(record: LedgerRecord): Record<string, unknown> {
    const { claim: _claim, acceptLease: _lease, fingerprint: _fingerprint, ...view } = record;
    return view;
}
