import { createServer, type Server } from 'node:http';
import twilio, { type Twilio } from 'twilio';
import type RequestClient from 'twilio/lib/base/RequestClient';
import { validateRequest } from 'twilio/lib/webhooks/webhooks';
import { SANDBOX_TRANSCRIPTION } from '../../../local/sandbox/recordVerb';
import { WAV } from '../../../local/sandbox/recordings';
import {
    generateTestCredentials,
    startTwilioSandbox,
    type SandboxCall,
    type TranscriptStep,
    type TwilioSandbox,
} from '../../../local/sandbox/sandbox';
import { listen } from '../../fakes/servers';

/**
 * The call simulator against a tiny TwiML app on loopback: each path answers the TwiML the test sets
 * (a string, or a function of the request's parameters), and every request the sandbox makes is checked
 * with twilio's own `validateRequest`.
 */

interface Hit {
    method: string;
    path: string;
    url: string;
    params: Record<string, string>;
    valid: boolean;
}

const CREDENTIALS = generateTestCredentials();
const CALLER = '+15551230000';
const XML = '<?xml version="1.0" encoding="UTF-8"?>';

let app: { server: Server; url: string };
let routes: Map<string, string | ((params: Record<string, string>) => string)>;
let hits: Hit[];
let sandbox: TwilioSandbox;
let client: Twilio;

beforeAll(async () => {
    const server = createServer((req, res) => {
        void (async () => {
            const chunks: Buffer[] = [];
            for await (const chunk of req) chunks.push(chunk as Buffer);
            const rawPath = req.url ?? '/';
            const url = `${app.url}${rawPath}`;
            const method = req.method ?? 'GET';
            const form = Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
            const query = Object.fromEntries(new URL(url).searchParams);
            const params = method === 'GET' ? query : { ...query, ...form };
            const signature = String(req.headers['x-twilio-signature'] ?? '');
            const valid = validateRequest(
                CREDENTIALS.authToken,
                signature,
                url,
                method === 'GET' ? {} : form,
            );
            const path = rawPath.split('?')[0] ?? '';
            hits.push({ method, path, url, params, valid });
            const route = routes.get(path);
            const body = typeof route === 'function' ? route(params) : route;
            res.writeHead(body === undefined ? 200 : 200, {
                'Content-Type': body === undefined ? 'text/plain' : 'text/xml',
            });
            res.end(body ?? '');
        })();
    });
    app = { server, url: `http://127.0.0.1:${String(await listen(server))}` };
    sandbox = await startTwilioSandbox({ ...CREDENTIALS, callbackDelayMs: 0 });
    client = twilio(CREDENTIALS.accountSid, CREDENTIALS.authToken, {
        accountSid: CREDENTIALS.accountSid,
        httpClient: new (class extends twilio.RequestClient {
            override request<TData>(opts: RequestClient.RequestOptions<TData>) {
                const original = new URL(opts.uri);
                return super.request({
                    ...opts,
                    uri: `${sandbox.url}${original.pathname}${original.search}`,
                });
            }
        })(),
    });
});

afterAll(async () => {
    await sandbox.close();
    app.server.closeAllConnections();
    await new Promise((resolve) => app.server.close(resolve));
});

beforeEach(() => {
    routes = new Map();
    hits = [];
});

afterEach(() => {
    // Every request the sandbox made was signed as Twilio signs.
    expect(hits.filter((hit) => !hit.valid).map((hit) => hit.url)).toEqual([]);
});

const twiml = (verbs: string) => `${XML}<Response>${verbs}</Response>`;

async function call(
    verbs: string,
    script: Parameters<TwilioSandbox['placeInboundCall']>[0]['script'] = {},
): Promise<Readonly<SandboxCall>> {
    routes.set('/voice', twiml(verbs));
    return sandbox.placeInboundCall({ from: CALLER, url: `${app.url}/voice`, script });
}

/** The transcript without requests and times, for exact comparison. */
const steps = (c: Readonly<SandboxCall>) =>
    c.transcript.filter((s) => s.step !== 'request').map(({ at: _at, ...rest }) => rest);

/** The transcript's requests as `purpose method path status`. */
const requests = (c: Readonly<SandboxCall>) =>
    c.transcript
        .filter((s): s is TranscriptStep & { step: 'request' } => s.step === 'request')
        .map((s) => `${s.purpose} ${s.method} ${new URL(s.url).pathname} ${String(s.status)}`);

describe('call simulator: Say, Play, Pause, Hangup', () => {
    it('runs the verbs in order, with simulated time as the duration, and completes', async () => {
        const done = await call(
            '<Say voice="alice">Hello &amp; welcome</Say><Play loop="2">https://x.test/a.mp3</Play><Pause length="3"/><Play digits="ww12"/><Hangup/><Say>never</Say>',
        );
        expect(steps(done)).toEqual([
            { step: 'say', text: 'Hello & welcome', loop: 1, voice: 'alice' },
            { step: 'play', url: 'https://x.test/a.mp3', loop: 2 },
            { step: 'pause', seconds: 3 },
            { step: 'play-digits', digits: 'ww12' },
            { step: 'hangup' },
            { step: 'end', status: 'completed', duration: 1 + 10 + 3 + 2 },
        ]);
        expect(done).toMatchObject({
            status: 'completed',
            direction: 'inbound',
            duration: 16,
            errorCode: null,
        });
        expect(requests(done)).toEqual(['twiml POST /voice 200']);
        // An inbound call's first request is made while it rings.
        expect(hits[0]?.params).toMatchObject({ CallStatus: 'ringing', Direction: 'inbound', From: CALLER });
    });

    it('ends the call when the caller would have to hang up on loop="0"', async () => {
        const done = await call('<Play loop="0">https://x.test/hold.mp3</Play><Say>never</Say>');
        expect(steps(done).map((s) => s.step)).toEqual(['play', 'end']);
    });
});

describe('call simulator: Gather', () => {
    it('posts the digits before finishOnKey to the action, with FinishedOnKey, and runs its answer', async () => {
        routes.set('/menu', (params) => twiml(`<Say>You pressed ${params.Digits ?? ''}</Say>`));
        const done = await call(
            '<Gather action="/menu" numDigits="3"><Say>Press a key</Say></Gather><Say>never</Say>',
            {
                digits: ['1#'],
            },
        );
        expect(steps(done)).toEqual([
            { step: 'say', text: 'Press a key', loop: 1 },
            { step: 'gather', digits: '1', finishedOnKey: '#', timedOut: false },
            { step: 'say', text: 'You pressed 1', loop: 1 },
            { step: 'end', status: 'completed', duration: expect.any(Number) as unknown },
        ]);
        expect(requests(done)).toEqual(['twiml POST /voice 200', 'gather-action POST /menu 200']);
        expect(hits[1]?.params).toMatchObject({ Digits: '1', FinishedOnKey: '#', CallStatus: 'in-progress' });
    });

    it('stops at numDigits, posts to the document itself by default, with GET when method says so', async () => {
        let round = 0;
        routes.set('/voice', () => {
            round += 1;
            return round === 1 ? twiml('<Gather numDigits="2" method="GET"/>') : twiml('<Say>done</Say>');
        });
        const done = await sandbox.placeInboundCall({
            from: CALLER,
            url: `${app.url}/voice?step=1`,
            script: { digits: ['123'] },
        });
        expect(steps(done)[0]).toEqual({ step: 'gather', digits: '12', finishedOnKey: '', timedOut: false });
        expect(hits[1]?.method).toBe('GET');
        expect(hits[1]?.params).toMatchObject({ step: '1', Digits: '12', FinishedOnKey: '' });
    });

    it('goes on to the next verb when nothing is pressed, and waits timeout seconds', async () => {
        const done = await call('<Gather timeout="7" action="/menu"/><Say>Goodbye</Say>');
        expect(steps(done).slice(0, 2)).toEqual([
            { step: 'gather', digits: null, finishedOnKey: '', timedOut: true },
            { step: 'say', text: 'Goodbye', loop: 1 },
        ]);
        expect(done.duration).toBe(1 + 7 + 1);
        expect(requests(done)).toEqual(['twiml POST /voice 200']);
    });

    it('takes digits without finishOnKey after the timeout, and one script entry per Gather', async () => {
        routes.set('/again', twiml('<Gather finishOnKey="" action="/last"/>'));
        routes.set('/last', (params) => twiml(`<Say>${params.Digits ?? ''}</Say>`));
        const done = await call('<Gather action="/again"/>', { digits: ['42', '7'] });
        expect(steps(done).slice(0, 3)).toEqual([
            { step: 'gather', digits: '42', finishedOnKey: '', timedOut: true },
            { step: 'gather', digits: '7', finishedOnKey: '', timedOut: true },
            { step: 'say', text: '7', loop: 1 },
        ]);
    });
});

describe('call simulator: Redirect and the bounds', () => {
    it('follows a Redirect (relative, GET) and its answer', async () => {
        routes.set('/next', twiml('<Say>there</Say>'));
        const done = await call('<Redirect method="GET">next?x=1</Redirect><Say>never</Say>');
        expect(steps(done).slice(0, 2)).toEqual([
            { step: 'redirect', url: `${app.url}/next?x=1`, method: 'GET' },
            { step: 'say', text: 'there', loop: 1 },
        ]);
        expect(hits[1]).toMatchObject({ method: 'GET', path: '/next' });
    });

    it('ends a Redirect to itself after 100 steps with a clear error, completed', async () => {
        const done = await call('<Redirect/>');
        const last = steps(done).at(-2);
        expect(last).toEqual({
            step: 'error',
            code: null,
            message:
                'sandbox: the call ran more than 100 verbs and documents and was ended (a <Redirect> or action that loops?)',
        });
        expect(done).toMatchObject({ status: 'completed', errorCode: null });
        expect(done.errorMessage).toContain('more than 100');
        expect(hits.length).toBeLessThanOrEqual(100);
    });

    it('ends a call that passes four simulated hours', async () => {
        const done = await call('<Pause length="14400"/><Pause length="1"/><Say>never</Say>');
        expect(done.errorMessage).toContain('14400 simulated seconds');
    });

    it('hangs up with the debugger error when an action cannot be fetched (11200)', async () => {
        const done = await call(`<Gather action="http://127.0.0.1:9/gone"/>`, { digits: ['1'] });
        expect(done).toMatchObject({ status: 'completed', errorCode: 11200 });
        expect(steps(done).at(-2)).toMatchObject({ step: 'error', code: 11200 });
    });
});

describe('call simulator: verbs it does not run', () => {
    it('fails an unknown element with 12200 and names a verb it does not simulate', async () => {
        const unknown = await call('<Say>hi</Say><Speak>hi</Speak>');
        expect(unknown).toMatchObject({ status: 'completed', errorCode: 12200 });
        expect(unknown.errorMessage).toBe(
            "Schema validation warning: invalid content was found starting with element 'Speak'",
        );
        const enqueue = await call('<Enqueue>support</Enqueue>');
        expect(enqueue.errorMessage).toBe('sandbox: <Enqueue> is a TwiML verb the sandbox does not simulate');
    });
});

describe('call simulator: Reject', () => {
    it.each([
        ['busy', 'busy'],
        ['rejected', 'no-answer'],
    ])('ends the call unanswered on a first <Reject reason="%s">: %s', async (reason, status) => {
        const done = await call(`<Reject reason="${reason}"/><Say>never</Say>`);
        expect(done).toMatchObject({ status, duration: 0 });
        expect(done.history.map((h) => h.status)).toEqual(['ringing', status]);
    });

    it('hangs up on a <Reject> after the answer', async () => {
        const done = await call('<Say>hi</Say><Reject/>');
        expect(done.status).toBe('completed');
    });
});

describe('call simulator: Dial', () => {
    it('posts DialCallStatus=busy to the action when the callee is busy, and runs its answer', async () => {
        routes.set('/dialled', (params) => twiml(`<Say>${params.DialCallStatus ?? ''}</Say>`));
        const done = await call('<Dial action="/dialled" timeout="10"><Number>+15557770001</Number></Dial>', {
            dial: [{ answer: 'busy' }],
        });
        const dial = steps(done)[0];
        expect(dial).toMatchObject({ step: 'dial', dialCallStatus: 'busy', duration: 0, callerId: CALLER });
        expect(steps(done)[1]).toEqual({ step: 'say', text: 'busy', loop: 1 });
        const action = hits[1]?.params ?? {};
        expect(action.DialCallStatus).toBe('busy');
        expect(action.DialCallSid).toMatch(/^CA[0-9a-f]{32}$/);
        expect(action.DialCallDuration).toBeUndefined();
        const leg = sandbox.calls.find((c) => c.sid === action.DialCallSid);
        expect(leg).toMatchObject({
            direction: 'outbound-dial',
            parentCallSid: done.sid,
            to: '+15557770001',
            status: 'busy',
        });
    });

    it('connects an answering callee: completed, DialCallDuration, the leg listed by ParentCallSid', async () => {
        routes.set('/dialled', twiml(''));
        const done = await call('<Dial action="/dialled" callerId="+15005550006">+15557770002</Dial>', {
            dial: [{ number: '+15557770002', answer: 'answered', seconds: 12 }],
        });
        expect(hits[1]?.params).toMatchObject({ DialCallStatus: 'completed', DialCallDuration: '12' });
        const legs = await client.calls.list({ parentCallSid: done.sid });
        expect(legs.map((l) => [l.to, l.from, l.status, l.duration])).toEqual([
            ['+15557770002', '+15005550006', 'completed', '12'],
        ]);
    });

    it('goes on to the next verb without an action, and reports no-answer after the timeout', async () => {
        const done = await call('<Dial timeout="20">+15557770003</Dial><Say>Nobody answered</Say>', {
            dial: [{ answer: 'no-answer' }],
        });
        expect(steps(done)[0]).toMatchObject({ dialCallStatus: 'no-answer' });
        expect(steps(done)[1]).toEqual({ step: 'say', text: 'Nobody answered', loop: 1 });
        expect(done.duration).toBe(20 + 1);
    });

    it('rings Numbers at once; the whisper’s Gather decides; the first to accept wins, the rest are canceled', async () => {
        routes.set(
            '/whisper',
            twiml(
                '<Gather numDigits="1" action="/accept"><Say>Press a key to accept</Say></Gather><Hangup/>',
            ),
        );
        routes.set('/accept', twiml(''));
        routes.set('/dialled', twiml(''));
        const done = await call(
            '<Dial action="/dialled"><Number url="/whisper">+15557770011</Number><Number url="/whisper">+15557770012</Number><Number>+15557770013</Number></Dial>',
            { dial: [{ number: '+15557770011', answer: 'answered', digits: [''] }, { answer: 'answered' }] },
        );
        const dial = steps(done)[0] as TranscriptStep & { step: 'dial' };
        expect(dial.callees.map((c) => [c.number, c.outcome])).toEqual([
            ['+15557770011', 'declined'],
            ['+15557770012', 'answered'],
            ['+15557770013', 'canceled'],
        ]);
        expect(dial.dialCallSid).toBe(dial.callees[1]?.callSid);
        // The whispers ran on the callees' legs: their own CallSid, the caller's as ParentCallSid.
        const whispers = hits.filter((hit) => hit.path === '/whisper');
        expect(whispers.map((hit) => hit.params.ParentCallSid)).toEqual([done.sid, done.sid]);
        expect(whispers.map((hit) => hit.params.CallSid)).toEqual([
            dial.callees[0]?.callSid,
            dial.callees[1]?.callSid,
        ]);
        expect(hits.filter((hit) => hit.path === '/accept').map((hit) => hit.params.Digits)).toEqual(['1']);
        const accepted = sandbox.calls.find((c) => c.sid === dial.callees[1]?.callSid);
        expect(accepted?.transcript.map((s) => s.step)).toEqual(['request', 'say', 'gather', 'request']);
    });

    it('reports busy when every callee is busy, failed when every one failed', async () => {
        routes.set('/dialled', twiml(''));
        await call(
            '<Dial action="/dialled"><Number>+15557770021</Number><Number>+15557770022</Number></Dial>',
            {
                dial: [{ answer: 'busy' }, { answer: 'busy' }],
            },
        );
        await call('<Dial action="/dialled"><Number>+15557770023</Number></Dial>', {
            dial: [{ answer: 'failed' }],
        });
        expect(hits.filter((hit) => hit.path === '/dialled').map((hit) => hit.params.DialCallStatus)).toEqual(
            ['busy', 'failed'],
        );
    });

    it('joins a conference by name, listing who joined before', async () => {
        const first = await call(
            '<Dial><Conference startConferenceOnEnter="false" waitUrl="https://x.test/wait">room 7</Conference></Dial>',
        );
        const second = await call('<Dial><Conference>room 7</Conference></Dial>');
        expect(steps(first)[0]).toEqual({
            step: 'conference',
            name: 'room 7',
            participants: [],
            startConferenceOnEnter: false,
            started: false,
            waitUrl: 'https://x.test/wait',
            seconds: 5,
        });
        expect(steps(second)[0]).toMatchObject({
            name: 'room 7',
            participants: [{ callSid: first.sid, inConference: false }],
            started: true,
        });
    });
});

describe('call simulator: Record', () => {
    it('records, posts the action, the recording status and the transcription, and serves the recording', async () => {
        routes.set('/recorded', twiml('<Say>Thanks</Say>'));
        const done = await call(
            '<Record action="/recorded" maxLength="30" recordingStatusCallback="/rec-status" transcribeCallback="/transcribed"/><Say>never</Say>',
            { record: [{ seconds: 8, end: '#' }] },
        );
        const recording = sandbox.recordings.find((r) => r.callSid === done.sid);
        expect(recording?.duration).toBe(8);
        expect(steps(done).slice(0, 2)).toEqual([
            { step: 'record', recordingSid: recording?.sid, duration: 8, digits: '#', transcribe: true },
            { step: 'say', text: 'Thanks', loop: 1 },
        ]);
        expect(requests(done).slice(0, 4)).toEqual([
            'twiml POST /voice 200',
            'record-action POST /recorded 200',
            'recording-status-callback POST /rec-status 200',
            'transcribe-callback POST /transcribed 200',
        ]);
        const recordingUrl = `${sandbox.url}/2010-04-01/Accounts/${CREDENTIALS.accountSid}/Recordings/${recording?.sid ?? ''}`;
        expect(hits[1]?.params).toMatchObject({
            RecordingUrl: recordingUrl,
            RecordingSid: recording?.sid,
            RecordingDuration: '8',
            Digits: '#',
        });
        expect(hits[2]?.params).toMatchObject({
            RecordingStatus: 'completed',
            RecordingSid: recording?.sid,
            RecordingUrl: recordingUrl,
            RecordingDuration: '8',
            CallSid: done.sid,
        });
        expect(hits[3]?.params).toMatchObject({
            TranscriptionText: SANDBOX_TRANSCRIPTION,
            TranscriptionStatus: 'completed',
            TranscriptionSid: expect.stringMatching(/^TR[0-9a-f]{32}$/) as unknown,
            RecordingSid: recording?.sid,
            RecordingUrl: recordingUrl,
        });
        expect((await fetch(recordingUrl)).status).toBe(401);
        const auth = `Basic ${Buffer.from(`${CREDENTIALS.accountSid}:${CREDENTIALS.authToken}`).toString('base64')}`;
        const audio = await fetch(recordingUrl, { headers: { Authorization: auth } });
        expect(Buffer.from(await audio.arrayBuffer()).equals(WAV)).toBe(true);
    });

    it('posts Digits=hangup when the caller hangs up, and the call ends there', async () => {
        routes.set('/recorded', twiml('<Say>never</Say>'));
        const done = await call('<Record action="/recorded"/><Say>never</Say>');
        expect(steps(done).map((s) => s.step)).toEqual(['record', 'end']);
        expect(hits[1]?.params).toMatchObject({
            Digits: 'hangup',
            CallStatus: 'completed',
            RecordingDuration: '5',
        });
    });

    it('requests no action for an empty recording and goes on with the next verb', async () => {
        const done = await call('<Record action="/recorded"/><Say>Nothing recorded</Say>', {
            record: [{ seconds: 0, end: 'silence' }],
        });
        expect(steps(done).slice(0, 2)).toEqual([
            { step: 'record', recordingSid: null, duration: 0, digits: '', transcribe: false },
            { step: 'say', text: 'Nothing recorded', loop: 1 },
        ]);
        expect(requests(done)).toEqual(['twiml POST /voice 200']);
    });
});

describe('calls placed through the API: the sandbox-only To numbers', () => {
    const place = async (to: string, extra: Record<string, string> = {}) => {
        routes.set('/voice', twiml('<Say>Hello</Say>'));
        const created = await client.calls.create({
            to,
            from: '+15005550006',
            url: `${app.url}/voice`,
            statusCallback: `${app.url}/status`,
            ...extra,
        });
        await sandbox.idle();
        const completed = hits.filter((hit) => hit.path === '/status').at(-1)?.params ?? {};
        return { created, completed, voice: hits.filter((hit) => hit.path === '/voice') };
    };

    it.each([
        ['+15005550060', 'busy', '486'],
        ['+15005550061', 'no-answer', '487'],
        ['+15005550062', 'failed', '404'],
        ['+15005550063', 'canceled', '487'],
    ])('%s ends the call %s, unanswered, SipResponseCode %s, no TwiML fetched', async (to, status, sip) => {
        const { created, completed, voice } = await place(to);
        expect(completed).toMatchObject({ CallStatus: status, CallDuration: '0', SipResponseCode: sip });
        expect(completed.Duration).toBeUndefined();
        expect(voice).toEqual([]);
        expect((await client.calls(created.sid).fetch()).status).toBe(status);
    });

    it('+15005550064 answers as a machine: AnsweredBy machine_start (machine_end_beep with DetectMessageEnd)', async () => {
        const enable = await place('+15005550064', { machineDetection: 'Enable' });
        expect(enable.voice[0]?.params.AnsweredBy).toBe('machine_start');
        expect(enable.completed).toMatchObject({ CallStatus: 'completed', AnsweredBy: 'machine_start' });
        hits = [];
        const beep = await place('+15005550064', { machineDetection: 'DetectMessageEnd' });
        expect(beep.completed.AnsweredBy).toBe('machine_end_beep');
    });

    it('a completed call reports CallDuration, Duration in minutes and SipResponseCode 200', async () => {
        const { completed } = await place('+15557779999');
        expect(completed).toMatchObject({
            CallStatus: 'completed',
            CallDuration: '1',
            Duration: '1',
            SipResponseCode: '200',
        });
    });

    it('Record=true leaves a recording of the call, reported in the completed callback', async () => {
        const { created, completed } = await place('+15557779998', { record: 'true' });
        const recording = sandbox.recordings.find((r) => r.callSid === created.sid);
        expect(recording?.source).toBe('OutboundAPI');
        expect(completed).toMatchObject({ RecordingSid: recording?.sid, RecordingDuration: '1' });
    });
});

describe('sandbox views of calls', () => {
    it('GET /sandbox/calls/{sid} shows the call with its transcript; 404 for an unknown call', async () => {
        const done = await call('<Say>Viewed</Say>');
        const view = (await (await fetch(`${sandbox.url}/sandbox/calls/${done.sid}`)).json()) as {
            sid: string;
            direction: string;
            transcript: TranscriptStep[];
        };
        expect(view).toMatchObject({ sid: done.sid, direction: 'inbound' });
        expect(view.transcript.map((s) => s.step)).toEqual(['request', 'say', 'end']);
        expect((await fetch(`${sandbox.url}/sandbox/calls/CA${'0'.repeat(32)}`)).status).toBe(404);
    });

    it('POST /sandbox/calls places an inbound call with the account’s Basic auth, and names a bad field', async () => {
        routes.set('/voice', twiml('<Gather numDigits="1" action="/menu"/>'));
        routes.set('/menu', twiml('<Say>ok</Say>'));
        const auth = `Basic ${Buffer.from(`${CREDENTIALS.accountSid}:${CREDENTIALS.authToken}`).toString('base64')}`;
        const post = (body: unknown, headers: Record<string, string> = { Authorization: auth }) =>
            fetch(`${sandbox.url}/sandbox/calls`, {
                method: 'POST',
                headers: { 'Content-Type': 'application/json', ...headers },
                body: JSON.stringify(body),
            });
        const placed = await post({ from: CALLER, url: `${app.url}/voice`, script: { digits: ['5'] } });
        expect(placed.status).toBe(200);
        const view = (await placed.json()) as { status: string; transcript: TranscriptStep[] };
        expect(view.status).toBe('completed');
        expect(view.transcript.find((s) => s.step === 'gather')).toMatchObject({ digits: '5' });

        expect((await post({ from: CALLER, url: `${app.url}/voice` }, {})).status).toBe(401);
        const bad = await post({ from: CALLER, url: `${app.url}/voice`, script: { digits: 'x' } });
        expect(bad.status).toBe(400);
        expect(await bad.json()).toEqual({ message: 'script.digits must be a list' });
        const noUrl = await post({ from: CALLER, to: '+15557770000' });
        expect(((await noUrl.json()) as { message: string }).message).toContain(
            'not one of the account’s numbers',
        );
    });
});
