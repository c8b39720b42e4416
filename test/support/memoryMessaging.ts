/**
 * In-memory implementations of the opt-out store (shared/messaging/optOuts.ts) and the loop guard's
 * counters (shared/messaging/replyGuard.ts), for tests that need no Azurite. They apply the same rules as
 * the Table implementations (shared/messaging/tableStores.ts) — the contract's checks and canonical forms,
 * `nextWindow` — and test/support/optOutContract.ts checks both alike. Their continuation tokens are their
 * own; their pages are always full.
 */

import {
    canonicalRecipient,
    canonicalSender,
    checkOptOut,
    checkOptOutQuery,
    OptOutQueryError,
    queryFingerprint,
    type OptOut,
    type OptOutPage,
    type OptOutQuery,
    type OptOutStore,
} from '../../shared/messaging/optOuts';
import {
    checkCounterAddress,
    nextWindow,
    type ReplyWindow,
    type ReplyWindows,
} from '../../shared/messaging/replyGuard';

export interface MemoryOptOuts extends OptOutStore {
    /** Every stored opt-out, in key order. */
    all(): OptOut[];
    /** How many reads `get` made (the cost of a send's check). */
    readonly reads: number;
}

/** Key order, as Table storage orders (sender, recipient): ordinal string comparison. */
const keyOf = (sender: string, recipient: string): string => `${sender}\u0000${recipient}`;

export function createMemoryOptOuts(): MemoryOptOuts {
    const rows = new Map<string, OptOut>();
    let reads = 0;
    const sorted = (): [string, OptOut][] =>
        [...rows.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

    const store: MemoryOptOuts = {
        get: async (sender, recipient) => {
            await Promise.resolve();
            const from = canonicalSender(sender);
            const to = canonicalRecipient(recipient);
            if (from === undefined || to === undefined) return undefined;
            reads++;
            const found = rows.get(keyOf(from, to));
            return found === undefined ? undefined : { ...found };
        },
        add: async (optOut) => {
            await Promise.resolve();
            const checked = checkOptOut(optOut);
            const key = keyOf(checked.sender, checked.recipient);
            if (rows.has(key)) return 'exists';
            rows.set(key, checked);
            return 'created';
        },
        remove: async (sender, recipient) => {
            await Promise.resolve();
            const from = canonicalSender(sender);
            const to = canonicalRecipient(recipient);
            if (from === undefined || to === undefined) return 'absent';
            return rows.delete(keyOf(from, to)) ? 'removed' : 'absent';
        },
        list: async (query: OptOutQuery): Promise<OptOutPage> => {
            await Promise.resolve();
            const filters = checkOptOutQuery(query);
            const fingerprint = queryFingerprint(filters);
            const after =
                query.continuationToken === undefined
                    ? undefined
                    : decodeToken(query.continuationToken, fingerprint);
            const matching = sorted().filter(
                ([key, optOut]) =>
                    (filters.sender === undefined || optOut.sender === filters.sender) &&
                    (filters.recipient === undefined || optOut.recipient === filters.recipient) &&
                    (after === undefined || key > after),
            );
            const page = matching.slice(0, query.pageSize);
            const items = page.map(([, optOut]) => ({ ...optOut }));
            const last = page[page.length - 1];
            return matching.length > query.pageSize && last !== undefined
                ? { items, continuationToken: encodeToken(last[0], fingerprint) }
                : { items };
        },
        all: () => sorted().map(([, optOut]) => ({ ...optOut })),
        get reads() {
            return reads;
        },
    };
    return store;
}

function encodeToken(key: string, fingerprint: string): string {
    return `mem.${Buffer.from(JSON.stringify({ k: key, q: fingerprint }), 'utf8').toString('base64url')}`;
}

function decodeToken(text: string, fingerprint: string): string {
    const invalid = new OptOutQueryError('continuationToken is not valid', 'continuationToken');
    const match = /^mem\.([A-Za-z0-9_-]{1,2000})$/.exec(text);
    if (match === null) throw invalid;
    let value: unknown;
    try {
        value = JSON.parse(Buffer.from(match[1] ?? '', 'base64url').toString('utf8'));
    } catch {
        throw invalid;
    }
    const { k, q } = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
    if (typeof k !== 'string' || typeof q !== 'string') throw invalid;
    if (q !== fingerprint) {
        throw new OptOutQueryError(
            'continuationToken belongs to another query (sender, recipient)',
            'continuationToken',
        );
    }
    return k;
}

export interface MemoryReplyWindows extends ReplyWindows {
    /** The counter of (from, to), if any. */
    window(from: string, to: string): ReplyWindow | undefined;
}

export function createMemoryReplyWindows(): MemoryReplyWindows {
    const windows = new Map<string, ReplyWindow>();
    return {
        count: async (from, to, now, windowMs) => {
            await Promise.resolve();
            checkCounterAddress(from);
            checkCounterAddress(to);
            const key = keyOf(from, to);
            const next = nextWindow(windows.get(key), now, windowMs);
            windows.set(key, next);
            return next.count;
        },
        window: (from, to) => windows.get(keyOf(from, to)),
    };
}
