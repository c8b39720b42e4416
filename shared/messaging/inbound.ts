/**
 * What `/api/sms` does about opt-outs and loops once an inbound message is recorded: a STOP-family
 * message (or Twilio's `OptOutType=STOP`) records an opt-out of its sender for the number or Messaging
 * Service it wrote to, a START-family one removes it, HELP records nothing — none of them is answered
 * (Twilio answers them itself) — and any other message is counted by the loop guard, which suppresses the
 * auto-reply to a sender over its limit and notes that in the inbound record.
 *
 * **When storage fails, the webhook still answers.** A failure to record an opt-out (or to remove one, or
 * to count) is logged, masked, and the webhook answers as it would have, instead of a 500. A 500 would
 * not bring a retry (Twilio does not retry a Messaging webhook; it tries the fallback URL and logs an
 * 11200), and what is lost heals on its own: Twilio has recorded the opt-out on its side too, so the next
 * send to that recipient gets Twilio's 21610, which records the opt-out here (shared/messaging/outbound.ts).
 * A failed removal leaves the opt-out in place: sends stay refused until the API removes it, which is the
 * safe side of the error. A failed count answers the message: Twilio's own 14107 still bounds a loop.
 *
 * Everything here is idempotent on Twilio's retries (same MessageSid): an opt-out is inserted only when
 * absent, a removal of an absent one is nothing, and a retry (its record already existed) is not counted.
 */

import type { Ledger } from '../ledger/contract';
import { applyStatus } from '../ledger/status';
import { maskPhone } from '../platform/redact';
import { classifyInbound, type KeywordMatch } from './keywords';
import { canonicalRecipient, canonicalSender, isServiceSender, type OptOutStore } from './optOuts';
import { checkCounterAddress, isReplySuppressed, type ReplyWindows } from './replyGuard';

/**
 * The stores come as factories, as the composition root hands them out: one that cannot be built (no
 * storage configured) is a failure to record like any other, not a failed webhook.
 */
export interface InboundMessagingDependencies {
    optOuts: () => OptOutStore;
    replyWindows: () => ReplyWindows;
    ledger: () => Ledger;
    /** `SMS_REPLY_LIMIT` and `SMS_REPLY_WINDOW_SECONDS` (as milliseconds). */
    guard: { limit: number; windowMs: number };
    log: { log(...args: unknown[]): void; warn(...args: unknown[]): void; error(...args: unknown[]): void };
    now?: () => Date;
}

/** How the inbound message was recorded: `unknown` when recording failed. */
export type InboundRecorded = 'created' | 'exists' | 'invalid' | 'unknown';

export interface InboundVerdict {
    /** Whether the webhook answers with the auto-reply (otherwise an empty `<Response/>`). */
    reply: boolean;
    /** The keyword the message was, if any. */
    keyword: KeywordMatch | undefined;
    /** The loop guard held the reply back. */
    suppressed: boolean;
}

/** The history event an inbound record gets when the loop guard held its reply back. */
export const REPLY_SUPPRESSED = 'reply-suppressed';

/** A sender for a log line: a Messaging Service SID is not personal data; a number is masked. */
export function maskSender(sender: string): string {
    return isServiceSender(sender) ? sender : maskPhone(sender);
}

/**
 * The opt-out, opt-in or loop-guard work of one inbound message (the webhook's form), after it was
 * recorded as `recorded`; what to answer. Never throws for a storage failure (see the module comment).
 */
export async function handleInboundMessaging(
    deps: InboundMessagingDependencies,
    form: URLSearchParams,
    recorded: InboundRecorded,
): Promise<InboundVerdict> {
    const now = (deps.now ?? (() => new Date()))();
    const sid = form.get('MessageSid') ?? form.get('SmsMessageSid') ?? '(no MessageSid)';
    const keyword = classifyInbound(form);
    if (keyword !== undefined) {
        if (keyword.action !== 'help') await recordKeyword(deps, form, keyword, sid, now);
        return { reply: false, keyword, suppressed: false };
    }
    // A retry of a message already recorded was counted the first time.
    if (recorded === 'exists') return { reply: true, keyword, suppressed: false };
    const from = form.get('From') ?? '';
    const to = form.get('To') ?? '';
    let count: number;
    try {
        checkCounterAddress(from);
        checkCounterAddress(to);
        count = await deps.replyWindows().count(from, to, now, deps.guard.windowMs);
    } catch (error) {
        deps.log.error(
            `Could not count inbound message ${sid} for the loop guard; replying: ${describe(error)}`,
        );
        return { reply: true, keyword, suppressed: false };
    }
    if (!isReplySuppressed(count, deps.guard.limit)) return { reply: true, keyword, suppressed: false };
    const seconds = deps.guard.windowMs / 1000;
    const detail = `no auto-reply: message ${String(count)} from this sender within ${String(seconds)} s, over the limit of ${String(deps.guard.limit)} (loop guard)`;
    deps.log.warn(
        `Inbound message ${sid} from ${maskPhone(from)}: no auto-reply, ${String(count)} messages within ${String(seconds)} s (limit ${String(deps.guard.limit)})`,
    );
    if (recorded === 'created') {
        try {
            await deps.ledger().update(sid, (current) =>
                current === undefined
                    ? undefined
                    : applyStatus(current, {
                          status: REPLY_SUPPRESSED,
                          at: now.toISOString(),
                          source: 'app',
                          detail,
                      }),
            );
        } catch (error) {
            deps.log.error(
                `Could not note the suppressed reply on inbound message ${sid}: ${describe(error)}`,
            );
        }
    }
    return { reply: false, keyword, suppressed: true };
}

/**
 * Records the opt-out (or removes it) of `From` for the Messaging Service the message came through, else
 * the number it was sent to — Twilio's own scope for the opt-out.
 */
async function recordKeyword(
    deps: InboundMessagingDependencies,
    form: URLSearchParams,
    keyword: KeywordMatch,
    sid: string,
    now: Date,
): Promise<void> {
    const recipient = canonicalRecipient(form.get('From'));
    const sender = canonicalSender(form.get('MessagingServiceSid')) ?? canonicalSender(form.get('To'));
    const word = keyword.action === 'opt-out' ? 'opt-out' : 'opt-in';
    if (recipient === undefined || sender === undefined) {
        deps.log.warn(
            `Inbound message ${sid} is an ${word}, but not between SMS addresses: nothing recorded`,
        );
        return;
    }
    const who = `${maskPhone(recipient)} for ${maskSender(sender)}`;
    try {
        if (keyword.action === 'opt-out') {
            const added = await deps.optOuts().add({
                sender,
                recipient,
                since: now.toISOString(),
                source: keyword.via,
                ...(/^(SM|MM)[0-9a-fA-F]{32}$/.test(sid) ? { cause: sid } : {}),
            });
            deps.log.log(
                `Inbound message ${sid}: opt-out of ${who} ${added === 'created' ? 'recorded' : 'already recorded'} (${keyword.via})`,
            );
        } else {
            const removed = await deps.optOuts().remove(sender, recipient);
            deps.log.log(
                `Inbound message ${sid}: opt-in of ${who}, ${removed === 'removed' ? 'opt-out removed' : 'no opt-out was recorded'} (${keyword.via})`,
            );
        }
    } catch (error) {
        deps.log.error(`Could not record the ${word} of inbound message ${sid} (${who}): ${describe(error)}`);
    }
}

/** An error for a log line: its name and status, never its message (a storage error can echo keys). */
function describe(error: unknown): string {
    if (!(error instanceof Error)) return 'non-Error thrown';
    const status = (error as { statusCode?: unknown }).statusCode;
    return typeof status === 'number' ? `${error.name} (HTTP ${String(status)})` : error.name;
}
