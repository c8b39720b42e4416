import { inboundSms } from '../../functions/inboundSms';
import { parseConfig } from '../../shared/platform/config';
import { createDependencies, setDependencies } from '../../shared/platform/dependencies';
import { useSettings } from '../support/app';
import { createMemoryLedger } from '../support/memoryLedger';
import { bodyText, signedWebhookRequest, testContext, webhookRequest } from '../support/webhooks';

const TOKEN = '9a8b7c6d5e4f30211203f4e5d6c7b8a9';
const XML = '<?xml version="1.0" encoding="UTF-8"?>';
const URL = 'https://myapp.azurewebsites.net/api/sms';

function inbound(body: string) {
    return {
        MessageSid: 'SM0123456789abcdef0123456789abcdef',
        AccountSid: 'AC0123456789abcdef0123456789abcdef',
        From: '+15551230000',
        To: '+15557654321',
        Body: body,
        NumMedia: '0',
    };
}

beforeEach(() => {
    useSettings({ TWILIO_AUTH_TOKEN: TOKEN });
});
afterAll(() => {
    setDependencies();
});

describe('inboundSms', () => {
    it('replies to a signed inbound message with the default reply', async () => {
        const request = signedWebhookRequest(TOKEN, { url: URL, params: inbound('hello') });
        const response = await inboundSms(request, testContext('inboundSms').context);
        expect(response.status).toBe(200);
        expect(response.headers).toEqual({ 'Content-Type': 'text/xml' });
        expect(bodyText(response.body)).toBe(
            `${XML}<Response><Message>Hey, thanks for the ping! Twilio and Azure rock!</Message></Response>`,
        );
    });

    it('records an inbound message, but not a status callback posted here; neither gets a reply', async () => {
        const ledger = createMemoryLedger({ storeBody: false });
        setDependencies({
            ...createDependencies(parseConfig({ TWILIO_AUTH_TOKEN: TOKEN })),
            ledger: () => ledger,
        });
        const message = signedWebhookRequest(TOKEN, { url: URL, params: inbound('hello') });
        await inboundSms(message, testContext('inboundSms').context);
        expect(ledger.records().map((r) => [r.id, r.direction])).toEqual([
            ['SM0123456789abcdef0123456789abcdef', 'inbound'],
        ]);

        // A send whose statusCallback pointed at /api/sms: Twilio signs it like any webhook.
        const callback = signedWebhookRequest(TOKEN, {
            url: URL,
            params: {
                MessageSid: 'SMfedcba9876543210fedcba9876543210',
                SmsSid: 'SMfedcba9876543210fedcba9876543210',
                MessageStatus: 'delivered',
                SmsStatus: 'delivered',
                AccountSid: 'AC0123456789abcdef0123456789abcdef',
                From: '+15557654321',
                To: '+15551230000',
            },
        });
        const response = await inboundSms(callback, testContext('inboundSms').context);
        expect(response.status).toBe(200);
        expect(bodyText(response.body)).toBe(`${XML}<Response/>`);
        expect(ledger.size).toBe(1);
    });

    it('answers opt-out keywords with an empty response', async () => {
        const request = signedWebhookRequest(TOKEN, { url: URL, params: inbound(' Stop ') });
        const response = await inboundSms(request, testContext('inboundSms').context);
        expect(bodyText(response.body)).toBe(`${XML}<Response/>`);
    });

    it('uses SMS_REPLY, escaped', async () => {
        useSettings({ TWILIO_AUTH_TOKEN: TOKEN, SMS_REPLY: 'Thanks <3 & see you' });
        const request = signedWebhookRequest(TOKEN, { url: URL, params: inbound('hi') });
        const response = await inboundSms(request, testContext('inboundSms').context);
        expect(bodyText(response.body)).toBe(
            `${XML}<Response><Message>Thanks &lt;3 &amp; see you</Message></Response>`,
        );
    });

    it('rejects unsigned (400) and tampered (403) requests without replying', async () => {
        const unsigned = webhookRequest({ url: URL, params: inbound('hello') });
        expect((await inboundSms(unsigned, testContext('inboundSms').context)).status).toBe(400);
        const signature = signedWebhookRequest(TOKEN, { url: URL, params: inbound('hello') }).headers.get(
            'x-twilio-signature',
        );
        const tampered = webhookRequest({ url: URL, params: inbound('hello!'), signature: signature ?? '' });
        const response = await inboundSms(tampered, testContext('inboundSms').context);
        expect(response.status).toBe(403);
        expect(response.body).not.toContain('<Response>');
    });

    it('answers 500 when no auth token is configured, never replying unchecked', async () => {
        useSettings({});
        const request = signedWebhookRequest(TOKEN, { url: URL, params: inbound('hello') });
        const { context, logs } = testContext('inboundSms');
        expect((await inboundSms(request, context)).status).toBe(500);
        expect(logs.map((l) => l.message).join('\n')).toContain('no auth token is configured');
    });

    it('logs neither the full phone number nor the message body', async () => {
        const request = signedWebhookRequest(TOKEN, { url: URL, params: inbound('my secret plans') });
        const { context, logs } = testContext('inboundSms');
        await inboundSms(request, context);
        const text = logs.map((l) => l.message).join('\n');
        expect(text).toContain('+1555***0000');
        expect(text).not.toContain('+15551230000');
        expect(text).not.toContain('my secret plans');
        expect(text).not.toContain(TOKEN);
    });
});
