/**
 * Inbound MMS media end to end on real parts: the Twilio sandbox sends a signed MMS webhook to the real
 * `inboundSms` function (its `fetch` hands the request to the handler), the job it enqueues is read back
 * from Azurite's queue and run by the real `inboundMedia` function, which fetches each item from the
 * sandbox (Basic auth, Twilio's media paths), stores it in Azurite's Blob service and records it in the
 * Table ledger; `getMessageMedia` serves it back. A second loopback origin stands in for Twilio's CDN:
 * it records the headers it got, serves what each test asks, and counts its requests.
 */

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { HttpRequest, InvocationContext, type HttpResponseInit } from '@azure/functions';
import { ContainerClient } from '@azure/storage-blob';
import { QueueClient } from '@azure/storage-queue';
import { getMessageMedia } from '../../functions/getMessageMedia';
import { inboundMedia } from '../../functions/inboundMedia';
import { inboundMediaPoison } from '../../functions/inboundMediaPoison';
import { inboundSms } from '../../functions/inboundSms';
import { startAzurite, type Azurite } from '../../local/azurite';
import { generateTestCredentials, startTwilioSandbox, type TwilioSandbox } from '../../local/sandbox/sandbox';
import type { LedgerRecord } from '../../shared/ledger/contract';
import { MAX_MEDIA_BYTES } from '../../shared/media/job';
import { POISON_REASON } from '../../shared/media/poison';
import { getDependencies, setDependencies } from '../../shared/platform/dependencies';
import { closeServer, listen, trackSockets } from '../fakes/servers';
import { useSettings } from '../support/app';

const APP = 'http://app.media.test';
const PNG = Buffer.from(
    '89504e470d0a1a0a0000000d4948445200000001000000010806000000' +
        '1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082',
    'hex',
);
const JPEG = Buffer.concat([Buffer.from('ffd8ffe000104a464946', 'hex'), Buffer.alloc(2000, 7)]);

let azurite: Azurite;
let sandbox: TwilioSandbox;
let cdn: { server: Server; origin: string; close: () => Promise<void> };
/** What the CDN stand-in does for `/media/<MediaSid>`, and every request it got. */
let cdnAnswer: (res: ServerResponse) => void;
const cdnRequests: { path: string; authorization: string | undefined }[] = [];
let run = 0;
let settings: Record<string, string>;
/** The sandbox's requests before this test: each test counts its own. */
let seenBefore = 0;

/** The sandbox's requests to the app: handed to the real inboundSms, answered as the host would. */
const appFetch: typeof fetch = async (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (!url.startsWith(`${APP}/`)) return fetch(input, init);
    const headers = Object.fromEntries(new Headers(init?.headers).entries());
    const request = new HttpRequest({
        method: init?.method ?? 'GET',
        url,
        headers,
        body: { string: typeof init?.body === 'string' ? init.body : '' },
    });
    const response: HttpResponseInit = await inboundSms(request, context('inboundSms'));
    return new Response(typeof response.body === 'string' ? response.body : '', {
        status: response.status ?? 200,
        headers: { 'Content-Type': 'text/xml' },
    });
};

function context(name: string, triggerMetadata?: Record<string, unknown>): InvocationContext {
    return new InvocationContext({
        functionName: name,
        invocationId: `media-${name}`,
        ...(triggerMetadata === undefined ? {} : { triggerMetadata }),
        logHandler: () => undefined,
    });
}

beforeAll(async () => {
    azurite = await startAzurite({ ports: 'free' });
    sandbox = await startTwilioSandbox({ ...generateTestCredentials(), callbackDelayMs: 0, fetch: appFetch });
    const server = createServer((req: IncomingMessage, res: ServerResponse) => {
        const authorization = req.headers.authorization;
        cdnRequests.push({ path: req.url ?? '', authorization });
        req.resume();
        cdnAnswer(res);
    });
    const sockets = trackSockets(server);
    cdn = {
        server,
        origin: `http://127.0.0.1:${String(await listen(server))}`,
        close: () => closeServer(server, sockets),
    };
}, 60_000);

afterAll(async () => {
    setDependencies();
    await sandbox.close();
    await cdn.close();
    await azurite.stop();
});

beforeEach(async () => {
    run += 1;
    cdnRequests.length = 0;
    cdnAnswer = (res) => {
        res.writeHead(200, { 'Content-Type': 'image/png' });
        res.end(PNG);
    };
    settings = {
        AzureWebJobsStorage: azurite.connectionString,
        TWILIO_ACCOUNT_SID: sandbox.accountSid,
        TWILIO_AUTH_TOKEN: sandbox.authToken,
        TWILIO_API_URL: sandbox.url,
        LEDGER_TABLE: `Media${String(run)}`,
        INBOUND_MEDIA_QUEUE: `media-jobs-${String(run)}`,
        MEDIA_CONTAINER: `media-${String(run)}`,
    };
    useSettings(settings);
    seenBefore = sandbox.received().length;
    await queue().createIfNotExists();
});

const queue = () => new QueueClient(azurite.connectionString, settings.INBOUND_MEDIA_QUEUE ?? '');
const container = () => new ContainerClient(azurite.connectionString, settings.MEDIA_CONTAINER ?? '');
const record = async (sid: string): Promise<LedgerRecord | undefined> => getDependencies().ledger().get(sid);

/** The sandbox's requests for media bytes (GET of a media path without `.json`). */
function mediaFetches(): number {
    return sandbox
        .received()
        .slice(seenBefore)
        .filter((r) => r.method === 'GET' && /\/Media\/ME[0-9a-f]{32}$/.test(r.path.split('?')[0] ?? ''))
        .length;
}

/** Takes the one job off the queue, as the host would hand it over (JSON parsed). */
async function takeJob(): Promise<unknown> {
    const { receivedMessageItems } = await queue().receiveMessages({ numberOfMessages: 32 });
    expect(receivedMessageItems).toHaveLength(1);
    const [message] = receivedMessageItems;
    if (message === undefined) throw new Error('no job');
    await queue().deleteMessage(message.messageId, message.popReceipt);
    return JSON.parse(message.messageText) as unknown;
}

async function runJob(job: unknown, dequeueCount = 1): Promise<void> {
    await inboundMedia(job, context('inboundMedia', { id: `job-${String(run)}`, dequeueCount }));
}

async function getMedia(id: string, n: string): Promise<HttpResponseInit> {
    const request = new HttpRequest({
        method: 'GET',
        url: `${APP}/api/messages/${id}/media/${n}`,
        params: { id, n },
    });
    return getMessageMedia(request, context('getMessageMedia'));
}

async function receive(
    options: Parameters<TwilioSandbox['receiveSms']>[0] extends infer T ? Partial<T> : never,
) {
    const result = await sandbox.receiveSms({
        appUrl: `${APP}/api/sms`,
        from: '+15551230000',
        body: 'a photo',
        ...options,
    });
    expect(result.status).toBe(200);
    return result;
}

describe('inbound MMS media, copied through the queue', () => {
    it('two items: the webhook only enqueues; the job stores both with their types and sizes, records them, and GET serves the bytes', async () => {
        const { messageSid } = await receive({
            media: [
                { contentType: 'image/png', body: PNG },
                { contentType: 'image/jpeg', body: JPEG },
            ],
        });
        // The webhook answered, recorded the message and fetched nothing.
        expect(mediaFetches()).toBe(0);
        expect((await record(messageSid))?.media).toBeUndefined();
        expect((await record(messageSid))?.mediaCount).toBe(2);

        const job = await takeJob();
        expect(job).toMatchObject({ v: 1, sid: messageSid, items: [{ index: 0 }, { index: 1 }] });
        await runJob(job);

        expect(mediaFetches()).toBe(2);
        const media = (await record(messageSid))?.media;
        expect(media).toEqual({
            status: 'copied',
            items: [
                {
                    index: 0,
                    outcome: 'stored',
                    contentType: 'image/png',
                    blob: `${messageSid}/0`,
                    size: PNG.length,
                    mediaSid: expect.stringMatching(/^ME[0-9a-f]{32}$/) as unknown,
                },
                {
                    index: 1,
                    outcome: 'stored',
                    contentType: 'image/jpeg',
                    blob: `${messageSid}/1`,
                    size: JPEG.length,
                    mediaSid: expect.stringMatching(/^ME[0-9a-f]{32}$/) as unknown,
                },
            ],
        });
        const stored = await container().getBlobClient(`${messageSid}/1`).getProperties();
        expect([stored.contentType, stored.contentLength]).toEqual(['image/jpeg', JPEG.length]);

        const served = await getMedia(messageSid, '0');
        expect(served.status).toBe(200);
        expect(served.headers).toMatchObject({
            'Content-Type': 'image/png',
            'Content-Length': String(PNG.length),
        });
        expect(Buffer.from(served.body as Uint8Array).equals(PNG)).toBe(true);
        expect(Buffer.from((await getMedia(messageSid, '1')).body as Uint8Array).equals(JPEG)).toBe(true);
        // The sandbox's media stay until DELETE_MEDIA_AFTER_COPY says otherwise.
        expect(
            sandbox
                .received()
                .slice(seenBefore)
                .filter((r) => r.method === 'DELETE'),
        ).toEqual([]);
    });

    it('GET /api/messages/{id}/media/{n}: 400 naming n outside 0-9, 404 for an item or message without a blob', async () => {
        for (const n of ['10', '-1', 'x', '1.5']) {
            const answer = await getMedia('MM0123456789abcdef0123456789abcdef', n);
            expect([answer.status, answer.jsonBody]).toEqual([
                400,
                {
                    error: 'invalid_request',
                    errors: [{ field: 'n', message: 'must be a whole number from 0 to 9' }],
                },
            ]);
        }
        expect((await getMedia('MM0123456789abcdef0123456789abcdef', '0')).status).toBe(404);
        expect((await getMedia('not-a-sid', '0')).status).toBe(404);
    });

    it('an item over 5 MB (no Content-Length, counted while reading) is refused with its reason, and the other kept', async () => {
        // The CDN answers chunked, so only counting can tell.
        cdnAnswer = (res) => {
            res.writeHead(200, { 'Content-Type': 'image/jpeg' });
            const chunk = Buffer.alloc(1024 * 1024, 1);
            for (let i = 0; i < 5; i++) res.write(chunk);
            res.end(Buffer.alloc(1, 1));
        };
        const { messageSid } = await receive({
            media: [{ contentType: 'image/jpeg', body: Buffer.alloc(1) }],
            mediaRedirect: cdn.origin,
        });
        const { messageSid: other } = await receive({ media: [{ contentType: 'image/png', body: PNG }] });
        expect(other).not.toBe(messageSid);
        const jobs = (await queue().receiveMessages({ numberOfMessages: 32 })).receivedMessageItems;
        expect(jobs).toHaveLength(2);
        for (const job of jobs) await runJob(JSON.parse(job.messageText) as unknown);

        expect((await record(messageSid))?.media?.items).toEqual([
            {
                index: 0,
                outcome: 'refused',
                refusal: 'too-large',
                detail: `the media is over ${String(MAX_MEDIA_BYTES)} bytes`,
                mediaSid: expect.stringMatching(/^ME/) as unknown,
            },
        ]);
        expect(await container().getBlobClient(`${messageSid}/0`).exists()).toBe(false);
        expect((await record(other))?.media?.items[0]).toMatchObject({ outcome: 'stored', size: PNG.length });
    });

    it('one message, an item over 5 MB and one kept: Content-Length over the limit is refused without reading', async () => {
        const { messageSid } = await receive({
            media: [
                { contentType: 'image/jpeg', body: Buffer.alloc(MAX_MEDIA_BYTES + 1, 3) },
                { contentType: 'image/png', body: PNG },
            ],
        });
        await runJob(await takeJob());
        const items = (await record(messageSid))?.media?.items ?? [];
        expect(items.map((i) => [i.index, i.outcome, i.refusal])).toEqual([
            [0, 'refused', 'too-large'],
            [1, 'stored', undefined],
        ]);
    });

    it('a content type Twilio does not accept is refused: declared, before any fetch; or served, after it', async () => {
        cdnAnswer = (res) => {
            res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
            res.end('<html></html>');
        };
        const declared = await receive({
            media: [{ contentType: 'application/x-msdownload', body: Buffer.from('MZ') }],
        });
        await runJob(await takeJob());
        expect(mediaFetches()).toBe(0);
        expect((await record(declared.messageSid))?.media?.items).toEqual([
            {
                index: 0,
                outcome: 'refused',
                refusal: 'content-type',
                detail: 'application/x-msdownload is not a content type Twilio accepts for MMS',
            },
        ]);

        const served = await receive({
            media: [{ contentType: 'image/png', body: PNG }],
            mediaRedirect: cdn.origin,
        });
        await runJob(await takeJob());
        expect((await record(served.messageSid))?.media?.items[0]).toMatchObject({
            outcome: 'refused',
            refusal: 'content-type',
            detail: 'text/html is not a content type Twilio accepts for MMS',
        });
    });

    it('Twilio’s redirect to its CDN is followed without the Authorization header, which only the media URL got', async () => {
        const { messageSid } = await receive({
            media: [{ contentType: 'image/png', body: PNG }],
            mediaRedirect: cdn.origin,
        });
        await runJob(await takeJob());

        expect(cdnRequests).toEqual([
            { path: expect.stringMatching(/^\/media\/ME[0-9a-f]{32}$/) as unknown, authorization: undefined },
        ]);
        const fetched = sandbox
            .received()
            .slice(seenBefore)
            .filter((r) => r.path.includes(`/Messages/${messageSid}/Media/`));
        expect(fetched.map((r) => [r.method, r.username, r.status])).toEqual([
            ['GET', sandbox.accountSid, 302],
        ]);
        expect((await record(messageSid))?.media?.items[0]).toMatchObject({
            outcome: 'stored',
            size: PNG.length,
        });
    });

    it('a MediaUrl that is not Twilio’s (another host, another account’s path) is refused and never fetched', async () => {
        const foreign = `${cdn.origin}/2010-04-01/Accounts/${sandbox.accountSid}/Messages/MM0123456789abcdef0123456789abcdef/Media/ME0123456789abcdef0123456789abcdef`;
        const { messageSid } = await receive({
            mediaUrls: [foreign, 'https://example.com/cat.png'],
            media: [{ contentType: 'image/png', body: PNG }],
        });
        const job = await takeJob();
        // The webhook left the foreign URLs out of the job.
        expect(JSON.stringify(job)).not.toContain(cdn.origin);
        // A job written by someone else, naming the foreign URL, is refused too.
        await runJob({
            v: 1,
            sid: messageSid,
            items: [
                { index: 0, url: foreign.replace(/MM[0-9a-f]{32}/, messageSid), contentType: 'image/png' },
            ],
        });
        expect((await record(messageSid))?.media?.items).toEqual([
            {
                index: 0,
                outcome: 'refused',
                refusal: 'foreign-url',
                detail: 'the media URL is not on Twilio’s API origin',
            },
        ]);
        expect(cdnRequests).toEqual([]);
        // The webhook's own job decides all three; its record write finds the media recorded: unchanged.
        await runJob(job);
        expect(cdnRequests).toEqual([]);
        expect(mediaFetches()).toBe(0);
    });

    it('NumMedia over 10 is refused as a whole: recorded, no job', async () => {
        const urls = Array.from({ length: 11 }, (_, i) => `https://example.com/${String(i)}.png`);
        const { messageSid } = await receive({ mediaUrls: urls });
        expect((await queue().receiveMessages()).receivedMessageItems).toEqual([]);
        expect((await record(messageSid))?.media).toEqual({
            status: 'refused',
            items: [],
            reason: 'NumMedia is 11: Twilio sends at most 10 media',
        });
    });

    it('DELETE_MEDIA_AFTER_COPY: each stored item is deleted at Twilio, and recorded so', async () => {
        settings.DELETE_MEDIA_AFTER_COPY = 'true';
        useSettings(settings);
        const { messageSid } = await receive({ media: [{ contentType: 'image/png', body: PNG }] });
        const job = await takeJob();
        await runJob(job);

        const deletes = sandbox
            .received()
            .slice(seenBefore)
            .filter((r) => r.method === 'DELETE');
        expect(deletes.map((r) => [r.path.replace(/ME[0-9a-f]{32}/, 'ME…'), r.status])).toEqual([
            [`/2010-04-01/Accounts/${sandbox.accountSid}/Messages/${messageSid}/Media/ME….json`, 204],
        ]);
        expect((await record(messageSid))?.media?.items[0]).toMatchObject({
            outcome: 'stored',
            deletedAtTwilio: true,
        });
        expect(Buffer.from((await getMedia(messageSid, '0')).body as Uint8Array).equals(PNG)).toBe(true);
    });

    it('redelivery is idempotent: a copied record ends the job; a stored blob is not fetched again', async () => {
        const { messageSid } = await receive({
            media: [
                { contentType: 'image/png', body: PNG },
                { contentType: 'image/jpeg', body: JPEG },
            ],
        });
        const job = await takeJob();
        await runJob(job);
        expect(mediaFetches()).toBe(2);
        const first = await record(messageSid);

        await runJob(job, 2);
        expect(mediaFetches()).toBe(2);
        expect(await record(messageSid)).toEqual(first);

        // An attempt that stored the blobs but died before recording: the next one records without fetching.
        await getDependencies()
            .ledger()
            .update(messageSid, (current) => {
                if (current === undefined) return undefined;
                const { media: _, ...rest } = current;
                return rest;
            });
        await runJob(job, 3);
        expect(mediaFetches()).toBe(2);
        expect((await record(messageSid))?.media).toEqual(first?.media);
    });

    it('transient failures are retried; the last attempt, then the poison queue, record the job dead-lettered', async () => {
        cdnAnswer = (res) => {
            res.writeHead(503);
            res.end();
        };
        const { messageSid } = await receive({
            media: [
                { contentType: 'image/png', body: PNG },
                { contentType: 'image/png', body: PNG },
            ],
            mediaRedirect: cdn.origin,
        });
        const job = await takeJob();
        await expect(runJob(job, 1)).rejects.toThrow('Twilio answered HTTP 503');
        expect((await record(messageSid))?.media).toBeUndefined();
        await expect(runJob(job, 5)).rejects.toThrow('Twilio answered HTTP 503');
        expect((await record(messageSid))?.media).toEqual({
            status: 'dead-lettered',
            items: [],
            reason: 'the media copy failed 5 times: Twilio answered HTTP 503',
        });
        // The poison copy finds it recorded and changes nothing.
        await inboundMediaPoison(job, context('inboundMediaPoison', { id: 'poison-1' }));
        expect((await record(messageSid))?.media?.status).toBe('dead-lettered');

        // A job poisoned before its last attempt could record (the host moves it without running us):
        // the poison function records it, with what was already stored.
        const { messageSid: second } = await receive({ media: [{ contentType: 'image/png', body: PNG }] });
        const secondJob = await takeJob();
        await container().uploadBlockBlob(`${second}/0`, PNG, PNG.length, {
            blobHTTPHeaders: { blobContentType: 'image/png' },
        });
        await inboundMediaPoison(secondJob, context('inboundMediaPoison', { id: 'poison-2' }));
        expect((await record(second))?.media).toEqual({
            status: 'dead-lettered',
            items: [
                {
                    index: 0,
                    outcome: 'stored',
                    blob: `${second}/0`,
                    contentType: 'image/png',
                    size: PNG.length,
                },
            ],
            reason: POISON_REASON,
        });
    });
});
