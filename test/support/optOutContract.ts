/**
 * The opt-out store contract (shared/messaging/optOuts.ts) and the loop guard's counter contract
 * (shared/messaging/replyGuard.ts) as test suites any implementation can run:
 * `describeOptOutContract(name, makeStores)` with a factory that makes fresh, empty stores each time.
 * test/integration/optOutContract.test.ts runs it for the Table implementation on Azurite and for the
 * in-memory one.
 */

import {
    OptOutQueryError,
    type OptOut,
    type OptOutPage,
    type OptOutQuery,
    type OptOutStore,
} from '../../shared/messaging/optOuts';
import type { ReplyWindows } from '../../shared/messaging/replyGuard';

const SINCE = '2026-11-30T10:00:00.000Z';
const SERVICE = 'MG0123456789abcdef0123456789abcdef';

function optOut(sender: string, recipient: string, extra: Partial<OptOut> = {}): OptOut {
    return {
        sender,
        recipient,
        since: SINCE,
        source: 'keyword',
        cause: 'SM0123456789abcdef0123456789abcdef',
        ...extra,
    };
}

/** Every page of a query, followed to the end (pages may be short and still continue). */
export async function allPages(
    store: OptOutStore,
    query: Omit<OptOutQuery, 'continuationToken'>,
): Promise<OptOut[]> {
    const items: OptOut[] = [];
    let token: string | undefined;
    for (let pages = 0; pages < 100; pages++) {
        const page: OptOutPage = await store.list({
            ...query,
            ...(token === undefined ? {} : { continuationToken: token }),
        });
        expect(page.items.length).toBeLessThanOrEqual(query.pageSize);
        items.push(...page.items);
        token = page.continuationToken;
        if (token === undefined) return items;
    }
    throw new Error('more than 100 pages');
}

async function queryError(promise: Promise<unknown>): Promise<OptOutQueryError> {
    const error = await promise.then(
        () => undefined,
        (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(OptOutQueryError);
    return error as OptOutQueryError;
}

export function describeOptOutContract(
    name: string,
    makeStores: () => { optOuts: OptOutStore; replyWindows: ReplyWindows },
): void {
    describe(`opt-out store contract: ${name}`, () => {
        it('adds, reads back exactly, keeps the first on a repeat, and removes', async () => {
            const { optOuts } = makeStores();
            expect(await optOuts.get('+15005550006', '+15551230001')).toBeUndefined();
            expect(await optOuts.add(optOut('+15005550006', '+15551230001'))).toBe('created');
            expect(await optOuts.get('+15005550006', '+15551230001')).toEqual(
                optOut('+15005550006', '+15551230001'),
            );
            // A webhook retry, or a later STOP: the first opt-out stays as it was.
            expect(
                await optOuts.add(
                    optOut('+15005550006', '+15551230001', {
                        since: '2026-12-01T00:00:00.000Z',
                        source: 'api',
                    }),
                ),
            ).toBe('exists');
            expect((await optOuts.get('+15005550006', '+15551230001'))?.since).toBe(SINCE);
            // Per sender: another number, or a service, has no opt-out of this recipient.
            expect(await optOuts.get('+15005550007', '+15551230001')).toBeUndefined();
            expect(await optOuts.get(SERVICE, '+15551230001')).toBeUndefined();
            expect(await optOuts.remove('+15005550006', '+15551230001')).toBe('removed');
            expect(await optOuts.remove('+15005550006', '+15551230001')).toBe('absent');
            expect(await optOuts.get('+15005550006', '+15551230001')).toBeUndefined();
        });

        it('keys a Messaging Service by its SID in any case, and a short code as written', async () => {
            const { optOuts } = makeStores();
            await optOuts.add(
                optOut(SERVICE.toUpperCase().replace(/^MG/, 'MG'), '+15551230002', { source: 'OptOutType' }),
            );
            const stored = await optOuts.get(SERVICE, '+15551230002');
            expect(stored).toEqual(optOut(SERVICE, '+15551230002', { source: 'OptOutType' }));
            await optOuts.add(optOut('12345', '+15551230002', { source: 'twilio-21610', cause: 'order:42' }));
            expect(await optOuts.get('12345', '+15551230002')).toMatchObject({
                source: 'twilio-21610',
                cause: 'order:42',
            });
            const { cause: _cause, ...withoutCause } = optOut('+15005550006', '+15551230002', {
                source: 'api',
            });
            await optOuts.add(withoutCause);
            expect(await optOuts.get('+15005550006', '+15551230002')).toEqual(withoutCause);
        });

        it('refuses what cannot be an opt-out, and finds nothing for addresses that cannot have one', async () => {
            const { optOuts } = makeStores();
            for (const bad of [
                optOut('whatsapp:+15005550006', '+15551230003'),
                optOut('+15005550006', 'whatsapp:+15551230003'),
                optOut('+15005550006', '12345'),
                optOut('ACME', '+15551230003'),
                optOut('+15005550006', '+15551230003', { since: 'yesterday' }),
                optOut('+15005550006', '+15551230003', { source: 'carrier' as OptOut['source'] }),
                optOut('+15005550006', '+15551230003', { cause: 'x'.repeat(201) }),
                optOut('+15005550006', '+15551230003', { cause: 'two words' }),
            ]) {
                await expect(optOuts.add(bad)).rejects.toThrow(RangeError);
            }
            expect(await optOuts.get('whatsapp:+15005550006', '+15551230003')).toBeUndefined();
            expect(await optOuts.get("+1'; drop", '+15551230003')).toBeUndefined();
            expect(await optOuts.remove('+15005550006', 'nobody')).toBe('absent');
            expect(await allPages(optOuts, { pageSize: 10 })).toEqual([]);
        });

        it('lists by sender, by recipient, both, or all, in key order, across pages', async () => {
            const { optOuts } = makeStores();
            const senders = ['+15005550006', '+15005550010', SERVICE, '12345'];
            const recipients = ['+15551230010', '+15551230011', '+15551230012'];
            for (const sender of senders) {
                for (const recipient of recipients) await optOuts.add(optOut(sender, recipient));
            }
            const expected = [...senders]
                .sort()
                .flatMap((sender) => recipients.map((recipient) => optOut(sender, recipient)));
            expect(await allPages(optOuts, { pageSize: 5 })).toEqual(expected);
            expect(await allPages(optOuts, { pageSize: 1000 })).toEqual(expected);
            expect(await allPages(optOuts, { sender: SERVICE, pageSize: 2 })).toEqual(
                recipients.map((recipient) => optOut(SERVICE, recipient)),
            );
            expect(await allPages(optOuts, { recipient: '+15551230011', pageSize: 3 })).toEqual(
                [...senders].sort().map((sender) => optOut(sender, '+15551230011')),
            );
            expect(
                await allPages(optOuts, { sender: '12345', recipient: '+15551230012', pageSize: 1 }),
            ).toEqual([optOut('12345', '+15551230012')]);
            expect(await allPages(optOuts, { sender: '+15005550099', pageSize: 10 })).toEqual([]);
        });

        it('names the field at fault in a query, and refuses a token of another query', async () => {
            const { optOuts } = makeStores();
            for (const recipient of ['+15551230020', '+15551230021', '+15551230022']) {
                await optOuts.add(optOut('+15005550006', recipient));
            }
            expect((await queryError(optOuts.list({ pageSize: 0 }))).field).toBe('pageSize');
            expect((await queryError(optOuts.list({ pageSize: 1001 }))).field).toBe('pageSize');
            expect((await queryError(optOuts.list({ pageSize: 1.5 }))).field).toBe('pageSize');
            expect((await queryError(optOuts.list({ sender: 'whatsapp:+1555', pageSize: 1 }))).field).toBe(
                'sender',
            );
            expect((await queryError(optOuts.list({ recipient: '12345', pageSize: 1 }))).field).toBe(
                'recipient',
            );
            expect(
                (await queryError(optOuts.list({ pageSize: 1, continuationToken: 'garbage!' }))).field,
            ).toBe('continuationToken');
            const first = await optOuts.list({ sender: '+15005550006', pageSize: 1 });
            expect(first.items).toHaveLength(1);
            const token = first.continuationToken;
            expect(token).toBeDefined();
            const other = await queryError(
                optOuts.list({ sender: '+15005550010', pageSize: 1, continuationToken: token ?? '' }),
            );
            expect(other.field).toBe('continuationToken');
            expect(other.message).toMatch(/another query/);
        });
    });

    describe(`reply counter contract: ${name}`, () => {
        const at = (seconds: number) => new Date(Date.parse('2026-12-01T12:00:00.000Z') + seconds * 1000);

        it('counts per (from, to) within a window, and starts again when it ends', async () => {
            const { replyWindows } = makeStores();
            const counts: number[] = [];
            for (let i = 0; i < 4; i++)
                counts.push(await replyWindows.count('+15551230030', '+15005550006', at(i), 60_000));
            expect(counts).toEqual([1, 2, 3, 4]);
            expect(await replyWindows.count('+15551230030', '+15005550007', at(5), 60_000)).toBe(1);
            expect(await replyWindows.count('+15551230031', '+15005550006', at(5), 60_000)).toBe(1);
            expect(await replyWindows.count('+15551230030', '+15005550006', at(59), 60_000)).toBe(5);
            expect(await replyWindows.count('+15551230030', '+15005550006', at(60), 60_000)).toBe(1);
            expect(await replyWindows.count('+15551230030', '+15005550006', at(61), 60_000)).toBe(2);
        });

        it('counts every one of concurrent messages once', async () => {
            const { replyWindows } = makeStores();
            const counts = await Promise.all(
                Array.from({ length: 8 }, () =>
                    replyWindows.count('+15551230032', '+15005550006', at(1), 60_000),
                ),
            );
            expect([...counts].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
        });

        it('keeps a counter for any address up to 128 characters, and refuses longer or empty ones', async () => {
            const { replyWindows } = makeStores();
            expect(await replyWindows.count('whatsapp:+15551230033', 'x'.repeat(128), at(0), 60_000)).toBe(1);
            await expect(replyWindows.count('x'.repeat(129), '+15005550006', at(0), 60_000)).rejects.toThrow(
                RangeError,
            );
            await expect(replyWindows.count('', '+15005550006', at(0), 60_000)).rejects.toThrow(RangeError);
        });
    });
}
