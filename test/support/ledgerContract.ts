/**
 * The ledger contract (shared/ledger/contract.ts) as a test suite any implementation can run:
 * `describeLedgerContract(name, makeLedger)` inside a test file, with a factory that makes a fresh, empty
 * ledger each time it is called. test/integration/ledgerContract.test.ts runs it for the Table ledger on
 * Azurite and for the in-memory ledger; a new implementation adds one call there.
 *
 * What it checks is what callers rely on, with the shared record rules (shared/ledger/rules.ts) as the
 * oracle where a record is reshaped: what `get`, `update` and `list` answer, the errors, SID look-ups,
 * list filters, order and paging. What only one implementation does (the Table ledger's entities, index
 * and token format) is tested beside it (test/integration/ledger.test.ts).
 */

import {
    LedgerQueryError,
    MAX_DETAIL,
    MAX_HISTORY,
    MAX_HISTORY_JSON,
    MAX_NOTIFICATIONS,
    MAX_TEXT,
    type Ledger,
    type LedgerRecord,
    type ListPage,
    type ListQuery,
} from '../../shared/ledger/contract';
import { listOrderKey, shapeForStorage } from '../../shared/ledger/rules';
import { applyStatus } from '../../shared/ledger/status';

/**
 * Records for the list tests, newest first (the order list must return for the default query): ids,
 * `createdAt`, and what else differs. Shared with the Table ledger's own list tests.
 */
export const LIST_FIXTURE: readonly [string, string, Partial<LedgerRecord>][] = [
    ['may4-b', '2024-05-04T09:00:00.000Z', { to: "client:O'Brien" }],
    ['may4-a', '2024-05-04T08:00:00.000Z', {}],
    ['may2-b', '2024-05-02T23:59:59.999Z', { from: '+15559870002' }],
    ['may2-a', '2024-05-02T00:00:00.000Z', { to: '+15551230002' }],
    ['may1-c', '2024-05-01T15:00:00.000Z', {}],
    ['may1-b', '2024-05-01T14:00:00.000Z', { to: '+15551230002', from: '+15559870002' }],
    ['may1-a', '2024-05-01T13:00:00.000Z', {}],
    ['apr5', '2024-04-05T00:00:00.000Z', {}],
    ['apr4', '2024-04-04T23:59:59.999Z', {}],
];

export interface LedgerFactoryOptions {
    storeBody: boolean;
    now: () => Date;
}

/** Makes a fresh, empty ledger (its own table, its own map, …) for one test. */
export type LedgerFactory = (options: LedgerFactoryOptions) => Ledger;

const SID_1 = `SM${'1'.repeat(32)}`;
const SID_2 = `SM${'2'.repeat(32)}`;
const CALL_SID = `CA${'a'.repeat(32)}`;

/** A valid outbound SMS record created at `createdAt`, with `overrides`. */
export function sampleRecord(
    id: string,
    createdAt: string,
    overrides: Partial<LedgerRecord> = {},
): LedgerRecord {
    return {
        id,
        direction: 'outbound',
        type: 'sms',
        to: '+15551230001',
        from: '+15559870001',
        bodyLength: 5,
        body: 'hello',
        mediaCount: 0,
        status: 'queued',
        history: [{ status: 'queued', at: createdAt, source: 'app' }],
        attempts: 0,
        createdAt,
        updatedAt: createdAt,
        ...overrides,
    };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
    return promise.then(
        () => undefined,
        (error: unknown) => error,
    );
}

async function expectQueryError(promise: Promise<unknown>, message: RegExp): Promise<void> {
    const error = await rejection(promise);
    expect(error).toBeInstanceOf(LedgerQueryError);
    expect((error as Error).message).toMatch(message);
}

/** Every page of a query, following continuation tokens (bounded). */
async function allPages(ledger: Ledger, query: Omit<ListQuery, 'continuationToken'>): Promise<ListPage[]> {
    const pages: ListPage[] = [];
    let token: string | undefined;
    do {
        const page = await ledger.list({
            ...query,
            ...(token === undefined ? {} : { continuationToken: token }),
        });
        pages.push(page);
        token = page.continuationToken;
    } while (token !== undefined && pages.length < 50);
    expect(token).toBeUndefined();
    return pages;
}

const ids = (page: ListPage) => page.items.map((r) => r.id);

/** Runs the ledger contract suite against the ledgers `makeLedger` makes. */
export function describeLedgerContract(name: string, makeLedger: LedgerFactory): void {
    describe(`ledger contract: ${name}`, () => {
        const START = '2024-05-04T12:00:00.000Z';

        /** A fresh ledger on a clock the test moves. */
        function fresh(options: { storeBody?: boolean } = {}) {
            let now = new Date(START);
            const ledger = makeLedger({ storeBody: options.storeBody ?? false, now: () => now });
            const setNow = (iso: string) => {
                now = new Date(iso);
            };
            return { ledger, setNow };
        }

        describe('create and get', () => {
            it('creates once: "created", then "exists" with the first record left unchanged', async () => {
                const { ledger } = fresh();
                const first = sampleRecord('a', '2024-05-04T10:00:00.000Z', { status: 'sent' });
                expect(await ledger.create(first)).toBe('created');
                expect(
                    await ledger.create(sampleRecord('a', '2024-05-04T11:00:00.000Z', { attempts: 3 })),
                ).toBe('exists');
                expect(await ledger.get('a')).toEqual(shapeForStorage(first, false));
            });

            it('of 20 concurrent creates of one id, exactly one is "created", and its record is kept', async () => {
                const { ledger } = fresh();
                const at = '2024-05-04T10:00:00.000Z';
                const results = await Promise.all(
                    Array.from({ length: 20 }, (_, i) =>
                        ledger.create(sampleRecord('same', at, { attempts: i })),
                    ),
                );
                expect(results.filter((r) => r === 'created')).toHaveLength(1);
                const winner = results.indexOf('created');
                expect((await ledger.get('same'))?.attempts).toBe(winner);
            });

            it('reads an absent id as undefined, and refuses impossible ids with RangeError', async () => {
                const { ledger } = fresh();
                expect(await ledger.get('nothing-here')).toBeUndefined();
                for (const id of [
                    '',
                    'a/b',
                    'a\\b',
                    'a#b',
                    'a?b',
                    'a\u0000b',
                    'a\nb',
                    'a\u007fb',
                    'x'.repeat(201),
                    '\ud800',
                ]) {
                    expect(await ledger.get(id)).toBeUndefined();
                    expect(
                        await rejection(ledger.create(sampleRecord(id, '2024-05-04T10:00:00.000Z'))),
                    ).toBeInstanceOf(RangeError);
                    expect(await rejection(ledger.update(id, () => undefined))).toBeInstanceOf(RangeError);
                }
            });

            it('round-trips ids with odd (but allowed) characters through get, update and list', async () => {
                const { ledger } = fresh();
                const odd = ['client:key.1~x-y', "it's-fine", 'ünïcödé ✓', 'x'.repeat(200), '=+&%20'];
                for (const [i, id] of odd.entries()) {
                    expect(await ledger.create(sampleRecord(id, `2024-05-04T10:0${String(i)}:00.000Z`))).toBe(
                        'created',
                    );
                    expect((await ledger.get(id))?.id).toBe(id);
                    expect((await ledger.update(id, (r) => r && { ...r, attempts: 1 }))?.attempts).toBe(1);
                }
                const page = await ledger.list({ pageSize: 10 });
                expect(ids(page)).toEqual([...odd].reverse());
                expect(page.items.every((r) => r.attempts === 1)).toBe(true);
            });

            it('refuses records with an unusable createdAt, direction, type or count, and stores nothing', async () => {
                const { ledger } = fresh();
                const bad: Partial<LedgerRecord>[] = [
                    { createdAt: 'yesterday' },
                    { createdAt: '1969-12-31T23:59:59.000Z' },
                    { direction: 'sideways' as LedgerRecord['direction'] },
                    { type: 'fax' as LedgerRecord['type'] },
                    { mediaCount: -1 },
                    { attempts: 1.5 },
                    { bodyLength: -3 },
                ];
                for (const overrides of bad) {
                    const error = await rejection(
                        ledger.create(sampleRecord('bad', '2024-05-04T10:00:00.000Z', overrides)),
                    );
                    expect(error).toBeInstanceOf(RangeError);
                    const update = await rejection(
                        ledger.update('bad', () =>
                            sampleRecord('bad', '2024-05-04T10:00:00.000Z', overrides),
                        ),
                    );
                    expect(update).toBeInstanceOf(RangeError);
                }
                expect(await ledger.get('bad')).toBeUndefined();
                expect((await ledger.list({ pageSize: 10 })).items).toEqual([]);
            });

            it('reads back exactly what the rules shape from what was written', async () => {
                const { ledger } = fresh({ storeBody: true });
                const record = sampleRecord('full', '2024-05-04T10:00:00.000Z', {
                    type: 'sms',
                    messagingServiceSid: `MG${'0'.repeat(32)}`,
                    mediaCount: 2,
                    sid: SID_1,
                    errorCode: '30003',
                    errorMessage: 'Unreachable',
                    attempts: 2,
                    claim: {
                        token: 't',
                        at: '2024-05-04T10:00:00.000Z',
                        leaseUntil: '2024-05-04T10:01:00.000Z',
                    },
                    fingerprint: 'v1.abc',
                    acceptLease: { token: 'l', until: '2024-05-04T10:00:30.000Z' },
                });
                await ledger.create(record);
                const expected = shapeForStorage(record, true);
                expect(expected).toEqual(record);
                expect(await ledger.get('full')).toEqual(expected);
                expect((await ledger.list({ pageSize: 1 })).items).toEqual([expected]);
            });
        });

        describe('bodies', () => {
            it('keeps only the body length when storeBody is off, on create, update and list', async () => {
                const { ledger } = fresh({ storeBody: false });
                await ledger.create(sampleRecord('m1', '2024-05-04T10:00:00.000Z'));
                const updated = await ledger.update(
                    'm1',
                    (r) => r && { ...r, body: 'changed', status: 'sent' },
                );
                expect(updated).not.toHaveProperty('body');
                expect(updated?.bodyLength).toBe(5);
                expect(await ledger.get('m1')).not.toHaveProperty('body');
                expect((await ledger.list({ pageSize: 5 })).items[0]).not.toHaveProperty('body');
            });

            it(`keeps the body when storeBody is on, cut to ${String(MAX_TEXT)} characters`, async () => {
                const { ledger } = fresh({ storeBody: true });
                await ledger.create(sampleRecord('m1', '2024-05-04T10:00:00.000Z'));
                expect((await ledger.get('m1'))?.body).toBe('hello');
                expect((await ledger.list({ pageSize: 5 })).items[0]?.body).toBe('hello');
                const long = 'b'.repeat(MAX_TEXT + 50);
                expect((await ledger.update('m1', (r) => r && { ...r, body: long }))?.body).toBe(
                    long.slice(0, MAX_TEXT),
                );
            });
        });

        describe('update', () => {
            it('returns the current record for "no change", and undefined when absent and left absent', async () => {
                const { ledger, setNow } = fresh();
                await ledger.create(sampleRecord('same', '2024-05-04T10:00:00.000Z'));
                const expected = shapeForStorage(sampleRecord('same', '2024-05-04T10:00:00.000Z'), false);
                setNow('2024-05-04T13:00:00.000Z');
                const seen: (LedgerRecord | undefined)[] = [];
                const result = await ledger.update('same', (current) => {
                    seen.push(current);
                    return undefined;
                });
                expect(result).toEqual(expected);
                expect(seen.at(-1)).toEqual(expected);
                expect(await ledger.get('same')).toEqual(expected);
                expect(await ledger.update('absent', () => undefined)).toBeUndefined();
                expect(await ledger.get('absent')).toBeUndefined();
            });

            it('inserts through update when absent', async () => {
                const { ledger } = fresh();
                const record = sampleRecord('new', '2024-05-04T10:00:00.000Z');
                const seen: (LedgerRecord | undefined)[] = [];
                const result = await ledger.update('new', (current) => {
                    seen.push(current);
                    return current ?? record;
                });
                expect(seen).toEqual([undefined]);
                expect(result).toEqual({ ...shapeForStorage(record, false), updatedAt: START });
                expect(await ledger.get('new')).toEqual(result);
            });

            it('takes expectAbsent as a hint only: an existing record is updated, never replaced', async () => {
                const { ledger } = fresh();
                const at = '2024-05-04T10:00:00.000Z';
                await ledger.create(sampleRecord('there', at, { attempts: 3 }));
                const result = await ledger.update(
                    'there',
                    (current) =>
                        current === undefined
                            ? sampleRecord('there', at)
                            : { ...current, attempts: current.attempts + 1 },
                    { expectAbsent: true },
                );
                expect(result?.attempts).toBe(4);
                expect(await ledger.get('there')).toEqual(result);
                // Right for an absent record, and nothing created when mutate makes nothing of it.
                const created = await ledger.update('new', (current) => current ?? sampleRecord('new', at), {
                    expectAbsent: true,
                });
                expect(await ledger.get('new')).toEqual(created);
                expect(await ledger.update('none', () => undefined, { expectAbsent: true })).toBeUndefined();
                expect(await ledger.get('none')).toBeUndefined();
                expect((await ledger.list({ pageSize: 5 })).items.map((r) => r.id).sort()).toEqual([
                    'new',
                    'there',
                ]);
            });

            it('keeps every write of 10 concurrent hinted inserts of one id: one inserts, the rest update', async () => {
                const { ledger } = fresh();
                const at = '2024-05-04T10:00:00.000Z';
                await Promise.all(
                    Array.from({ length: 10 }, () =>
                        ledger.update(
                            'race',
                            (current) =>
                                current === undefined
                                    ? sampleRecord('race', at)
                                    : { ...current, attempts: current.attempts + 1 },
                            { expectAbsent: true },
                        ),
                    ),
                );
                const stored = await ledger.get('race');
                expect(stored?.attempts).toBe(9);
                expect((await ledger.list({ pageSize: 5 })).items).toEqual([stored]);
            });

            it('stamps updatedAt with its clock, keeps createdAt, and returns what it stored', async () => {
                const { ledger, setNow } = fresh({ storeBody: false });
                await ledger.create(sampleRecord('m', '2024-05-04T10:00:00.000Z'));
                setNow('2024-05-04T11:30:00.000Z');
                const result = await ledger.update(
                    'm',
                    (r) =>
                        r && {
                            ...r,
                            createdAt: '2020-01-01T00:00:00.000Z',
                            updatedAt: 'whatever',
                            body: 'not kept',
                        },
                );
                expect(result).toMatchObject({
                    createdAt: '2024-05-04T10:00:00.000Z',
                    updatedAt: '2024-05-04T11:30:00.000Z',
                });
                expect(result).not.toHaveProperty('body');
                expect(await ledger.get('m')).toEqual(result);
                expect(ids(await ledger.list({ pageSize: 5, dateFrom: '2024-05-04' }))).toEqual(['m']);
            });

            it('refuses a change of id, and a mutate that throws, leaving the record as it was', async () => {
                const { ledger } = fresh();
                await ledger.create(sampleRecord('m', '2024-05-04T10:00:00.000Z'));
                const before = await ledger.get('m');
                const changed = await rejection(
                    ledger.update('m', (r) => r && { ...r, id: 'other', status: 'sent' }),
                );
                expect((changed as Error).message).toMatch(/cannot change the record id/);
                const thrown = await rejection(
                    ledger.update('m', () => {
                        throw new Error('mutate failed');
                    }),
                );
                expect((thrown as Error).message).toBe('mutate failed');
                expect(await ledger.get('m')).toEqual(before);
                expect(await ledger.get('other')).toBeUndefined();
            });

            it('keeps every one of 10 concurrent read-modify-writes', async () => {
                const { ledger } = fresh();
                const at = '2024-05-04T10:00:00.000Z';
                await ledger.create(sampleRecord('busy', at));
                await Promise.all(
                    Array.from({ length: 10 }, (_, i) =>
                        ledger.update('busy', (current) =>
                            current === undefined
                                ? undefined
                                : {
                                      ...current,
                                      attempts: current.attempts + 1,
                                      history: [
                                          ...current.history,
                                          { status: `e${String(i)}`, at, source: 'app' },
                                      ],
                                  },
                        ),
                    ),
                );
                const stored = await ledger.get('busy');
                expect(stored?.attempts).toBe(10);
                expect(stored?.history).toHaveLength(11);
                expect((await ledger.list({ pageSize: 1 })).items).toEqual([stored]);
            });

            it('removes optional fields set to undefined (a released claim, a cleared error)', async () => {
                const { ledger } = fresh();
                const claim = {
                    token: 't1',
                    at: '2024-05-04T10:00:00.000Z',
                    leaseUntil: '2024-05-04T10:01:00.000Z',
                };
                await ledger.create(
                    sampleRecord('c', '2024-05-04T10:00:00.000Z', { claim, errorMessage: 'transient' }),
                );
                expect((await ledger.get('c'))?.claim).toEqual(claim);
                await ledger.update(
                    'c',
                    (r) => r && { ...r, claim: undefined, errorMessage: undefined, sid: SID_1 },
                );
                const after = await ledger.get('c');
                expect(after).not.toHaveProperty('claim');
                expect(after).not.toHaveProperty('errorMessage');
                expect(after?.sid).toBe(SID_1);
            });

            it('reduces claims, accept leases and history events to their known fields, dropping malformed ones', async () => {
                const { ledger } = fresh();
                const at = '2024-05-04T10:00:00.000Z';
                const claim = { token: 't', at, leaseUntil: at, extra: 'x' } as LedgerRecord['claim'];
                const acceptLease = { token: 'l', until: at, extra: 1 } as LedgerRecord['acceptLease'];
                const history = [
                    { status: 'queued', at, source: 'app', extra: true },
                    { status: 'sent', at, source: 'carrier' },
                    { status: 'sent', at, source: 'twilio', sid: SID_1, detail: 'd'.repeat(MAX_DETAIL + 10) },
                ] as LedgerRecord['history'];
                const stored = await ledger.update('k', () =>
                    sampleRecord('k', at, { claim, acceptLease, history }),
                );
                expect(stored?.claim).toEqual({ token: 't', at, leaseUntil: at });
                expect(stored?.acceptLease).toEqual({ token: 'l', until: at });
                expect(stored?.history).toEqual([
                    { status: 'queued', at, source: 'app' },
                    { status: 'sent', at, source: 'twilio', sid: SID_1, detail: 'd'.repeat(MAX_DETAIL) },
                ]);
                const malformed = { token: 't', at } as LedgerRecord['claim'];
                const without = await ledger.update('k', (r) => r && { ...r, claim: malformed });
                expect(without).not.toHaveProperty('claim');
                expect(await ledger.get('k')).toEqual(without);
            });

            it(`keeps the newest ${String(MAX_HISTORY)} status events, within ${String(MAX_HISTORY_JSON)} characters of JSON`, async () => {
                const { ledger } = fresh();
                const at = '2024-05-04T10:00:00.000Z';
                await ledger.create(sampleRecord('long', at, { history: [] }));
                const events = Array.from({ length: 60 }, (_, i) => ({
                    status: `s${String(i)}`,
                    at,
                    source: 'twilio' as const,
                }));
                const result = await ledger.update('long', (r) => r && { ...r, history: events });
                expect(result?.history).toEqual(events.slice(10));
                expect((await ledger.get('long'))?.history).toEqual(events.slice(10));

                const big = Array.from({ length: 40 }, (_, i) => ({
                    status: `${String(i)}${'z'.repeat(1000)}`,
                    at,
                    source: 'app' as const,
                }));
                const trimmed =
                    (await ledger.update('long', (r) => r && { ...r, history: big }))?.history ?? [];
                expect(JSON.stringify(trimmed).length).toBeLessThanOrEqual(MAX_HISTORY_JSON);
                expect(trimmed.length).toBeGreaterThan(0);
                expect(trimmed).toEqual(big.slice(-trimmed.length));
                expect(JSON.stringify(big.slice(-trimmed.length - 1)).length).toBeGreaterThan(
                    MAX_HISTORY_JSON,
                );
            });

            it(`cuts the error code and message to ${String(MAX_TEXT)} characters`, async () => {
                const { ledger } = fresh();
                const long = 'e'.repeat(MAX_TEXT + 1);
                const stored = await ledger.update('err', () =>
                    sampleRecord('err', '2024-05-04T10:00:00.000Z', { errorCode: long, errorMessage: long }),
                );
                expect(stored?.errorCode).toBe(long.slice(0, MAX_TEXT));
                expect(stored?.errorMessage).toBe(long.slice(0, MAX_TEXT));
            });

            it('works with applyStatus as the mutator: idempotent, and never backwards', async () => {
                const { ledger } = fresh();
                await ledger.create(sampleRecord('flow', '2024-05-04T10:00:00.000Z'));
                const apply = (status: string, at: string) =>
                    ledger.update(
                        'flow',
                        (r) => r && applyStatus(r, { status, at, source: 'twilio', sid: SID_1 }),
                    );
                await apply('delivered', '2024-05-04T10:02:00.000Z');
                await apply('sent', '2024-05-04T10:01:00.000Z');
                await apply('sent', '2024-05-04T10:01:30.000Z');
                const final = await ledger.get('flow');
                expect(final?.status).toBe('delivered');
                expect(final?.history.map((e) => e.status)).toEqual(['queued', 'sent', 'delivered']);
            });
        });

        describe('inbound media', () => {
            const MMS_SID = `MM${'d'.repeat(32)}`;
            const at = '2024-05-04T10:00:00.000Z';

            it('keeps an inbound message’s media outcomes as the rules shape them, and drops media that are not', async () => {
                const { ledger } = fresh();
                const record = sampleRecord(MMS_SID, at, {
                    direction: 'inbound',
                    sid: MMS_SID,
                    mediaCount: 2,
                });
                expect(await ledger.create(record)).toBe('created');
                const media = {
                    status: 'copied' as const,
                    items: [
                        {
                            index: 0,
                            outcome: 'stored' as const,
                            contentType: 'image/png',
                            blob: `${MMS_SID}/0`,
                            size: 68,
                            mediaSid: `ME${'e'.repeat(32)}`,
                            deletedAtTwilio: true,
                        },
                        {
                            index: 1,
                            outcome: 'refused' as const,
                            refusal: 'too-large' as const,
                            detail: 'over 5 MB',
                        },
                    ],
                };
                const stored = await ledger.update(MMS_SID, (r) => r && { ...r, media });
                expect(stored?.media).toEqual(media);
                expect(await ledger.get(MMS_SID)).toEqual(stored);
                const dropped = await ledger.update(
                    MMS_SID,
                    (r) => r && { ...r, media: { status: 'lost' } as unknown as LedgerRecord['media'] },
                );
                expect(dropped).not.toHaveProperty('media');
                expect(await ledger.get(MMS_SID)).toEqual(dropped);
            });
        });

        describe('voicemail records', () => {
            const RECORDING_SID = `RE${'c'.repeat(32)}`;
            const at = '2024-05-04T10:00:00.000Z';
            const voicemail = (overrides: Partial<LedgerRecord> = {}): LedgerRecord =>
                sampleRecord(RECORDING_SID, at, {
                    direction: 'inbound',
                    type: 'voicemail',
                    to: '+15551230009',
                    from: '+15559870009',
                    sid: RECORDING_SID,
                    status: 'recorded',
                    body: 'call me back',
                    bodyLength: 12,
                    history: [{ status: 'recorded', at, source: 'twilio', sid: RECORDING_SID }],
                    voicemail: {
                        callSid: CALL_SID,
                        durationSeconds: 7,
                        recordingStatus: 'completed',
                        transcription: 'completed',
                        notifications: [
                            { channel: 'sms', outcome: 'queued', at, id: `${RECORDING_SID}-sms` },
                            {
                                channel: 'email',
                                outcome: 'not-configured',
                                at,
                                reason: 'EMAIL_ENDPOINT is not set',
                            },
                        ],
                    },
                    ...overrides,
                });

            it('reads back a voicemail as the rules shape it, lists it, and finds it by its recording SID', async () => {
                for (const storeBody of [false, true]) {
                    const { ledger } = fresh({ storeBody });
                    const record = voicemail();
                    expect(await ledger.create(record)).toBe('created');
                    const expected = shapeForStorage(record, storeBody);
                    expect(expected.voicemail).toEqual(record.voicemail);
                    expect(await ledger.get(RECORDING_SID)).toEqual(expected);
                    expect((await ledger.list({ pageSize: 5 })).items).toEqual([expected]);
                    expect(await ledger.idForSid(RECORDING_SID)).toBe(RECORDING_SID);
                    // The transcription is a body: its text only with storeBody, its length always.
                    expect((await ledger.get(RECORDING_SID))?.body).toBe(
                        storeBody ? 'call me back' : undefined,
                    );
                    expect((await ledger.get(RECORDING_SID))?.bodyLength).toBe(12);
                }
            });

            it('reduces voicemail details to their known fields, and drops details that are not an object', async () => {
                const { ledger } = fresh();
                const notifications = [
                    { channel: 'sms', outcome: 'queued', at, extra: 1 },
                    { channel: 'fax', outcome: 'sent', at },
                    { channel: 'email', outcome: 'delivered', at },
                    { channel: 'email', outcome: 'failed', reason: 'no time' },
                    { channel: 'email', outcome: 'failed', at, reason: 'r'.repeat(MAX_DETAIL + 5), id: 7 },
                    ...Array.from({ length: MAX_NOTIFICATIONS }, (_, i) => ({
                        channel: 'sms',
                        outcome: 'pending',
                        at: `2024-05-04T10:00:0${String(i % 10)}.000Z`,
                    })),
                ];
                const details = {
                    callSid: 42,
                    durationSeconds: -1,
                    recordingStatus: 'completed',
                    extra: 'x',
                    notifications,
                } as unknown as LedgerRecord['voicemail'];
                const stored = await ledger.update(RECORDING_SID, () => voicemail({ voicemail: details }));
                const expectedNotifications = [
                    { channel: 'sms', outcome: 'queued', at },
                    { channel: 'email', outcome: 'failed', at, reason: 'r'.repeat(MAX_DETAIL) },
                    ...notifications.slice(-MAX_NOTIFICATIONS),
                ].slice(-MAX_NOTIFICATIONS);
                expect(stored?.voicemail).toEqual({
                    recordingStatus: 'completed',
                    notifications: expectedNotifications,
                });
                expect(await ledger.get(RECORDING_SID)).toEqual(stored);
                const dropped = await ledger.update(
                    RECORDING_SID,
                    (r) => r && { ...r, voicemail: 'not details' as unknown as LedgerRecord['voicemail'] },
                );
                expect(dropped).not.toHaveProperty('voicemail');
                expect(await ledger.get(RECORDING_SID)).toEqual(dropped);
            });

            it('updates a voicemail in place: one record however often its steps write', async () => {
                const { ledger } = fresh();
                await ledger.create(voicemail({ voicemail: { notifications: [] } }));
                expect(await ledger.create(voicemail())).toBe('exists');
                const next = await ledger.update(
                    RECORDING_SID,
                    (r) =>
                        r && {
                            ...r,
                            voicemail: {
                                ...r.voicemail,
                                notifications: [{ channel: 'sms', outcome: 'pending', at }],
                            },
                        },
                );
                expect(next?.voicemail).toEqual({
                    notifications: [{ channel: 'sms', outcome: 'pending', at }],
                });
                expect((await ledger.list({ pageSize: 5 })).items).toEqual([next]);
            });
        });

        describe('idForSid', () => {
            it('finds the record holding a SID, whether it came with create or with an update', async () => {
                const { ledger } = fresh();
                await ledger.create(
                    sampleRecord('created-with-sid', '2024-05-04T10:00:00.000Z', { sid: SID_1 }),
                );
                await ledger.create(sampleRecord('call', '2024-05-04T10:00:00.000Z', { type: 'call' }));
                expect(await ledger.idForSid(CALL_SID)).toBeUndefined();
                await ledger.update('call', (r) => r && { ...r, sid: CALL_SID });
                expect(await ledger.idForSid(SID_1)).toBe('created-with-sid');
                expect(await ledger.idForSid(CALL_SID)).toBe('call');
                expect(await ledger.idForSid(SID_2)).toBeUndefined();
                for (const notASid of ['', 'created-with-sid', 'sm' + '1'.repeat(32), `${SID_1}0`]) {
                    expect(await ledger.idForSid(notASid)).toBeUndefined();
                }
            });
        });

        describe('list', () => {
            const DATA = LIST_FIXTURE;
            let ledger: Ledger;

            beforeAll(async () => {
                ({ ledger } = fresh());
                // Created oldest first, so that neither insertion order nor timestamps explain the result order.
                for (const [id, at, overrides] of [...DATA].reverse()) {
                    await ledger.create(sampleRecord(id, at, overrides));
                }
            });

            const idsOf = (predicate: (entry: (typeof DATA)[number]) => boolean) =>
                DATA.filter(predicate).map(([id]) => id);

            it('lists the last 30 days ending today (UTC), newest first, by default, as get reads them', async () => {
                const page = await ledger.list({ pageSize: 100 });
                expect(ids(page)).toEqual(idsOf(([id]) => id !== 'apr4'));
                expect(page.continuationToken).toBeUndefined();
                for (const item of page.items) expect(item).toEqual(await ledger.get(item.id));
            });

            it('filters on to and from, including a value with a quote', async () => {
                const query = { pageSize: 100, dateFrom: '2024-04-01' };
                expect(ids(await ledger.list({ ...query, to: '+15551230002' }))).toEqual([
                    'may2-a',
                    'may1-b',
                ]);
                expect(ids(await ledger.list({ ...query, from: '+15559870002' }))).toEqual([
                    'may2-b',
                    'may1-b',
                ]);
                expect(
                    ids(await ledger.list({ ...query, to: '+15551230002', from: '+15559870002' })),
                ).toEqual(['may1-b']);
                expect(ids(await ledger.list({ ...query, to: "client:O'Brien" }))).toEqual(['may4-b']);
                expect(ids(await ledger.list({ ...query, to: "client:O'Brien' or 'a' eq 'a" }))).toEqual([]);
                expect(ids(await ledger.list({ ...query, to: '+15551230001' }))).toEqual(
                    idsOf(([, , o]) => o.to === undefined),
                );
            });

            it('limits to a date range, both ends inclusive, in UTC days', async () => {
                expect(
                    ids(await ledger.list({ pageSize: 100, dateFrom: '2024-05-02', dateTo: '2024-05-02' })),
                ).toEqual(['may2-b', 'may2-a']);
                expect(ids(await ledger.list({ pageSize: 100, dateFrom: '2024-05-02' }))).toEqual([
                    'may4-b',
                    'may4-a',
                    'may2-b',
                    'may2-a',
                ]);
                // dateTo alone: the 30 days ending then.
                expect(ids(await ledger.list({ pageSize: 100, dateTo: '2024-05-01' }))).toEqual([
                    'may1-c',
                    'may1-b',
                    'may1-a',
                    'apr5',
                    'apr4',
                ]);
                expect(
                    ids(await ledger.list({ pageSize: 100, dateFrom: '2024-04-04', dateTo: '2024-04-04' })),
                ).toEqual(['apr4']);
            });

            it('returns nothing for a range without records, or an empty range', async () => {
                for (const range of [
                    { dateFrom: '2024-05-03', dateTo: '2024-05-03' },
                    { dateFrom: '2023-01-01', dateTo: '2023-01-31' },
                    { dateFrom: '2024-05-04', dateTo: '2024-05-01' },
                    { dateFrom: '2030-01-01' },
                ]) {
                    expect(await ledger.list({ pageSize: 10, ...range })).toEqual({ items: [] });
                }
            });

            it('pages through every item exactly once, in order, no page over pageSize', async () => {
                for (const pageSize of [1, 2, 4]) {
                    const pages = await allPages(ledger, { pageSize, dateFrom: '2024-04-04' });
                    expect(pages.flatMap(ids)).toEqual(DATA.map(([id]) => id));
                    expect(pages.every((page) => page.items.length <= pageSize)).toBe(true);
                }
                const filtered = await allPages(ledger, {
                    pageSize: 1,
                    to: '+15551230002',
                    dateFrom: '2024-04-04',
                });
                expect(filtered.flatMap(ids)).toEqual(['may2-a', 'may1-b']);
            });

            it('takes a token with another page size, and refuses one of another query or none at all', async () => {
                const first = await ledger.list({ pageSize: 2, to: '+15551230001' });
                const token = first.continuationToken;
                expect(token).toEqual(expect.any(String));
                for (const other of [
                    { to: '+15551230002' },
                    { to: '+15551230001', dateFrom: '2024-05-01' },
                    { to: '+15551230001', from: '+15559870001' },
                ]) {
                    await expectQueryError(
                        ledger.list({ pageSize: 2, ...other, continuationToken: token }),
                        /another query/,
                    );
                }
                for (const continuationToken of ['not a token', '', '!!', 'x'.repeat(3000)]) {
                    await expectQueryError(
                        ledger.list({ pageSize: 2, to: '+15551230001', continuationToken }),
                        /continuationToken/,
                    );
                }
                const rest = await allPages(ledger, { pageSize: 10, to: '+15551230001' });
                const next = await ledger.list({
                    pageSize: 10,
                    to: '+15551230001',
                    continuationToken: token,
                });
                expect([...ids(first), ...ids(next)]).toEqual(
                    idsOf(([id, , o]) => o.to === undefined && id !== 'apr4'),
                );
                expect(rest.flatMap(ids)).toEqual([...ids(first), ...ids(next)]);
            });

            it('rejects invalid queries with LedgerQueryError naming the field', async () => {
                for (const pageSize of [0, -1, 1.5, 1001, Number.NaN]) {
                    await expectQueryError(ledger.list({ pageSize }), /pageSize/);
                }
                for (const date of [
                    '2024-02-30',
                    '2024-5-1',
                    '20240501',
                    'today',
                    '2024-13-01',
                    '1969-12-31',
                ]) {
                    await expectQueryError(ledger.list({ pageSize: 1, dateFrom: date }), /dateFrom/);
                    await expectQueryError(ledger.list({ pageSize: 1, dateTo: date }), /dateTo/);
                }
                await expectQueryError(ledger.list({ pageSize: 1, to: '' }), /to must be/);
                await expectQueryError(ledger.list({ pageSize: 1, from: 'x'.repeat(257) }), /from must be/);
                const error = await rejection(ledger.list({ pageSize: 1, dateTo: 'today' }));
                expect((error as LedgerQueryError).field).toBe('dateTo');
            });
        });

        describe('list order', () => {
            it('orders records created in the same millisecond by the list order key', async () => {
                const { ledger } = fresh();
                const at = '2024-05-04T10:00:00.000Z';
                const tied = ['b', 'a', 'ab', 'Z', 'é', '~'];
                for (const id of tied) await ledger.create(sampleRecord(id, at));
                const expected = [...tied].sort((x, y) => {
                    const [kx, ky] = [
                        listOrderKey({ id: x, createdAt: at }),
                        listOrderKey({ id: y, createdAt: at }),
                    ];
                    return kx < ky ? -1 : kx > ky ? 1 : 0;
                });
                expect(ids(await ledger.list({ pageSize: 10 }))).toEqual(expected);
                expect((await allPages(ledger, { pageSize: 1 })).flatMap(ids)).toEqual(expected);
            });
        });

        describe('storage limits', () => {
            it('reads a value it accepted back as written; one it refuses leaves the record as it was', async () => {
                const { ledger } = fresh();
                await ledger.create(sampleRecord('big', '2024-05-04T10:00:00.000Z'));
                const before = await ledger.get('big');
                const from = 'f'.repeat(40_000);
                const result = await rejection(ledger.update('big', (r) => r && { ...r, from }));
                if (result === undefined) {
                    expect((await ledger.get('big'))?.from).toBe(from);
                } else {
                    expect(result).toBeInstanceOf(Error);
                    expect(await ledger.get('big')).toEqual(before);
                }
            });
        });
    });
}
