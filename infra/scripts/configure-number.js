#!/usr/bin/env node
/**
 * Points a Twilio phone number at this deployment: finds `TWILIO_PHONE_NUMBER` (E.164, or its `PN…` SID)
 * on the account with the official `twilio` client and sets its Voice URL ("A call comes in") and
 * Messaging URL ("A message comes in") to the template's outputs, both HTTP POST, through Twilio's
 * IncomingPhoneNumbers update. azd's postprovision hook runs it (infra/scripts/postprovision.js); it also
 * runs by hand with the same variables.
 *
 *   TWILIO_PHONE_NUMBER                          the number to point (unset: prints the manual command)
 *   TWILIO_VOICE_URL, TWILIO_SMS_URL             the webhook URLs (azd outputs of infra/main.bicep)
 *   TWILIO_ACCOUNT_SID                           the account that owns the number
 *   TWILIO_API_KEY_SID + TWILIO_API_KEY_SECRET   an API key of that account, or
 *   TWILIO_AUTH_TOKEN                            its auth token
 *   TWILIO_API_URL                               optional: a stand-in for api.twilio.com (the local sandbox)
 *
 * Plain Node.js with no build step, so the hook runs on a fresh checkout after `npm install`. It prints
 * the number masked and never prints a token, a key secret or a full phone number.
 */
'use strict';

const { URL } = require('node:url');

const TAG = 'configure-number';

/**
 * Configures the number; resolves to the process exit code (0 done or nothing to do, 1 refused).
 *
 * @param {NodeJS.ProcessEnv} env the variables above
 * @param {{ out: (line: string) => void, err: (line: string) => void }} io where lines go
 * @returns {Promise<number>}
 */
async function configureNumber(env, io) {
    const value = (name) => (env[name] ?? '').trim();
    const number = value('TWILIO_PHONE_NUMBER');
    const voiceUrl = value('TWILIO_VOICE_URL');
    const smsUrl = value('TWILIO_SMS_URL');

    if (number === '') {
        io.out(`${TAG}: TWILIO_PHONE_NUMBER is not set, so no number was changed. Point yours with:`);
        io.out(
            `  twilio phone-numbers:update <your Twilio number> --voice-url ${voiceUrl || '<TWILIO_VOICE_URL>'} --sms-url ${smsUrl || '<TWILIO_SMS_URL>'}`,
        );
        io.out(
            `  or set it (azd env set TWILIO_PHONE_NUMBER +1…) and run azd provision, or this script, again.`,
        );
        return 0;
    }
    const byNumber = /^\+[1-9]\d{7,14}$/.test(number);
    if (!byNumber && !/^PN[0-9a-fA-F]{32}$/.test(number)) {
        io.err(`${TAG}: TWILIO_PHONE_NUMBER must be an E.164 number (+15551234567) or a PN… SID.`);
        return 1;
    }
    const shown = byNumber ? maskPhone(number) : short(number);

    const missingUrls = ['TWILIO_VOICE_URL', 'TWILIO_SMS_URL'].filter((name) => value(name) === '');
    if (missingUrls.length > 0) {
        io.err(`${TAG}: ${missingUrls.join(' and ')} missing: run azd provision (they are its outputs).`);
        return 1;
    }
    const credentials = credentialsFrom(value);
    if ('error' in credentials) {
        io.err(`${TAG}: cannot point ${shown}: ${credentials.error}`);
        return 1;
    }

    const client = createClient(credentials, value('TWILIO_API_URL'));
    const account = short(credentials.accountSid);
    try {
        let found;
        if (byNumber) {
            // Twilio's PhoneNumber filter also matches part of a number: keep the exact one.
            const listed = await client.incomingPhoneNumbers.list({ phoneNumber: number, limit: 50 });
            found = listed.find((n) => n.phoneNumber === number);
        } else {
            found = await client
                .incomingPhoneNumbers(number)
                .fetch()
                .catch((error) => {
                    if (error && error.status === 404) return undefined;
                    throw error;
                });
        }
        if (found === undefined) {
            io.err(
                `${TAG}: ${shown} is not a phone number of account ${account}. Check TWILIO_PHONE_NUMBER, ` +
                    'and that the credentials are those of the account that owns it.',
            );
            return 1;
        }

        const changes = [
            ['Voice ("A call comes in")', found.voiceUrl, found.voiceMethod, voiceUrl],
            ['Messaging ("A message comes in")', found.smsUrl, found.smsMethod, smsUrl],
        ].filter(([, url, method, wanted]) => url !== wanted || String(method).toUpperCase() !== 'POST');
        const label = `${shown} (${short(found.sid)}, account ${account})`;
        if (changes.length === 0) {
            io.out(`${TAG}: ${label} already points at this deployment; nothing changed.`);
            return 0;
        }
        const updated = await client
            .incomingPhoneNumbers(found.sid)
            .update({ voiceUrl, voiceMethod: 'POST', smsUrl, smsMethod: 'POST' });
        io.out(`${TAG}: pointed ${label} at this deployment:`);
        for (const [name, before, beforeMethod] of changes) {
            const after = name.startsWith('Voice') ? updated.voiceUrl : updated.smsUrl;
            io.out(`  ${name}: ${describe(before, beforeMethod)} → ${describe(after, 'POST')}`);
        }
        return 0;
    } catch (error) {
        io.err(`${TAG}: could not point ${shown}: ${explain(error)}`);
        return 1;
    }
}

/** The credentials the variables give, the API key first (Twilio's recommendation for production). */
function credentialsFrom(value) {
    const accountSid = value('TWILIO_ACCOUNT_SID');
    const keySid = value('TWILIO_API_KEY_SID');
    const keySecret = value('TWILIO_API_KEY_SECRET');
    const authToken = value('TWILIO_AUTH_TOKEN');
    if (!/^AC[0-9a-fA-F]{32}$/.test(accountSid)) {
        return {
            error:
                accountSid === ''
                    ? 'TWILIO_ACCOUNT_SID is not set.'
                    : 'TWILIO_ACCOUNT_SID is not an account SID (AC + 32 hex characters).',
        };
    }
    if (keySid !== '' || keySecret !== '') {
        if (keySid === '' || keySecret === '') {
            return {
                error: 'TWILIO_API_KEY_SID and TWILIO_API_KEY_SECRET go together; one of them is not set.',
            };
        }
        if (!/^SK[0-9a-fA-F]{32}$/.test(keySid)) {
            return { error: 'TWILIO_API_KEY_SID is not an API key SID (SK + 32 hex characters).' };
        }
        return { accountSid, username: keySid, password: keySecret };
    }
    if (authToken === '') {
        return {
            error:
                'no credentials: set TWILIO_API_KEY_SID and TWILIO_API_KEY_SECRET (an API key of the account), ' +
                'or TWILIO_AUTH_TOKEN.',
        };
    }
    return { accountSid, username: accountSid, password: authToken };
}

/**
 * The official client. With `apiUrl`, every request goes to that origin instead of Twilio's hosts (the
 * same path and query), through a `RequestClient` passed as `httpClient`, as shared/platform/twilioClient.ts does.
 */
function createClient({ accountSid, username, password }, apiUrl) {
    const twilio = require('twilio');
    if (apiUrl === '') return twilio(username, password, { accountSid });
    const target = new URL(apiUrl);
    const basePath = target.pathname.replace(/\/+$/, '');
    class RedirectingRequestClient extends twilio.RequestClient {
        request(opts) {
            const original = new URL(opts.uri);
            return super.request({
                ...opts,
                uri: `${target.origin}${basePath}${original.pathname}${original.search}`,
            });
        }
    }
    return twilio(username, password, { accountSid, httpClient: new RedirectingRequestClient() });
}

/** What went wrong, without the request's credentials and with any phone number masked. */
function explain(error) {
    if (error && typeof error.status === 'number' && error.code !== undefined) {
        const hint =
            error.status === 401
                ? ': Twilio refused the credentials (check TWILIO_ACCOUNT_SID and the key or token)'
                : '';
        return maskNumbers(
            `Twilio answered HTTP ${error.status}, error ${error.code}${hint}: ${error.message}`,
        );
    }
    const cause = error && error.cause && error.cause.code ? ` (${error.cause.code})` : '';
    const code = error && error.code ? ` (${error.code})` : cause;
    return maskNumbers(`${error && error.message ? error.message : String(error)}${code}`);
}

function describe(url, method) {
    return url ? `${url} (HTTP ${String(method).toUpperCase()})` : '(none)';
}

/** `AC12ab…`: enough to tell accounts and numbers apart. */
function short(sid) {
    return `${sid.slice(0, 6)}…`;
}

/**
 * The masking of shared/platform/redact.ts `maskPhone`, kept in step by test/infra/configureNumber.test.ts:
 * the country-code end and the last four digits of a full-length number (`+15551234567` →
 * `+1555***4567`), a quarter of the digits at each end of a shorter one, anything else as `***`.
 */
function maskPhone(value) {
    if (value === null || value === undefined || value === '') return '(none)';
    const match = /^(\+?)(\d{6,15})$/.exec(String(value).trim());
    if (match === null) return '***';
    const [, plus, digits] = match;
    const kept = digits.length >= 11 ? 4 : Math.floor(digits.length / 4);
    return `${plus}${digits.slice(0, kept)}***${digits.slice(digits.length - kept)}`;
}

function maskNumbers(text) {
    return text.replace(/(?<![\dA-Za-z])\+?\d{7,15}(?![\dA-Za-z])/g, (digits) => maskPhone(digits));
}

module.exports = { configureNumber, maskPhone };

if (require.main === module) {
    configureNumber(process.env, {
        out: (line) => process.stdout.write(`${line}\n`),
        err: (line) => process.stderr.write(`${line}\n`),
    }).then(
        (code) => {
            process.exitCode = code;
        },
        (error) => {
            process.stderr.write(`${TAG}: ${explain(error)}\n`);
            process.exitCode = 1;
        },
    );
}
