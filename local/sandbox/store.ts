/**
 * What the sandbox holds for its one account: the account's credentials and API keys, its messages,
 * calls and phone numbers, and the REST requests it received. Plain state, no I/O and no timers: the
 * lifecycles (messageLifecycle.ts, callLifecycle.ts) mutate the records it holds, the REST handlers add,
 * find and remove them, and the views read them.
 *
 * Every SID stored gets a creation number that outlives the record, so a page token naming a deleted
 * message still pages from where it stood (see listing.ts). A new kind of record (the call simulator's
 * recordings or child calls) is one more {@link RecordList} here, sharing that numbering.
 */

import { createCredentialStore, type ApiKeyType, type Principal, type SandboxApiKey } from './credentials';
import type { SandboxPhoneNumber } from './phoneNumbers';
import type { SandboxRecording } from './recordings';
import type { SandboxCall, SandboxMessage } from './resources';

/** A REST request the sandbox received. The password of its Basic auth is not kept. */
export interface ReceivedRequest {
    readonly at: Date;
    readonly method: string;
    /** Path and query, as received. */
    readonly path: string;
    readonly query: URLSearchParams;
    /** The form-encoded body (empty for GET). */
    readonly form: URLSearchParams;
    /** The Basic auth user name (the account SID or an API key SID), or `undefined` without Basic auth. */
    readonly username: string | undefined;
    readonly status: number;
    /** Twilio's error code when the answer was an error. */
    readonly errorCode: number | null;
}

/** One kind of record, kept in creation order. */
export interface RecordList<T extends { readonly sid: string }> {
    add(item: T): void;
    find(sid: string): T | undefined;
    /** @returns the record removed, or `undefined` when there was none with that SID. */
    remove(sid: string): T | undefined;
    /** Whether this very record is still stored (not deleted or released). */
    holds(item: T): boolean;
    newestFirst(): T[];
    oldestFirst(): T[];
}

export interface SandboxStore {
    readonly accountSid: string;
    readonly messages: RecordList<SandboxMessage>;
    readonly calls: RecordList<SandboxCall>;
    readonly phoneNumbers: RecordList<SandboxPhoneNumber>;
    /** What calls' `<Record>` left, served by recordings.ts. */
    readonly recordings: RecordList<SandboxRecording>;
    /** The principal for an `Authorization` header, or `undefined` when it does not authenticate. */
    authenticate(header: string | undefined): Principal | undefined;
    /** Adds an API key (the configured one with its SID and secret, or a generated one). */
    addKey(options?: {
        sid?: string | undefined;
        secret?: string | undefined;
        friendlyName?: string;
        type?: ApiKeyType;
    }): { key: SandboxApiKey; secret: string };
    /** Revokes a key. @returns whether it existed. */
    removeKey(sid: string): boolean;
    /** Every key, oldest first. */
    keys(): readonly SandboxApiKey[];
    recordRequest(request: ReceivedRequest): void;
    /** The REST requests received, oldest first. */
    requests(): ReceivedRequest[];
    /**
     * The paging order of a SID (deleted ones included) for `listPage`'s `sequenceOf`: `newestFirst` for
     * lists served newest first (messages, calls), `oldestFirst` for those served in creation order
     * (numbers, keys), or `undefined` for a SID never stored.
     */
    readonly pageOrder: {
        readonly newestFirst: (sid: string) => number | undefined;
        readonly oldestFirst: (sid: string) => number | undefined;
    };
}

/** An empty store for the account with this auth token. */
export function createSandboxStore(accountSid: string, authToken: string): SandboxStore {
    const credentials = createCredentialStore(accountSid, authToken);
    /** Creation order of every SID ever stored: the key of newest-first order and page tokens. */
    const sequence = new Map<string, number>();
    const received: ReceivedRequest[] = [];
    const numbered = (sid: string) => sequence.set(sid, sequence.size);

    const recordList = <T extends { readonly sid: string }>(): RecordList<T> => {
        const items: T[] = [];
        return {
            add(item) {
                numbered(item.sid);
                items.push(item);
            },
            find: (sid) => items.find((item) => item.sid === sid),
            remove(sid) {
                const index = items.findIndex((item) => item.sid === sid);
                return index === -1 ? undefined : items.splice(index, 1)[0];
            },
            holds: (item) => items.includes(item),
            newestFirst: () => [...items].reverse(),
            oldestFirst: () => [...items],
        };
    };

    return {
        accountSid,
        messages: recordList(),
        calls: recordList(),
        phoneNumbers: recordList(),
        recordings: recordList(),
        authenticate: (header) => credentials.authenticate(header),
        addKey(options) {
            const created = credentials.addKey(options);
            numbered(created.key.sid);
            return created;
        },
        removeKey: (sid) => credentials.removeKey(sid),
        keys: () => credentials.keys(),
        recordRequest: (request) => received.push(request),
        requests: () => [...received],
        pageOrder: {
            newestFirst: (sid) => sequence.get(sid),
            // listPage pages newest first; inverting the creation order pages a list kept oldest first.
            oldestFirst: (sid) => {
                const seq = sequence.get(sid);
                return seq === undefined ? undefined : -seq;
            },
        },
    };
}
