/**
 * A call's TwiML, as Twilio gets it when the call is answered: fetched signed from the call's `Url`
 * (or taken from its inline `Twiml`) with the parameters Twilio sends about a call, then checked the way
 * Twilio's debugger checks it (11200 retrieval failure, 12300 content type, 12100 parse failure).
 *
 * The call simulator builds on this: it walks the verbs of the document checked here, and fetches the
 * next document (`<Redirect>`, a `<Gather>` / `<Record>` / `<Dial>` `action`) with {@link fetchTwiml}
 * and the same {@link callParams}, plus the verb's own parameters (`Digits`, `RecordingUrl`,
 * `DialCallStatus`, …).
 */

import type { SandboxContext } from './context';
import { ErrorCode } from './errors';
import { API_VERSION, countryOf, type SandboxCall } from './resources';
import { sendSignedRequest } from './signedCallbacks';
import { parseTwiml } from './twiml';

/** A debugger error that fails the call. */
export interface CallFailure {
    code: number;
    message: string;
}

/** The parameters of every request Twilio makes about a call. */
export function callParams(call: SandboxCall): Record<string, string> {
    return {
        AccountSid: call.accountSid,
        ApiVersion: API_VERSION,
        CallSid: call.sid,
        CallStatus: call.status,
        Called: call.to,
        CalledCity: '',
        CalledCountry: countryOf(call.to),
        CalledState: '',
        CalledZip: '',
        Caller: call.from,
        CallerCity: '',
        CallerCountry: countryOf(call.from),
        CallerState: '',
        CallerZip: '',
        Direction: call.direction,
        From: call.from,
        FromCity: '',
        FromCountry: countryOf(call.from),
        FromState: '',
        FromZip: '',
        To: call.to,
        ToCity: '',
        ToCountry: countryOf(call.to),
        ToState: '',
        ToZip: '',
        ...(call.answeredBy === null ? {} : { AnsweredBy: call.answeredBy }),
    };
}

/**
 * The call's TwiML, fetched from its Url (or inline) and checked; stored on the call as `twiml`.
 *
 * @returns the debugger error the call fails with, or `undefined` when Twilio could run it.
 */
export async function callTwiml(ctx: SandboxContext, call: SandboxCall): Promise<CallFailure | undefined> {
    if (call.url === null) return checkTwiml(call.twiml ?? '');
    return fetchTwiml(ctx, call, call.url, call.method, { ...callParams(call), CallStatus: 'in-progress' });
}

/** Fetches a TwiML document for `call` from `url`, signed, and checks it as Twilio would. */
export async function fetchTwiml(
    ctx: SandboxContext,
    call: SandboxCall,
    url: string,
    method: 'GET' | 'POST',
    params: Record<string, string>,
): Promise<CallFailure | undefined> {
    const status = params.CallStatus ?? call.status;
    const answer = await sendSignedRequest(ctx, call, { kind: 'twiml', url, method, status }, params);
    if ('error' in answer) {
        return { code: ErrorCode.httpRetrievalFailure, message: `HTTP retrieval failure: ${answer.error}` };
    }
    const { contentType, body } = answer.result;
    if (answer.result.status !== 200) {
        return {
            code: ErrorCode.httpRetrievalFailure,
            message: `HTTP retrieval failure: the TwiML URL answered HTTP ${String(answer.result.status)}`,
        };
    }
    call.twiml = body;
    const type = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
    // Twilio reads text/plain aloud and plays audio; anything else it cannot use.
    if (type === 'text/plain' || type.startsWith('audio/')) return undefined;
    if (type !== '' && !type.endsWith('/xml') && !type.endsWith('+xml') && type !== 'text/html') {
        return { code: ErrorCode.invalidContentType, message: `Invalid Content-Type: ${type}` };
    }
    return checkTwiml(body);
}

function checkTwiml(document: string): CallFailure | undefined {
    const parsed = parseTwiml(document);
    if (parsed.ok) return undefined;
    return { code: ErrorCode.documentParseFailure, message: `Document parse failure: ${parsed.error}` };
}
