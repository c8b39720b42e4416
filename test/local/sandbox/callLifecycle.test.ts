import { validateRequest } from 'twilio/lib/webhooks/webhooks';
import { createCall } from '../../../local/sandbox/calls';
import type { SandboxCall } from '../../../local/sandbox/resources';
import { recordingFetch, step, testSandbox, type FetchedRequest, type TestSandbox } from './fakes';

const VOICE_URL = 'https://app.example.test/api/voice';
const CALLBACK = 'https://app.example.test/api/status';
const TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response><Say>Hello</Say></Response>';

/** Answers the voice URL with `twiml` (as `contentType`), and status callbacks with 200. */
function app(twiml = TWIML, contentType = 'text/xml') {
    return recordingFetch((request) =>
        request.url.startsWith(VOICE_URL)
            ? new Response(twiml, { headers: { 'Content-Type': contentType } })
            : new Response(''),
    );
}

function call(test: TestSandbox, values: Record<string, string>): SandboxCall {
    return createCall(
        test.ctx,
        new URLSearchParams({
            To: '+15558675310',
            From: '+15005550006',
            StatusCallback: CALLBACK,
            ...values,
        }),
    );
}

/** Runs the call's lifecycle to its end, a step at a time. */
async function runToEnd(test: TestSandbox): Promise<void> {
    for (let index = 0; index < 10; index += 1) await step(test.clock, test.ctx.lifecycles);
    await test.ctx.lifecycles.idle();
}

/** `kind target CallStatus`, one line per request the call made. */
const story = (requests: FetchedRequest[]) =>
    requests.map((request) => {
        const params = new URLSearchParams(request.body);
        const target = request.url === CALLBACK ? 'callback' : 'twiml';
        return `${target} ${params.get('CallStatus') ?? ''}${params.has('SequenceNumber') ? ` #${params.get('SequenceNumber') ?? ''}` : ''}`;
    });

describe('call lifecycle', () => {
    it('dials, rings, fetches the TwiML signed on answer, and completes, reporting each requested event in order', async () => {
        const { fetch, requests } = app();
        const test = testSandbox({ fetch });
        const created = call(test, {
            Url: VOICE_URL,
            StatusCallbackEvent: 'initiated ringing answered completed',
        });
        expect(created.status).toBe('queued');

        await step(test.clock, test.ctx.lifecycles);
        // `initiated` is a callback event only: the resource still says queued.
        expect(created.status).toBe('queued');
        expect(created.startTime).not.toBeNull();
        await runToEnd(test);

        expect(story(requests)).toEqual([
            'callback initiated #0',
            'callback ringing #1',
            'twiml in-progress',
            'callback in-progress #2',
            'callback completed #3',
        ]);
        expect(created.history.map((change) => change.status)).toEqual([
            'queued',
            'ringing',
            'in-progress',
            'completed',
        ]);
        expect(created.twiml).toBe(TWIML);
        expect(created.duration).toBeGreaterThanOrEqual(1);
        const fetchTwiml = requests[2];
        const params = Object.fromEntries(new URLSearchParams(fetchTwiml?.body));
        const signature = fetchTwiml?.headers['X-Twilio-Signature'] ?? '';
        expect(validateRequest(test.credentials.authToken, signature, VOICE_URL, params)).toBe(true);
    });

    it('reports only completed when no StatusCallbackEvent is given, with the duration', async () => {
        const { fetch, requests } = app();
        const test = testSandbox({ fetch });
        call(test, { Url: VOICE_URL });
        await runToEnd(test);

        expect(story(requests)).toEqual(['twiml in-progress', 'callback completed #0']);
        expect(Number(new URLSearchParams(requests[1]?.body).get('CallDuration'))).toBeGreaterThanOrEqual(1);
    });

    it('fails the call with 11200 when its Url cannot be reached, and reports it as completed with status failed', async () => {
        const test = testSandbox();
        const created = call(test, { Url: VOICE_URL });
        await runToEnd(test);

        expect(created.status).toBe('failed');
        expect(created.errorCode).toBe(11200);
        expect(created.duration).toBe(0);
        expect(created.callbacks.map((c) => [c.kind, c.status, c.httpStatus])).toEqual([
            ['twiml', 'in-progress', null],
            ['status-callback', 'failed', null],
        ]);
        expect(test.logs).toContain(
            `sandbox: ${created.sid.slice(0, 6)}… error 11200: HTTP retrieval failure: ECONNREFUSED (connect ECONNREFUSED 127.0.0.1:9)`,
        );
    });

    it('fails the call with 12300 for a content type Twilio cannot use, 12100 for broken inline Twiml', async () => {
        const { fetch } = app('{"say":"hi"}', 'application/json');
        const jsonSandbox = testSandbox({ fetch });
        const json = call(jsonSandbox, { Url: VOICE_URL });
        await runToEnd(jsonSandbox);
        const inlineSandbox = testSandbox({ fetch });
        const broken = call(inlineSandbox, { Twiml: '<Response><Say>unclosed</Response>' });
        await runToEnd(inlineSandbox);

        expect([json.status, json.errorCode]).toEqual(['failed', 12300]);
        expect([broken.status, broken.errorCode]).toEqual(['failed', 12100]);
        expect(broken.callbacks.filter((c) => c.kind === 'twiml')).toEqual([]);
    });

    it('answers as a human when machine detection is asked for, in every request after the answer', async () => {
        const { fetch, requests } = app();
        const test = testSandbox({ fetch });
        const created = call(test, { Url: VOICE_URL, MachineDetection: 'Enable' });
        await runToEnd(test);

        expect(created.answeredBy).toBe('human');
        expect(requests.map((request) => new URLSearchParams(request.body).get('AnsweredBy'))).toEqual([
            'human',
            'human',
        ]);
    });

    it('stops where it is when the sandbox closes, reporting nothing more', async () => {
        const { fetch, requests } = app();
        const test = testSandbox({ fetch });
        const created = call(test, { Url: VOICE_URL, StatusCallbackEvent: 'initiated ringing' });
        await step(test.clock, test.ctx.lifecycles);

        test.ctx.lifecycles.cancelAll();
        await test.ctx.lifecycles.idle();

        expect(story(requests)).toEqual(['callback initiated #0']);
        expect(created.status).toBe('queued');
    });
});
