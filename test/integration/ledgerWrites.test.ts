/**
 * What the Table ledger costs in Table requests: a counting HTTP proxy on loopback sits in front of
 * Azurite's table port (Azurite started on free ports for this file), and every request the ledger makes
 * through it is counted by kind. The happy path of an outbound SMS — the claim (an update that creates
 * the record) and the SID recorded right after it — must stay within 4 requests (issue 11), and the
 * shortcuts that buy it (writing on a remembered ETag, inserting before reading) must still lose no
 * concurrent write.
 */

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startAzurite, type Azurite } from '../../local/azurite';
import type { Ledger, LedgerRecord } from '../../shared/ledger/contract';
import { createLedger } from '../../shared/ledger/table';
import {
    claim as claimTransition,
    recordSid as recordSidTransition,
} from '../../shared/outbound/transitions';

let azurite: Azurite;
let proxy: http.Server;
let proxyPort = 0;
/** Table requests seen by the proxy since the last {@link counted}, as `<kind> <target>`. */
let requests: string[] = [];
let tableCount = 0;

beforeAll(async () => {
    azurite = await startAzurite({ ports: 'free' });
    proxy = http.createServer((incoming, outgoing) => {
        requests.push(describeRequest(incoming));
        const forward = http.request(
            {
                host: '127.0.0.1',
                port: azurite.ports.table,
                method: incoming.method,
                path: incoming.url,
                headers: incoming.headers,
            },
            (answer) => {
                outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
                answer.pipe(outgoing);
            },
        );
        forward.on('error', () => outgoing.destroy());
        incoming.pipe(forward);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    proxyPort = (proxy.address() as AddressInfo).port;
}, 60_000);

afterAll(async () => {
    await new Promise<void>((resolve) => proxy.close(() => resolve()));
    await azurite.stop();
});

/**
 * A request as `<kind> <entity kind>`: `read`, `insert`, `replace` (conditional on an ETag), `upsert`
 * (unconditional), `delete`, `query`, `table` (creating the table, once per ledger, not counted against
 * a message); the entity kind from its partition key (`record`, `day`, `sid`).
 */
function describeRequest(request: http.IncomingMessage): string {
    const url = decodeURIComponent(request.url ?? '');
    if (/\/Tables(\(|\?|$)/.test(url)) return 'table';
    const keyed = /\(PartitionKey='([a-z])/.exec(url);
    const target = keyed === null ? '' : ({ r: 'record', d: 'day', s: 'sid' }[keyed[1] ?? ''] ?? '?');
    const conditional = request.headers['if-match'] !== undefined && request.headers['if-match'] !== '*';
    switch (request.method) {
        case 'GET':
            return keyed === null ? 'query' : `read ${target}`;
        case 'POST':
            return 'insert';
        case 'PUT':
            return `${conditional ? 'replace' : 'upsert'} ${target}`;
        case 'DELETE':
            return `delete ${target}`;
        default:
            return `${request.method ?? '?'} ${target}`;
    }
}

/** The table requests since the last call, without the one-off table creation. */
function counted(): string[] {
    const seen = requests.filter((r) => r !== 'table');
    requests = [];
    return seen;
}

/** A ledger on a fresh table, through the counting proxy; `another` is a second process on that table. */
async function setup(): Promise<{ ledger: Ledger; another: Ledger }> {
    tableCount++;
    const tableName = `writes${String(tableCount)}`;
    const connectionString = azurite.connectionString.replace(
        /TableEndpoint=http:\/\/127\.0\.0\.1:\d+/,
        `TableEndpoint=http://127.0.0.1:${String(proxyPort)}`,
    );
    const make = () => createLedger({ connectionString, tableName, storeBody: false });
    const ledger = make();
    const another = make();
    // Open the table (and load the SDK) outside the counts.
    await ledger.get('warm-up');
    await another.get('warm-up');
    counted();
    return { ledger, another };
}

const SID = `SM${'a'.repeat(32)}`;
const AT = new Date().toISOString();

/** The claim of a queue message no API call recorded: creates the record, sending, with a claim. */
function claim(id: string) {
    return (current: LedgerRecord | undefined): LedgerRecord | undefined =>
        current !== undefined
            ? { ...current, status: 'sending', claim: { token: 't1', at: AT, leaseUntil: AT } }
            : {
                  id,
                  direction: 'outbound',
                  type: 'sms',
                  to: '+15551230001',
                  from: '+15559870001',
                  bodyLength: 5,
                  mediaCount: 0,
                  status: 'sending',
                  history: [],
                  attempts: 1,
                  claim: { token: 't1', at: AT, leaseUntil: AT },
                  createdAt: AT,
                  updatedAt: AT,
              };
}

/** Twilio's answer recorded: the SID, Twilio's status, the claim released. */
function recordSid(current: LedgerRecord | undefined): LedgerRecord | undefined {
    if (current === undefined) return undefined;
    const { claim: _released, ...rest } = current;
    return {
        ...rest,
        sid: SID,
        status: 'queued',
        history: [...current.history, { status: 'queued', at: AT, source: 'twilio', sid: SID }],
    };
}

describe('ledger: Table requests per outbound SMS', () => {
    it('claims and records the SID in 4 requests, none of them a read', async () => {
        const { ledger } = await setup();
        await ledger.update('m1', claim('m1'), { expectAbsent: true });
        const claimed = counted();
        await ledger.update('m1', recordSid);
        const sidRecorded = counted();

        expect(claimed.sort()).toEqual(['insert', 'insert']); // the record, then its day-index entry
        expect(sidRecorded.sort()).toEqual(['replace record', 'upsert sid']);
        expect(claimed.length + sidRecorded.length).toBeLessThanOrEqual(4);

        // And what callers observe is what the slow path gives.
        const stored = await ledger.get('m1');
        expect(stored).toMatchObject({ id: 'm1', sid: SID, status: 'queued', attempts: 1 });
        expect(stored).not.toHaveProperty('claim');
        expect((await ledger.list({ pageSize: 5 })).items).toEqual([stored]);
        expect(await ledger.idForSid(SID)).toBe('m1');
    });

    it('without the hint, the claim reads once first (5 in all)', async () => {
        const { ledger } = await setup();
        await ledger.update('m1', claim('m1'));
        await ledger.update('m1', recordSid);
        const seen = counted();
        expect(seen.filter((r) => r.startsWith('read'))).toEqual(['read record']);
        expect(seen).toHaveLength(5);
    });

    it('a status change of a record it wrote last is one request', async () => {
        const { ledger } = await setup();
        await ledger.update('m1', claim('m1'), { expectAbsent: true });
        await ledger.update('m1', recordSid);
        counted();
        await ledger.update('m1', (r) => r && { ...r, status: 'delivered' });
        expect(counted()).toEqual(['replace record']);
        expect((await ledger.list({ pageSize: 1 })).items[0]?.status).toBe('delivered');
    });
});

describe('ledger: the day index entry is written once per message', () => {
    const SENDER = '+15559870001';
    /** The pipeline's claim (shared/outbound/transitions.ts) of a queue message without a `from`. */
    const pipelineClaim = (id: string, sender: string | undefined) => (current: LedgerRecord | undefined) =>
        claimTransition(current, {
            id,
            summary: { type: 'sms', to: '+15551230001', bodyLength: 5, mediaCount: 0 },
            fingerprint: 'v1.test',
            token: 't1',
            now: new Date(AT),
            leaseMs: 60_000,
            sender,
        }).next;
    const twilioAnswer = (current: LedgerRecord | undefined) =>
        recordSidTransition(current, {
            token: 't1',
            send: { sid: SID, status: 'queued', from: SENDER },
            now: new Date(AT),
        });

    it('a message sent from the default number holds it from the claim: the SID is 2 requests, none on the day partition', async () => {
        const { ledger } = await setup();
        await ledger.update('m1', pipelineClaim('m1', SENDER), { expectAbsent: true });
        expect(counted()).toEqual(['insert', 'insert']);
        await ledger.update('m1', twilioAnswer);
        expect(counted().sort()).toEqual(['replace record', 'upsert sid']);
        expect(await ledger.get('m1')).toMatchObject({ from: SENDER, sid: SID, status: 'queued' });
        expect((await ledger.list({ pageSize: 5, from: SENDER })).items.map((r) => r.id)).toEqual(['m1']);
    });

    it('a sender only Twilio knows (a Messaging Service picks it) rewrites the entry with the SID, so list filters on it', async () => {
        const { ledger } = await setup();
        await ledger.update('m1', pipelineClaim('m1', undefined), { expectAbsent: true });
        counted();
        await ledger.update('m1', twilioAnswer);
        expect(counted().sort()).toEqual(['read day', 'replace day', 'replace record', 'upsert sid']);
        expect((await ledger.list({ pageSize: 5, from: SENDER })).items.map((r) => r.id)).toEqual(['m1']);
    });

    it('a repeated status callback (no change) of a record this process indexed reads the record only', async () => {
        const { ledger } = await setup();
        await ledger.update('m1', claim('m1'), { expectAbsent: true });
        await ledger.update('m1', recordSid);
        counted();
        expect(await ledger.update('m1', () => undefined)).toMatchObject({ sid: SID });
        expect(counted()).toEqual(['read record']);
    });

    it('another process checks the entry once, and leaves an entry holding the record’s to and from alone, whatever revision wrote it', async () => {
        const { ledger, another } = await setup();
        await ledger.update('m1', claim('m1'), { expectAbsent: true });
        await ledger.update('m1', recordSid);
        await ledger.update('m1', (r) => r && { ...r, status: 'delivered' });
        counted();
        // The entry was written at revision 1; the record is at 3 with the same to and from.
        await another.update('m1', () => undefined);
        expect(counted()).toEqual(['read record', 'read day']);
        await another.update('m1', () => undefined);
        expect(counted()).toEqual(['read record']);
        expect((await another.list({ pageSize: 5, to: '+15551230001' })).items.map((r) => r.status)).toEqual([
            'delivered',
        ]);
    });
});

describe('ledger: the shortcuts lose no concurrent write', () => {
    it('a write by another process between the claim and the SID is kept (412, then read-modify-write)', async () => {
        const { ledger, another } = await setup();
        await ledger.update('m1', claim('m1'), { expectAbsent: true });
        await another.update('m1', (r) => r && { ...r, attempts: r.attempts + 1, errorMessage: 'other' });
        counted();
        await ledger.update('m1', recordSid);
        // The remembered ETag is stale: the replace fails, then the record is read and written again. The
        // SID entry, written alongside the first replace, is written once.
        expect(counted().sort()).toEqual(['read record', 'replace record', 'replace record', 'upsert sid']);
        const stored = await another.get('m1');
        expect(stored).toMatchObject({ sid: SID, status: 'queued', attempts: 2, errorMessage: 'other' });
        // The other process's memory is stale too: its next write goes the slow way and keeps the SID.
        await another.update('m1', (r) => r && { ...r, status: 'delivered' });
        expect(await ledger.get('m1')).toMatchObject({ sid: SID, status: 'delivered', attempts: 2 });
    });

    it('a record created by another process despite the hint is updated, not overwritten (409)', async () => {
        const { ledger, another } = await setup();
        await another.update('m1', claim('m1'));
        await another.update('m1', (r) => r && { ...r, attempts: 7 });
        counted();
        const result = await ledger.update('m1', (r) => r && { ...r, attempts: r.attempts + 1 }, {
            expectAbsent: true,
        });
        // A mutate that makes nothing of an absent record cannot be tried on a guess: it reads.
        expect(result?.attempts).toBe(8);
        const created = await ledger.update('m2', claim('m2'));
        expect(created?.attempts).toBe(1);
        await another.update('m3', claim('m3'));
        counted();
        const claimed = await ledger.update('m3', claim('m3'), { expectAbsent: true });
        expect(counted()).toEqual(['insert', 'read record', 'replace record']);
        expect(claimed).toMatchObject({ id: 'm3', status: 'sending', attempts: 1 });
        expect((await ledger.list({ pageSize: 5 })).items.map((r) => r.id).sort()).toEqual([
            'm1',
            'm2',
            'm3',
        ]);
    });

    it('keeps every one of 20 concurrent updates from two processes that each remember the record', async () => {
        const { ledger, another } = await setup();
        await ledger.update('m1', claim('m1'), { expectAbsent: true });
        await another.get('m1');
        await Promise.all(
            Array.from({ length: 20 }, (_, i) =>
                (i % 2 === 0 ? ledger : another).update(
                    'm1',
                    (r) =>
                        r && {
                            ...r,
                            attempts: r.attempts + 1,
                            history: [...r.history, { status: `e${String(i)}`, at: AT, source: 'app' }],
                        },
                ),
            ),
        );
        const stored = await ledger.get('m1');
        expect(stored?.attempts).toBe(21);
        expect(stored?.history).toHaveLength(20);
        expect((await another.list({ pageSize: 1 })).items).toEqual([stored]);
    });
});
