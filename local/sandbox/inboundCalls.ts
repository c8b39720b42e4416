/**
 * A simulated call to one of the account's numbers, as Twilio handles it: recorded as an `inbound` call
 * from the caller to the number, the number's Voice URL (or the URL given) fetched signed with Twilio's
 * call parameters, the TwiML run by the call simulator with the caller's script (keys per `<Gather>`,
 * the callees' answers, the recordings), and the number's `StatusCallback` told when it ends. The
 * promise resolves with the finished call, its transcript on it.
 *
 * `POST /sandbox/calls` (views.ts) is the same for another process (`npm run call`): {@link parseInboundCall}
 * checks its JSON body.
 */

import { maskPhone } from '../../shared/platform/redact';
import { runCall } from './callLifecycle';
import { parseCallScript, type CallScript } from './callScript';
import { newCallRecord } from './calls';
import { shortSid, type SandboxContext } from './context';
import { isCallParty, isE164, isHttpUrl, SANDBOX_NUMBER, type SandboxCall } from './resources';

export interface SandboxInboundCall {
    /** The caller, E.164 (or `client:…`). */
    from: string;
    /** One of the account's numbers; default the sandbox's, `+15005550006`. */
    to?: string | undefined;
    /** The TwiML URL; default the number's Voice URL (IncomingPhoneNumbers `VoiceUrl`). */
    url?: string | undefined;
    /** Default the number's `VoiceMethod` (POST), or POST with `url`. */
    method?: 'GET' | 'POST' | undefined;
    script?: CallScript | undefined;
}

/** Why a simulated inbound call could not be placed: the field at fault, in a sentence. */
export class InboundCallError extends Error {
    override readonly name = 'InboundCallError';
}

/**
 * Places the call and runs it to its end.
 *
 * @throws InboundCallError when `from`, `to` or `url` will not do (before anything is stored);
 *   SandboxClosedError when the sandbox closes meanwhile.
 */
export async function placeInboundCall(
    ctx: SandboxContext,
    inbound: SandboxInboundCall,
): Promise<SandboxCall> {
    const to = inbound.to ?? SANDBOX_NUMBER;
    if (!isCallParty(inbound.from, false)) throw new InboundCallError('from must be an E.164 number');
    if (!isE164(to)) throw new InboundCallError('to must be an E.164 number');
    const number = ctx.store.phoneNumbers.oldestFirst().find((n) => n.phoneNumber === to);
    if (inbound.url !== undefined && !isHttpUrl(inbound.url))
        throw new InboundCallError('url must be an http(s) URL');
    const url = inbound.url ?? (number?.settings.VoiceUrl === '' ? undefined : number?.settings.VoiceUrl);
    if (url === undefined) {
        throw new InboundCallError(
            number === undefined
                ? 'to is not one of the account’s numbers: give url, or call a number the sandbox owns'
                : 'the number has no VoiceUrl: give url, or set the number’s VoiceUrl (IncomingPhoneNumbers)',
        );
    }
    const method =
        inbound.method ?? (inbound.url === undefined ? number?.settings.VoiceMethod : undefined) ?? 'POST';
    const statusCallback =
        number === undefined || number.settings.StatusCallback === '' ? null : number.settings.StatusCallback;
    const call = newCallRecord(ctx, {
        direction: 'inbound',
        to,
        from: inbound.from,
        url,
        method,
        twiml: null,
        statusCallback,
        statusCallbackMethod: number?.settings.StatusCallbackMethod ?? 'POST',
        // A number's status callback hears only how the call ended.
        statusCallbackEvents: ['completed'],
        timeout: 60,
        record: false,
        machineDetection: null,
        script: inbound.script ?? {},
        status: 'ringing',
    });
    ctx.store.calls.add(call);
    ctx.log(`sandbox: ${shortSid(call.sid)} inbound from ${maskPhone(inbound.from)} → ${maskPhone(to)}`);
    await new Promise<void>((resolve, reject) => {
        ctx.lifecycles.start(`call ${shortSid(call.sid)}`, async () => {
            try {
                await runCall(ctx, call);
                resolve();
            } catch (error) {
                reject(error instanceof Error ? error : new Error(String(error)));
                throw error;
            }
        });
    });
    return call;
}

export type InboundCallParse = { ok: true; value: SandboxInboundCall } | { ok: false; error: string };

/** The JSON body of `POST /sandbox/calls`, checked: `{ from, to?, url?, method?, script? }`. */
export function parseInboundCall(body: unknown): InboundCallParse {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
        return { ok: false, error: 'the body must be a JSON object' };
    }
    const { from, to, url, method, script, ...rest } = body as Record<string, unknown>;
    const extra = Object.keys(rest)[0];
    if (extra !== undefined) return { ok: false, error: `${extra} is not a field of a call` };
    if (typeof from !== 'string') return { ok: false, error: 'from is required (E.164)' };
    for (const [name, value] of [
        ['to', to],
        ['url', url],
    ] as const) {
        if (value !== undefined && (typeof value !== 'string' || value.length > 2048)) {
            return { ok: false, error: `${name} must be a string` };
        }
    }
    if (method !== undefined && method !== 'GET' && method !== 'POST') {
        return { ok: false, error: 'method must be GET or POST' };
    }
    const parsed = parseCallScript(script);
    if (!parsed.ok) return parsed;
    return {
        ok: true,
        value: {
            from,
            to: to as string | undefined,
            url: url as string | undefined,
            method,
            script: parsed.script,
        },
    };
}
