/**
 * The voicemail and e-mail settings (shared/platform/config.ts): validated once with the rest, each
 * problem naming its setting and never its value.
 */

import { ConfigError } from '../../../shared/platform/errors';
import { isEmailAddress, parseConfig } from '../../../shared/platform/config';

function problems(env: Record<string, string>): string[] {
    try {
        parseConfig(env);
    } catch (error) {
        if (error instanceof ConfigError) return error.message.split('\n');
        throw error;
    }
    return [];
}

describe('voicemail settings', () => {
    it('reads the notice number, the default recipient and the allow-list (lowercased, deduplicated)', () => {
        const config = parseConfig({
            VOICEMAIL_NOTIFY_NUMBER: '+15551230000',
            VOICEMAIL_EMAIL_TO: 'Owner@Contoso.com',
            VOICEMAIL_EMAIL_ALLOWED: ' a@contoso.com, @Fabrikam.com ,a@contoso.com,',
        });
        expect(config.voicemail).toEqual({
            notifyNumber: '+15551230000',
            emailTo: 'owner@contoso.com',
            emailAllowed: ['a@contoso.com', '@fabrikam.com'],
        });
        expect(config.email).toBeUndefined();
    });

    it('names each invalid voicemail setting, never its value', () => {
        const found = problems({
            VOICEMAIL_NOTIFY_NUMBER: '555-1234',
            VOICEMAIL_EMAIL_TO: 'not an address',
            VOICEMAIL_EMAIL_ALLOWED: 'a@contoso.com,*.evil',
        });
        expect(found.join('\n')).toMatch(/VOICEMAIL_NOTIFY_NUMBER must be an E\.164 number/);
        expect(found.join('\n')).toMatch(/VOICEMAIL_EMAIL_TO must be an e-mail address/);
        expect(found.join('\n')).toMatch(/VOICEMAIL_EMAIL_ALLOWED must be a comma-separated list/);
        expect(found.join('\n')).not.toMatch(/555-1234|not an address|evil/);
    });
});

describe('e-mail settings', () => {
    it('takes an https endpoint and a sender, set together', () => {
        expect(
            parseConfig({
                EMAIL_ENDPOINT: 'https://voicemail.communication.azure.com/',
                EMAIL_SENDER: 'DoNotReply@contoso.com',
            }).email,
        ).toEqual({
            endpoint: 'https://voicemail.communication.azure.com',
            sender: 'DoNotReply@contoso.com',
        });
        expect(
            parseConfig({ EMAIL_ENDPOINT: 'http://127.0.0.1:4567', EMAIL_SENDER: 'a@contoso.com' }).email
                ?.endpoint,
        ).toBe('http://127.0.0.1:4567');
    });

    it.each([
        [{ EMAIL_ENDPOINT: 'https://x.communication.azure.com' }, /must be set together/],
        [{ EMAIL_SENDER: 'a@contoso.com' }, /must be set together/],
        [{ EMAIL_ENDPOINT: 'http://x.communication.azure.com', EMAIL_SENDER: 'a@b.com' }, /must use https/],
        [
            { EMAIL_ENDPOINT: 'https://x.communication.azure.com/emails', EMAIL_SENDER: 'a@b.com' },
            /endpoint alone/,
        ],
        [
            { EMAIL_ENDPOINT: 'https://x.communication.azure.com', EMAIL_SENDER: 'nobody' },
            /EMAIL_SENDER must be/,
        ],
        [{ EMAIL_ENDPOINT: 'ftp://x', EMAIL_SENDER: 'a@b.com' }, /EMAIL_ENDPOINT must use/],
    ])('refuses %j', (env, message) => {
        expect(problems(env).join('\n')).toMatch(message);
    });
});

describe('isEmailAddress', () => {
    it.each(['a@contoso.com', 'first.last+tag@mail.contoso.co.uk', "o'brien@contoso.com"])(
        'accepts %s',
        (a) => {
            expect(isEmailAddress(a)).toBe(true);
        },
    );

    it.each([
        'a@contoso',
        '@contoso.com',
        'a b@contoso.com',
        'a@contoso.com\r\nBcc: x@evil.com',
        '"quoted"@contoso.com',
        'a@-contoso.com',
        `${'a'.repeat(65)}@contoso.com`,
        `a@${'b'.repeat(250)}.com`,
    ])('refuses %j', (address) => {
        expect(isEmailAddress(address)).toBe(false);
    });
});
