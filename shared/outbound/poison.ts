/**
 * Messages the Functions host moved to the outbound poison queue, recorded as `dead-lettered`.
 *
 * Each item logs one outcome line (shared/platform/outcomes.ts) through `options.log`: `dead-lettered` (error)
 * when this call recorded it, `found-at-twilio` when Twilio had the send after all, and `poisoned`
 * (information) when the record was already final — usually `dead-lettered` by the outbound function's
 * last attempt, which logged the dead letter itself.
 *
 * The record's change is shared/outbound/transitions.ts `poisonDeadLetter`; this module finds the id,
 * asks Twilio first when an attempt's outcome is unknown, and logs.
 */

import { createHash } from 'node:crypto';
import type { Ledger } from '../ledger/contract';
import { lazy } from '../platform/lazy';
import type { OutboundLogger } from './pipeline';
import { outcomeLine, subjectOf } from '../platform/outcomes';
import type { TwilioClientFactory } from '../platform/twilioClient';
import { abandonedClaim, poisonDeadLetter, type PoisonKind } from './transitions';

const outboundMessage = lazy(() => import('./message'));
const outboundPipeline = lazy(() => import('./pipeline'));
const ID = /^[A-Za-z0-9._~:-]{1,200}$/;

export interface PoisonResult {
    id: string;
    kind: PoisonKind | 'found-at-twilio';
}

export interface PoisonOptions {
    /**
     * The Twilio client factory: when the record still holds the claim of an attempt whose outcome is
     * unknown, Twilio is asked whether it has the message before anything is dead-lettered.
     */
    twilio?: TwilioClientFactory;
    log?: OutboundLogger;
    now?: () => Date;
}

/**
 * Marks the message's ledger record `dead-lettered`, keeping the last error the outbound function
 * recorded. A message with no usable id (the outbound function then keyed it by its queue message id,
 * which the poison copy does not carry) is recorded under an id derived from its content.
 *
 * Total over the item's shape: whatever the host hands over (deeply nested or huge JSON, a number,
 * `null`, a Buffer, invalid UTF-8, text that is not JSON, an object with a `__proto__` key, …) gets a
 * record with the reason, so nothing leaves the poison queue unrecorded. Only the ledger (or Twilio, for a
 * lookup) can make it throw, and then the host retries.
 */
export async function recordPoisonedMessage(
    ledger: Ledger,
    item: unknown,
    poisonMessageId: string,
    options: PoisonOptions = {},
): Promise<PoisonResult> {
    const now = options.now ?? (() => new Date());
    const { decodeQueueItem, summarize, parseOutbound } = await outboundMessage();
    // The validators are not ours to trust with any shape (a stack overflow on deep input is a RangeError):
    // a throw means "not a valid message", never a failed invocation.
    const decoded = attempt(() => decodeQueueItem(item));
    const value = decoded?.ok === true ? decoded.value : undefined;
    const clientId = typeof value === 'object' && value !== null ? ownId(value) : undefined;
    const id = clientId !== undefined && ID.test(clientId) ? clientId : `poison-${contentHash(item)}`;
    // A re-enqueued (delayed) copy carries the pipeline's retry token beside the message itself.
    const { splitRetryToken } = await outboundPipeline();
    const message = value === undefined ? undefined : splitRetryToken(value).message;
    const parsed = message === undefined ? undefined : attempt(() => parseOutbound(message));
    const problem =
        decoded === undefined
            ? 'the queue item could not be decoded'
            : !decoded.ok
              ? decoded.error
              : parsed === undefined
                ? 'the message could not be validated'
                : !parsed.ok
                  ? `not a valid outbound message (${String(parsed.errors.length)} field errors)`
                  : 'a valid message';

    // The last attempt may have reached Twilio and died before recording it (the host then poisons the
    // redelivery without running the function): ask Twilio before calling the message dead.
    if (options.twilio !== undefined && parsed?.ok === true) {
        if (abandonedClaim(await ledger.get(id)) !== undefined) {
            const { recoverAbandonedSend } = await outboundPipeline();
            const found = await recoverAbandonedSend(
                { ledger, twilio: options.twilio, log: options.log ?? console, now },
                id,
                parsed.value,
            );
            if (found !== undefined) return { id, kind: 'found-at-twilio' };
        }
    }

    const summary = parsed?.ok === true ? summarize(parsed.value) : undefined;
    let kind = 'dead-lettered' as PoisonResult['kind']; // set by the ledger's mutate callback
    const stored = await ledger.update(id, (current) => {
        const step = poisonDeadLetter(current, { id, summary, poisonMessageId, problem, now: now() });
        kind = step.kind;
        return step.next;
    });
    const subject = subjectOf(stored?.type ?? (parsed?.ok === true ? parsed.value.type : 'sms'));
    if (kind === 'dead-lettered') {
        options.log?.error(outcomeLine({ event: `${subject}.dead-lettered`, id, code: stored?.errorCode }));
    } else {
        options.log?.log(
            outcomeLine({ event: `${subject}.poisoned`, id, sid: stored?.sid, status: stored?.status }),
        );
    }
    return { id, kind };
}

function attempt<T>(run: () => T): T | undefined {
    try {
        return run();
    } catch {
        return undefined;
    }
}

/** The item's own `id` property (never one inherited, or a getter's throw). */
function ownId(value: object): string | undefined {
    const descriptor = attempt(() => Object.getOwnPropertyDescriptor(value, 'id'));
    return typeof descriptor?.value === 'string' ? descriptor.value : undefined;
}

/**
 * Past this many values (elements, properties, containers) an object item's fingerprint covers only what
 * was read, and says so. A queue message holds at most 64 KiB, far fewer values than this; the bound is
 * for whatever else calls this, so the work stays bounded whatever the item.
 */
const MAX_FINGERPRINT_VALUES = 1_000_000;

/**
 * A deterministic content hash of a queue item, computed without recursion, so its nesting depth cannot
 * overflow the stack. Text and bytes are hashed as they are (the raw message); any other value as the
 * text `JSON.stringify` would give it (the ids of records made before stay the same), serialised with an
 * explicit stack. What `JSON.stringify` throws on (cycles, BigInt) is written as a marker instead.
 */
export function contentHash(item: unknown): string {
    const hash = createHash('sha256');
    if (typeof item === 'string' || item instanceof Uint8Array) hash.update(item);
    else serialise(item, (chunk) => hash.update(chunk));
    return hash.digest('hex').slice(0, 40);
}

type Frame =
    | { readonly array: readonly unknown[]; next: number }
    | { readonly object: object; readonly keys: readonly string[]; next: number; written: number };

const CHUNK = 64 * 1024;

/** Writes `root` as `JSON.stringify` would, in chunks, with an explicit stack instead of recursion. */
function serialise(root: unknown, sink: (chunk: string) => void): void {
    let pending = '';
    const write = (text: string) => {
        pending += text;
        if (pending.length >= CHUNK) {
            sink(pending);
            pending = '';
        }
    };
    const stack: Frame[] = [];
    const onPath = new Set<object>();
    let budget = MAX_FINGERPRINT_VALUES;

    const open = (value: unknown): void => {
        if (value === null) write('null');
        else if (typeof value === 'string') write(JSON.stringify(value));
        else if (typeof value === 'number') write(Number.isFinite(value) ? String(value) : 'null');
        else if (typeof value === 'boolean') write(value ? 'true' : 'false');
        else if (typeof value === 'bigint') write(`"<bigint ${value.toString()}>"`);
        else if (typeof value !== 'object') write('null');
        else if (onPath.has(value)) write('"<circular>"');
        else if (Array.isArray(value)) {
            write('[');
            onPath.add(value);
            stack.push({ array: value as unknown[], next: 0 });
        } else {
            write('{');
            onPath.add(value);
            stack.push({ object: value, keys: attempt(() => Object.keys(value)) ?? [], next: 0, written: 0 });
        }
    };

    if (root === undefined || typeof root === 'function' || typeof root === 'symbol') write('<undefined>');
    else open(toJson(root, ''));
    while (stack.length > 0) {
        const frame = stack[stack.length - 1] as Frame;
        if (--budget < 0) {
            write('<truncated>');
            break;
        }
        if ('array' in frame) {
            if (frame.next >= frame.array.length) {
                write(']');
                onPath.delete(frame.array);
                stack.pop();
                continue;
            }
            const index = frame.next++;
            if (index > 0) write(',');
            open(toJson(read(frame.array, String(index)), String(index)));
        } else {
            const key = frame.keys[frame.next];
            if (key === undefined) {
                write('}');
                onPath.delete(frame.object);
                stack.pop();
                continue;
            }
            frame.next++;
            const value = toJson(read(frame.object, key), key);
            // As JSON.stringify: a property whose value has no JSON form is left out.
            if (value === undefined || typeof value === 'function' || typeof value === 'symbol') continue;
            write(`${frame.written++ > 0 ? ',' : ''}${JSON.stringify(key)}:`);
            open(value);
        }
    }
    if (pending !== '') sink(pending);
}

/** An own property's value (a getter that throws reads as a marker). */
function read(container: object, key: string): unknown {
    try {
        return (container as Record<string, unknown>)[key];
    } catch {
        return '<unreadable>';
    }
}

/** `value.toJSON(key)` where the value has one (a Date, a nested Buffer), as JSON.stringify calls it. */
function toJson(value: unknown, key: string): unknown {
    if (typeof value !== 'object' || value === null) return value;
    const method = attempt(() => (value as { toJSON?: unknown }).toJSON);
    if (typeof method !== 'function') return value;
    try {
        return (method as (this: unknown, key: string) => unknown).call(value, key);
    } catch {
        return '<toJSON failed>';
    }
}
