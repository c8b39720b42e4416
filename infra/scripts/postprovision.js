#!/usr/bin/env node
/**
 * azd postprovision hook: prints the webhook URLs the template produced and the Twilio CLI command that
 * points a phone number at them. azd passes the template's outputs, and the azd environment's values, as
 * environment variables. With `TWILIO_PHONE_NUMBER` set it points that number at them itself
 * (configure-number.js, through Twilio's API with the account's credentials), and fails when it cannot.
 *
 * Prints only URLs and the number you configured (your own number, in full, in the command to paste);
 * never a token or key.
 */
'use strict';

const { configureNumber } = require('./configure-number.js');

const REQUIRED = ['FUNCTION_APP_URL', 'TWILIO_VOICE_URL', 'TWILIO_SMS_URL', 'TWILIO_STATUS_CALLBACK_URL'];

/** The webhook URLs and the manual commands; resolves to the exit code. */
async function main(env) {
    const missing = REQUIRED.filter((name) => !env[name]);
    if (missing.length > 0) {
        process.stderr.write(
            `postprovision: the provisioning outputs ${missing.join(', ')} are missing; run azd provision\n`,
        );
        return 1;
    }
    const configured = (env.TWILIO_PHONE_NUMBER ?? '').trim();
    const number = configured || '<your Twilio number, E.164 or PN… SID>';
    const lines = [
        '',
        'Twilio webhooks for this deployment:',
        `  Voice ("A call comes in", HTTP POST):        ${env.TWILIO_VOICE_URL}`,
        `  Messaging ("A message comes in", HTTP POST): ${env.TWILIO_SMS_URL}`,
        `  Status callbacks (set by the app per send):  ${env.TWILIO_STATUS_CALLBACK_URL}`,
        `  PUBLIC_BASE_URL is set to                    ${env.FUNCTION_APP_URL}`,
        '',
    ];
    const manual = [
        configured === ''
            ? "Point your number at them with the Twilio CLI (or set TWILIO_PHONE_NUMBER, with the account's credentials, and this hook does it):"
            : 'Or point it by hand with the Twilio CLI:',
        `  twilio phone-numbers:update ${quote(number)} --voice-url ${quote(env.TWILIO_VOICE_URL)} --sms-url ${quote(env.TWILIO_SMS_URL)}`,
        '',
    ];
    if (configured === '') lines.push(...manual);
    if (env.KEY_VAULT_URL && env.AZURE_KEY_VAULT_NAME) {
        const secret = env.TWILIO_AUTH_TOKEN_SECRET_NAME || 'twilio-auth-token';
        lines.push(
            `The auth token is read from ${env.KEY_VAULT_URL}; set or rotate it with:`,
            `  az keyvault secret set --vault-name ${env.AZURE_KEY_VAULT_NAME} --name ${secret} --value <auth token>`,
            '',
        );
    }
    process.stdout.write(`${lines.join('\n')}\n`);
    if (configured === '') return 0;

    const code = await configureNumber(env, {
        out: (line) => process.stdout.write(`${line}\n`),
        err: (line) => process.stderr.write(`${line}\n`),
    });
    if (code !== 0) process.stdout.write(`\n${manual.join('\n')}\n`);
    return code;
}

/** Quotes a value for a POSIX shell when it holds anything but URL-safe characters. */
function quote(value) {
    return /^[A-Za-z0-9_@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

main(process.env).then(
    (code) => {
        process.exitCode = code;
    },
    (error) => {
        process.stderr.write(`postprovision: ${error instanceof Error ? error.message : String(error)}\n`);
        process.exitCode = 1;
    },
);
