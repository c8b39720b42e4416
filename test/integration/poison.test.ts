/**
 * The poison path records every item it is given, whatever its shape, in the real Table ledger on
 * Azurite: deeply nested, huge, not JSON, not text, not an object. A content-derived id is the same for
 * the same item every time, and nothing of the item reaches the log.
 */

import { createHash } from 'node:crypto';
import { outboundPoison } from '../../functions/outboundPoison';
import { startAzurite, type Azurite } from '../../local/azurite';
import { setDependencies, type AppDependencies } from '../../shared/platform/dependencies';
import type { Ledger, LedgerRecord } from '../../shared/ledger/contract';
import { createLedger } from '../../shared/ledger/table';
import { contentHash, recordPoisonedMessage } from '../../shared/outbound/poison';
import { createTwilioClientFactory } from '../../shared/platform/twilioClient';
import { testContext } from '../support/webhooks';

let azurite: Azurite;
let ledger: Ledger;
let poisonIds = 0;

beforeAll(async () => {
    azurite = await startAzurite({ ports: 'free' });
    ledger = createLedger({
        connectionString: azurite.connectionString,
        tableName: 'poison',
        storeBody: false,
    });
}, 60_000);

afterAll(async () => {
    setDependencies();
    await azurite.stop();
});

const DEPTH = 100_000;
const nestedArrayText = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
const nestedObjectText = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
const manyKeys = (count: number) =>
    Object.fromEntries(Array.from({ length: count }, (_, i) => [`k${String(i)}`, i]));

/** The items the host can hand the poison function, by what makes each hard to record. */
const ITEMS: readonly { name: string; item: () => unknown; reason: RegExp }[] = [
    {
        name: `an array nested ${String(DEPTH)} deep (parsed by the host)`,
        item: () => JSON.parse(nestedArrayText(DEPTH)) as unknown,
        reason: /not a valid outbound message|could not be validated/,
    },
    {
        name: `an object nested ${String(DEPTH)} deep (parsed by the host)`,
        item: () => JSON.parse(nestedObjectText(DEPTH)) as unknown,
        reason: /not a valid outbound message|could not be validated/,
    },
    {
        // One level deeper than the parsed one above: the same text would be the same message, same id.
        name: `the text of an array nested ${String(DEPTH + 1)} deep`,
        item: () => nestedArrayText(DEPTH + 1),
        reason: /not a valid outbound message|could not be validated/,
    },
    {
        name: 'an object with 100,000 keys',
        item: () => ({ type: 'sms', to: '+15557654321', body: 'x', ...manyKeys(100_000) }),
        reason: /not a valid outbound message|could not be validated/,
    },
    {
        name: 'a 5 MB string that is not JSON',
        item: () => 'x'.repeat(5_000_000),
        // The decoder's base64 pattern can exhaust the regexp stack on text this long: still recorded.
        reason: /neither JSON nor base64|base64, but what it encodes is not JSON/,
    },
    { name: 'a number', item: () => 42, reason: /the queue item is number/ },
    { name: 'null', item: () => null, reason: /the queue item is null/ },
    { name: 'undefined', item: () => undefined, reason: /the queue item is undefined/ },
    { name: 'a string that is not JSON', item: () => 'hello, not json', reason: /neither JSON nor base64/ },
    {
        name: 'a Buffer of invalid UTF-8',
        item: () => Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xa0]),
        reason: /neither JSON nor base64/,
    },
    {
        name: 'an object with a __proto__ key',
        item: () => JSON.parse('{"__proto__":{"id":"someone-else"},"type":"sms"}') as unknown,
        reason: /not a valid outbound message/,
    },
];

describe('outboundPoison: every item gets a dead-lettered record, whatever its shape', () => {
    it.each(ITEMS)('$name', async ({ item, reason }) => {
        const poisonMessageId = `pm-${String(++poisonIds)}`;
        const value = item();
        const result = await recordPoisonedMessage(ledger, value, poisonMessageId);
        expect(result.kind).toBe('dead-lettered');
        expect(result.id).toMatch(/^poison-[0-9a-f]{40}$/);

        const stored = (await ledger.get(result.id)) as LedgerRecord;
        expect(stored).toMatchObject({ id: result.id, direction: 'outbound', status: 'dead-lettered' });
        expect(stored.errorMessage).toContain(`poison message ${poisonMessageId}`);
        expect(stored.errorMessage).toMatch(reason);
        expect(stored.history.map((e) => e.status)).toEqual(['dead-lettered']);

        // The id is derived from the content alone: the same item again finds the same record.
        expect(await recordPoisonedMessage(ledger, item(), `${poisonMessageId}-again`)).toEqual({
            id: result.id,
            kind: 'already-dead-lettered',
        });
    });

    it('derives the id from the raw text for text and bytes, and as JSON.stringify would for a value', () => {
        const sha = (data: string | Buffer) => createHash('sha256').update(data).digest('hex').slice(0, 40);
        const bytes = Buffer.from([0xff, 0x00, 0x41]);
        expect(contentHash('not json')).toBe(sha('not json'));
        expect(contentHash(bytes)).toBe(sha(bytes));
        // Records made before keep their ids: a plain value hashes as its JSON text.
        const plain = { type: 'sms', to: '+15557654321', n: [1, null, 'é'], nested: { at: new Date(0) } };
        expect(contentHash(plain)).toBe(sha(JSON.stringify(plain)));
        // Deeply nested values hash without overflowing, distinctly, and the same every time.
        const deepArray = JSON.parse(nestedArrayText(DEPTH)) as unknown;
        const deeper = JSON.parse(nestedArrayText(DEPTH + 1)) as unknown;
        expect(contentHash(deepArray)).toBe(contentHash(JSON.parse(nestedArrayText(DEPTH)) as unknown));
        expect(contentHash(deepArray)).not.toBe(contentHash(deeper));
        const cyclic: { self?: unknown } = {};
        cyclic.self = cyclic;
        expect(contentHash(cyclic)).toBe(contentHash(cyclic));
    });

    it('a valid message keeps its own id and its summary, with the reason', async () => {
        const item = { type: 'sms', id: 'poison-valid-1', to: '+15557654321', body: 'hello' };
        expect(await recordPoisonedMessage(ledger, JSON.stringify(item), 'pm-valid')).toEqual({
            id: 'poison-valid-1',
            kind: 'dead-lettered',
        });
        const stored = (await ledger.get('poison-valid-1')) as LedgerRecord;
        expect(stored).toMatchObject({ to: '+15557654321', bodyLength: 5, status: 'dead-lettered' });
        expect(stored.errorMessage).toMatch(/pm-valid.*a valid message/);
    });

    it('the function logs neither the item nor its field names', async () => {
        setDependencies({
            ledger: () => ledger,
            twilio: createTwilioClientFactory({ accountSid: undefined, secrets: undefined }),
        } as Partial<AppDependencies> as AppDependencies);
        const { context, logs } = testContext('outboundPoison');
        const item = JSON.parse(
            `{"privateFieldName":${nestedObjectText(DEPTH)},"to":"+15557654321","body":"a private body"}`,
        ) as unknown;
        await outboundPoison(item, context);
        const text = logs.map((l) => l.message).join('\n');
        expect(text).toMatch(/poison-[0-9a-f]{40}/);
        expect(text).not.toMatch(/privateFieldName|5557654321|private body/);
    });
});

describe('outboundPoison: a delayed copy', () => {
    it('validates the message without the pipeline retry token, so its summary is recorded', async () => {
        const item = {
            type: 'sms',
            id: 'poisoned-delayed-copy',
            to: '+15550009876',
            body: 'x',
            retryToken: 'abc',
        };
        const result = await recordPoisonedMessage(ledger, item, 'pm-delayed');
        expect(result).toEqual({ id: 'poisoned-delayed-copy', kind: 'dead-lettered' });
        const stored = await ledger.get('poisoned-delayed-copy');
        expect(stored).toMatchObject({ status: 'dead-lettered', to: '+15550009876', bodyLength: 1 });
    });
});
