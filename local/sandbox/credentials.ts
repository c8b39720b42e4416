/**
 * Who a REST request authenticates as, the way Twilio takes HTTP Basic auth: the account SID with its
 * auth token, or an API key's SID (`SK…`) with its secret, the account then named only by the path.
 *
 * Keys are Standard keys unless created as Main: Twilio's Standard keys reach every resource except the
 * Account itself and the Keys, which need the auth token or a Main key.
 *
 * Only a SHA-256 digest of each `user:password` pair is kept, compared in constant time, so neither the
 * token nor a key's secret can leak from the sandbox's state (views, logs, received requests).
 */

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { newSid } from './resources';

export type ApiKeyType = 'standard' | 'main';

/** An API key as the sandbox keeps it: no secret. */
export interface SandboxApiKey {
    readonly sid: string;
    friendlyName: string;
    readonly type: ApiKeyType;
    readonly dateCreated: Date;
    dateUpdated: Date;
}

/** What a request authenticated as. */
export type Principal = { kind: 'account' } | { kind: 'key'; key: Readonly<SandboxApiKey> };

export interface NewApiKey {
    sid: string;
    /** Returned once, when the key is created, as Twilio does. */
    secret: string;
}

export interface CredentialStore {
    /** The principal for an `Authorization` header, or `undefined` when it does not authenticate. */
    authenticate(header: string | undefined): Principal | undefined;
    /** Adds a key with a given SID and secret (the sandbox's configured key), or a generated one. */
    addKey(options?: {
        sid?: string | undefined;
        secret?: string | undefined;
        friendlyName?: string;
        type?: ApiKeyType;
    }): {
        key: SandboxApiKey;
        secret: string;
    };
    /** Revokes a key: it authenticates nothing from then on. @returns whether it existed. */
    removeKey(sid: string): boolean;
    /** Every key, oldest first. */
    keys(): readonly SandboxApiKey[];
}

const KEY_SID = /^SK[0-9a-fA-F]{32}$/;

/** A secret in Twilio's shape: 32 alphanumeric characters. */
export function newKeySecret(): string {
    return randomBytes(16).toString('hex');
}

/** Whether `value` is an API key SID (`SK` + 32 hex). */
export function isKeySid(value: string): boolean {
    return KEY_SID.test(value);
}

/** The store for one account. */
export function createCredentialStore(accountSid: string, authToken: string): CredentialStore {
    const account = digest(`${accountSid}:${authToken}`);
    const keys = new Map<string, { key: SandboxApiKey; digest: Buffer }>();

    return {
        authenticate(header) {
            const credentials = basicAuth(header);
            if (credentials === undefined) return undefined;
            const given = digest(credentials);
            if (safeEqual(given, account)) return { kind: 'account' };
            const user = credentials.slice(0, Math.max(0, credentials.indexOf(':')));
            const entry = keys.get(user);
            if (entry !== undefined && safeEqual(given, entry.digest)) return { kind: 'key', key: entry.key };
            return undefined;
        },
        addKey(options = {}) {
            const sid = options.sid ?? newSid('SK');
            const secret = options.secret ?? newKeySecret();
            if (!isKeySid(sid)) throw new Error('an API key SID must be SK + 32 hex characters');
            if (secret === '') throw new Error('an API key secret must not be empty');
            if (keys.has(sid)) throw new Error(`the API key ${sid} exists already`);
            const now = new Date();
            const key: SandboxApiKey = {
                sid,
                friendlyName: options.friendlyName ?? '',
                type: options.type ?? 'standard',
                dateCreated: now,
                dateUpdated: now,
            };
            keys.set(sid, { key, digest: digest(`${sid}:${secret}`) });
            return { key, secret };
        },
        removeKey(sid) {
            return keys.delete(sid);
        },
        keys: () => [...keys.values()].map((entry) => entry.key),
    };
}

/** The user name of a Basic `Authorization` header (an account or key SID), never the password. */
export function basicAuthUser(header: string | undefined): string | undefined {
    const credentials = basicAuth(header);
    return credentials === undefined ? undefined : credentials.split(':')[0];
}

function basicAuth(header: string | undefined): string | undefined {
    if (header === undefined || !/^basic /i.test(header)) return undefined;
    return Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
}

function digest(value: string): Buffer {
    return createHash('sha256').update(value, 'utf8').digest();
}

function safeEqual(a: Buffer, b: Buffer): boolean {
    return a.length === b.length && timingSafeEqual(a, b);
}
