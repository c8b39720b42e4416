import { HttpRequest } from '@azure/functions';
import { voice } from '../../functions/voice';
import { setDependencies } from '../../shared/platform/dependencies';
import { useSettings } from '../support/app';
import { bodyText, signedWebhookRequest, testContext, webhookRequest } from '../support/webhooks';

const TOKEN = '9a8b7c6d5e4f30211203f4e5d6c7b8a9';
const XML = '<?xml version="1.0" encoding="UTF-8"?>';
const BASE = 'https://myapp.azurewebsites.net';
const CALL = { CallSid: 'CA0123456789abcdef0123456789abcdef', From: '+15551230000', To: '+15557654321' };

beforeEach(() => {
    useSettings({
        TWILIO_AUTH_TOKEN: TOKEN,
        PUBLIC_BASE_URL: BASE,
        VOICE_GREETING: 'Welcome to <Contoso> & co',
    });
});
afterAll(() => {
    setDependencies();
});

describe('voice', () => {
    it('answers a signed POST with the greeting as TwiML', async () => {
        const request = signedWebhookRequest(TOKEN, { url: `${BASE}/api/voice`, params: CALL });
        const response = await voice(request, testContext('voice').context);
        expect(response.status).toBe(200);
        expect(response.headers).toEqual({ 'Content-Type': 'text/xml' });
        expect(bodyText(response.body)).toBe(
            `${XML}<Response><Say>Welcome to &lt;Contoso&gt; &amp; co</Say></Response>`,
        );
    });

    it('answers a signed GET with twimlets-style messages in order', async () => {
        const url = `${BASE}/api/voice?Message%5B1%5D=https%3A%2F%2Fcdn.example.com%2Fhold.mp3&Message%5B0%5D=Hello%20World`;
        const request = signedWebhookRequest(TOKEN, { url, method: 'GET' });
        const response = await voice(request, testContext('voice').context);
        expect(response.status).toBe(200);
        expect(bodyText(response.body)).toBe(
            `${XML}<Response><Say>Hello World</Say><Play>https://cdn.example.com/hold.mp3</Play></Response>`,
        );
    });

    it('answers an unsigned request with 400 and a forged one with 403', async () => {
        const unsigned = webhookRequest({ url: `${BASE}/api/voice`, params: CALL });
        expect((await voice(unsigned, testContext('voice').context)).status).toBe(400);
        const forged = signedWebhookRequest('not-the-token', { url: `${BASE}/api/voice`, params: CALL });
        expect((await voice(forged, testContext('voice').context)).status).toBe(403);
    });

    it('answers 500 naming the settings at fault when the configuration is invalid', async () => {
        setDependencies();
        const { resetConfig } = await import('../../shared/platform/config');
        const saved = { ...process.env };
        process.env.TWILIO_ACCOUNT_SID = 'not-a-sid';
        process.env.PUBLIC_BASE_URL = 'ftp://example.com';
        resetConfig();
        try {
            const { context, logs } = testContext('voice');
            const request = new HttpRequest({ method: 'GET', url: `${BASE}/api/voice` });
            expect((await voice(request, context)).status).toBe(500);
            const error = logs.find((l) => l.level === 'error')?.message ?? '';
            expect(error).toContain('TWILIO_ACCOUNT_SID');
            expect(error).toContain('PUBLIC_BASE_URL');
        } finally {
            process.env = saved;
            resetConfig();
        }
    });
});
