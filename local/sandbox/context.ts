/**
 * The context every part of the sandbox is handed: the account it plays, its store, the scheduler of
 * lifecycles, and how it logs and makes requests. `startTwilioSandbox` builds one per sandbox; the parts
 * (router, resource handlers, lifecycles, signed callbacks, views) keep no state of their own, so a part
 * can be exercised alone with a context made for the test.
 *
 * What the next parts need goes here as one more field, set in sandbox.ts: e.g. the delivery outcomes
 * (which recipients end `undelivered` / `failed`, which calls end `busy` / `no-answer`) that the
 * lifecycles consult, or the call simulator's answers for `<Gather>` and `<Dial>`.
 */

import type { LifecycleScheduler } from './lifecycleScheduler';
import type { CreateRateLimiter } from './rateLimit';
import type { SandboxStore } from './store';

export interface SandboxContext {
    readonly accountSid: string;
    /**
     * The sandbox's base URL (`http://127.0.0.1:<port>`), known once its server listens: the origin of
     * the `RecordingUrl`s and media URLs it hands out, where Twilio's say `https://api.twilio.com`.
     */
    readonly url: string;
    /** Signs every request the sandbox makes (`X-Twilio-Signature`); never logged. */
    readonly authToken: string;
    readonly store: SandboxStore;
    readonly lifecycles: LifecycleScheduler;
    /** One line per event; callers mask phone numbers and leave message bodies out. */
    readonly log: (line: string) => void;
    /** Used for every request the sandbox makes (callbacks, TwiML, inbound messages). */
    readonly fetch: typeof fetch;
    /** Refuses a share of the Messages and Calls creates with 429 (rateLimit.ts); none when absent. */
    readonly rateLimit?: CreateRateLimiter | undefined;
}

/** A SID as log lines show it: enough to tell records apart (`SMab12…`). */
export function shortSid(sid: string): string {
    return `${sid.slice(0, 6)}…`;
}
