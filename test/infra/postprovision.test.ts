/** The azd postprovision hook prints the webhook URLs and the exact Twilio CLI command, from azd's outputs. */

import { spawnSync } from 'node:child_process';
import path from 'node:path';
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

test('prints each webhook URL and the twilio phone-numbers:update command for the configured number', () => {
    const result = hook({ ...outputs, TWILIO_PHONE_NUMBER: '+15551234567' });
    expect(result.status).toBe(0);
    const lines = result.stdout.split('\n').map((line) => line.trim());
    expect(lines).toContain(
        `twilio phone-numbers:update +15551234567 --voice-url ${base}/api/voice --sms-url ${base}/api/sms`,
    );
    expect(result.stdout).toContain(`${base}/api/status`);
    expect(lines).toContain(
        'az keyvault secret set --vault-name kv-abc --name twilio-auth-token --value <auth token>',
    );
});

test('without TWILIO_PHONE_NUMBER the command names a placeholder, quoted for the shell', () => {
    const result = hook(outputs);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/twilio phone-numbers:update '<your Twilio number[^']*>' --voice-url /);
});

test('fails, naming them, when the provisioning outputs are missing', () => {
    const result = hook({ FUNCTION_APP_URL: base });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('TWILIO_VOICE_URL, TWILIO_SMS_URL, TWILIO_STATUS_CALLBACK_URL');
});
