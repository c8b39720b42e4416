/**
 * A voicemail left on a simulated call and played back through the app: the Twilio sandbox's call
 * simulator places an inbound call to the voicemail twimlet (the app's functions answer its signed
 * requests in-process), runs `<Record>` and its callbacks; the voicemail lands in the ledger on Azurite and
 * its SMS notice on the real outbound queue. Then `GET /api/recordings/{sid}` fetches the sandbox's
 * recording with the account's API key (the sandbox checks Basic auth, as Twilio's media with HTTP
 * authentication on), byte for byte, and answers 404, 400 and 502 as documented, never showing Twilio's
 * URL or a credential.
 */

import { HttpRequest } from '@azure/functions';
import { getRecording } from '../../functions/getRecording';
import { twimlets } from '../../functions/twimlets';
import { startAzurite, type Azurite } from '../../local/azurite';
import { MP3, WAV } from '../../local/sandbox/recordings';
import { SANDBOX_NUMBER } from '../../local/sandbox/resources';
import {
    generateTestCredentials,
    startTwilioSandbox,
    type TwilioSandbox,
    type TestCredentials,
} from '../../local/sandbox/sandbox';
import { SANDBOX_TRANSCRIPTION } from '../../local/sandbox/recordVerb';
import { setDependencies } from '../../shared/platform/dependencies';
import { closedPort } from '../fakes/servers';
import { useAppOnStorage } from '../support/storageApp';
import { routedName } from '../support/twimlets';
import { testContext } from '../support/webhooks';

const APP = 'https://app.example.com';
const CALLER = '+16505550123';
const NOTIFY = '+15551230000';

let azurite: Azurite;
let sandbox: TwilioSandbox;
let credentials: TestCredentials;
let run = 0;

/** The app's public origin, answered in-process: the twimlets function, and 204 for call status callbacks. */
const appFetch: typeof fetch = async (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (!url.startsWith(`${APP}/`)) throw new Error(`unexpected request to ${url}`);
    const path = new URL(url).pathname;
    if (!path.startsWith('/api/twimlets/')) return new Response(null, { status: 204 });
    const headers = new Headers(init?.headers);
    const request = new HttpRequest({
        method: init?.method ?? 'GET',
        url,
        headers: Object.fromEntries(headers.entries()),
        params: { name: routedName(url) },
        body: typeof init?.body === 'string' ? { string: init.body } : undefined,
    });
    const response = await twimlets(request, testContext('twimlets').context);
    return new Response(typeof response.body === 'string' ? response.body : '', {
        status: response.status ?? 200,
        headers: response.headers as Record<string, string>,
    });
};

beforeAll(async () => {
    credentials = generateTestCredentials();
    [azurite, sandbox] = await Promise.all([
        startAzurite({ ports: 'free' }),
        startTwilioSandbox({ ...credentials, callbackDelayMs: 0, fetch: appFetch }),
    ]);
}, 60_000);

afterAll(async () => {
    setDependencies();
    /* eslint-disable @typescript-eslint/no-unnecessary-condition */
    await Promise.all([sandbox?.close(), azurite?.stop()]);
    /* eslint-enable @typescript-eslint/no-unnecessary-condition */
});

/** The app on its own table and queue, with the account's API key for REST calls. */
function useApp(settings: Record<string, string> = {}) {
    run++;
    const table = `Recordings${String(run)}`;
    const queue = `recordings-outbound-${String(run)}`;
    return useAppOnStorage(
        azurite.connectionString,
        { table, queue, storeBody: true },
        {
            TWILIO_ACCOUNT_SID: credentials.accountSid,
            TWILIO_AUTH_TOKEN: credentials.authToken,
            TWILIO_API_KEY_SID: credentials.apiKeySid,
            TWILIO_API_KEY_SECRET: credentials.apiKeySecret,
            TWILIO_API_URL: sandbox.url,
            PUBLIC_BASE_URL: APP,
            TWILIO_FROM_NUMBER: SANDBOX_NUMBER,
            VOICEMAIL_NOTIFY_NUMBER: NOTIFY,
            ...settings,
        },
    );
}

async function fetchRecording(sid: string, query = '') {
    const { context, logs } = testContext('getRecording');
    const response = await getRecording(
        new HttpRequest({ method: 'GET', url: `${APP}/api/recordings/${sid}${query}`, params: { sid } }),
        context,
    );
    return { response, logs };
}

describe('a voicemail left on a simulated call', () => {
    let sid = '';

    it('is recorded, stored with its transcription, and notified by SMS on the queue', async () => {
        const { ledger, queue } = useApp({ LEDGER_STORE_BODY: 'true' });
        const call = await sandbox.placeInboundCall({
            from: CALLER,
            url: `${APP}/api/twimlets/voicemail?Message=${encodeURIComponent('Leave a message for Contoso')}`,
            script: { record: [{ seconds: 7, end: 'hangup' }] },
        });
        await sandbox.idle();
        const recording = sandbox.recordings.find((r) => r.callSid === call.sid);
        if (recording === undefined) throw new Error('the call left no recording');
        sid = recording.sid;

        expect(await ledger.get(sid)).toMatchObject({
            id: sid,
            type: 'voicemail',
            direction: 'inbound',
            sid,
            from: CALLER,
            to: SANDBOX_NUMBER,
            status: 'recorded',
            body: SANDBOX_TRANSCRIPTION,
            bodyLength: SANDBOX_TRANSCRIPTION.length,
            voicemail: {
                callSid: call.sid,
                durationSeconds: 7,
                recordingStatus: 'completed',
                transcription: 'completed',
                notifications: [
                    { channel: 'sms', outcome: 'queued', id: `${sid}-sms` },
                    { channel: 'email', outcome: 'not-configured' },
                ],
            },
        });
        const messages = (await queue.receiveMessages({ numberOfMessages: 32 })).receivedMessageItems;
        expect(messages.map((m) => JSON.parse(m.messageText) as unknown)).toEqual([
            {
                version: 1,
                type: 'sms',
                id: `${sid}-sms`,
                to: NOTIFY,
                body: `New voicemail from +1650***0123, 7 s ${APP}/api/recordings/${sid}`,
            },
        ]);
    });

    it('is played back through GET /api/recordings/{sid}: the sandbox’s bytes, fetched with the API key', async () => {
        useApp();
        const before = sandbox.received().length;
        const mp3 = await fetchRecording(sid);
        expect(mp3.response.status).toBe(200);
        expect(mp3.response.headers).toMatchObject({
            'Content-Type': 'audio/mpeg',
            'Content-Length': String(MP3.byteLength),
            'Cache-Control': 'private, no-store',
        });
        expect(Buffer.from(mp3.response.body as Uint8Array).equals(MP3)).toBe(true);
        const wav = await fetchRecording(sid, '?format=wav');
        expect(wav.response.headers).toMatchObject({
            'Content-Type': 'audio/x-wav',
            'Content-Length': String(WAV.byteLength),
        });
        expect(Buffer.from(wav.response.body as Uint8Array).equals(WAV)).toBe(true);
        const asked = sandbox.received().slice(before);
        expect(asked.map((r) => [r.method, r.path, r.username, r.status])).toEqual([
            [
                'GET',
                `/2010-04-01/Accounts/${credentials.accountSid}/Recordings/${sid}.mp3`,
                credentials.apiKeySid,
                200,
            ],
            [
                'GET',
                `/2010-04-01/Accounts/${credentials.accountSid}/Recordings/${sid}.wav`,
                credentials.apiKeySid,
                200,
            ],
        ]);
    });

    it('uses the account SID and auth token when no API key is configured', async () => {
        useApp({ TWILIO_API_KEY_SID: '', TWILIO_API_KEY_SECRET: '' });
        const before = sandbox.received().length;
        expect((await fetchRecording(sid)).response.status).toBe(200);
        expect(
            sandbox
                .received()
                .slice(before)
                .map((r) => r.username),
        ).toEqual([credentials.accountSid]);
    });

    it('answers 404 for a recording Twilio does not have, and 400 naming sid or format', async () => {
        useApp();
        const missing = await fetchRecording(`RE${'0'.repeat(32)}`);
        expect(missing.response).toMatchObject({ status: 404, jsonBody: { error: 'not_found' } });
        for (const bad of [
            'RE123',
            `re${'0'.repeat(32)}`,
            `RE${'A'.repeat(32)}`,
            `CA${'0'.repeat(32)}`,
            '../x',
        ]) {
            const answer = await fetchRecording(bad);
            expect(answer.response).toMatchObject({ status: 400, jsonBody: { errors: [{ field: 'sid' }] } });
        }
        const format = await fetchRecording(sid, '?format=ogg');
        expect(format.response).toMatchObject({ status: 400, jsonBody: { errors: [{ field: 'format' }] } });
    });

    it('answers 502 naming the upstream failure, without Twilio’s URL or a credential', async () => {
        useApp({ TWILIO_API_KEY_SECRET: 'not-the-secret-0123456789abcdef' });
        const refused = await fetchRecording(sid);
        expect(refused.response).toMatchObject({
            status: 502,
            jsonBody: { error: 'upstream_failed', message: 'Twilio refused the credentials (401)' },
        });
        const text = JSON.stringify(refused.response) + refused.logs.map((l) => l.message).join('\n');
        for (const secret of [
            sandbox.url,
            credentials.apiKeySid,
            credentials.authToken,
            'not-the-secret',
            'api.twilio.com',
        ]) {
            expect(text).not.toContain(secret);
        }

        // A port that was free a moment ago: nothing listens there.
        useApp({ TWILIO_API_URL: `http://127.0.0.1:${String(await closedPort())}` });
        const unreachable = await fetchRecording(sid);
        expect(unreachable.response).toMatchObject({ status: 502, jsonBody: { error: 'upstream_failed' } });
        expect((unreachable.response.jsonBody as { message: string }).message).toMatch(
            /^Twilio could not be reached/,
        );
    });

    it('refuses a recording over the size bound instead of buffering it', async () => {
        const { fetchRecording: fetchWith } = await import('../../shared/voice/recordings');
        useApp();
        const { getDependencies } = await import('../../shared/platform/dependencies');
        expect(await fetchWith(getDependencies(), sid, 'wav', { maxBytes: WAV.byteLength - 1 })).toEqual({
            kind: 'upstream',
            reason: `the recording is over ${String(WAV.byteLength - 1)} bytes`,
        });
    });
});
