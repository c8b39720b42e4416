import { ConfigError } from '../../shared/errors';
import { DEFAULT_SMS_REPLY, parseConfig } from '../../shared/config';

const SID = 'AC0123456789abcdef0123456789abcdef';

function problemsOf(env: Record<string, string>): readonly string[] {
    try {
        parseConfig(env);
    } catch (error) {
        if (error instanceof ConfigError) return error.problems;
        throw error;
    }
    throw new Error('expected a ConfigError');
}

describe('parseConfig', () => {
    it('applies the documented defaults to an empty environment', () => {
        expect(parseConfig({})).toEqual({
            accountSid: undefined,
            authToken: { kind: 'none' },
            secretTtlMs: 3_600_000,
            publicBaseUrl: undefined,
            trustedForwardedHosts: [],
            webhookValidation: true,
            voiceGreeting: 'Hello World',
            smsReply: DEFAULT_SMS_REPLY,
            twilioApiUrl: undefined,
            storage: undefined,
            outboundQueue: 'twilio-outbound',
            fromNumber: undefined,
            messagingServiceSid: undefined,
            ledgerTable: 'TwilioLedger',
            ledgerStoreBody: false,
        });
        expect(DEFAULT_SMS_REPLY).toBe('Hey, thanks for the ping! Twilio and Azure rock!');
    });

    it('treats empty and blank settings as unset, as Core Tools and App Service pass them', () => {
        const config = parseConfig({ TWILIO_ACCOUNT_SID: '', TWILIO_AUTH_TOKEN: '  ', VOICE_GREETING: '' });
        expect(config.accountSid).toBeUndefined();
        expect(config.authToken).toEqual({ kind: 'none' });
        expect(config.voiceGreeting).toBe('Hello World');
    });

    it('reads the token from Key Vault when KEY_VAULT_URL is set, even if TWILIO_AUTH_TOKEN is too', () => {
        const config = parseConfig({
            TWILIO_ACCOUNT_SID: SID,
            KEY_VAULT_URL: 'https://myvault.vault.azure.net/',
            TWILIO_AUTH_TOKEN: 'ignored',
            AZURE_CLIENT_ID: '00000000-1111-2222-3333-444444444444',
            SECRET_CACHE_TTL_SECONDS: '120',
        });
        expect(config.authToken).toEqual({
            kind: 'keyVault',
            vaultUrl: 'https://myvault.vault.azure.net',
            secretName: 'twilio-auth-token',
            managedIdentityClientId: '00000000-1111-2222-3333-444444444444',
        });
        expect(config.secretTtlMs).toBe(120_000);
    });

    it('uses TWILIO_AUTH_TOKEN without a vault', () => {
        expect(parseConfig({ TWILIO_AUTH_TOKEN: 'abc' }).authToken).toEqual({
            kind: 'setting',
            token: 'abc',
        });
    });

    it('keeps PUBLIC_BASE_URL as written, without a trailing slash', () => {
        expect(parseConfig({ PUBLIC_BASE_URL: 'https://MyApp.azurewebsites.net/' }).publicBaseUrl).toBe(
            'https://MyApp.azurewebsites.net',
        );
        expect(parseConfig({ PUBLIC_BASE_URL: 'https://gw.contoso.com/twilio' }).publicBaseUrl).toBe(
            'https://gw.contoso.com/twilio',
        );
    });

    it('defaults the public origin to https://$WEBSITE_HOSTNAME in Azure; PUBLIC_BASE_URL wins', () => {
        expect(parseConfig({ WEBSITE_HOSTNAME: 'myapp.azurewebsites.net' }).publicBaseUrl).toBe(
            'https://myapp.azurewebsites.net',
        );
        expect(
            parseConfig({
                WEBSITE_HOSTNAME: 'myapp.azurewebsites.net',
                PUBLIC_BASE_URL: 'https://sms.contoso.com',
            }).publicBaseUrl,
        ).toBe('https://sms.contoso.com');
    });

    it.each(['localhost:7071', 'localhost', 'LOCALHOST:7072', '127.0.0.1:7071', 'app.localhost:80'])(
        "ignores Core Tools' loopback WEBSITE_HOSTNAME=%s (http or --useHttps): the request URL is used",
        (hostname) => {
            expect(parseConfig({ WEBSITE_HOSTNAME: hostname }).publicBaseUrl).toBeUndefined();
        },
    );

    it.each(['https://myapp.azurewebsites.net', 'myapp.azurewebsites.net/api', 'a:b:c', 'my app'])(
        'refuses a malformed WEBSITE_HOSTNAME=%s, naming it',
        (hostname) => {
            expect(problemsOf({ WEBSITE_HOSTNAME: hostname })).toEqual([
                expect.stringContaining('WEBSITE_HOSTNAME') as unknown as string,
            ]);
        },
    );

    it('reads TRUSTED_FORWARDED_HOSTS as lowercased host names, blanks and duplicates dropped', () => {
        expect(parseConfig({}).trustedForwardedHosts).toEqual([]);
        expect(
            parseConfig({ TRUSTED_FORWARDED_HOSTS: ' FD.Contoso.com, api.contoso.com,fd.contoso.com ' })
                .trustedForwardedHosts,
        ).toEqual(['fd.contoso.com', 'api.contoso.com']);
    });

    it.each([
        'https://fd.contoso.com',
        'fd.contoso.com:443',
        '*.contoso.com',
        'fd.contoso.com/path',
        'a,,b',
        'fd.contoso.com;api.contoso.com',
        '-bad.example.com',
    ])('refuses TRUSTED_FORWARDED_HOSTS=%s with a ConfigError naming it', (value) => {
        expect(problemsOf({ TRUSTED_FORWARDED_HOSTS: value })).toEqual([
            expect.stringContaining('TRUSTED_FORWARDED_HOSTS') as unknown as string,
        ]);
    });

    it.each([
        ['on', true],
        ['ON', true],
        ['true', true],
        ['off', false],
        ['false', false],
    ])('reads TWILIO_WEBHOOK_VALIDATION=%s as %s', (value, expected) => {
        expect(parseConfig({ TWILIO_WEBHOOK_VALIDATION: value }).webhookValidation).toBe(expected);
    });

    it('names every invalid setting in one error', () => {
        const problems = problemsOf({
            TWILIO_ACCOUNT_SID: 'AC123',
            KEY_VAULT_URL: 'http://myvault.vault.azure.net',
            TWILIO_AUTH_TOKEN_SECRET_NAME: 'bad name!',
            AZURE_CLIENT_ID: 'not-a-guid',
            SECRET_CACHE_TTL_SECONDS: '0',
            PUBLIC_BASE_URL: 'myapp.azurewebsites.net',
            TWILIO_WEBHOOK_VALIDATION: 'maybe',
            TWILIO_API_URL: 'http://127.0.0.1:9/?x=1',
            TWILIO_FROM_NUMBER: '5551234567',
            TWILIO_MESSAGING_SERVICE_SID: 'MGxyz',
            OUTBOUND_QUEUE: 'Bad_Queue',
            LEDGER_TABLE: 'ledger-table',
            LEDGER_STORE_BODY: 'yes',
            AzureWebJobsStorage__accountName: 'Not An Account',
        });
        const named = [
            'TWILIO_ACCOUNT_SID',
            'KEY_VAULT_URL',
            'TWILIO_AUTH_TOKEN_SECRET_NAME',
            'AZURE_CLIENT_ID',
            'SECRET_CACHE_TTL_SECONDS',
            'PUBLIC_BASE_URL',
            'TWILIO_WEBHOOK_VALIDATION',
            'TWILIO_API_URL',
            'TWILIO_FROM_NUMBER',
            'TWILIO_MESSAGING_SERVICE_SID',
            'OUTBOUND_QUEUE',
            'LEDGER_TABLE',
            'LEDGER_STORE_BODY',
            'AzureWebJobsStorage__accountName',
        ];
        expect(problems).toHaveLength(named.length);
        for (const name of named) expect(problems.filter((p) => p.startsWith(name))).toHaveLength(1);
    });

    it('reads the storage connection as the Functions host does', () => {
        expect(parseConfig({ AzureWebJobsStorage: 'UseDevelopmentStorage=true' }).storage).toEqual({
            kind: 'connectionString',
            connectionString: 'UseDevelopmentStorage=true',
        });
        expect(parseConfig({ AzureWebJobsStorage__accountName: 'contoso' }).storage).toEqual({
            kind: 'identity',
            queueServiceUrl: 'https://contoso.queue.core.windows.net',
            tableServiceUrl: 'https://contoso.table.core.windows.net',
        });
        expect(problemsOf({ AzureWebJobsStorage__queueServiceUri: 'https://q.example' })).toEqual([
            expect.stringContaining('must be set together'),
        ]);
    });

    it('reads the outbound defaults', () => {
        const config = parseConfig({
            TWILIO_FROM_NUMBER: '+15551234567',
            TWILIO_MESSAGING_SERVICE_SID: 'MG0123456789abcdef0123456789abcdef',
            OUTBOUND_QUEUE: 'sms-out',
            LEDGER_TABLE: 'Ledger2',
            LEDGER_STORE_BODY: 'TRUE',
        });
        expect(config).toMatchObject({
            fromNumber: '+15551234567',
            messagingServiceSid: 'MG0123456789abcdef0123456789abcdef',
            outboundQueue: 'sms-out',
            ledgerTable: 'Ledger2',
            ledgerStoreBody: true,
        });
    });

    it('reports an App Service Key Vault reference the platform could not resolve', () => {
        const problems = problemsOf({
            TWILIO_AUTH_TOKEN: '@Microsoft.KeyVault(SecretUri=https://v.vault.azure.net/secrets/t/)',
        });
        expect(problems).toEqual([expect.stringContaining('unresolved Key Vault reference')]);
    });

    it('never puts a setting value in the error message', () => {
        let message = '';
        try {
            parseConfig({ TWILIO_ACCOUNT_SID: 'ACsecret-looking-value', SECRET_CACHE_TTL_SECONDS: 'abc' });
        } catch (error) {
            message = (error as Error).message;
        }
        expect(message).toContain('TWILIO_ACCOUNT_SID');
        expect(message).not.toContain('secret-looking-value');
        expect(message).not.toContain('abc');
    });
});
