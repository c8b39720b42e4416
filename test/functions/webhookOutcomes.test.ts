/**
 * The `webhook.rejected` outcome line of every webhook function, for every refusal of the webhook front
 * (shared/webhooks/receive.ts): one warning with the status answered and the route, never the query string.
 */

import { HttpRequest } from '@azure/functions';
import { inboundSms } from '../../functions/inboundSms';
import { status } from '../../functions/status';
import { voice } from '../../functions/voice';
import { parseConfig } from '../../shared/platform/config';
import { createDependencies, setDependencies } from '../../shared/platform/dependencies';
import { SecretUnavailableError } from '../../shared/platform/errors';
import { createSecretProvider } from '../../shared/platform/secrets';
import { webhookRoute } from '../../shared/webhooks/receive';
import { useSettings } from '../support/app';
import { signedWebhookRequest, testContext, webhookRequest } from '../support/webhooks';

const TOKEN = '9a8b7c6d5e4f30211203f4e5d6c7b8a9';
const BASE = 'https://myapp.azurewebsites.net';
const CALLER = '+15551230000';
const CALL = { CallSid: 'CA0123456789abcdef0123456789abcdef', From: CALLER };

afterAll(() => {
    setDependencies();
});

/** The outcome lines a handler logged for `request`, as `level text`, and its status. */
async function run(
    handler: typeof voice,
    request: HttpRequest,
    name: string,
): Promise<{ status: number | undefined; outcomes: string[]; text: string }> {
    const { context, logs } = testContext(name);
    const response = await handler(request, context);
    return {
        status: response.status,
        outcomes: logs.filter((l) => l.message.startsWith('event=')).map((l) => `${l.level} ${l.message}`),
        text: logs.map((l) => l.message).join('\n'),
    };
}

describe('webhook.rejected', () => {
    beforeEach(() => {
        useSettings({ TWILIO_AUTH_TOKEN: TOKEN, PUBLIC_BASE_URL: BASE });
    });

    it('403: a forged signature, with the route and without the query string that carries the caller', async () => {
        const url = `${BASE}/api/voice?From=${encodeURIComponent(CALLER)}&Message=secret%20words`;
        const result = await run(voice, signedWebhookRequest('forged', { url, params: CALL }), 'voice');
        expect(result.status).toBe(403);
        expect(result.outcomes).toEqual(['warning event=webhook.rejected status=403 route=voice']);
        expect(result.text).not.toMatch(/5551230000|secret words|secret%20words|From=/);
    });

    it('413: a body over 1 MiB, and more than 1,000 parameters, before the signature is looked at', async () => {
        const big = webhookRequest({ url: `${BASE}/api/sms`, body: `Body=${'x'.repeat(1024 * 1024)}` });
        const many = webhookRequest({
            url: `${BASE}/api/sms`,
            body: Array.from({ length: 1001 }, (_, i) => `p${String(i)}=1`).join('&'),
            signature: 'x',
        });
        for (const request of [big, many]) {
            const result = await run(inboundSms, request, 'inboundSms');
            expect(result.status).toBe(413);
            expect(result.outcomes).toEqual(['warning event=webhook.rejected status=413 route=sms']);
        }
    });

    it('400: no signature, on the status route', async () => {
        const request = webhookRequest({
            url: `${BASE}/api/status?id=order-1`,
            params: { MessageSid: 'SM0123456789abcdef0123456789abcdef', MessageStatus: 'sent' },
        });
        const result = await run(status, request, 'status');
        expect(result.status).toBe(400);
        expect(result.outcomes).toEqual(['warning event=webhook.rejected status=400 route=status']);
    });

    it('500: no auth token configured, and invalid settings; 503: the token cannot be read', async () => {
        useSettings({});
        const unconfigured = await run(
            voice,
            signedWebhookRequest(TOKEN, { url: `${BASE}/api/voice`, params: CALL }),
            'voice',
        );
        expect(unconfigured.status).toBe(500);
        expect(unconfigured.outcomes).toEqual(['warning event=webhook.rejected status=500 route=voice']);

        const saved = { ...process.env };
        setDependencies();
        const { resetConfig } = await import('../../shared/platform/config');
        process.env.TWILIO_ACCOUNT_SID = 'not-a-sid';
        resetConfig();
        try {
            const misconfigured = await run(
                inboundSms,
                webhookRequest({ url: `${BASE}/api/sms`, params: { Body: 'hi' } }),
                'inboundSms',
            );
            expect(misconfigured.status).toBe(500);
            expect(misconfigured.outcomes).toEqual(['warning event=webhook.rejected status=500 route=sms']);
        } finally {
            process.env = saved;
            resetConfig();
        }

        setDependencies({
            ...createDependencies(parseConfig({ TWILIO_AUTH_TOKEN: TOKEN, PUBLIC_BASE_URL: BASE })),
            authToken: createSecretProvider({
                read: () => Promise.reject(new SecretUnavailableError('Key Vault is unreachable')),
                ttlMs: 60_000,
            }),
        });
        const vaultDown = await run(
            status,
            signedWebhookRequest(TOKEN, { url: `${BASE}/api/status`, params: CALL }),
            'status',
        );
        expect(vaultDown.status).toBe(503);
        expect(vaultDown.outcomes).toEqual(['warning event=webhook.rejected status=503 route=status']);
    });

    it('nothing for a webhook it lets through', async () => {
        const result = await run(
            voice,
            signedWebhookRequest(TOKEN, { url: `${BASE}/api/voice`, params: CALL }),
            'voice',
        );
        expect(result.status).toBe(200);
        expect(result.outcomes).toEqual([]);
    });
});

describe('webhookRoute', () => {
    it.each([
        ['https://myapp.azurewebsites.net/api/voice', 'voice'],
        ['https://myapp.azurewebsites.net/api/sms?From=%2B15551230000', 'sms'],
        ['https://fd.contoso.com/twilio/api/Status/#x', 'status'],
        ['http://localhost:7071/api/voice?Message=a/b/sms', 'voice'],
        ['https://myapp.azurewebsites.net/api/%2B15551230000', 'other'],
        ['https://myapp.azurewebsites.net', 'other'],
        ['not a url', 'other'],
    ])('%s → %s', (url, route) => {
        expect(webhookRoute(url)).toBe(route);
    });
});
