/**
 * `npm run sms -- --from +15551230000 --body "hello" [--to +15005550006] [--url http://localhost:7071/api/sms]
 * [--media ./cat.jpg | https://…/cat.jpg]…`: sends the app a signed inbound-message webhook, as Twilio would
 * when a text arrives, and prints the TwiML it answered.
 *
 * `--media <file>` makes it an MMS whose media the Twilio sandbox holds, as Twilio holds an MMS's media:
 * the file is handed to the sandbox `npm start` runs (its sandbox-only media upload, local/sandbox/media.ts),
 * and the webhook's `MediaUrl{n}` is the sandbox's media URL, which the app fetches with the account's
 * credentials. `--media <http(s) URL>` is sent as it is (the app refuses a URL that is not Twilio's).
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

import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describeRequestError, messageOf } from './sandbox/callbacks';
import { contentTypeOf, simulateInboundSms } from './sandbox/inbound';
import { isMessageRecipient, newSid, SANDBOX_NUMBER } from './sandbox/resources';
import { SANDBOX_STATE_FILE } from './sandbox/state';
import { APP_STATE_FILE } from './settings';
import {
    parseCommandLine,
    resolveWebhookTarget,
    runCli,
    runningSandbox,
    sandboxAuthorization,
    type WebhookCliIo,
    type WebhookTarget,
} from './webhookTarget';

/** The command's view of its process (see {@link WebhookCliIo}). */
export type SmsCliIo = WebhookCliIo;

const USAGE = `Usage: npm run sms -- --from <number> --body <text> [--to <number>] [--url <webhook>] [--media <file or url>]...

Sends the app a signed Twilio inbound-message webhook and prints the TwiML reply.

  --from   the sender, E.164 (e.g. +15551230000)
  --body   the message text
  --to     your Twilio number (default ${SANDBOX_NUMBER})
  --url    the app's messaging webhook (default: /api/sms of the app npm start runs, from ${APP_STATE_FILE};
           without npm start, http://localhost:<PORT, LocalHttpPort or 7071>/api/sms)
  --media  a media file (the Twilio sandbox of npm start serves it as Twilio serves an MMS's media, up to
           700 KB each) or a URL sent as it is; repeat for several (at most 10)
`;

/** The largest file `--media` hands the sandbox: its base64 must fit the sandbox's 1 MB request limit. */
const MAX_MEDIA_FILE_BYTES = 700 * 1024;

/** Runs the CLI with `argv` (the arguments after the script) and resolves to its exit status. */
export async function main(argv: readonly string[], io: SmsCliIo): Promise<number> {
    const line = parseCommandLine(argv, io, USAGE, {
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
    });
    if (line.kind === 'exit') return line.exitCode;
    const { values } = line.parsed;
    const { usageError } = line;
    const { from, body } = values;
    const to = values.to ?? SANDBOX_NUMBER;
    if (from === undefined) return usageError('--from is required');
    if (body === undefined) return usageError('--body is required');
    if (!isMessageRecipient(from))
        return usageError(`--from ${from} is not an E.164 number (e.g. +15551230000)`);
    if (!isMessageRecipient(to)) return usageError(`--to ${to} is not an E.164 number (e.g. +15005550006)`);
    const media = values.media ?? [];
    if (media.length > 10) return usageError('--media may be given at most 10 times (Twilio’s limit)');
    const files: { index: number; file: string }[] = [];
    for (const [index, item] of media.entries()) {
        if (/^https?:\/\//i.test(item)) continue;
        let size: number;
        try {
            size = statSync(item).size;
        } catch {
            return usageError(`--media ${item} is neither an http(s) URL nor a readable file`);
        }
        if (size > MAX_MEDIA_FILE_BYTES) {
            return usageError(`--media ${item} is over ${String(MAX_MEDIA_FILE_BYTES / 1024)} KB`);
        }
        files.push({ index, file: item });
    }

    let target: WebhookTarget;
    try {
        target = resolveWebhookTarget(io, 'sms', values.url);
    } catch (error) {
        io.stderr(`${messageOf(error)}\n`);
        return 1;
    }

    const messageSid = newSid(media.length > 0 ? 'MM' : 'SM');
    const mediaUrls = [...media];
    const mediaContentTypes = media.map((item) => contentTypeOf(item));
    if (files.length > 0) {
        const sandbox = runningSandbox(io);
        if (sandbox === undefined) {
            io.stderr(
                `--media <file> needs the Twilio sandbox of npm start (${SANDBOX_STATE_FILE} is missing): start the app with npm start.\n`,
            );
            return 1;
        }
        for (const { index, file } of files) {
            const uploaded = await uploadToSandbox(
                io,
                sandbox,
                messageSid,
                file,
                mediaContentTypes[index] ?? '',
            );
            if (typeof uploaded !== 'string') return uploaded.exitCode;
            mediaUrls[index] = uploaded;
        }
    }

    let result;
    try {
        result = await simulateInboundSms({
            messageSid,
            mediaContentTypes,
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

/**
 * Hands `file` to the sandbox as a media item of `messageSid` (its sandbox-only upload) and resolves to the
 * item's media URL, or to the exit status after saying why it could not.
 */
async function uploadToSandbox(
    io: SmsCliIo,
    sandbox: { url: string; accountSid: string; authToken: string },
    messageSid: string,
    file: string,
    contentType: string,
): Promise<string | { exitCode: number }> {
    const collection = `${sandbox.url}/2010-04-01/Accounts/${sandbox.accountSid}/Messages/${messageSid}/Media`;
    let response: Response;
    try {
        response = await io.fetch(`${collection}.json`, {
            method: 'POST',
            headers: {
                Authorization: sandboxAuthorization(sandbox),
                'Content-Type': 'application/x-www-form-urlencoded',
            },
            body: new URLSearchParams({
                ContentType: contentType,
                Body: readFileSync(file).toString('base64'),
            }).toString(),
        });
    } catch (error) {
        io.stderr(`Could not reach the Twilio sandbox at ${sandbox.url} (${describeRequestError(error)}).\n`);
        return { exitCode: 1 };
    }
    const answer = (await response.json().catch(() => ({}))) as { sid?: unknown; message?: unknown };
    if (response.status !== 201 || typeof answer.sid !== 'string') {
        io.stderr(
            `The Twilio sandbox refused ${path.basename(file)}: HTTP ${String(response.status)}${typeof answer.message === 'string' ? ` ${answer.message}` : ''}\n`,
        );
        return { exitCode: 1 };
    }
    io.stderr(
        `${path.basename(file)} (${contentType}) is media ${answer.sid} of ${messageSid} at the sandbox\n`,
    );
    return `${collection}/${answer.sid}`;
}

if (require.main === module) runCli(main);
