/**
 * `npm run call -- --from +15551230000 [--to +15005550006] [--url http://localhost:7071/api/voice]
 * [--method GET|POST] [--digits 1#]… [--answer [<number>=]busy|no-answer|answered|failed]…
 * [--record <seconds>[:<key>|:hangup|:silence]]… [--json]`: plays a call into the running app through
 * the Twilio sandbox `npm start` runs, as Twilio would when someone calls your number, and prints what
 * happened: what was said and played, the keys gathered, who was dialled and how they answered, what was
 * recorded, and each request and callback with the status the app answered.
 *
 * The sandbox runs the call (its call simulator) with this script: one `--digits` per `<Gather>`, one
 * `--answer` per callee a `<Dial>` rings (by number with `<number>=`, else in the order they ring), one
 * `--record` per `<Record>`. The TwiML URL is `--url`, else `/api/voice` of the app `npm start` runs (from
 * `.azurite/app.json`). The sandbox's URL and credentials come from `.azurite/sandbox.json`; without it
 * (no `npm start`, or one using a real Twilio account) there is nothing to run the call.
 *
 * Exit status: 0 when the call ran without error, 1 when it ended with a debugger error (or a sandbox
 * bound), or could not be placed, 2 for a usage error.
 */

import { CALLEE_ANSWERS, type CalleeAnswer, type CallScript, type RecordInput } from './sandbox/callScript';
import type { TranscriptStep } from './sandbox/callTranscript';
import { describeRequestError, messageOf } from './sandbox/callbacks';
import { isCallParty, isE164, SANDBOX_NUMBER } from './sandbox/resources';
import { SANDBOX_STATE_FILE } from './sandbox/state';
import { APP_STATE_FILE } from './settings';
import {
    parseCommandLine,
    resolveWebhookTarget,
    runCli,
    runningSandbox,
    sandboxAuthorization,
    type WebhookCliIo,
} from './webhookTarget';

export type CallCliIo = WebhookCliIo;

const USAGE = `Usage: npm run call -- --from <number> [--to <number>] [--url <webhook>] [--method GET|POST]
       [--digits <keys>]... [--answer [<number>=]<outcome>]... [--record <seconds>[:<end>]]... [--json]

Plays a call into the app through the Twilio sandbox npm start runs, and prints the transcript.

  --from    the caller, E.164 (e.g. +15551230000)
  --to      your Twilio number (default ${SANDBOX_NUMBER})
  --url     the TwiML webhook (default: /api/voice of the app npm start runs, from ${APP_STATE_FILE})
  --method  GET or POST (default POST)
  --digits  what the caller presses at the next <Gather>, e.g. 1# ('' for nothing); repeat per <Gather>
  --answer  how the next callee of a <Dial> answers: ${CALLEE_ANSWERS.join(', ')}; prefix with
            <number>= for a given callee (e.g. +15557770001=busy); repeat per callee
  --record  how the next <Record> goes: seconds, and :<key>, :hangup or :silence (default 5:hangup)
  --json    print the call and its transcript as JSON
`;

/** Runs the CLI with `argv` (the arguments after the script) and resolves to its exit status. */
export async function main(argv: readonly string[], io: CallCliIo): Promise<number> {
    const line = parseCommandLine(argv, io, USAGE, {
        options: {
            from: { type: 'string' },
            to: { type: 'string' },
            url: { type: 'string' },
            method: { type: 'string' },
            digits: { type: 'string', multiple: true },
            answer: { type: 'string', multiple: true },
            record: { type: 'string', multiple: true },
            json: { type: 'boolean' },
            help: { type: 'boolean', short: 'h' },
        },
        strict: true,
        allowPositionals: false,
    });
    if (line.kind === 'exit') return line.exitCode;
    const { values } = line.parsed;
    const { usageError } = line;
    const { from } = values;
    const to = values.to ?? SANDBOX_NUMBER;
    if (from === undefined) return usageError('--from is required');
    if (!isCallParty(from, false))
        return usageError(`--from ${from} is not an E.164 number (e.g. +15551230000)`);
    if (!isE164(to)) return usageError(`--to ${to} is not an E.164 number (e.g. +15005550006)`);
    const method = values.method?.toUpperCase();
    if (method !== undefined && method !== 'GET' && method !== 'POST')
        return usageError('--method must be GET or POST');
    const script = scriptOf(values.digits ?? [], values.answer ?? [], values.record ?? []);
    if (typeof script === 'string') return usageError(script);

    let url: string;
    let sandbox: { url: string; accountSid: string; authToken: string };
    try {
        url = resolveWebhookTarget(io, 'voice', values.url).url;
        const state = runningSandbox(io);
        if (state === undefined) {
            throw new Error(
                `npm run call plays the call through the Twilio sandbox that npm start runs when no Twilio account is configured, and ${SANDBOX_STATE_FILE} is missing: start the app with npm start (without TWILIO_ACCOUNT_SID).`,
            );
        }
        sandbox = state;
    } catch (error) {
        io.stderr(`${messageOf(error)}\n`);
        return 1;
    }

    let response: Response;
    try {
        response = await io.fetch(`${sandbox.url}/sandbox/calls`, {
            method: 'POST',
            headers: {
                'Content-Type': 'application/json',
                Authorization: sandboxAuthorization(sandbox),
            },
            body: JSON.stringify({ from, to, url, method, script }),
        });
    } catch (error) {
        io.stderr(
            `Could not reach the Twilio sandbox at ${sandbox.url} (${describeRequestError(error)}). Is npm start running?\n`,
        );
        return 1;
    }
    const body = (await response.json().catch(() => ({}))) as Record<string, unknown>;
    if (response.status !== 200) {
        io.stderr(
            `The sandbox refused the call (HTTP ${String(response.status)}): ${typeof body.message === 'string' ? body.message : ''}\n`,
        );
        return 1;
    }
    const call = body as unknown as CallView;
    io.stdout(values.json === true ? `${JSON.stringify(call, null, 2)}\n` : formatCall(call));
    const failed = call.error_code !== null || call.transcript.some((step) => step.step === 'error');
    return failed ? 1 : 0;
}

/** The script from the options. @returns the usage error for a bad one. */
function scriptOf(
    digits: readonly string[],
    answers: readonly string[],
    records: readonly string[],
): CallScript | string {
    for (const keys of digits) {
        if (!/^[0-9*#w]{0,64}$/.test(keys)) return `--digits ${keys}: up to 64 of 0-9 * # w`;
    }
    const dial: CalleeAnswer[] = [];
    for (const spec of answers) {
        const equals = spec.lastIndexOf('=');
        const number = equals === -1 ? undefined : spec.slice(0, equals);
        const answer = spec.slice(equals + 1);
        if (!(CALLEE_ANSWERS as readonly string[]).includes(answer)) {
            return `--answer ${spec}: one of ${CALLEE_ANSWERS.join(', ')}, optionally after <number>=`;
        }
        dial.push({ ...(number === undefined ? {} : { number }), answer: answer as CalleeAnswer['answer'] });
    }
    const record: RecordInput[] = [];
    for (const spec of records) {
        const match = /^(\d{1,5})(?::([0-9*#]|hangup|silence))?$/.exec(spec);
        if (match === null) return `--record ${spec}: <seconds>[:<key>|:hangup|:silence]`;
        record.push({ seconds: Number(match[1]), ...(match[2] === undefined ? {} : { end: match[2] }) });
    }
    return { digits: [...digits], dial, record };
}

/** The sandbox's view of a call, as `POST /sandbox/calls` answers it. */
export interface CallView {
    sid: string;
    from: string;
    to: string;
    direction: string;
    status: string;
    duration: string | null;
    error_code: number | null;
    error_message: string | null;
    transcript: TranscriptStep[];
}

/** The call as lines a person reads: one per step, with its simulated second. */
export function formatCall(call: CallView): string {
    const lines = [
        `Call ${call.sid} from ${call.from} to ${call.to}: ${call.status}, ${call.duration ?? '0'} s`,
        ...call.transcript.map((step) => `${`${String(step.at)}s`.padStart(6)}  ${describeStep(step)}`),
    ];
    if (call.error_code !== null || call.error_message !== null) {
        lines.push(
            `Error${call.error_code === null ? '' : ` ${String(call.error_code)}`}: ${call.error_message ?? ''}`,
        );
    }
    return `${lines.join('\n')}\n`;
}

function describeStep(step: TranscriptStep): string {
    switch (step.step) {
        case 'request':
            return `${step.purpose}: ${step.method} ${step.url} → ${step.status === null ? `no answer (${step.error ?? ''})` : `HTTP ${String(step.status)}`}`;
        case 'say':
            return `said "${step.text}"${step.loop === 1 ? '' : ` (loop ${String(step.loop)})`}`;
        case 'play':
            return `played ${step.url}${step.loop === 1 ? '' : ` (loop ${String(step.loop)})`}`;
        case 'play-digits':
            return `played the tones ${step.digits}`;
        case 'pause':
            return `paused ${String(step.seconds)} s`;
        case 'gather':
            return step.digits === null
                ? `gathered nothing${step.note === undefined ? '' : ` (${step.note})`}`
                : `gathered ${step.digits}${step.finishedOnKey === '' ? '' : ` (finished with ${step.finishedOnKey})`}`;
        case 'dial':
            return `dialled ${step.callees.map((c) => `${c.number} (${c.outcome})`).join(', ') || 'nobody'}: ${step.dialCallStatus}${step.duration > 0 ? `, talked ${String(step.duration)} s` : ''}`;
        case 'conference':
            return `joined conference "${step.name}" (${String(step.participants.length)} joined before${step.started ? '' : '; waiting for it to start'})`;
        case 'record':
            return step.recordingSid === null
                ? 'recorded nothing'
                : `recorded ${step.recordingSid} (${String(step.duration)} s${step.digits === '' ? '' : `, ended by ${step.digits}`}${step.transcribe ? ', transcribed' : ''})`;
        case 'redirect':
            return `redirected to ${step.method} ${step.url}`;
        case 'hangup':
            return 'hung up';
        case 'reject':
            return `rejected (${step.reason})`;
        case 'error':
            return `error${step.code === null ? '' : ` ${String(step.code)}`}: ${step.message}`;
        case 'note':
            return step.message;
        case 'end':
            return `ended ${step.status} after ${String(step.duration)} s`;
    }
}

if (require.main === module) runCli(main);
