/**
 * The send pipeline's opt-out check: an SMS/MMS to a recipient who opted out of its sender is refused
 * before Twilio is asked — `failed` with Twilio's own code for it, 21610, and no request — and a 21610
 * that Twilio answers (an opt-out we did not know of: a STOP Twilio recorded while our webhook could not,
 * or one made before this app) is recorded, so the next send to that recipient is refused here.
 *
 * **The sender a send is checked against** is the one Twilio's opt-out applies to: the Messaging Service
 * when the create names one (the message's own, or the app's default when the message names no sender),
 * else the number. A send `from` a number that belongs to a Messaging Service is checked against the
 * number only (which service a number belongs to is Twilio's to know): an opt-out recorded for the service
 * then costs one request, answered 21610, and is recorded for the number too.
 *
 * **Cost: one point read per SMS/MMS** (none for a call, a `whatsapp:` or other non-SMS address, or a
 * sender that cannot have opt-outs), before the create; a write only when Twilio answers 21610. Nothing is
 * cached: an opt-out recorded on another instance must stop the very next send on this one, and a cached
 * "not opted out" could not know of it.
 *
 * Pure decisions ({@link optOutScope}, {@link optedOutRefusal}) and one orchestrating call
 * ({@link sendUnlessOptedOut}) for the pipeline (shared/outbound/pipeline.ts).
 */

import type { OutboundRequest, SenderDefaults } from '../outbound/message';
import type { SendErrorClass } from '../outbound/sendErrors';
import { canonicalRecipient, canonicalSender, type OptOut, type OptOutStore } from './optOuts';

/** Twilio's error code for a send to a recipient who replied STOP ("Attempt to send to unsubscribed recipient"). */
export const OPTED_OUT_CODE = '21610';

/** The (sender, recipient) whose opt-out would stop this send; undefined when none can (a call, a non-SMS address). */
export function optOutScope(
    request: OutboundRequest,
    defaults: SenderDefaults,
): { sender: string; recipient: string } | undefined {
    if (request.type !== 'sms') return undefined;
    const named = request.from !== undefined || request.messagingServiceSid !== undefined;
    // As shared/outbound/message.ts `toMessageCreateParams` picks the sender: the message's own, else the
    // default service, else the default number; a service named beside a number is what Twilio sends through.
    const sender = named
        ? (request.messagingServiceSid ?? request.from)
        : (defaults.messagingServiceSid ?? defaults.fromNumber);
    const scope = { sender: canonicalSender(sender), recipient: canonicalRecipient(request.to) };
    return scope.sender === undefined || scope.recipient === undefined
        ? undefined
        : { sender: scope.sender, recipient: scope.recipient };
}

/** The error a refused send carries: never thrown, only handed to the pipeline's failure path. */
export class OptedOutError extends Error {
    override readonly name = 'OptedOutError';
}

/** A create result the pipeline's permanent-failure path records: `failed`, code 21610, and why. */
export interface OptedOutRefusal {
    ok: false;
    error: OptedOutError;
    verdict: SendErrorClass;
    retryAfterMs: undefined;
}

/** The refusal for a send stopped by `optOut` (its message names the source and date, no number). */
export function optedOutRefusal(optOut: OptOut): OptedOutRefusal {
    const message = `not sent: the recipient opted out of messages from this sender (${optOut.source}, since ${optOut.since}); an opt-in (START) or DELETE /api/opt-outs/{sender}/{recipient} lifts it`;
    return {
        ok: false,
        error: new OptedOutError(message),
        verdict: { kind: 'permanent', code: OPTED_OUT_CODE, message },
        retryAfterMs: undefined,
    };
}

/** What the pipeline's create answers: the fields this module reads. */
type CreateResult = { ok: true } | { ok: false; verdict: SendErrorClass };

/** An opt-out look-up under way for one send: its scope, and the store's answer to come. */
export interface OptOutCheck {
    readonly store: OptOutStore;
    readonly scope: { sender: string; recipient: string };
    readonly found: Promise<OptOut | undefined>;
}

/**
 * Starts the opt-out look-up of a send (one point read), so that the pipeline can run it beside its
 * claim instead of adding a round trip before the create; undefined when no opt-out can stop the send.
 * The answer is awaited by {@link sendUnlessOptedOut}; a send that ends before it (another copy already
 * sent it) drops it, so its failure is caught here rather than left unhandled.
 */
export function startOptOutCheck(
    store: OptOutStore | undefined,
    request: OutboundRequest,
    defaults: SenderDefaults,
): OptOutCheck | undefined {
    const scope = store === undefined ? undefined : optOutScope(request, defaults);
    if (store === undefined || scope === undefined) return undefined;
    const found = store.get(scope.sender, scope.recipient);
    found.catch(() => undefined);
    return { store, scope, found };
}

/**
 * Runs `create` unless the check found that the recipient opted out of the send's sender, in which case
 * it answers {@link optedOutRefusal} without calling it; a 21610 from `create` is recorded as an opt-out
 * (source `twilio-21610`, cause the outbound id). A failure to record it is logged, never thrown: the
 * send has failed for good either way.
 *
 * @throws the store's error when the check could not be made (the pipeline retries: nothing was sent).
 */
export async function sendUnlessOptedOut<R extends CreateResult>(
    check: OptOutCheck | undefined,
    send: {
        id: string;
        now: () => Date;
        log: { warn(...args: unknown[]): void };
    },
    create: () => Promise<R>,
): Promise<R | OptedOutRefusal> {
    if (check === undefined) return create();
    const { store, scope } = check;
    const optOut = await check.found;
    if (optOut !== undefined) return optedOutRefusal(optOut);
    const created = await create();
    if (!created.ok && created.verdict.kind === 'permanent' && created.verdict.code === OPTED_OUT_CODE) {
        try {
            await store.add({
                ...scope,
                since: send.now().toISOString(),
                source: 'twilio-21610',
                ...(/^[\x21-\x7e]{1,200}$/.test(send.id) ? { cause: send.id } : {}),
            });
        } catch (error) {
            send.log.warn(
                `Outbound ${send.id}: Twilio answered 21610, and the opt-out could not be recorded (${error instanceof Error ? error.name : 'non-Error thrown'})`,
            );
        }
    }
    return created;
}
