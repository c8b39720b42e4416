/**
 * A voicemail left, end to end on real parts: the signed steps Twilio sends (the greeting, the `<Record>`
 * action, the recording status callback, retried, and the transcription callback) through the `twimlets`
 * function, with the app built from its settings: the ledger on Azurite's Table service, the SMS notice on
 * Azurite's outbound queue (read back from the queue), and the e-mail sent to a Communication Services
 * stand-in with a token `@azure/identity` got from the managed-identity stand-in (App Service's
 * IDENTITY_ENDPOINT / IDENTITY_HEADER). Then the voicemail is listed by GET /api/messages like any record.
 */

import { HttpRequest } from '@azure/functions';
import { startAzurite, type Azurite } from '../../local/azurite';
import { listMessages } from '../../shared/api/read';
import type { LedgerRecord } from '../../shared/ledger/contract';
import { setDependencies } from '../../shared/platform/dependencies';
import { emailOperationId } from '../../shared/voice/voicemail';
import { useAppOnStorage } from '../support/storageApp';
import { callTwimlet, type TwimletResult } from '../support/twimlets';
import {
    COMMUNICATION_RESOURCE,
    startFakeCommunicationEmail,
    type FakeCommunicationEmail,
} from '../fakes/communicationEmail';
import { startFakeManagedIdentity, type FakeManagedIdentity } from '../fakes/managedIdentity';
import { closedPort } from '../fakes/servers';

const TOKEN = '5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b';
const BASE = 'https://voicemail.example.com';
const CALLER = '+16505551212';
const CALLED = '+15557654321';
const NOTIFY = '+15551230000';
const OWNER = 'owner@contoso.com';
const SENDER = 'DoNotReply@contoso.com';
const CLIENT_ID = '6c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f';
const TRANSCRIPT = 'it is about the test results from the clinic';
const XML = '<?xml version="1.0" encoding="UTF-8"?>';

let azurite: Azurite;
let identity: FakeManagedIdentity;
let email: FakeCommunicationEmail;
let run = 0;

beforeAll(async () => {
    [azurite, identity] = await Promise.all([startAzurite({ ports: 'free' }), startFakeManagedIdentity()]);
    email = await startFakeCommunicationEmail({
        senders: [SENDER],
        isAuthorized: (token) => identity.tokenInfo(token)?.resource === COMMUNICATION_RESOURCE,
    });
    // As App Service sets them for the app's process; @azure/identity reads them when asked for a token.
    process.env.IDENTITY_ENDPOINT = identity.endpoint;
    process.env.IDENTITY_HEADER = identity.identityHeader;
}, 60_000);

afterAll(async () => {
    setDependencies();
    delete process.env.IDENTITY_ENDPOINT;
    delete process.env.IDENTITY_HEADER;
    /* eslint-disable @typescript-eslint/no-unnecessary-condition */
    await Promise.all([email?.close(), identity?.close(), azurite?.stop()]);
    /* eslint-enable @typescript-eslint/no-unnecessary-condition */
});

afterEach(() => {
    email.clear();
    identity.clearRequests();
});

/** A fresh app on its own table and queue; its ledger and queue as the test reads them. */
function useApp(settings: Record<string, string> = {}) {
    run++;
    const table = `Voicemail${String(run)}`;
    const queue = `voicemail-outbound-${String(run)}`;
    return useAppOnStorage(
        azurite.connectionString,
        { table, queue, storeBody: false },
        {
            TWILIO_AUTH_TOKEN: TOKEN,
            PUBLIC_BASE_URL: BASE,
            TWILIO_FROM_NUMBER: '+15005550006',
            VOICEMAIL_NOTIFY_NUMBER: NOTIFY,
            EMAIL_ENDPOINT: email.endpoint,
            EMAIL_SENDER: SENDER,
            VOICEMAIL_EMAIL_TO: OWNER,
            AZURE_CLIENT_ID: CLIENT_ID,
            ...settings,
        },
    );
}

let recordings = 0;
function newRecordingSid(): string {
    recordings++;
    return `RE${String(recordings).padStart(32, '0')}`;
}

async function signed(url: string, form: Record<string, string>): Promise<TwimletResult> {
    const result = await callTwimlet(url, { token: TOKEN, form });
    expect(result.status).toBe(200);
    return result;
}

function attribute(text: string, name: string): string {
    const value = new RegExp(` ${name}="([^"]*)"`).exec(text)?.[1];
    if (value === undefined) throw new Error(`no ${name} in ${text}`);
    return value.replace(/&amp;/g, '&');
}

/** A whole voicemail, as Twilio runs it: greeting, action, the status callback twice, the transcription. */
async function leaveVoicemail(recordingSid: string): Promise<TwimletResult[]> {
    const call = {
        CallSid: `CA${recordingSid.slice(2)}`,
        From: CALLER,
        To: CALLED,
        AccountSid: `AC${'1'.repeat(32)}`,
    };
    const greeting = await signed(`${BASE}/api/twimlets/voicemail`, call);
    const recording = {
        ...call,
        RecordingSid: recordingSid,
        RecordingUrl: `https://api.twilio.com/2010-04-01/Accounts/${call.AccountSid}/Recordings/${recordingSid}`,
        RecordingDuration: '9',
    };
    const status = {
        CallSid: call.CallSid,
        AccountSid: call.AccountSid,
        RecordingSid: recordingSid,
        RecordingUrl: recording.RecordingUrl,
        RecordingStatus: 'completed',
        RecordingDuration: '9',
        RecordingChannels: '1',
        RecordingSource: 'RecordVerb',
    };
    const results = [greeting];
    results.push(await signed(attribute(greeting.body, 'action'), { ...recording, Digits: 'hangup' }));
    // Twilio retries a callback it got no timely answer for: both copies arrive, at once.
    results.push(
        ...(await Promise.all(
            [0, 1].map(() => signed(attribute(greeting.body, 'recordingStatusCallback'), status)),
        )),
    );
    results.push(
        await signed(attribute(greeting.body, 'transcribeCallback'), {
            ...call,
            RecordingSid: recordingSid,
            TranscriptionSid: `TR${recordingSid.slice(2)}`,
            TranscriptionStatus: 'completed',
            TranscriptionText: TRANSCRIPT,
        }),
    );
    return results;
}

async function stored(ledger: ReturnType<typeof useApp>['ledger'], id: string): Promise<LedgerRecord> {
    const found = await ledger.get(id);
    if (found === undefined) throw new Error(`no record ${id}`);
    return found;
}

describe('a voicemail left and notified', () => {
    it('is stored once, enqueues one SMS notice on the real queue, and e-mails the owner as the app’s identity', async () => {
        const { ledger, queue } = useApp();
        const sid = newRecordingSid();
        const results = await leaveVoicemail(sid);
        expect(results[1]?.body).toBe(`${XML}<Response><Say>Thanks. Good bye.</Say><Hangup/></Response>`);

        const record = await stored(ledger, sid);
        expect(record).toMatchObject({
            id: sid,
            direction: 'inbound',
            type: 'voicemail',
            sid,
            from: CALLER,
            to: CALLED,
            status: 'recorded',
            bodyLength: TRANSCRIPT.length,
            voicemail: {
                callSid: `CA${sid.slice(2)}`,
                durationSeconds: 9,
                recordingStatus: 'completed',
                transcription: 'completed',
                notifications: [
                    { channel: 'sms', outcome: 'queued', id: `${sid}-sms` },
                    { channel: 'email', outcome: 'sent', id: emailOperationId(sid) },
                ],
            },
        });
        expect(record).not.toHaveProperty('body');

        const messages = (await queue.receiveMessages({ numberOfMessages: 32 })).receivedMessageItems;
        expect(messages.map((m) => JSON.parse(m.messageText) as unknown)).toEqual([
            {
                version: 1,
                type: 'sms',
                id: `${sid}-sms`,
                to: NOTIFY,
                body: `New voicemail from +1650***1212, 9 s ${BASE}/api/recordings/${sid}`,
            },
        ]);

        expect(email.accepted).toEqual([
            expect.objectContaining({
                operationId: emailOperationId(sid),
                senderAddress: SENDER,
                to: [OWNER],
                subject: 'New voicemail from +1650***1212',
            }),
        ]);
        expect(email.accepted[0]?.plainText).not.toContain(TRANSCRIPT);
        expect(email.requests.map((r) => [r.method, r.path, r.apiVersion, r.auth, r.status])).toEqual([
            ['POST', '/emails:send', '2023-03-31', 'accepted', 202],
        ]);
        // The token came from the managed identity, for Communication Services, as AZURE_CLIENT_ID.
        expect(identity.requests.map((r) => [r.resource, r.clientId, r.status])).toEqual([
            [COMMUNICATION_RESOURCE, CLIENT_ID, 200],
        ]);

        // Listed like any other record.
        const page = await listMessages(
            new HttpRequest({ method: 'GET', url: `${BASE}/api/messages?pageSize=10` }),
            ledger,
        );
        expect(
            (page.jsonBody as { messages: { id: string; type: string }[] }).messages.map((m) => [
                m.id,
                m.type,
            ]),
        ).toEqual([[sid, 'voicemail']]);

        const logs = results.flatMap((r) => r.logs.map((l) => l.message)).join('\n');
        for (const secret of [CALLER, CALLED, NOTIFY, '6505551212', OWNER, TRANSCRIPT])
            expect(logs).not.toContain(secret);
    });

    it('records the e-mail service’s refusal with its status and code, and still sends the SMS', async () => {
        const { ledger, queue } = useApp();
        const sid = newRecordingSid();
        email.refuseNext(429, 'TooManyRequests');
        const results = await leaveVoicemail(sid);
        const record = await stored(ledger, sid);
        expect(record.voicemail?.notifications).toEqual([
            expect.objectContaining({ channel: 'sms', outcome: 'queued' }),
            expect.objectContaining({
                channel: 'email',
                outcome: 'failed',
                id: emailOperationId(sid),
                reason: 'Communication Services refused the e-mail: HTTP 429 TooManyRequests',
            }),
        ]);
        expect(email.accepted).toEqual([]);
        expect((await queue.receiveMessages({ numberOfMessages: 32 })).receivedMessageItems).toHaveLength(1);
        expect(
            results
                .flatMap((r) => r.logs)
                .filter((l) => l.level === 'warning')
                .map((l) => l.message),
        ).toContainEqual(
            `event=voicemail.notify-email id=${sid} sid=${sid} status=failed route=twimlets: Communication Services refused the e-mail: HTTP 429 TooManyRequests`,
        );
    });

    it('records a sender the resource does not own as refused, and an unreachable service as a transport error', async () => {
        const refused = useApp({ EMAIL_SENDER: 'someone@else.com' });
        const sid = newRecordingSid();
        await leaveVoicemail(sid);
        expect((await stored(refused.ledger, sid)).voicemail?.notifications[1]).toMatchObject({
            outcome: 'failed',
            reason: 'Communication Services refused the e-mail: HTTP 400 InvalidSenderUserName',
        });

        // A port that was free a moment ago: nothing listens there.
        const unreachable = useApp({ EMAIL_ENDPOINT: `http://127.0.0.1:${String(await closedPort())}` });
        const other = newRecordingSid();
        await leaveVoicemail(other);
        expect((await stored(unreachable.ledger, other)).voicemail?.notifications[1]).toMatchObject({
            outcome: 'failed',
            reason: 'Communication Services could not be reached (ECONNREFUSED)',
        });
    });
});
