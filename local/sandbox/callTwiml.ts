/**
 * A call's TwiML, as Twilio gets it when the call is answered: fetched signed from the call's `Url`
 * (or taken from its inline `Twiml`) with the parameters Twilio sends about a call, then checked the way
 * Twilio's debugger checks it (11200 retrieval failure, 12300 content type, 12100 parse failure).
 *
 * The call simulator (callSimulator.ts) walks the verbs of the document checked here, and fetches the
 * next document (`<Redirect>`, a `<Gather>` / `<Record>` / `<Dial>` `action`, a whisper) with
 * {@link fetchTwiml} and the same {@link callParams}, plus the verb's own parameters (`Digits`,
 * `RecordingUrl`, `DialCallStatus`, …). Each request goes into the call's transcript.
 */

import { transcribedRequest, type RequestPurpose } from './callTranscript';
import type { SandboxContext } from './context';
import { ErrorCode } from './errors';
import { API_VERSION, countryOf, type SandboxCall } from './resources';
import { parseTwiml, type XmlElement } from './twiml';

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
        ...(call.parentCallSid === null ? {} : { ParentCallSid: call.parentCallSid }),
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

/** A document Twilio can run: TwiML, or what it does with plain text (reads it) and audio (plays it). */
export type TwimlDocument =
    | { readonly kind: 'twiml'; readonly root: XmlElement }
    | { readonly kind: 'text'; readonly text: string }
    | { readonly kind: 'audio'; readonly url: string };

/** A fetched document and the URL it came from (relative URLs in it resolve against that), or why not. */
export type TwimlFetch =
    | { readonly ok: true; readonly document: TwimlDocument; readonly url: string | null }
    | { readonly ok: false; readonly failure: CallFailure };

/** The call's first TwiML, fetched from its Url (or inline) on answer and checked; stored as `twiml`. */
export async function callTwiml(ctx: SandboxContext, call: SandboxCall): Promise<TwimlFetch> {
    if (call.url === null) {
        const checked = checkTwiml(call.twiml ?? '');
        return checked.ok ? { ok: true, document: checked.document, url: null } : checked;
    }
    return fetchTwiml(
        ctx,
        call,
        { url: call.url, method: call.method, purpose: 'twiml', at: 0 },
        {
            ...callParams(call),
            // An inbound call's first request comes while it rings; an outbound one's once answered.
            CallStatus: call.direction === 'inbound' ? 'ringing' : 'in-progress',
        },
    );
}

/** Where a document is requested from, and why (for the transcript). */
export interface TwimlRequest {
    readonly url: string;
    readonly method: 'GET' | 'POST';
    readonly purpose: RequestPurpose;
    /** The simulated second of the call. */
    readonly at: number;
}

/** Fetches a TwiML document for `call`, signed, and checks it as Twilio would. */
export async function fetchTwiml(
    ctx: SandboxContext,
    call: SandboxCall,
    request: TwimlRequest,
    params: Record<string, string>,
): Promise<TwimlFetch> {
    const { url, method } = request;
    const status = params.CallStatus ?? call.status;
    const answer = await transcribedRequest(
        ctx,
        call,
        request.at,
        request.purpose,
        { kind: 'twiml', url, method, status },
        params,
    );
    const fail = (code: number, message: string): TwimlFetch => ({ ok: false, failure: { code, message } });
    if ('error' in answer)
        return fail(ErrorCode.httpRetrievalFailure, `HTTP retrieval failure: ${answer.error}`);
    const { contentType, body } = answer.result;
    if (answer.result.status !== 200) {
        return fail(
            ErrorCode.httpRetrievalFailure,
            `HTTP retrieval failure: the TwiML URL answered HTTP ${String(answer.result.status)}`,
        );
    }
    call.twiml = body;
    const type = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
    // Twilio reads text/plain aloud and plays audio; anything else it cannot use.
    if (type === 'text/plain') return { ok: true, document: { kind: 'text', text: body }, url };
    if (type.startsWith('audio/')) return { ok: true, document: { kind: 'audio', url }, url };
    if (type !== '' && !type.endsWith('/xml') && !type.endsWith('+xml') && type !== 'text/html') {
        return fail(ErrorCode.invalidContentType, `Invalid Content-Type: ${type}`);
    }
    const checked = checkTwiml(body);
    return checked.ok ? { ok: true, document: checked.document, url } : checked;
}

function checkTwiml(
    document: string,
): { ok: true; document: TwimlDocument } | { ok: false; failure: CallFailure } {
    const parsed = parseTwiml(document);
    if (parsed.ok) return { ok: true, document: { kind: 'twiml', root: parsed.root } };
    return {
        ok: false,
        failure: { code: ErrorCode.documentParseFailure, message: `Document parse failure: ${parsed.error}` },
    };
}
