/**
 * `npm run sms -- --from +15551230000 --body "hello" [--to +15005550006] [--url http://localhost:7071/api/sms]
 * [--media https://…/cat.jpg]…`: sends the app a signed inbound-message webhook, as Twilio would when a
 * text arrives, and prints the TwiML it answered.
 *
 * The webhook is `--url`, else `/api/sms` of the app `npm start` runs (its URL is in `.azurite/app.json`,
 * whatever port it listens on), else `http://localhost:<PORT, LocalHttpPort or 7071>/api/sms`.
 *
 * The auth token to sign with is `TWILIO_AUTH_TOKEN` from `local.settings.json` (an environment variable
 * of the same name wins, as with Core Tools); when that is empty, the Twilio sandbox's credentials that
 * `npm start` wrote to `.azurite/sandbox.json`. Signatures are computed for `PUBLIC_BASE_URL` when one is
 * set (the app validates against it), else for the URL posted to.
 *
 * Exit status: 0 when the app answered 2xx, 1 when it answered an error or could not be reached (or no
 * token is configured), 2 for a usage error.
 */

import { parseArgs } from 'node:util';
import { describeRequestError, messageOf } from './sandbox/callbacks';
import { simulateInboundSms } from './sandbox/inbound';
import { isMessageRecipient, SANDBOX_NUMBER } from './sandbox/resources';
import { resolveWebhookTarget, runCli, type WebhookCliIo, type WebhookTarget } from './webhookTarget';
import { APP_STATE_FILE } from './settings';

/** The command's view of its process (see {@link WebhookCliIo}). */
export type SmsCliIo = WebhookCliIo;

const USAGE = `Usage: npm run sms -- --from <number> --body <text> [--to <number>] [--url <webhook>] [--media <url>]...

Sends the app a signed Twilio inbound-message webhook and prints the TwiML reply.

  --from   the sender, E.164 (e.g. +15551230000)
  --body   the message text
  --to     your Twilio number (default ${SANDBOX_NUMBER})
  --url    the app's messaging webhook (default: /api/sms of the app npm start runs, from ${APP_STATE_FILE};
           without npm start, http://localhost:<PORT, LocalHttpPort or 7071>/api/sms)
  --media  a media URL, as for an MMS; repeat for several
`;

/** Runs the CLI with `argv` (the arguments after the script) and resolves to its exit status. */
export async function main(argv: readonly string[], io: SmsCliIo): Promise<number> {
    let values: { from?: string; body?: string; to?: string; url?: string; media?: string[]; help?: boolean };
    try {
        ({ values } = parseArgs({
            args: [...argv],
            options: {
                from: { type: 'string' },
                body: { type: 'string' },
                to: { type: 'string' },
                url: { type: 'string' },
                media: { type: 'string', multiple: true },
                help: { type: 'boolean', short: 'h' },
            },
            strict: true,
            allowPositionals: false,
        }));
    } catch (error) {
        io.stderr(`${messageOf(error)}\n\n${USAGE}`);
        return 2;
    }
    if (values.help === true) {
        io.stdout(USAGE);
        return 0;
    }
    const usageError = (message: string) => {
        io.stderr(`${message}\n\n${USAGE}`);
        return 2;
    };
    const { from, body } = values;
    const to = values.to ?? SANDBOX_NUMBER;
    if (from === undefined) return usageError('--from is required');
    if (body === undefined) return usageError('--body is required');
    if (!isMessageRecipient(from))
        return usageError(`--from ${from} is not an E.164 number (e.g. +15551230000)`);
    if (!isMessageRecipient(to)) return usageError(`--to ${to} is not an E.164 number (e.g. +15005550006)`);
    const mediaUrls = values.media ?? [];
    for (const media of mediaUrls) {
        if (!/^https?:\/\//i.test(media)) return usageError(`--media ${media} is not an http(s) URL`);
    }

    let target: WebhookTarget;
    try {
        target = resolveWebhookTarget(io, 'sms', values.url);
    } catch (error) {
        io.stderr(`${messageOf(error)}\n`);
        return 1;
    }

    let result;
    try {
        result = await simulateInboundSms({
            appUrl: target.url,
            signatureUrl: target.signatureUrl,
            from,
            to,
            body,
            mediaUrls,
            accountSid: target.accountSid,
            authToken: target.authToken,
            fetch: io.fetch,
        });
    } catch (error) {
        io.stderr(
            `Could not reach ${target.url} (${describeRequestError(error)}). Is the app running? Start it with npm start.\n`,
        );
        return 1;
    }

    io.stderr(
        `POST ${target.url} (${result.messageSid}, signed with ${target.source}): HTTP ${String(result.status)}\n`,
    );
    if (result.status >= 200 && result.status < 300) {
        io.stdout(result.twiml.endsWith('\n') ? result.twiml : `${result.twiml}\n`);
        return 0;
    }
    const detail = result.twiml.trim().slice(0, 500);
    io.stderr(`The app answered HTTP ${String(result.status)}${detail === '' ? '' : `: ${detail}`}\n`);
    if (result.status === 403) {
        io.stderr(
            `The app rejected the signature: it must validate with the same auth token (${target.source}) and for ${target.signatureUrl ?? target.url}.\n`,
        );
    }
    return 1;
}

if (require.main === module) runCli(main);
