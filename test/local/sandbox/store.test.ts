import { listPage } from '../../../local/sandbox/listing';
import { newMessage } from '../../../local/sandbox/messages';
import { newPhoneNumber } from '../../../local/sandbox/phoneNumbers';
import { generateTestCredentials } from '../../../local/sandbox/sandbox';
import { createSandboxStore, type SandboxStore } from '../../../local/sandbox/store';
import type { SandboxMessage } from '../../../local/sandbox/resources';
import { TwilioApiError } from '../../../local/sandbox/errors';

const { accountSid, authToken, apiKeySid, apiKeySecret } = generateTestCredentials();
const PATH = `/2010-04-01/Accounts/${accountSid}/Messages.json`;

function message(store: SandboxStore, body: string): SandboxMessage {
    const created = newMessage(accountSid, {
        direction: 'outbound-api',
        to: '+15558675310',
        from: '+15005550006',
        body,
        mediaUrls: [],
        messagingServiceSid: null,
        status: 'queued',
        numSegments: 1,
        statusCallback: null,
    });
    store.messages.add(created);
    return created;
}

/** One page of the store's messages, newest first, as the Messages list serves them. */
function messagePage(store: SandboxStore, query: string) {
    const page = listPage({
        key: 'messages',
        path: PATH,
        query: new URLSearchParams(query),
        filterNames: [],
        items: store.messages.newestFirst(),
        sid: (m) => m.sid,
        sequenceOf: store.pageOrder.newestFirst,
        render: (m) => m.body,
    });
    return { bodies: page.messages as string[], next: page.next_page_uri as string | null };
}

const queryOf = (uri: string | null) => new URL(uri ?? '', 'http://sandbox').search.slice(1);

describe('sandbox store', () => {
    it('keeps records in creation order, finds and removes them by SID', () => {
        const store = createSandboxStore(accountSid, authToken);
        const first = message(store, 'one');
        const second = message(store, 'two');

        expect(store.messages.oldestFirst()).toEqual([first, second]);
        expect(store.messages.newestFirst()).toEqual([second, first]);
        expect(store.messages.find(second.sid)).toBe(second);
        expect(store.messages.remove(first.sid)).toBe(first);
        expect(store.messages.remove(first.sid)).toBeUndefined();
        expect(store.messages.holds(first)).toBe(false);
        expect(store.messages.holds(second)).toBe(true);
        expect(store.calls.newestFirst()).toEqual([]);
    });

    it('hands out copies: changing a list it returned changes nothing stored', () => {
        const store = createSandboxStore(accountSid, authToken);
        message(store, 'kept');
        store.messages.newestFirst().pop();
        store.recordRequest({
            at: new Date(),
            method: 'GET',
            path: '/',
            query: new URLSearchParams(),
            form: new URLSearchParams(),
            username: accountSid,
            status: 200,
            errorCode: null,
        });
        store.requests().pop();

        expect(store.messages.oldestFirst()).toHaveLength(1);
        expect(store.requests()).toHaveLength(1);
    });

    it('pages newest first by token, so a page stays put while new records arrive and old ones go', () => {
        const store = createSandboxStore(accountSid, authToken);
        for (const body of ['m1', 'm2', 'm3', 'm4', 'm5']) message(store, body);

        const first = messagePage(store, 'PageSize=2');
        expect(first.bodies).toEqual(['m5', 'm4']);
        const m3 = store.messages.find(store.messages.oldestFirst()[2]?.sid ?? '');
        message(store, 'm6');
        store.messages.remove(m3?.sid ?? '');

        const second = messagePage(store, queryOf(first.next));
        expect(second.bodies).toEqual(['m2', 'm1']);
        expect(second.next).toBeNull();
    });

    it('still pages from a token naming a record deleted since', () => {
        const store = createSandboxStore(accountSid, authToken);
        const records = ['m1', 'm2', 'm3', 'm4'].map((body) => message(store, body));
        const anchor = records[2]?.sid ?? '';
        store.messages.remove(anchor);

        expect(messagePage(store, `PageSize=5&Page=1&PageToken=PA${anchor}`).bodies).toEqual(['m2', 'm1']);
    });

    it('refuses a page token for a SID it never stored (20001)', () => {
        const store = createSandboxStore(accountSid, authToken);
        message(store, 'm1');
        const never = `SM${'0'.repeat(32)}`;

        expect(() => messagePage(store, `PageToken=PA${never}`)).toThrow(TwilioApiError);
        expect(() => messagePage(store, `PageToken=PA${never}`)).toThrow(`Invalid PageToken: PA${never}`);
    });

    it('pages numbers and keys in the order they were added', () => {
        const store = createSandboxStore(accountSid, authToken);
        for (const number of ['+15550000001', '+15550000002', '+15550000003']) {
            store.phoneNumbers.add(newPhoneNumber(accountSid, number));
        }
        const page = (query: string) =>
            listPage({
                key: 'incoming_phone_numbers',
                path: PATH,
                query: new URLSearchParams(query),
                filterNames: [],
                items: store.phoneNumbers.oldestFirst(),
                sid: (n) => n.sid,
                sequenceOf: store.pageOrder.oldestFirst,
                render: (n) => n.phoneNumber,
            });

        const first = page('PageSize=2');
        expect(first.incoming_phone_numbers).toEqual(['+15550000001', '+15550000002']);
        const second = page(queryOf(first.next_page_uri as string | null));
        expect(second.incoming_phone_numbers).toEqual(['+15550000003']);
        expect(second.next_page_uri).toBeNull();

        const keys = [store.addKey({ friendlyName: 'a' }), store.addKey({ friendlyName: 'b' })];
        const keyPage = listPage({
            key: 'keys',
            path: PATH,
            query: new URLSearchParams('PageSize=1'),
            filterNames: [],
            items: store.keys(),
            sid: (k) => k.sid,
            sequenceOf: store.pageOrder.oldestFirst,
            render: (k) => k.friendlyName,
        });
        expect(keyPage.keys).toEqual(['a']);
        expect(keyPage.next_page_uri).toContain(`PageToken=PA${keys[0]?.key.sid ?? ''}`);
    });

    it('authenticates the account and its keys until a key is revoked', () => {
        const store = createSandboxStore(accountSid, authToken);
        const basic = (user: string, password: string) =>
            `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
        store.addKey({ sid: apiKeySid, secret: apiKeySecret });

        expect(store.authenticate(basic(accountSid, authToken))).toEqual({ kind: 'account' });
        expect(store.authenticate(basic(apiKeySid, apiKeySecret))).toMatchObject({
            kind: 'key',
            key: { sid: apiKeySid, type: 'standard' },
        });
        expect(store.authenticate(basic(accountSid, 'wrong'))).toBeUndefined();
        expect(store.removeKey(apiKeySid)).toBe(true);
        expect(store.authenticate(basic(apiKeySid, apiKeySecret))).toBeUndefined();
    });
});
