/**
 * The voicemail twimlet step by step through the signed `twimlets` function, as Twilio calls it: the
 * greeting and `<Record>` with exact TwiML, the `action` step's goodbye, the recording status callback that
 * stores the voicemail once and notifies once, the transcription callback, every parameter's edge cases,
 * and what reaches the log. The ledger is the in-memory one, the queue records what it is given, and the
 * e-mail sender is a function that answers as the real one does (test/integration/voicemail*.test.ts
 * sends to a Communication Services stand-in).
 */

import type { LedgerRecord } from '../../../shared/ledger/contract';
import { parseConfig } from '../../../shared/platform/config';
import { createDependencies, setDependencies } from '../../../shared/platform/dependencies';
import type { EmailMessage, EmailOutcome } from '../../../shared/voice/email';
import { emailOperationId, smsNoticeText } from '../../../shared/voice/voicemail';
import { createMemoryLedger, type MemoryLedger } from '../../support/memoryLedger';
import { callTwimlet, type TwimletResult } from '../../support/twimlets';

const TOKEN = '0f1e2d3c4b5a69788796a5b4c3d2e1f0';
const XML = '<?xml version="1.0" encoding="UTF-8"?>';
const BASE = 'https://myapp.azurewebsites.net';
const CALLER = '+16505551212';
const CALLED = '+15557654321';
const CALL_SID = 'CA0123456789abcdef0123456789abcdef';
const RECORDING_SID = 'RE0123456789abcdef0123456789abcdef';
const SECRET_WORDS = 'please call my cardiologist about the results';
const REFUSED = `${XML}<Response><Say>Sorry, this line is not set up correctly. Goodbye.</Say><Hangup/></Response>`;
const EMPTY = `${XML}<Response/>`;
/** Any ISO time (when an outcome was recorded). */
const ANY_TIME: unknown = expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/);

const at = (path: string) => `${BASE}/api/twimlets/${path}`;
const xml = (url: string) => url.replace(/&/g, '&amp;');

interface App {
    ledger: MemoryLedger;
    queued: Record<string, unknown>[];
    emails: EmailMessage[];
    /** The next enqueue fails with this error. */
    failNextEnqueue(error: Error): void;
    /** What the e-mail sender answers. */
    emailAnswer: EmailOutcome | Error;
}

function useApp(settings: Record<string, string> = {}, storeBody = false): App {
    const ledger = createMemoryLedger({ storeBody });
    let failure: Error | undefined;
    const app: App = {
        ledger,
        queued: [],
        emails: [],
        failNextEnqueue: (error) => {
            failure = error;
        },
        emailAnswer: { ok: true, operationId: 'set-below' },
    };
    const config = parseConfig({
        TWILIO_AUTH_TOKEN: TOKEN,
        PUBLIC_BASE_URL: BASE,
        TWILIO_FROM_NUMBER: '+15005550006',
        ...settings,
    });
    setDependencies({
        ...createDependencies(config),
        ledger: () => ledger,
        enqueueOutbound: async (text) => {
            await Promise.resolve();
            const error = failure;
            failure = undefined;
            if (error !== undefined) throw error;
            app.queued.push(JSON.parse(text) as Record<string, unknown>);
        },
        sendEmail:
            config.email === undefined
                ? undefined
                : async (message) => {
                      await Promise.resolve();
                      app.emails.push(message);
                      const answer = app.emailAnswer;
                      if (answer instanceof Error) throw answer;
                      return answer.ok ? { ok: true, operationId: message.operationId } : answer;
                  },
    });
    return app;
}

afterAll(() => {
    setDependencies();
});

async function step(url: string, form: Record<string, string> = {}): Promise<TwimletResult> {
    return callTwimlet(url, { token: TOKEN, form: { CallSid: CALL_SID, ...form } });
}

async function twiml(url: string, form: Record<string, string> = {}): Promise<string> {
    const result = await step(url, form);
    expect({ status: result.status, contentType: result.contentType }).toEqual({
        status: 200,
        contentType: 'text/xml',
    });
    return result.body;
}

function attribute(text: string, name: string): string {
    const value = new RegExp(` ${name}="([^"]*)"`).exec(text)?.[1];
    if (value === undefined) throw new Error(`no ${name} in ${text}`);
    return value.replace(/&amp;/g, '&');
}

/** The three URLs the greeting hands Twilio. */
async function greet(query: string): Promise<{ action: string; status: string; transcription?: string }> {
    const answer = await twiml(at(`voicemail${query}`), { From: CALLER, To: CALLED });
    return {
        action: attribute(answer, 'action'),
        status: attribute(answer, 'recordingStatusCallback'),
        ...(answer.includes('transcribeCallback')
            ? { transcription: attribute(answer, 'transcribeCallback') }
            : {}),
    };
}

const recorded = {
    RecordingSid: RECORDING_SID,
    RecordingUrl: `https://api.twilio.com/2010-04-01/Accounts/AC${'0'.repeat(32)}/Recordings/${RECORDING_SID}`,
    RecordingDuration: '12',
    Digits: 'hangup',
    From: CALLER,
    To: CALLED,
};
const statusForm = {
    RecordingSid: RECORDING_SID,
    RecordingUrl: recorded.RecordingUrl,
    RecordingStatus: 'completed',
    RecordingDuration: '12',
    RecordingChannels: '1',
    RecordingSource: 'RecordVerb',
    AccountSid: `AC${'0'.repeat(32)}`,
};
const transcriptionForm = {
    RecordingSid: RECORDING_SID,
    TranscriptionSid: `TR${'1'.repeat(32)}`,
    TranscriptionStatus: 'completed',
    TranscriptionText: SECRET_WORDS,
    From: CALLER,
    To: CALLED,
};

async function record(app: App): Promise<LedgerRecord> {
    const found = await app.ledger.get(RECORDING_SID);
    if (found === undefined) throw new Error('no voicemail record');
    return found;
}

describe('the greeting', () => {
    beforeEach(() => {
        useApp();
    });

    it('says twimlets.com’s greeting and records, with a transcription by default', async () => {
        const q = 'Transcribe=true&Step=';
        expect(await twiml(at('voicemail'), { From: CALLER })).toBe(
            `${XML}<Response><Say>Please leave a message after the beep.</Say><Record action="${xml(at(`voicemail?${q}recorded`))}" recordingStatusCallback="${xml(at(`voicemail?${q}recording`))}" transcribe="true" transcribeCallback="${xml(at(`voicemail?${q}transcription`))}"/></Response>`,
        );
    });

    it('says a Message, plays a Message URL, and carries Email, Notify (normalised) and Transcribe to every step', async () => {
        const q = `Email=${encodeURIComponent('owner@contoso.com')}&Notify=${encodeURIComponent('+14155551212')}&Transcribe=false&Step=`;
        expect(
            await twiml(
                at(
                    `voicemail?Message=${encodeURIComponent('Leave it <here> & now')}&Email=Owner%40Contoso.com&Notify=415-555-1212&Transcribe=no`,
                ),
            ),
        ).toBe(
            `${XML}<Response><Say>Leave it &lt;here&gt; &amp; now</Say><Record action="${xml(at(`voicemail?${q}recorded`))}" recordingStatusCallback="${xml(at(`voicemail?${q}recording`))}"/></Response>`,
        );
        expect(
            await twiml(
                at(
                    `voicemail?Message=${encodeURIComponent('https://example.com/greeting.mp3')}&Transcribe=TRUE`,
                ),
            ),
        ).toMatch(
            /^<\?xml[^>]*><Response><Play>https:\/\/example\.com\/greeting\.mp3<\/Play><Record [^>]* transcribe="true" /,
        );
    });

    it.each([
        ['an Email', 'Email=not-an-address', 'Email', 'not-an-address'],
        [
            'an Email with a header',
            `Email=${encodeURIComponent('a@contoso.com\r\nBcc: x@evil.com')}`,
            'Email',
            'evil',
        ],
        ['a Notify', 'Notify=12', 'Notify', 'Notify=12'],
        [
            'a Message URL into the app',
            `Message=${encodeURIComponent(`${BASE}/api/status?id=x`)}`,
            'Message',
            '/api/status',
        ],
        ['a Message over 1000 characters', `Message=${'a'.repeat(1001)}`, 'Message', 'aaaa'],
        ['a Step', 'Step=elsewhere', 'Step', 'elsewhere'],
    ])(
        'refuses %s with a spoken error and a log line naming the parameter, never its value',
        async (_label, query, name, value) => {
            const result = await step(at(`voicemail?${query}`), { From: CALLER });
            expect(result.body).toBe(REFUSED);
            const warnings = result.logs.filter((l) => l.level === 'warning').map((l) => l.message);
            expect(warnings).toEqual([
                expect.stringMatching(new RegExp(`^Twimlet voicemail: parameter ${name} `)),
            ]);
            expect(warnings.join('\n')).not.toContain(value);
        },
    );
});

describe('a voicemail left, step by step', () => {
    it('thanks and hangs up, stores the voicemail once, and enqueues one SMS notice, however often Twilio retries', async () => {
        const app = useApp();
        const urls = await greet('?Notify=415-555-1212');
        expect(await twiml(urls.action, recorded)).toBe(
            `${XML}<Response><Say>Thanks. Good bye.</Say><Hangup/></Response>`,
        );
        expect(await twiml(urls.status, statusForm)).toBe(EMPTY);
        expect(await twiml(urls.status, statusForm)).toBe(EMPTY);
        expect(await twiml(urls.action, recorded)).toBe(
            `${XML}<Response><Say>Thanks. Good bye.</Say><Hangup/></Response>`,
        );

        expect(app.ledger.size).toBe(1);
        const stored = await record(app);
        expect(stored).toMatchObject({
            id: RECORDING_SID,
            direction: 'inbound',
            type: 'voicemail',
            sid: RECORDING_SID,
            from: CALLER,
            to: CALLED,
            status: 'recorded',
            voicemail: {
                callSid: CALL_SID,
                durationSeconds: 12,
                recordingStatus: 'completed',
                transcription: 'requested',
                notifications: [
                    { channel: 'sms', outcome: 'queued', id: `${RECORDING_SID}-sms`, at: ANY_TIME },
                    {
                        channel: 'email',
                        outcome: 'not-configured',
                        reason: 'no e-mail sender: EMAIL_ENDPOINT and EMAIL_SENDER are not set',
                        at: ANY_TIME,
                    },
                ],
            },
        });
        expect(stored.history.map((e) => e.status)).toEqual(['recorded']);
        expect(app.queued).toEqual([
            {
                version: 1,
                type: 'sms',
                id: `${RECORDING_SID}-sms`,
                to: '+14155551212',
                body: `New voicemail from +1650***1212, 12 s ${BASE}/api/recordings/${RECORDING_SID}`,
            },
        ]);
    });

    it('keeps the transcription as the body: its text only when the ledger stores bodies, its length always', async () => {
        for (const storeBody of [false, true]) {
            const app = useApp({ VOICEMAIL_NOTIFY_NUMBER: '+15551230000' }, storeBody);
            const urls = await greet('');
            await twiml(urls.status, statusForm);
            expect(await twiml(urls.transcription ?? '', transcriptionForm)).toBe(EMPTY);
            expect(await twiml(urls.transcription ?? '', transcriptionForm)).toBe(EMPTY);
            const stored = await record(app);
            expect(stored.body).toBe(storeBody ? SECRET_WORDS : undefined);
            expect(stored.bodyLength).toBe(SECRET_WORDS.length);
            expect(stored.voicemail?.transcription).toBe('completed');
            expect(stored.from).toBe(CALLER);
            expect(stored.history.map((e) => e.status)).toEqual(['recorded', 'transcription-completed']);
            expect(app.queued).toHaveLength(1);
        }
    });

    it('records a failed transcription without text', async () => {
        const app = useApp();
        const urls = await greet('');
        await twiml(urls.transcription ?? '', { ...transcriptionForm, TranscriptionStatus: 'failed' });
        const stored = await record(app);
        expect(stored.voicemail?.transcription).toBe('failed');
        expect(stored.bodyLength).toBe(0);
        expect(stored.voicemail?.notifications).toEqual([]);
    });

    it('tells of an unknown caller when the status callback comes before the action', async () => {
        const app = useApp({ VOICEMAIL_NOTIFY_NUMBER: '+15551230000' });
        const urls = await greet('');
        await twiml(urls.status, statusForm);
        await twiml(urls.action, recorded);
        expect(app.queued.map((m) => m.body)).toEqual([
            `New voicemail from an unknown caller, 12 s ${BASE}/api/recordings/${RECORDING_SID}`,
        ]);
        expect((await record(app)).from).toBe(CALLER);
    });

    it('records an absent recording, and notifies nobody about it', async () => {
        const app = useApp({ VOICEMAIL_NOTIFY_NUMBER: '+15551230000' });
        const urls = await greet('');
        await twiml(urls.status, { ...statusForm, RecordingStatus: 'absent', RecordingDuration: '0' });
        const stored = await record(app);
        expect(stored.status).toBe('absent');
        expect(stored.voicemail?.notifications).toEqual([]);
        expect(app.queued).toEqual([]);
    });

    it('stores nothing for a callback without a RecordingSid, and still answers', async () => {
        const app = useApp();
        const urls = await greet('');
        const result = await step(urls.action, { Digits: 'hangup' });
        expect(result.body).toBe(`${XML}<Response><Say>Thanks. Good bye.</Say><Hangup/></Response>`);
        expect((await step(urls.status, { RecordingSid: 'RE-nope' })).body).toBe(EMPTY);
        expect(app.ledger.size).toBe(0);
    });
});

describe('the SMS notice', () => {
    it('is not configured without a Notify number or VOICEMAIL_NOTIFY_NUMBER, and says so', async () => {
        const app = useApp();
        const urls = await greet('');
        await twiml(urls.status, statusForm);
        expect((await record(app)).voicemail?.notifications[0]).toEqual({
            channel: 'sms',
            outcome: 'not-configured',
            reason: 'no Notify parameter and no VOICEMAIL_NOTIFY_NUMBER',
            at: ANY_TIME,
        });
        expect(app.queued).toEqual([]);
    });

    it('goes from the number called when the app has no default sender', async () => {
        const app = useApp({ TWILIO_FROM_NUMBER: '', VOICEMAIL_NOTIFY_NUMBER: '+15551230000' });
        const urls = await greet('');
        await twiml(urls.action, recorded);
        await twiml(urls.status, statusForm);
        expect(app.queued).toEqual([expect.objectContaining({ from: CALLED, to: '+15551230000' })]);
    });

    it('records a queue failure with its reason, and is sent by Twilio’s next retry, once', async () => {
        const app = useApp({ VOICEMAIL_NOTIFY_NUMBER: '+15551230000' });
        const urls = await greet('');
        app.failNextEnqueue(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
        const first = await step(urls.status, statusForm);
        expect((await record(app)).voicemail?.notifications[0]).toMatchObject({
            channel: 'sms',
            outcome: 'failed',
            reason: 'the outbound queue could not be reached (ECONNRESET)',
        });
        expect(first.logs.map((l) => l.message)).toContainEqual(
            `event=voicemail.notify-sms id=${RECORDING_SID} sid=${RECORDING_SID} status=failed route=twimlets: the outbound queue could not be reached (ECONNRESET)`,
        );
        await twiml(urls.status, statusForm);
        await twiml(urls.status, statusForm);
        expect(app.queued).toHaveLength(1);
        expect((await record(app)).voicemail?.notifications[0]?.outcome).toBe('queued');
    });
});

describe('the e-mail notice', () => {
    const EMAIL = {
        EMAIL_ENDPOINT: 'https://vm.communication.azure.com',
        EMAIL_SENDER: 'DoNotReply@contoso.com',
    };

    it('goes to VOICEMAIL_EMAIL_TO with the operation id derived from the voicemail, once', async () => {
        const app = useApp({ ...EMAIL, VOICEMAIL_EMAIL_TO: 'owner@contoso.com' });
        const urls = await greet('');
        await twiml(urls.action, recorded);
        await twiml(urls.status, statusForm);
        await twiml(urls.status, statusForm);
        expect(app.emails).toEqual([
            {
                to: 'owner@contoso.com',
                operationId: emailOperationId(RECORDING_SID),
                subject: 'New voicemail from +1650***1212',
                plainText: [
                    'You have a new voicemail from +1650***1212 (12 seconds).',
                    '',
                    `Listen: ${BASE}/api/recordings/${RECORDING_SID}`,
                    `Details: ${BASE}/api/messages/${RECORDING_SID}`,
                    '(Both need the app’s function key.)',
                ].join('\n'),
            },
        ]);
        expect(emailOperationId(RECORDING_SID)).toMatch(
            /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
        );
        expect((await record(app)).voicemail?.notifications[1]).toEqual({
            channel: 'email',
            outcome: 'sent',
            id: emailOperationId(RECORDING_SID),
            at: ANY_TIME,
        });
    });

    it('goes to an Email the allow-list names (an address or its domain), and to no other', async () => {
        for (const [email, allowed] of [
            ['a@contoso.com', true],
            ['b@fabrikam.com', true],
            ['b@sub.fabrikam.com', false],
            ['victim@example.com', false],
        ] as const) {
            const app = useApp({ ...EMAIL, VOICEMAIL_EMAIL_ALLOWED: 'a@contoso.com,@fabrikam.com' });
            const urls = await greet(`?Email=${encodeURIComponent(email)}`);
            await twiml(urls.status, statusForm);
            expect(app.emails.map((m) => m.to)).toEqual(allowed ? [email] : []);
            expect((await record(app)).voicemail?.notifications[1]).toMatchObject(
                allowed
                    ? { outcome: 'sent' }
                    : {
                          outcome: 'failed',
                          reason: 'the Email parameter names a recipient neither VOICEMAIL_EMAIL_TO nor VOICEMAIL_EMAIL_ALLOWED allows',
                      },
            );
        }
    });

    it('records a refusal with the reason the sender gives', async () => {
        const app = useApp({ ...EMAIL, VOICEMAIL_EMAIL_TO: 'owner@contoso.com' });
        app.emailAnswer = {
            ok: false,
            reason: 'Communication Services refused the e-mail: HTTP 400 DomainNotLinked',
        };
        const urls = await greet('');
        await twiml(urls.status, statusForm);
        expect((await record(app)).voicemail?.notifications[1]).toMatchObject({
            channel: 'email',
            outcome: 'failed',
            id: emailOperationId(RECORDING_SID),
            reason: 'Communication Services refused the e-mail: HTTP 400 DomainNotLinked',
        });
    });

    it('is not configured without a recipient', async () => {
        const app = useApp(EMAIL);
        const urls = await greet('');
        await twiml(urls.status, statusForm);
        expect((await record(app)).voicemail?.notifications[1]).toMatchObject({
            outcome: 'not-configured',
            reason: 'no Email parameter and no VOICEMAIL_EMAIL_TO',
        });
    });
});

describe('log hygiene', () => {
    it('no step logs the caller’s number, an address or what the caller said', async () => {
        useApp({
            VOICEMAIL_NOTIFY_NUMBER: '+15551230000',
            EMAIL_ENDPOINT: 'https://vm.communication.azure.com',
            EMAIL_SENDER: 'DoNotReply@contoso.com',
            VOICEMAIL_EMAIL_TO: 'owner@contoso.com',
        });
        const greeting = await step(at('voicemail?Email=owner%40contoso.com&Notify=415-555-1212'), {
            From: CALLER,
            To: CALLED,
        });
        const urls = {
            action: attribute(greeting.body, 'action'),
            status: attribute(greeting.body, 'recordingStatusCallback'),
            transcription: attribute(greeting.body, 'transcribeCallback'),
        };
        const results = [
            greeting,
            await step(urls.action, recorded),
            await step(urls.status, statusForm),
            await step(urls.transcription, transcriptionForm),
        ];
        const text = results.flatMap((r) => r.logs.map((l) => l.message)).join('\n');
        expect(text).toContain(`event=voicemail.recorded id=${RECORDING_SID}`);
        for (const secret of [
            CALLER,
            CALLED,
            '6505551212',
            '4155551212',
            '5551230000',
            'owner@contoso.com',
            SECRET_WORDS,
            'cardiologist',
        ]) {
            expect(text).not.toContain(secret);
        }
    });
});

describe('the notice text', () => {
    it('has no link when the public base URL is unknown, and never Twilio’s', () => {
        const base = {
            id: RECORDING_SID,
            sid: RECORDING_SID,
            from: CALLER,
            voicemail: { durationSeconds: 3, notifications: [] },
        } as unknown as LedgerRecord;
        expect(smsNoticeText(base, undefined)).toBe('New voicemail from +1650***1212, 3 s');
        expect(smsNoticeText(base, BASE)).not.toContain('twilio.com');
    });
});
