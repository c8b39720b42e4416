/**
 * `npm run webhook -- <route> [Name=Value]… [--get] [--unsigned | --forged] [--url <url>]`: sends the
 * app a webhook as Twilio would (form parameters, `X-Twilio-Signature` from the auth token the app
 * validates with) and prints its answer, so a walkthrough never hand-writes an HMAC.
 *
 * `route` is the app's route (`voice`, `sms`, `status`); the app is the one `npm start` runs, whatever its
 * port (see local/webhookTarget.ts). `Name=Value` pairs are the webhook's parameters, in the form body for
 * a POST (the default) or the query for `--get`; a name may repeat. `--unsigned` sends no signature and
 * `--forged` a signature made with another token, to see the app refuse them (400, 403).
 *
 * Exit status: 0 when the app answered 2xx, 1 when it answered an error or could not be reached (or no
 * token is configured), 2 for a usage error.
 */

import {
    describeRequestError,
    encodeParams,
    messageOf,
    sendTwilioRequest,
    type TwilioParams,
} from './sandbox/callbacks';
import { parseCommandLine, resolveWebhookTarget, runCli, type WebhookCliIo } from './webhookTarget';

const USAGE = `Usage: npm run webhook -- <route> [Name=Value]... [--get] [--unsigned | --forged] [--url <url>]

Sends the app a webhook signed as Twilio signs it and prints the answer.

  <route>     the app's route: voice, sms, status, …
  Name=Value  a parameter (in the form body, or the query with --get); repeat a name for several values
  --get       a GET with the parameters in the query (default: a form POST)
  --unsigned  no X-Twilio-Signature (the app answers 400)
  --forged    a signature made with another token (the app answers 403)
  --url       the webhook URL (default: the route of the app npm start runs)
`;

const ROUTE = /^[A-Za-z0-9][A-Za-z0-9/_-]*$/;

/** Runs the CLI with `argv` (the arguments after the script) and resolves to its exit status. */
export async function main(argv: readonly string[], io: WebhookCliIo): Promise<number> {
    const line = parseCommandLine(argv, io, USAGE, {
        options: {
            get: { type: 'boolean' },
            unsigned: { type: 'boolean' },
            forged: { type: 'boolean' },
            url: { type: 'string' },
            help: { type: 'boolean', short: 'h' },
        },
        strict: true,
        allowPositionals: true,
    });
    if (line.kind === 'exit') return line.exitCode;
    const { values, positionals } = line.parsed;
    const { usageError } = line;
    const [route, ...pairs] = positionals;
    if (route === undefined || !ROUTE.test(route))
        return usageError('a route (voice, sms, status, …) is required');
    if (values.unsigned === true && values.forged === true) {
        return usageError('--unsigned and --forged cannot be given together');
    }
    const params: TwilioParams = {};
    for (const pair of pairs) {
        const equals = pair.indexOf('=');
        if (equals <= 0) return usageError(`${pair} is not Name=Value`);
        const name = pair.slice(0, equals);
        const value = pair.slice(equals + 1);
        const seen = params[name];
        params[name] = seen === undefined ? value : [...(typeof seen === 'string' ? [seen] : seen), value];
    }

    let target;
    try {
        target = resolveWebhookTarget(io, route, values.url);
    } catch (error) {
        io.stderr(`${messageOf(error)}\n`);
        return 1;
    }
    const method = values.get === true ? 'GET' : 'POST';
    let result: { status: number; body: string };
    try {
        if (values.unsigned === true) {
            const encoded = encodeParams(params);
            const url =
                method === 'GET' && encoded !== ''
                    ? `${target.url}${target.url.includes('?') ? '&' : '?'}${encoded}`
                    : target.url;
            const response = await io.fetch(url, {
                method,
                ...(method === 'POST'
                    ? { headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: encoded }
                    : {}),
            });
            result = { status: response.status, body: await response.text() };
        } else {
            result = await sendTwilioRequest({
                url: target.url,
                method,
                params,
                // A forged request is signed like a genuine one, with a token the app does not have.
                authToken: values.forged === true ? `forged-${target.authToken}` : target.authToken,
                signatureUrl: target.signatureUrl,
                fetch: io.fetch,
            });
        }
    } catch (error) {
        io.stderr(
            `Could not reach ${target.url} (${describeRequestError(error)}). Is the app running? Start it with npm start.\n`,
        );
        return 1;
    }
    const how =
        values.unsigned === true
            ? 'unsigned'
            : values.forged === true
              ? 'forged signature'
              : `signed with ${target.source}`;
    io.stderr(`${method} ${target.url} (${how}): HTTP ${String(result.status)}\n`);
    io.stdout(`${String(result.status)} ${result.body}${result.body.endsWith('\n') ? '' : '\n'}`);
    return result.status >= 200 && result.status < 300 ? 0 : 1;
}

if (require.main === module) runCli(main);
