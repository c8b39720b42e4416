import {
    newRecording,
    MP3,
    recordingUrl,
    WAV,
    type SandboxRecording,
} from '../../../local/sandbox/recordings';
import { servedSandbox } from './fakes';

type Served = Awaited<ReturnType<typeof servedSandbox>>;

let test: Served;
const CALL = `CA${'1'.repeat(32)}`;
const OTHER_CALL = `CA${'2'.repeat(32)}`;

beforeEach(async () => {
    test = await servedSandbox();
});

afterEach(async () => {
    await test.close();
});

function stored(callSid = CALL, duration = 7): SandboxRecording {
    const recording = newRecording(test.ctx, callSid, duration);
    test.ctx.store.recordings.add(recording);
    return recording;
}

const base = () => `${test.url}/2010-04-01/Accounts/${test.credentials.accountSid}`;
const basic = (user: string, password: string) =>
    `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const asAccount = () => ({ Authorization: basic(test.credentials.accountSid, test.credentials.authToken) });

describe('Recordings resource', () => {
    it('serves a recording in Twilio’s JSON shape, media_url and RecordingUrl on the sandbox’s origin', async () => {
        const recording = stored();
        const response = await fetch(`${base()}/Recordings/${recording.sid}.json`, { headers: asAccount() });
        expect(response.status).toBe(200);
        const path = `/2010-04-01/Accounts/${test.credentials.accountSid}/Recordings/${recording.sid}`;
        expect(await response.json()).toEqual({
            account_sid: test.credentials.accountSid,
            api_version: '2010-04-01',
            call_sid: CALL,
            channels: 1,
            conference_sid: null,
            date_created: expect.stringMatching(/ \+0000$/) as unknown,
            date_updated: expect.stringMatching(/ \+0000$/) as unknown,
            duration: '7',
            encryption_details: null,
            error_code: null,
            media_url: `${test.url}${path}`,
            price: null,
            price_unit: 'USD',
            sid: recording.sid,
            source: 'RecordVerb',
            start_time: expect.stringMatching(/ \+0000$/) as unknown,
            status: 'completed',
            subresource_uris: {
                add_on_results: `${path}/AddOnResults.json`,
                transcriptions: `${path}/Transcriptions.json`,
            },
            uri: `${path}.json`,
        });
        expect(recordingUrl(test.ctx, recording)).toBe(`${test.url}${path}`);
        expect(recording.sid).toMatch(/^RE[0-9a-f]{32}$/);
    });

    it('serves the audio as WAV without an extension and with .wav, as MP3 with .mp3', async () => {
        const recording = stored();
        const bare = await fetch(recordingUrl(test.ctx, recording), { headers: asAccount() });
        expect(bare.status).toBe(200);
        expect(bare.headers.get('content-type')).toBe('audio/x-wav');
        const bytes = Buffer.from(await bare.arrayBuffer());
        expect(bytes.equals(WAV)).toBe(true);
        // RIFF/WAVE, PCM, mono, 8 kHz, 16 bits, one second of samples.
        expect(bytes.subarray(0, 4).toString('ascii')).toBe('RIFF');
        expect(bytes.subarray(8, 12).toString('ascii')).toBe('WAVE');
        expect([bytes.readUInt16LE(20), bytes.readUInt16LE(22), bytes.readUInt32LE(24)]).toEqual([
            1, 1, 8000,
        ]);
        expect(bytes.readUInt16LE(34)).toBe(16);
        expect(bytes.readUInt32LE(40)).toBe(16000);
        expect(bytes.length).toBe(44 + 16000);

        const wav = await fetch(`${recordingUrl(test.ctx, recording)}.wav`, { headers: asAccount() });
        expect(Buffer.from(await wav.arrayBuffer()).equals(WAV)).toBe(true);
        const mp3 = await fetch(`${recordingUrl(test.ctx, recording)}.mp3`, { headers: asAccount() });
        expect(mp3.status).toBe(200);
        expect(mp3.headers.get('content-type')).toBe('audio/mpeg');
        const mp3Bytes = Buffer.from(await mp3.arrayBuffer());
        expect(mp3Bytes.equals(MP3)).toBe(true);
        expect([...mp3Bytes.subarray(0, 4)]).toEqual([0xff, 0xfb, 0x18, 0xc0]);
    });

    it('refuses the metadata and the audio without credentials or with a wrong token (401, 20003)', async () => {
        const recording = stored();
        for (const suffix of ['.json', '', '.wav', '.mp3']) {
            const url = `${recordingUrl(test.ctx, recording)}${suffix}`;
            const anonymous = await fetch(url);
            expect(anonymous.status).toBe(401);
            expect(((await anonymous.json()) as { code: number }).code).toBe(20003);
            const wrong = await fetch(url, {
                headers: { Authorization: basic(test.credentials.accountSid, 'f'.repeat(32)) },
            });
            expect(wrong.status).toBe(401);
        }
    });

    it('serves it to a Standard API key too', async () => {
        const { key, secret } = test.ctx.store.addKey({ friendlyName: 'reader' });
        const sid = key.sid;
        const recording = stored();
        const response = await fetch(`${recordingUrl(test.ctx, recording)}.mp3`, {
            headers: { Authorization: basic(sid, secret) },
        });
        expect(response.status).toBe(200);
    });

    it('deletes a recording (204), after which the metadata and the audio answer 404 (20404)', async () => {
        const recording = stored();
        const url = `${base()}/Recordings/${recording.sid}.json`;
        const deleted = await fetch(url, { method: 'DELETE', headers: asAccount() });
        expect(deleted.status).toBe(204);
        expect(await deleted.text()).toBe('');
        for (const target of [url, recordingUrl(test.ctx, recording)]) {
            const gone = await fetch(target, { headers: asAccount() });
            expect(gone.status).toBe(404);
            expect(((await gone.json()) as { code: number }).code).toBe(20404);
        }
        const again = await fetch(url, { method: 'DELETE', headers: asAccount() });
        expect(again.status).toBe(404);
        expect(test.logs).toContain(`sandbox: ${recording.sid.slice(0, 6)}… recording deleted`);
    });

    it('answers 405 with Allow to a DELETE of the audio or a POST', async () => {
        const recording = stored();
        const audio = await fetch(recordingUrl(test.ctx, recording), {
            method: 'DELETE',
            headers: asAccount(),
        });
        expect(audio.status).toBe(405);
        expect(audio.headers.get('allow')).toBe('GET');
        const post = await fetch(`${base()}/Recordings/${recording.sid}.json`, {
            method: 'POST',
            headers: asAccount(),
        });
        expect(post.status).toBe(405);
        expect(post.headers.get('allow')).toBe('GET, DELETE');
    });

    it('lists a call’s recordings, and the account’s filtered by CallSid, newest first', async () => {
        const first = stored(CALL, 3);
        const other = stored(OTHER_CALL, 4);
        const second = stored(CALL, 5);
        const list = async (path: string) => {
            const response = await fetch(`${base()}${path}`, { headers: asAccount() });
            expect(response.status).toBe(200);
            return ((await response.json()) as { recordings: { sid: string }[] }).recordings.map(
                (r) => r.sid,
            );
        };
        expect(await list(`/Calls/${CALL}/Recordings.json`)).toEqual([second.sid, first.sid]);
        expect(await list(`/Recordings.json?CallSid=${OTHER_CALL}`)).toEqual([other.sid]);
        expect(await list('/Recordings.json')).toEqual([second.sid, other.sid, first.sid]);
        const nested = await fetch(`${base()}/Calls/${CALL}/Recordings/${first.sid}.json`, {
            headers: asAccount(),
        });
        expect(((await nested.json()) as { sid: string }).sid).toBe(first.sid);
        expect((await fetch(`${base()}/Calls/${CALL}/Recordings.json`)).status).toBe(401);
    });
});
