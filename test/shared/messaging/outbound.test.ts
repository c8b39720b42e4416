import { optOutScope, optedOutRefusal } from '../../../shared/messaging/outbound';

const SERVICE = 'MG0123456789abcdef0123456789abcdef';
const DEFAULT_SERVICE = 'MGfedcba9876543210fedcba9876543210';
const to = '+15557654321';

describe('optOutScope: the sender whose opt-outs stop a send, as Twilio scopes them', () => {
    it("is the message's Messaging Service, else its number", () => {
        expect(
            optOutScope({ type: 'sms', version: 1, to, body: 'hi', messagingServiceSid: SERVICE }, {}),
        ).toEqual({
            sender: SERVICE,
            recipient: to,
        });
        expect(
            optOutScope(
                {
                    type: 'sms',
                    version: 1,
                    to,
                    body: 'hi',
                    from: '+15005550006',
                    messagingServiceSid: SERVICE,
                },
                {},
            ),
        ).toEqual({
            sender: SERVICE,
            recipient: to,
        });
        expect(
            optOutScope(
                { type: 'sms', version: 1, to, body: 'hi', from: '+15005550006' },
                { messagingServiceSid: DEFAULT_SERVICE },
            ),
        ).toEqual({
            sender: '+15005550006',
            recipient: to,
        });
    });
    it("is the app's default service, else its default number, for a message that names no sender", () => {
        const defaults = { messagingServiceSid: DEFAULT_SERVICE, fromNumber: '+15005550006' };
        expect(optOutScope({ type: 'sms', version: 1, to, body: 'hi' }, defaults)).toEqual({
            sender: DEFAULT_SERVICE,
            recipient: to,
        });
        expect(
            optOutScope({ type: 'sms', version: 1, to, body: 'hi' }, { fromNumber: '+15005550006' }),
        ).toEqual({
            sender: '+15005550006',
            recipient: to,
        });
        expect(optOutScope({ type: 'sms', version: 1, to, body: 'hi' }, {})).toBeUndefined();
    });
    it('is none for a call or a whatsapp: message (no read is made)', () => {
        expect(optOutScope({ type: 'call', version: 1, to, from: '+15005550006' }, {})).toBeUndefined();
        expect(
            optOutScope(
                { type: 'sms', version: 1, to: `whatsapp:${to}`, from: 'whatsapp:+15005550006', body: 'hi' },
                {},
            ),
        ).toBeUndefined();
    });
});

describe('optedOutRefusal', () => {
    it("is a permanent failure with Twilio's 21610 and a reason without the number", () => {
        const refusal = optedOutRefusal({
            sender: '+15005550006',
            recipient: to,
            since: '2026-11-30T10:00:00.000Z',
            source: 'keyword',
        });
        expect(refusal.verdict).toEqual({
            kind: 'permanent',
            code: '21610',
            message: expect.stringMatching(/^not sent: the recipient opted out/) as string,
        });
        expect(JSON.stringify(refusal.verdict)).not.toContain(to);
    });
});
