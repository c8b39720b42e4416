/**
 * What the call simulator's verbs share (callSimulator.ts, dialVerb.ts, recordVerb.ts): the leg being
 * run and its clock, the step budget, what a verb may ask of the walk, and the attribute and URL rules
 * every verb reads its attributes with.
 */

import { callParams, type TwimlFetch } from './callTwiml';
import type { ScriptCursor } from './callScript';
import type { RequestPurpose, TranscriptEntry } from './callTranscript';
import type { SandboxContext } from './context';
import type { SandboxCall } from './resources';
import type { XmlElement } from './twiml';

/** Verbs and documents one call (with its callees' legs) may run. */
export const MAX_STEPS = 100;
/** Simulated seconds a call may last: Twilio ends every call after four hours. */
export const MAX_CALL_SECONDS = 14_400;

/** Twilio's debugger errors the simulator raises itself. */
export const SimulatorError = {
    /** A relative URL with no document URL to resolve it against, or a URL that is none. */
    invalidUrl: 11100,
    /** An element that is no TwiML verb (or a verb where it may not stand). */
    schemaValidation: 12200,
} as const;

/** One leg being simulated: the call, its script, and its clock. */
export interface Leg {
    readonly call: SandboxCall;
    readonly cursor: ScriptCursor;
    /** Simulated seconds since the leg was answered. */
    seconds: number;
}

/** What every leg of one call shares: the step count against {@link MAX_STEPS}. */
export interface Budget {
    steps: number;
}

/** How a leg's TwiML ended. */
export type LegEnd =
    /** The document ran out of verbs. */
    | { readonly how: 'completed' }
    /** `<Hangup>` (or `<Reject>` after the answer). */
    | { readonly how: 'hangup' }
    /** The simulated caller hung up (during `<Record>`, or a `<Say>`/`<Play>` with `loop="0"`). */
    | { readonly how: 'caller-hung-up' }
    /** `<Reject>` before the answer. */
    | { readonly how: 'rejected'; readonly status: 'busy' | 'no-answer' }
    | { readonly how: 'error'; readonly code: number | null; readonly message: string };

/** What a verb asks of the walk. */
export type VerbResult =
    | { readonly kind: 'next' }
    | { readonly kind: 'end'; readonly end: LegEnd }
    | {
          readonly kind: 'fetch';
          readonly url: string;
          readonly method: 'GET' | 'POST';
          readonly purpose: RequestPurpose;
          readonly params: Record<string, string>;
          /** Runs once the document is fetched, before it runs (`<Record>`'s callbacks). */
          readonly after?: () => Promise<void>;
      };

/** What a verb is run with. */
export interface VerbContext {
    readonly ctx: SandboxContext;
    readonly leg: Leg;
    readonly budget: Budget;
    /** The URL of the document the verb is in (`null` for inline `Twiml`). */
    readonly documentUrl: string | null;
    /** Runs a callee's whisper (`<Number url>`) on its own leg: how that TwiML ended. */
    readonly runLeg: (leg: Leg, first: TwimlFetch & { ok: true }) => Promise<LegEnd>;
}

/**
 * The request of a verb's `action` (default: the document's own URL), with the call's parameters and
 * `extra`; the TwiML it answers runs next.
 */
export function actionRequest(
    verbCtx: VerbContext,
    verb: XmlElement,
    purpose: RequestPurpose,
    extra: Record<string, string>,
): VerbResult {
    const url = resolveUrl(verb.attributes.action ?? null, verbCtx.documentUrl);
    if (url === undefined) return invalidUrl(verbCtx.leg);
    const method = methodOf(verb.attributes.method);
    return {
        kind: 'fetch',
        url,
        method,
        purpose,
        params: { ...inProgressParams(verbCtx.leg.call), ...extra },
    };
}

/** The call's parameters while it is up. */
export function inProgressParams(call: SandboxCall): Record<string, string> {
    return { ...callParams(call), CallStatus: 'in-progress' };
}

export function invalidUrl(leg: Leg): VerbResult {
    const message =
        'Invalid URL: the verb names no http(s) URL, or a relative one with no document URL to resolve it against (inline Twiml)';
    write(leg, { step: 'error', code: SimulatorError.invalidUrl, message });
    return { kind: 'end', end: { how: 'error', code: SimulatorError.invalidUrl, message } };
}

/**
 * `reference` resolved against `base` (the document's URL), `base` itself when `reference` is `null`;
 * `undefined` when there is nothing to resolve against or the result is not http(s).
 */
export function resolveUrl(reference: string | null, base: string | null): string | undefined {
    try {
        const url =
            reference === null
                ? base === null
                    ? undefined
                    : new URL(base)
                : new URL(reference, base ?? undefined);
        if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) return undefined;
        return url.href;
    } catch {
        return undefined;
    }
}

/** A verb's `method` attribute: GET, else POST (Twilio's default). */
export function methodOf(value: string | undefined): 'GET' | 'POST' {
    return value?.toUpperCase() === 'GET' ? 'GET' : 'POST';
}

/** An integer attribute within `[min, max]`, else `fallback`. */
export function integer(value: string | undefined, fallback: number, min: number, max: number): number {
    if (value === undefined || !/^\d+$/.test(value.trim())) return fallback;
    const number = Number(value.trim());
    return number < min || number > max ? fallback : number;
}

/** Adds a step to the leg's transcript at its current second. */
export function write(leg: Leg, entry: TranscriptEntry): void {
    leg.call.transcript.push({ at: leg.seconds, ...entry });
}
