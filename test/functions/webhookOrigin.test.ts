/**
 * Item 5 of issue 8, through the real handlers and settings: a request Twilio signed for another
 * deployment on the same account, replayed here with that deployment's host in `X-Forwarded-Host`.
 */

import { voice } from '../../functions/voice';
import { inboundSms } from '../../functions/inboundSms';
import { setDependencies } from '../../shared/platform/dependencies';
import { useSettings } from '../support/app';
import { signedWebhookRequest, testContext } from '../support/webhooks';

const TOKEN = '9a8b7c6d5e4f30211203f4e5d6c7b8a9';
const OTHER = 'other-app.azurewebsites.net';
const CALL = { CallSid: 'CA0123456789abcdef0123456789abcdef', From: '+15551230000', To: '+15557654321' };

/** Signed by Twilio for the other app; reaching this app's internal URL with that app's host forwarded. */
const replayed = (path: string) =>
    signedWebhookRequest(TOKEN, {
        url: `http://10.0.0.7:80${path}`,
        signedUrl: `https://${OTHER}${path}`,
        params: CALL,
        headers: { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': OTHER },
    });

afterAll(() => {
    setDependencies();
});

describe('the URL Twilio signed: forwarded hosts are trusted only when listed', () => {
    it('refuses the replayed request with 403 when the forwarded host is not listed', async () => {
        useSettings({ TWILIO_AUTH_TOKEN: TOKEN });
        expect((await voice(replayed('/api/voice'), testContext('voice').context)).status).toBe(403);
        expect((await inboundSms(replayed('/api/sms'), testContext('inboundSms').context)).status).toBe(403);

        useSettings({ TWILIO_AUTH_TOKEN: TOKEN, TRUSTED_FORWARDED_HOSTS: 'fd.contoso.com' });
        expect((await voice(replayed('/api/voice'), testContext('voice').context)).status).toBe(403);
    });

    it('refuses it in Azure too, where the origin defaults to https://$WEBSITE_HOSTNAME', async () => {
        useSettings({ TWILIO_AUTH_TOKEN: TOKEN, WEBSITE_HOSTNAME: 'myapp.azurewebsites.net' });
        expect((await voice(replayed('/api/voice'), testContext('voice').context)).status).toBe(403);
        // …while a request Twilio signed for this app, reaching it at an internal URL, is answered.
        const genuine = signedWebhookRequest(TOKEN, {
            url: 'http://10.0.0.7:80/api/voice',
            signedUrl: 'https://myapp.azurewebsites.net/api/voice',
            params: CALL,
        });
        expect((await voice(genuine, testContext('voice').context)).status).toBe(200);
    });

    it('answers 200 when the forwarded host is listed in TRUSTED_FORWARDED_HOSTS', async () => {
        useSettings({
            TWILIO_AUTH_TOKEN: TOKEN,
            WEBSITE_HOSTNAME: 'myapp.azurewebsites.net',
            TRUSTED_FORWARDED_HOSTS: `fd.contoso.com, ${OTHER.toUpperCase()}`,
        });
        expect((await voice(replayed('/api/voice'), testContext('voice').context)).status).toBe(200);
    });

    it('uses the request URL under Core Tools, whose WEBSITE_HOSTNAME is localhost:<port>', async () => {
        useSettings({ TWILIO_AUTH_TOKEN: TOKEN, WEBSITE_HOSTNAME: 'localhost:7071' });
        for (const origin of ['http://localhost:7071', 'https://localhost:7071']) {
            const local = signedWebhookRequest(TOKEN, { url: `${origin}/api/voice`, params: CALL });
            expect([origin, (await voice(local, testContext('voice').context)).status]).toEqual([
                origin,
                200,
            ]);
        }
    });
});
