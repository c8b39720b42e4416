/**
 * What a twimlet is to the `twimlets` function: one module per flow under shared/voice/twimlets/, each
 * exporting a {@link Twimlet} that turns one signed step of a call into TwiML. The function
 * (functions/twimlets.ts) validates the signature, finds the twimlet by name (registry.ts) and answers
 * with the TwiML it returns; a twimlet never sees an unsigned request.
 *
 * Types only, so any module may import it for free.
 */

import type { AppDependencies } from '../../platform/dependencies';

/** One signed request of a call to `/api/twimlets/{name}`. */
export interface TwimletStep {
    /** The twimlet's name as routed, lowercased (`forward`, `menu`, …). */
    readonly name: string;
    /** The query string's parameters: the twimlet's own (`PhoneNumber`, `Options[1]`, …). */
    readonly query: URLSearchParams;
    /**
     * The form Twilio posted about the call (`CallSid`, `From`, `Digits`, `DialCallStatus`,
     * `RecordingUrl`, …); empty for a GET, where those parameters are in `query` instead.
     */
    readonly form: URLSearchParams;
    /** A parameter from the form, else from the query: how Twilio's parameters are read on GET or POST. */
    param(name: string): string | undefined;
    /**
     * An absolute URL of this twimlet (or of `name`, another twimlet) with `query`, on the origin and path
     * prefix the step was signed on, for the next step's `action` / `url` (built by shared/platform/routes.ts).
     */
    selfUrl(query: readonly (readonly [string, string])[], name?: string): string;
}

/** Where a twimlet writes its log lines: never phone numbers unmasked, never message or recording text. */
export interface TwimletLog {
    log(line: string): void;
    warn(line: string): void;
    error(line: string): void;
}

/** A twimlet's answer to one step: a TwiML document (always built with twilio's TwiML builders). */
export interface TwimletAnswer {
    readonly twiml: string;
}

/** One call flow. Must not throw for any input: a bad parameter is a spoken error and a log line. */
export type Twimlet = (step: TwimletStep, deps: AppDependencies, log: TwimletLog) => Promise<TwimletAnswer>;
