/**
 * The Recordings resource: what a call's `<Record>` (or `Record=true`) leaves behind, served as Twilio
 * serves it under `/2010-04-01/Accounts/{AccountSid}`: the metadata (`Recordings/{Sid}.json`, Twilio's
 * JSON shape), the audio (`Recordings/{Sid}` and `.wav` as WAV, `.mp3` as MP3), deletion
 * (`DELETE Recordings/{Sid}.json`: 204, then 404 / 20404 like any deleted resource), the account's list
 * (`Recordings.json`, `CallSid` filter) and a call's list (`Calls/{CallSid}/Recordings.json`). All of it
 * sits behind the sandbox's Basic auth, as Twilio's media does when "HTTP Basic authentication for media"
 * is on — the setting an app that fetches recordings itself must expect.
 *
 * The audio is not the caller's voice: every recording serves the same short, valid file, generated
 * here deterministically (a one-second 440 Hz tone as 8 kHz 16-bit mono PCM, Twilio's recording format;
 * a few silent MPEG frames as the MP3), so a test can compare bytes. The recording's `duration` is the
 * simulated one.
 *
 * The call simulator creates recordings with {@link newRecording}; the router (router.ts) routes the
 * paths here.
 */

import { shortSid, type SandboxContext } from './context';
import { errors } from './errors';
import { listPage } from './listing';
import type { Answer, RestRequest } from './restHandler';
import { API_VERSION, newSid, rfc2822 } from './resources';

/** A Recording's `status`, as Twilio's API names them. */
export type RecordingStatus = 'in-progress' | 'paused' | 'stopped' | 'processing' | 'completed' | 'absent';

export interface SandboxRecording {
    readonly sid: string;
    readonly accountSid: string;
    readonly callSid: string;
    /** `RecordVerb` for `<Record>`, `OutboundAPI` for a call created with `Record=true`. */
    readonly source: 'RecordVerb' | 'OutboundAPI' | 'DialVerb';
    /** Seconds, as simulated. */
    readonly duration: number;
    status: RecordingStatus;
    readonly dateCreated: Date;
    dateUpdated: Date;
    readonly startTime: Date;
}

/** A completed recording of `callSid`, `duration` seconds long; stored by the caller. */
export function newRecording(
    ctx: SandboxContext,
    callSid: string,
    duration: number,
    source: SandboxRecording['source'] = 'RecordVerb',
): SandboxRecording {
    const now = new Date();
    return {
        sid: newSid('RE'),
        accountSid: ctx.accountSid,
        callSid,
        source,
        duration,
        status: 'completed',
        dateCreated: now,
        dateUpdated: now,
        startTime: new Date(now.getTime() - duration * 1000),
    };
}

/** The recording's path without extension: Twilio's `RecordingUrl` is the API's origin + this. */
export function recordingPath(accountSid: string, sid: string): string {
    return `/${API_VERSION}/Accounts/${accountSid}/Recordings/${sid}`;
}

/** The `RecordingUrl` callbacks carry: the sandbox's own origin, where Twilio's would be api.twilio.com. */
export function recordingUrl(ctx: SandboxContext, recording: SandboxRecording): string {
    return `${ctx.url}${recordingPath(recording.accountSid, recording.sid)}`;
}

/** The Recording resource as Twilio's API returns it (`media_url` on the sandbox's origin). */
export function recordingResource(ctx: SandboxContext, recording: SandboxRecording): Record<string, unknown> {
    const path = recordingPath(recording.accountSid, recording.sid);
    return {
        account_sid: recording.accountSid,
        api_version: API_VERSION,
        call_sid: recording.callSid,
        channels: 1,
        conference_sid: null,
        date_created: rfc2822(recording.dateCreated),
        date_updated: rfc2822(recording.dateUpdated),
        duration: String(recording.duration),
        encryption_details: null,
        error_code: null,
        media_url: `${ctx.url}${path}`,
        price: null,
        price_unit: 'USD',
        sid: recording.sid,
        source: recording.source,
        start_time: rfc2822(recording.startTime),
        status: recording.status,
        subresource_uris: {
            add_on_results: `${path}/AddOnResults.json`,
            transcriptions: `${path}/Transcriptions.json`,
        },
        uri: `${path}.json`,
    };
}

/** How a recording path asks for it: metadata (`.json`) or audio (no extension or `.wav`, `.mp3`). */
export type RecordingFormat = 'json' | 'wav' | 'mp3';

/** `GET` of one recording in `format`; `DELETE` of its `.json`. @throws TwilioApiError 404 / 405 */
export function answerRecording(
    ctx: SandboxContext,
    { method, path }: RestRequest,
    sid: string,
    format: RecordingFormat,
): Answer {
    if (method !== 'GET' && !(method === 'DELETE' && format === 'json')) throw errors.methodNotAllowed();
    const recording = ctx.store.recordings.find(sid);
    if (recording === undefined) throw errors.notFound(path);
    if (method === 'DELETE') {
        ctx.store.recordings.remove(sid);
        ctx.log(`sandbox: ${shortSid(sid)} recording deleted`);
        return { status: 204 };
    }
    if (format === 'json') return { status: 200, body: recordingResource(ctx, recording) };
    return format === 'wav'
        ? { status: 200, body: WAV, headers: { 'Content-Type': 'audio/x-wav' } }
        : { status: 200, body: MP3, headers: { 'Content-Type': 'audio/mpeg' } };
}

/** The methods a recording path answers, for `Allow`. */
export function recordingMethods(format: RecordingFormat): string {
    return format === 'json' ? 'GET, DELETE' : 'GET';
}

/** One page of recordings, newest first: the account's (filtered by `CallSid`), or one call's. */
export function listRecordings(
    ctx: SandboxContext,
    { path, query }: RestRequest,
    callSid: string | undefined,
): Answer {
    const filter = callSid ?? query.get('CallSid');
    const items = ctx.store.recordings.newestFirst().filter((r) => filter === null || r.callSid === filter);
    return {
        status: 200,
        body: listPage({
            key: 'recordings',
            path,
            query,
            filterNames: callSid === undefined ? ['CallSid'] : [],
            items,
            sid: (r) => r.sid,
            sequenceOf: ctx.store.pageOrder.newestFirst,
            render: (r) => recordingResource(ctx, r),
        }),
    };
}

const SAMPLE_RATE = 8000;

/** A one-second 440 Hz tone, 8 kHz 16-bit mono PCM in a RIFF/WAVE container: the same bytes every time. */
function toneWav(): Buffer {
    const samples = SAMPLE_RATE;
    const data = Buffer.alloc(samples * 2);
    for (let i = 0; i < samples; i += 1) {
        data.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / SAMPLE_RATE)), i * 2);
    }
    const header = Buffer.alloc(44);
    header.write('RIFF', 0, 'ascii');
    header.writeUInt32LE(36 + data.length, 4);
    header.write('WAVE', 8, 'ascii');
    header.write('fmt ', 12, 'ascii');
    header.writeUInt32LE(16, 16); // fmt chunk size
    header.writeUInt16LE(1, 20); // PCM
    header.writeUInt16LE(1, 22); // mono
    header.writeUInt32LE(SAMPLE_RATE, 24);
    header.writeUInt32LE(SAMPLE_RATE * 2, 28); // byte rate
    header.writeUInt16LE(2, 32); // block align
    header.writeUInt16LE(16, 34); // bits per sample
    header.write('data', 36, 'ascii');
    header.writeUInt32LE(data.length, 40);
    return Buffer.concat([header, data]);
}

/**
 * Ten silent MPEG-1 Layer III frames (32 kbit/s, 32 kHz, mono: 144 bytes each, header `FF FB 18 C0`,
 * all-zero side information and data).
 */
function silentMp3(): Buffer {
    const frame = Buffer.alloc(144);
    frame.set([0xff, 0xfb, 0x18, 0xc0]);
    return Buffer.concat(Array.from({ length: 10 }, () => frame));
}

/** The audio every recording serves as `.wav` (and without extension). */
export const WAV: Buffer = toneWav();
/** The audio every recording serves as `.mp3`. */
export const MP3: Buffer = silentMp3();
