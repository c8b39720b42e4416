import { LedgerQueryError, MAX_HISTORY, type LedgerRecord } from '../../../shared/ledger/contract';
import {
    checkListQuery,
    isValidLedgerId,
    listOrderKey,
    matchesListQuery,
    newRecord,
    nextRevision,
    shapeForStorage,
    storedHistory,
} from '../../../shared/ledger/rules';

const AT = '2024-05-04T10:00:00.000Z';

function record(overrides: Partial<LedgerRecord> = {}): LedgerRecord {
    return newRecord({ id: 'm1', direction: 'outbound', type: 'sms', status: 'queued', ...overrides }, AT);
}

describe('newRecord', () => {
    it('fills in counts, an empty history and both times, and leaves undefined fields out', () => {
        const made = newRecord(
            {
                id: 'a',
                direction: 'outbound',
                type: 'call',
                status: 'queued',
                to: '+15551230001',
                from: undefined,
            },
            new Date(AT),
        );
        expect(made).toStrictEqual({
            id: 'a',
            direction: 'outbound',
            type: 'call',
            to: '+15551230001',
            mediaCount: 0,
            status: 'queued',
            history: [],
            attempts: 0,
            createdAt: AT,
            updatedAt: AT,
        });
    });

    it('starts the history with the first status when told who reported it', () => {
        const made = newRecord(
            {
                id: 'SM1',
                direction: 'inbound',
                type: 'sms',
                status: 'received',
                source: 'twilio',
                attempts: 2,
            },
            AT,
        );
        expect(made.history).toEqual([{ status: 'received', at: AT, source: 'twilio' }]);
        expect(made.attempts).toBe(2);
        expect(made).not.toHaveProperty('source');
    });
});

describe('shapeForStorage', () => {
    it('refuses what checkRecord refuses, with RangeError', () => {
        for (const bad of [
            { id: 'a/b' },
            { createdAt: 'soon' },
            { createdAt: '1969-12-31T23:59:59.999Z' },
            { direction: 'up' as LedgerRecord['direction'] },
            { type: 'fax' as LedgerRecord['type'] },
            { mediaCount: -1 },
            { attempts: 2 ** 31 },
            { bodyLength: 0.5 },
        ]) {
            expect(() => shapeForStorage(record(bad), false)).toThrow(RangeError);
        }
    });

    it('keeps the body only with storeBody, and drops fields that are not what they claim to be', () => {
        const input = record({ body: 'hi', bodyLength: 2, to: 42 as unknown as string });
        expect(shapeForStorage(input, false)).not.toHaveProperty('body');
        expect(shapeForStorage(input, true).body).toBe('hi');
        expect(shapeForStorage(input, true)).not.toHaveProperty('to');
    });

    it('trims history to the newest events after cutting details', () => {
        const events = Array.from({ length: MAX_HISTORY + 5 }, (_, i) => ({
            status: `s${String(i)}`,
            at: AT,
            source: 'app' as const,
            detail: 'x'.repeat(400),
        }));
        const kept = storedHistory(events);
        expect(kept.map((e) => e.status)).toEqual(events.slice(5).map((e) => e.status));
        expect(kept.every((e) => e.detail?.length === 300)).toBe(true);
    });

    it('counts malformed events towards the limit before dropping them', () => {
        const malformed = {
            status: 'x',
            at: AT,
            source: 'carrier',
        } as unknown as LedgerRecord['history'][number];
        const events = [
            { status: 'old', at: AT, source: 'app' as const },
            ...Array.from({ length: MAX_HISTORY }, () => malformed),
        ];
        expect(storedHistory(events)).toEqual([]);
    });
});

describe('nextRevision', () => {
    it('keeps createdAt, stamps updatedAt, and refuses another id', () => {
        const before = record();
        const next = nextRevision(
            'm1',
            before,
            { ...before, createdAt: '2000-01-01T00:00:00.000Z' },
            new Date('2024-05-05T00:00:00.000Z'),
        );
        expect(next).toMatchObject({ createdAt: AT, updatedAt: '2024-05-05T00:00:00.000Z' });
        expect(() => nextRevision('m1', before, { ...before, id: 'm2' }, new Date())).toThrow(
            /cannot change/,
        );
    });
});

describe('ids', () => {
    it('accepts printable ids up to 200 characters and nothing else', () => {
        expect(isValidLedgerId('order:42.a~b-c')).toBe(true);
        expect(isValidLedgerId('x'.repeat(200))).toBe(true);
        for (const id of ['', 'x'.repeat(201), 'a/b', 'a\\b', 'a#b', 'a?b', 'a\tb', 'a\u0085b', '\udc00']) {
            expect(isValidLedgerId(id)).toBe(false);
        }
    });
});

describe('list queries', () => {
    const now = new Date('2024-05-04T12:00:00.000Z');
    const day = (iso: string) => Math.floor(Date.parse(iso) / 86_400_000);

    it('works out the day range: 30 days to today by default, dateTo no later than tomorrow', () => {
        expect(checkListQuery({ pageSize: 1 }, now)).toMatchObject({
            highest: day('2024-05-04T00:00:00Z'),
            lowest: day('2024-04-05T00:00:00Z'),
        });
        expect(checkListQuery({ pageSize: 1, dateTo: '2030-01-01' }, now).highest).toBe(
            day('2024-05-05T00:00:00Z'),
        );
    });

    it('ties a query to a fingerprint of its filters, not of its page size', () => {
        const a = checkListQuery({ pageSize: 1, to: '+1' }, now).fingerprint;
        expect(checkListQuery({ pageSize: 9, to: '+1' }, now).fingerprint).toBe(a);
        expect(checkListQuery({ pageSize: 1, to: '+2' }, now).fingerprint).not.toBe(a);
    });

    it('names the field at fault', () => {
        const field = (query: Parameters<typeof checkListQuery>[0]) => {
            try {
                checkListQuery(query, now);
                return undefined;
            } catch (error) {
                return error instanceof LedgerQueryError ? error.field : 'other';
            }
        };
        expect(field({ pageSize: 0 })).toBe('pageSize');
        expect(field({ pageSize: 1, to: '' })).toBe('to');
        expect(field({ pageSize: 1, from: 'x'.repeat(257) })).toBe('from');
        expect(field({ pageSize: 1, dateFrom: '2024-02-30' })).toBe('dateFrom');
        expect(field({ pageSize: 1, dateTo: '0099-01-01' })).toBe('dateTo');
    });

    it('matches on the day of createdAt and on to and from exactly', () => {
        const query = { pageSize: 1, dateFrom: '2024-05-04', to: '+15551230001' };
        const checked = checkListQuery(query, now);
        expect(matchesListQuery(record({ to: '+15551230001' }), query, checked)).toBe(true);
        expect(matchesListQuery(record({ to: '+15551230002' }), query, checked)).toBe(false);
        expect(
            matchesListQuery(
                record({ to: '+15551230001', createdAt: '2024-05-03T23:59:59.999Z' }),
                query,
                checked,
            ),
        ).toBe(false);
    });

    it('orders newest first, then by the encoded id', () => {
        const keys = [
            listOrderKey({ id: 'b', createdAt: '2024-05-04T10:00:00.000Z' }),
            listOrderKey({ id: 'a', createdAt: '2024-05-04T10:00:00.001Z' }),
            listOrderKey({ id: 'a', createdAt: '2024-05-04T10:00:00.000Z' }),
        ];
        expect([...keys].sort()).toEqual([keys[1], keys[2], keys[0]]);
        expect(keys[1]).toBe('8285183199998_YQ');
    });
});
