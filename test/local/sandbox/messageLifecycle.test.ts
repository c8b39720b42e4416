import { validateRequest } from 'twilio/lib/webhooks/webhooks';
import { failMessage, messageStatusCallback } from '../../../local/sandbox/messageLifecycle';
import { createMessage } from '../../../local/sandbox/messages';
import { messageResource, SANDBOX_NUMBER } from '../../../local/sandbox/resources';
import { deliveryFailureFor } from '../../../local/sandbox/testNumbers';
import { recordingFetch, settle, step, testSandbox, type FetchedRequest } from './fakes';

const CALLBACK = 'https://app.example.test/api/status';
const TO = '+15558675310';

function form(values: Record<string, string>): URLSearchParams {
    return new URLSearchParams({ To: TO, Body: 'Your code is 1234', StatusCallback: CALLBACK, ...values });
}

const statusOf = (request: FetchedRequest) => new URLSearchParams(request.body).get('MessageStatus');

describe('message lifecycle', () => {
    it('moves queued → sent → delivered, one step per pause, posting a signed callback after each', async () => {
        const { fetch, requests } = recordingFetch();
        const { ctx, clock, credentials } = testSandbox({ fetch });
        const message = createMessage(ctx, form({ From: SANDBOX_NUMBER }));

        expect(message.status).toBe('queued');
        expect(requests).toEqual([]);
        await step(clock, ctx.lifecycles);
        expect(requests.map(statusOf)).toEqual(['queued']);
        expect(message.status).toBe('queued');
        await step(clock, ctx.lifecycles);
        expect(message.status).toBe('sent');
        expect(message.dateSent).not.toBeNull();
        await step(clock, ctx.lifecycles);
        await ctx.lifecycles.idle();

        expect(requests.map(statusOf)).toEqual(['queued', 'sent', 'delivered']);
        expect(message.history.map((change) => change.status)).toEqual(['queued', 'sent', 'delivered']);
        expect(message.callbacks.map((c) => [c.kind, c.status, c.httpStatus])).toEqual([
            ['status-callback', 'queued', 200],
            ['status-callback', 'sent', 200],
            ['status-callback', 'delivered', 200],
        ]);
        for (const request of requests) {
            expect(request.url).toBe(CALLBACK);
            const params = Object.fromEntries(new URLSearchParams(request.body));
            const signature = request.headers['X-Twilio-Signature'] ?? '';
            expect(validateRequest(credentials.authToken, signature, CALLBACK, params)).toBe(true);
        }
        expect([...new URLSearchParams(requests[2]?.body).keys()]).toEqual([
            'SmsSid',
            'SmsStatus',
            'MessageStatus',
            'To',
            'MessageSid',
            'AccountSid',
            'From',
            'ApiVersion',
        ]);
    });

    it('takes the sender from the pool when a Messaging Service sends: accepted, then queued from the number', async () => {
        const { fetch, requests } = recordingFetch();
        const { ctx, clock } = testSandbox({ fetch });
        const service = `MG${'a'.repeat(32)}`;
        const message = createMessage(ctx, form({ MessagingServiceSid: service }));

        expect([message.status, message.from, message.numSegments]).toEqual(['accepted', null, 0]);
        await step(clock, ctx.lifecycles);
        expect([message.status, message.from, message.numSegments]).toEqual(['queued', SANDBOX_NUMBER, 1]);
        expect(new URLSearchParams(requests[0]?.body).get('MessagingServiceSid')).toBe(service);
        ctx.lifecycles.cancelAll();
        await ctx.lifecycles.idle();
    });

    it('stops moving a message deleted on the way', async () => {
        const { fetch, requests } = recordingFetch();
        const { ctx, clock } = testSandbox({ fetch });
        const message = createMessage(ctx, form({ From: SANDBOX_NUMBER }));
        await step(clock, ctx.lifecycles);
        ctx.store.messages.remove(message.sid);
        await step(clock, ctx.lifecycles);
        await ctx.lifecycles.idle();

        expect(message.status).toBe('queued');
        expect(requests.map(statusOf)).toEqual(['queued']);
    });

    it('carries on to delivered when the callback URL cannot be reached, recording each failed attempt', async () => {
        const { ctx, clock, logs } = testSandbox();
        const message = createMessage(ctx, form({ From: SANDBOX_NUMBER }));
        for (let index = 0; index < 3; index += 1) await step(clock, ctx.lifecycles);
        await ctx.lifecycles.idle();

        expect(message.status).toBe('delivered');
        expect(message.callbacks.map((c) => [c.httpStatus, c.error])).toEqual([
            [null, 'ECONNREFUSED (connect ECONNREFUSED 127.0.0.1:9)'],
            [null, 'ECONNREFUSED (connect ECONNREFUSED 127.0.0.1:9)'],
            [null, 'ECONNREFUSED (connect ECONNREFUSED 127.0.0.1:9)'],
        ]);
        expect(logs.filter((line) => line.includes('failed: ECONNREFUSED'))).toHaveLength(3);
        expect(logs.join('\n')).not.toContain('Your code');
        expect(logs.join('\n')).not.toContain('8675310');
    });

    it('stops where it is when the sandbox closes, posting nothing more', async () => {
        const { fetch, requests } = recordingFetch();
        const { ctx, clock, logs } = testSandbox({ fetch });
        const message = createMessage(ctx, form({ From: SANDBOX_NUMBER }));
        await step(clock, ctx.lifecycles);

        ctx.lifecycles.cancelAll();
        await ctx.lifecycles.idle();

        expect(message.status).toBe('queued');
        expect(requests.map(statusOf)).toEqual(['queued']);
        expect(logs.some((line) => line.includes('stopped'))).toBe(false);
    });
});

describe('message lifecycle: the reserved numbers that end badly', () => {
    const paramsOf = (request: FetchedRequest | undefined) => [...new URLSearchParams(request?.body)];

    it('+15005550030: queued → sent → undelivered, ErrorCode 30003 (first) in the last callback only, signed', async () => {
        const { fetch, requests } = recordingFetch();
        const { ctx, clock, credentials, logs } = testSandbox({ fetch });
        const message = createMessage(ctx, form({ From: SANDBOX_NUMBER, To: '+15005550030' }));
        for (let index = 0; index < 4; index += 1) await step(clock, ctx.lifecycles);
        await ctx.lifecycles.idle();

        expect(message.history.map((change) => change.status)).toEqual(['queued', 'sent', 'undelivered']);
        expect([message.status, message.errorCode, message.errorMessage]).toEqual([
            'undelivered',
            30003,
            'Unreachable destination handset',
        ]);
        expect(message.dateSent).not.toBeNull();
        expect(requests.map(statusOf)).toEqual(['queued', 'sent', 'undelivered']);
        expect(requests.slice(0, 2).map((r) => new URLSearchParams(r.body).has('ErrorCode'))).toEqual([
            false,
            false,
        ]);
        const last = requests[2];
        expect(paramsOf(last)).toEqual([
            ['ErrorCode', '30003'],
            ['SmsSid', message.sid],
            ['SmsStatus', 'undelivered'],
            ['MessageStatus', 'undelivered'],
            ['To', '+15005550030'],
            ['MessageSid', message.sid],
            ['AccountSid', credentials.accountSid],
            ['From', SANDBOX_NUMBER],
            ['ApiVersion', '2010-04-01'],
        ]);
        const signature = last?.headers['X-Twilio-Signature'] ?? '';
        expect(
            validateRequest(credentials.authToken, signature, CALLBACK, Object.fromEntries(paramsOf(last))),
        ).toBe(true);
        expect(logs).toContain(`sandbox: ${message.sid.slice(0, 6)}… undelivered (error 30003)`);
    });

    it('+15005550040: queued → failed, never sent (no date_sent), ErrorCode 30003', async () => {
        const { fetch, requests } = recordingFetch();
        const { ctx, clock } = testSandbox({ fetch });
        const message = createMessage(ctx, form({ From: SANDBOX_NUMBER, To: '+15005550040' }));
        for (let index = 0; index < 3; index += 1) await step(clock, ctx.lifecycles);
        await ctx.lifecycles.idle();

        expect(message.history.map((change) => change.status)).toEqual(['queued', 'failed']);
        expect([message.errorCode, message.errorMessage, message.dateSent]).toEqual([
            30003,
            'Unreachable destination handset',
            null,
        ]);
        expect(requests.map((r) => [statusOf(r), new URLSearchParams(r.body).get('ErrorCode')])).toEqual([
            ['queued', null],
            ['failed', '30003'],
        ]);
    });

    it.each([
        ['+15005550030', 'undelivered', 30003, 'Unreachable destination handset'],
        ['+15005550031', 'undelivered', 30005, 'Unknown destination handset'],
        ['+15005550032', 'undelivered', 30006, 'Landline or unreachable carrier'],
        ['+15005550033', 'undelivered', 30007, 'Message filtered'],
        ['+15005550034', 'undelivered', 30008, 'Unknown error'],
        ['+15005550040', 'failed', 30003, 'Unreachable destination handset'],
        ['+15005550041', 'failed', 30005, 'Unknown destination handset'],
        ['+15005550042', 'failed', 30006, 'Landline or unreachable carrier'],
        ['+15005550043', 'failed', 30007, 'Message filtered'],
        ['+15005550044', 'failed', 30008, 'Unknown error'],
    ])('%s ends %s with %i (%s), on the resource as Twilio renders it', async (to, status, code, text) => {
        const { fetch, requests } = recordingFetch();
        const { ctx } = testSandbox({ fetch });
        const message = createMessage(ctx, form({ From: SANDBOX_NUMBER, To: to }));
        const failure = deliveryFailureFor(to);
        if (failure === undefined) throw new Error(`${to} is not reserved`);
        // The lifecycle's last step, taken here while the lifecycle itself waits on the fake clock.
        failMessage(ctx, message, failure);
        await messageStatusCallback(ctx, message);
        ctx.lifecycles.cancelAll();
        await ctx.lifecycles.idle();

        expect(messageResource(message)).toMatchObject({ status, error_code: code, error_message: text });
        expect(new URLSearchParams(requests.at(-1)?.body).get('ErrorCode')).toBe(String(code));
        expect(new URLSearchParams(requests.at(-1)?.body).has('ErrorMessage')).toBe(false);
    });

    it('delivers a message to any other number, the magic numbers’ neighbours included', async () => {
        const { fetch, requests } = recordingFetch();
        const { ctx, clock } = testSandbox({ fetch });
        const neighbours = ['+15005550029', '+15005550035', '+15005550045'];
        const messages = neighbours.map((to) => createMessage(ctx, form({ From: SANDBOX_NUMBER, To: to })));
        // Three lifecycles at once: release every pause until all of them have ended (bounded).
        for (let round = 0; round < 50 && messages.some((m) => m.status !== 'delivered'); round += 1) {
            clock.release();
            await settle();
        }
        await ctx.lifecycles.idle();

        expect(messages.map((m) => [m.status, m.errorCode])).toEqual(
            neighbours.map(() => ['delivered', null]),
        );
        expect(requests).toHaveLength(9);
        expect(requests.filter((r) => new URLSearchParams(r.body).has('ErrorCode'))).toEqual([]);
    });
});
