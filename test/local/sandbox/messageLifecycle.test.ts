import { validateRequest } from 'twilio/lib/webhooks/webhooks';
import { createMessage } from '../../../local/sandbox/messages';
import { SANDBOX_NUMBER } from '../../../local/sandbox/resources';
import { recordingFetch, step, testSandbox, type FetchedRequest } from './fakes';

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
