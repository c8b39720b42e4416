import type { AppProcess } from '../../local/host/appProcess';
import { SANDBOX_TRANSCRIPTION } from '../../local/sandbox/recordVerb';
import { SANDBOX_NUMBER } from '../../local/sandbox/resources';
import type { CallScript, SandboxCall, TwilioSandbox } from '../../local/sandbox/sandbox';
import { startLocalApp, type LocalApp } from '../support/localApp';
import { ProcessOutput } from '../support/processOutput';

/**
 * Each twimlet's documented examples (docs/twimlets.md, docs/voicemail.md) end to end: the local host runs
 * the app's functions from source, as npm start runs them, on Azurite and the Twilio sandbox, and the
 * sandbox's call simulator places calls into them with a script (the caller's keys, how each callee
 * answers and what it presses in the whisper, how the recording goes). Every request the simulator makes
 * is signed as Twilio signs, so each step also passes the app's signature check.
 *
 * The transcripts are asserted whole: what was said, gathered, dialled and recorded, at which simulated
 * second, and each request with the HTTP status the app answered — the caller's leg and, under it, each
 * callee's leg with its whisper. (menu pressed 2, forward busy → FailUrl and message are in call.test.ts.)
 */

/** A valid North American number, so the default whisper spells it out. */
const CALLER = '+16505551234';
const MODERATOR = '+14155551212';
const NOTIFY = '+15557650000';

let local: LocalApp;
let sandbox: TwilioSandbox;
let app: AppProcess;
let appOutput: ProcessOutput;

beforeAll(async () => {
    local = await startLocalApp({
        prefix: 'twimlet-flows-',
        // The flows' functions, plus what a voicemail's SMS notice goes through: the outbound queue's
        // function, the status callback, and the API that lists the ledger.
        functions: ['voice', 'twimlets', 'outbound', 'status', 'listMessages', 'getMessage'],
        env: { VOICEMAIL_NOTIFY_NUMBER: NOTIFY, LEDGER_STORE_BODY: 'true' },
    });
    ({ sandbox, app } = local);
    appOutput = new ProcessOutput(app.child);
}, 90_000);

afterAll(async () => {
    await local.stop();
});

const q = encodeURIComponent;
const twimlet = (name: string, query: string) => `${app.url}/api/twimlets/${name}?${query}`;
/** A FailUrl or option that says `text`: the app's /api/voice. */
const saying = (text: string) => `${app.url}/api/voice?Message=${q(text)}`;

function call(from: string, url: string, script: CallScript = {}): Promise<SandboxCall> {
    return sandbox.placeInboundCall({ from, url, script });
}

/** One transcript step as a line: its second, then what happened; the app's origin as `APP`. */
function line(step: SandboxCall['transcript'][number]): string {
    const at = String(step.at);
    switch (step.step) {
        case 'request':
            return `${at} ${step.purpose} ${step.method} ${new URL(step.url).pathname} → ${String(step.status)}`;
        case 'dial':
            return `${at} dial ${step.callees.map((c) => `${c.number} ${c.outcome}`).join(', ')} → ${step.dialCallStatus}, talked ${String(step.duration)} s`;
        case 'redirect':
            return `${at} redirect ${step.method} ${step.url.replace(app.url, 'APP')}`;
        default: {
            const { at: _at, step: kind, ...rest } = step;
            return `${at} ${kind} ${JSON.stringify(rest).replace(/RE[0-9a-f]{32}/g, 'RE…')}`;
        }
    }
}

/** The call's transcript, then each callee's leg (in the order it was rung) indented under it. */
function transcript(done: Readonly<SandboxCall>): string[] {
    const legs = done.transcript.flatMap((step) => (step.step === 'dial' ? step.callees : []));
    return [
        ...done.transcript.map(line),
        ...legs.flatMap((callee) => {
            const leg = sandbox.calls.find((c) => c.sid === callee.callSid);
            if (leg === undefined) throw new Error(`no leg ${callee.callSid}`);
            expect([leg.parentCallSid, leg.direction]).toEqual([done.sid, 'outbound-dial']);
            return [
                `leg ${leg.to} from ${leg.from}: ${leg.status}`,
                ...leg.transcript.map((s) => `  ${line(s)}`),
            ];
        }),
    ];
}

/** Polls `probe` until it gives a value (bounded, so a stuck pipeline fails with `what`). */
async function eventually<T>(what: string, probe: () => Promise<T | undefined> | T | undefined): Promise<T> {
    for (let i = 0; i < 200; i++) {
        const found = await probe();
        if (found !== undefined) return found;
        await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`${what} did not happen`);
}

describe('forward', () => {
    const nobodyHome = () => q(saying('Nobody home'));

    it('answered: the caller is put through, DialCallStatus completed, then <Hangup/>', async () => {
        const done = await call(
            CALLER,
            twimlet('forward', `PhoneNumber=415-555-1313&FailUrl=${nobodyHome()}`),
            {
                dial: [{ answer: 'answered', seconds: 30 }],
            },
        );
        expect(transcript(done)).toEqual([
            '0 twiml POST /api/twimlets/forward → 200',
            '32 dial +14155551313 answered → completed, talked 30 s',
            '32 dial-action POST /api/twimlets/forward → 200',
            '32 hangup {}',
            '32 end {"status":"completed","duration":32}',
            `leg +14155551313 from ${CALLER}: completed`,
        ]);
    });

    it('AllowedCallers: a caller not listed hears the refusal; a listed one (as 650-555-1234) is dialled', async () => {
        const query =
            'PhoneNumber=415-555-1313&AllowedCallers[0]=650-555-1234&AllowedCallers[1]=%2B14155550000';
        const refused = await call('+12125550199', twimlet('forward', query));
        expect(transcript(refused)).toEqual([
            '0 twiml POST /api/twimlets/forward → 200',
            '0 say {"text":"Sorry, you are calling from a restricted number. Good bye.","loop":1}',
            '4 hangup {}',
            '4 end {"status":"completed","duration":4}',
        ]);
        const allowed = await call(CALLER, twimlet('forward', query));
        expect(transcript(allowed)).toEqual([
            '0 twiml POST /api/twimlets/forward → 200',
            '7 dial +14155551313 answered → completed, talked 5 s',
            '7 dial-action POST /api/twimlets/forward → 200',
            '7 hangup {}',
            '7 end {"status":"completed","duration":7}',
            `leg +14155551313 from ${CALLER}: completed`,
        ]);
    });
});

describe('simulring', () => {
    const query = () =>
        `PhoneNumbers[0]=415-555-1212&PhoneNumbers[1]=415-555-1313&Message=${q('Press any key')}&FailUrl=${q(saying('Nobody home'))}`;

    it('rings both; the first answers and presses nothing (declined), the second presses a key and gets the call', async () => {
        const done = await call(CALLER, twimlet('simulring', query()), {
            dial: [
                { number: '+14155551212', answer: 'answered', digits: [''] },
                { number: '+14155551313', answer: 'answered', digits: ['5'], seconds: 20 },
            ],
        });
        expect(transcript(done)).toEqual([
            '0 twiml POST /api/twimlets/simulring → 200',
            '29 dial +14155551212 declined, +14155551313 answered → completed, talked 20 s',
            '29 dial-action POST /api/twimlets/simulring → 200',
            '29 hangup {}',
            '29 end {"status":"completed","duration":29}',
            `leg +14155551212 from ${CALLER}: completed`,
            '  0 whisper POST /api/twimlets/simulring → 200',
            '  0 say {"text":"Press any key","loop":1}',
            '  7 gather {"digits":null,"finishedOnKey":"","timedOut":true}',
            '  7 hangup {}',
            `leg +14155551313 from ${CALLER}: completed`,
            '  0 whisper POST /api/twimlets/simulring → 200',
            '  0 say {"text":"Press any key","loop":1}',
            '  2 gather {"digits":"5","finishedOnKey":"","timedOut":false}',
            '  2 gather-action POST /api/twimlets/simulring → 200',
        ]);
    });

    it('nobody accepts (both answer, neither presses a key): the FailUrl, requested with GET', async () => {
        const done = await call(CALLER, twimlet('simulring', query()), {
            dial: [
                { answer: 'answered', digits: [''] },
                { answer: 'answered', digits: [''] },
            ],
        });
        expect(transcript(done)).toEqual([
            '0 twiml POST /api/twimlets/simulring → 200',
            '9 dial +14155551212 declined, +14155551313 declined → no-answer, talked 0 s',
            '9 dial-action POST /api/twimlets/simulring → 200',
            '9 redirect GET APP/api/voice?Message=Nobody%20home',
            '9 redirect GET /api/voice → 200',
            '9 say {"text":"Nobody home","loop":1}',
            '10 end {"status":"completed","duration":10}',
            `leg +14155551212 from ${CALLER}: completed`,
            '  0 whisper POST /api/twimlets/simulring → 200',
            '  0 say {"text":"Press any key","loop":1}',
            '  7 gather {"digits":null,"finishedOnKey":"","timedOut":true}',
            '  7 hangup {}',
            `leg +14155551313 from ${CALLER}: completed`,
            '  0 whisper POST /api/twimlets/simulring → 200',
            '  0 say {"text":"Press any key","loop":1}',
            '  7 gather {"digits":null,"finishedOnKey":"","timedOut":true}',
            '  7 hangup {}',
        ]);
    });
});

describe('findme', () => {
    const query = () =>
        `PhoneNumbers[0]=415-555-1212&PhoneNumbers[1]=415-555-1313&FailUrl=${q(saying('Please leave a message'))}`;
    const whisper =
        '{"text":"You are receiving a call from 1 6 5 0 5 5 5 1 2 3 4. Press any key to accept.","loop":1}';

    it('the first does not answer (its 60 s), the second hears the whisper with the caller spelled out and accepts', async () => {
        const done = await call(CALLER, twimlet('findme', query()), {
            dial: [{ answer: 'no-answer' }, { answer: 'answered' }],
        });
        expect(transcript(done)).toEqual([
            '0 twiml POST /api/twimlets/findme → 200',
            '60 dial +14155551212 no-answer → no-answer, talked 0 s',
            '60 dial-action POST /api/twimlets/findme → 200',
            '74 dial +14155551313 answered → completed, talked 5 s',
            '74 dial-action POST /api/twimlets/findme → 200',
            '74 hangup {}',
            '74 end {"status":"completed","duration":74}',
            `leg +14155551212 from ${CALLER}: no-answer`,
            `leg +14155551313 from ${CALLER}: completed`,
            '  0 whisper POST /api/twimlets/findme → 200',
            `  0 say ${whisper}`,
            '  7 gather {"digits":"1","finishedOnKey":"","timedOut":false}',
            '  7 gather-action POST /api/twimlets/findme → 200',
        ]);
    });

    it('all fail (busy, then failed): one number after the other, then the FailUrl with GET', async () => {
        const done = await call(CALLER, twimlet('findme', query()), {
            dial: [{ answer: 'busy' }, { answer: 'failed' }],
        });
        expect(transcript(done)).toEqual([
            '0 twiml POST /api/twimlets/findme → 200',
            '2 dial +14155551212 busy → busy, talked 0 s',
            '2 dial-action POST /api/twimlets/findme → 200',
            '4 dial +14155551313 failed → failed, talked 0 s',
            '4 dial-action POST /api/twimlets/findme → 200',
            '4 redirect GET APP/api/voice?Message=Please%20leave%20a%20message',
            '4 redirect GET /api/voice → 200',
            '4 say {"text":"Please leave a message","loop":1}',
            '6 end {"status":"completed","duration":6}',
            `leg +14155551212 from ${CALLER}: busy`,
            `leg +14155551313 from ${CALLER}: failed`,
        ]);
    });
});

describe('menu', () => {
    it('an unknown digit: the error message and the menu again; then a valid one redirects to its option', async () => {
        const done = await call(
            CALLER,
            twimlet('menu', `Message=${q('Press 1 for sales')}&Options[1]=${q(saying('Sales'))}`),
            { digits: ['7', '1'] },
        );
        expect(transcript(done)).toEqual([
            '0 twiml POST /api/twimlets/menu → 200',
            '0 say {"text":"Press 1 for sales","loop":1}',
            '3 gather {"digits":"7","finishedOnKey":"","timedOut":false}',
            '3 gather-action POST /api/twimlets/menu → 200',
            '3 say {"text":"I\'m sorry, that wasn\'t a valid option.","loop":1}',
            '6 say {"text":"Press 1 for sales","loop":1}',
            '9 gather {"digits":"1","finishedOnKey":"","timedOut":false}',
            '9 gather-action POST /api/twimlets/menu → 200',
            '9 redirect GET APP/api/voice?Message=Sales',
            '9 redirect GET /api/voice → 200',
            '9 say {"text":"Sales","loop":1}',
            '10 end {"status":"completed","duration":10}',
        ]);
    });
});

describe('conference', () => {
    const query = `Name=standup&Password=1234&Moderators[0]=415-555-1212`;

    it('with a Password (wrong, then right) and a moderator: a participant waits, the moderator starts it', async () => {
        const participant = await call(CALLER, twimlet('conference', query), { digits: ['999#', '1234'] });
        expect(transcript(participant)).toEqual([
            '0 twiml POST /api/twimlets/conference → 200',
            '0 say {"text":"Please enter your conference pass code","loop":1}',
            '5 gather {"digits":"999","finishedOnKey":"#","timedOut":false}',
            '5 gather-action POST /api/twimlets/conference → 200',
            '5 say {"text":"Sorry, that pass code is incorrect.","loop":1}',
            '8 say {"text":"Please enter your conference pass code","loop":1}',
            '13 gather {"digits":"1234","finishedOnKey":"","timedOut":false}',
            '13 gather-action POST /api/twimlets/conference → 200',
            '13 say {"text":"You are now entering the conference line.","loop":1}',
            '16 conference {"name":"standup","participants":[],"startConferenceOnEnter":false,"started":false,"waitUrl":"https://twimlets.com/holdmusic?Bucket=com.twilio.music.classical","seconds":5}',
            '21 end {"status":"completed","duration":21}',
        ]);

        const moderator = await call(MODERATOR, twimlet('conference', query), { digits: ['1234'] });
        expect(transcript(moderator)).toEqual([
            '0 twiml POST /api/twimlets/conference → 200',
            '0 say {"text":"Please enter your conference pass code","loop":1}',
            '5 gather {"digits":"1234","finishedOnKey":"","timedOut":false}',
            '5 gather-action POST /api/twimlets/conference → 200',
            '5 say {"text":"You are now entering the conference line.","loop":1}',
            `8 conference {"name":"standup","participants":[{"callSid":"${participant.sid}","inConference":false}],"startConferenceOnEnter":true,"started":true,"waitUrl":"https://twimlets.com/holdmusic?Bucket=com.twilio.music.classical","seconds":5}`,
            '13 end {"status":"completed","duration":13}',
        ]);
    });
});

describe('voicemail', () => {
    it('left, recorded, its SMS notice sent through the real outbound queue, listed by GET /api/messages', async () => {
        const done = await call(CALLER, twimlet('voicemail', `Message=${q('Leave a message for Contoso')}`), {
            record: [{ seconds: 7, end: '#' }],
        });
        expect(transcript(done)).toEqual([
            '0 twiml POST /api/twimlets/voicemail → 200',
            '0 say {"text":"Leave a message for Contoso","loop":1}',
            '9 record {"recordingSid":"RE…","duration":7,"digits":"#","transcribe":true}',
            '9 record-action POST /api/twimlets/voicemail → 200',
            '9 recording-status-callback POST /api/twimlets/voicemail → 200',
            '9 transcribe-callback POST /api/twimlets/voicemail → 200',
            '9 say {"text":"Thanks. Good bye.","loop":1}',
            '11 hangup {}',
            '11 end {"status":"completed","duration":11}',
        ]);
        const recording = sandbox.recordings.find((r) => r.callSid === done.sid);
        if (recording === undefined) throw new Error('the call left no recording');
        const sid = recording.sid;

        // The notice: queued by the recording status callback, sent by the outbound function to the
        // sandbox, and delivered (the sandbox's status callbacks into /api/status).
        const sms = await eventually('the SMS notice at the sandbox', () =>
            sandbox.messages.find((m) => m.to === NOTIFY),
        );
        expect([sms.from, sms.body]).toEqual([
            SANDBOX_NUMBER,
            `New voicemail from +1650***1234, 7 s ${app.url}/api/recordings/${sid}`,
        ]);
        const notice = await eventually('the notice delivered', async () => {
            const record = (await (await fetch(`${app.url}/api/messages/${sid}-sms`)).json()) as {
                status?: string;
                sid?: string;
            };
            return record.status === 'delivered' ? record : undefined;
        });
        expect(notice.sid).toBe(sms.sid);

        const listed = (await (await fetch(`${app.url}/api/messages?from=${q(CALLER)}`)).json()) as {
            messages: Record<string, unknown>[];
        };
        expect(listed.messages).toHaveLength(1);
        expect(listed.messages[0]).toMatchObject({
            id: sid,
            type: 'voicemail',
            direction: 'inbound',
            sid,
            from: CALLER,
            to: SANDBOX_NUMBER,
            status: 'recorded',
            body: SANDBOX_TRANSCRIPTION,
            voicemail: {
                callSid: done.sid,
                durationSeconds: 7,
                recordingStatus: 'completed',
                transcription: 'completed',
                notifications: [
                    { channel: 'sms', outcome: 'queued', id: `${sid}-sms` },
                    { channel: 'email', outcome: 'not-configured' },
                ],
            },
        });
    });
});

describe('the app’s logs over all of these flows', () => {
    it('name no caller, callee or notified number in full', () => {
        const text = appOutput.lines.join('\n');
        // The flows did log: the refusal, the voicemail's events.
        expect(text).toContain('Twimlet forward: the caller is not one of AllowedCallers; the call ends');
        expect(text).toContain('event=voicemail.notify-sms');
        for (const number of [CALLER, MODERATOR, NOTIFY, '+14155551313', '+12125550199']) {
            expect(text).not.toContain(number);
        }
    });
});
