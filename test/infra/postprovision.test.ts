/**
 * The azd postprovision hook prints the webhook URLs and the exact Twilio CLI command, from azd's outputs,
 * and with TWILIO_PHONE_NUMBER set points that number at them (configure-number.js) or fails saying why.
 */

import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { SANDBOX_NUMBER } from '../../local/sandbox/resources';
import { generateTestCredentials, startTwilioSandbox } from '../../local/sandbox/sandbox';
import { maskPhone } from '../../shared/platform/redact';
import { REPO_ROOT } from './bicep';

const SCRIPT = path.join(REPO_ROOT, 'infra', 'scripts', 'postprovision.js');
const base = 'https://func-abc-h7fgb2c9.westus3-01.azurewebsites.net';
const outputs = {
    FUNCTION_APP_URL: base,
    TWILIO_VOICE_URL: `${base}/api/voice`,
    TWILIO_SMS_URL: `${base}/api/sms`,
    TWILIO_STATUS_CALLBACK_URL: `${base}/api/status`,
    KEY_VAULT_URL: 'https://kv-abc.vault.azure.net',
    AZURE_KEY_VAULT_NAME: 'kv-abc',
    TWILIO_AUTH_TOKEN_SECRET_NAME: 'twilio-auth-token',
};

function hook(env: Record<string, string>) {
    return spawnSync(process.execPath, [SCRIPT], {
        env: { PATH: process.env.PATH ?? '', ...env },
        encoding: 'utf8',
    });
}

test('with TWILIO_PHONE_NUMBER but no credentials: the URLs, why it could not point the number, the command, exit 1', () => {
    const result = hook({ ...outputs, TWILIO_PHONE_NUMBER: '+15551234567' });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(
        'configure-number: cannot point +1555***4567: TWILIO_ACCOUNT_SID is not set.',
    );
    const lines = result.stdout.split('\n').map((line) => line.trim());
    expect(lines).toContain('Or point it by hand with the Twilio CLI:');
    expect(lines).toContain(
        `twilio phone-numbers:update +15551234567 --voice-url ${base}/api/voice --sms-url ${base}/api/sms`,
    );
    expect(result.stdout).toContain(`${base}/api/status`);
    expect(lines).toContain(
        'az keyvault secret set --vault-name kv-abc --name twilio-auth-token --value <auth token>',
    );
});

test('with TWILIO_PHONE_NUMBER and an API key it points the number itself (against the sandbox)', async () => {
    const credentials = generateTestCredentials();
    const number = '+15557770401';
    const sandbox = await startTwilioSandbox({ ...credentials, phoneNumbers: [SANDBOX_NUMBER, number] });
    try {
        const env = {
            PATH: process.env.PATH ?? '',
            ...outputs,
            TWILIO_PHONE_NUMBER: number,
            TWILIO_ACCOUNT_SID: credentials.accountSid,
            TWILIO_API_KEY_SID: credentials.apiKeySid,
            TWILIO_API_KEY_SECRET: credentials.apiKeySecret,
            TWILIO_API_URL: sandbox.url,
        };
        // Not spawnSync: the sandbox answers from this process's event loop.
        const result = await new Promise<{ code: number | null; stdout: string }>((resolve, reject) => {
            const child = spawn(process.execPath, [SCRIPT], { env, stdio: ['ignore', 'pipe', 'inherit'] });
            let stdout = '';
            child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
            child.once('error', reject);
            child.once('close', (code) => resolve({ code, stdout }));
        });
        expect(result.code).toBe(0);
        expect(result.stdout).toContain(`configure-number: pointed ${maskPhone(number)} (PN`);
        expect(result.stdout).not.toContain('phone-numbers:update');
        expect(result.stdout).not.toContain(number);
        expect(result.stdout).not.toContain(credentials.apiKeySecret);
        const configured = sandbox.phoneNumbers.find((n) => n.phoneNumber === number);
        expect(configured?.settings).toMatchObject({
            VoiceUrl: `${base}/api/voice`,
            VoiceMethod: 'POST',
            SmsUrl: `${base}/api/sms`,
            SmsMethod: 'POST',
        });
    } finally {
        await sandbox.close();
    }
});

test('without TWILIO_PHONE_NUMBER the command names a placeholder, quoted for the shell', () => {
    const result = hook(outputs);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/twilio phone-numbers:update '<your Twilio number[^']*>' --voice-url /);
    expect(result.stdout).toContain('or set TWILIO_PHONE_NUMBER');
});

test('fails, naming them, when the provisioning outputs are missing', () => {
    const result = hook({ FUNCTION_APP_URL: base });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('TWILIO_VOICE_URL, TWILIO_SMS_URL, TWILIO_STATUS_CALLBACK_URL');
});
