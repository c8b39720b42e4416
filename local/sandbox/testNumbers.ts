/**
 * The sandbox's test inputs: the numbers that make a create fail, or a message end badly, on purpose.
 *
 * **Twilio's test-credential inputs** (https://www.twilio.com/docs/iam/test-credentials, "magic input"):
 * with test credentials Twilio answers these numbers with the same 400 and code every time, whatever
 * the state of any account, so a test written against them runs unchanged against the sandbox and
 * against Twilio with test credentials. The sandbox answers them the same way, with Twilio's texts
 * (as Twilio words them to test credentials, where that could be confirmed). Two of Twilio's rules are
 * left out on purpose: with test credentials every *other* `From` is refused (21606 for messages, 21210
 * for calls), but the sandbox plays a full account that owns numbers (IncomingPhoneNumbers), so it
 * accepts any well-formed sender; and test credentials refuse `MessagingServiceSid`, which the sandbox
 * serves.
 *
 * **The sandbox's own reserved numbers** ({@link DELIVERY_FAILURES}): test credentials send no status
 * callbacks, so they cannot show a message that Twilio accepts and the carrier then refuses. Sent to one
 * of these, a message is accepted (201) and ends `undelivered` or `failed` with the error code in its
 * status callback and on its resource. They sit next to Twilio's magic numbers (`+1500555003N`,
 * `+1500555004N`), in a range Twilio documents nothing for; with Twilio's test credentials they are
 * plain valid recipients.
 *
 * messages.ts asks {@link messageTestNumberError} on every create and messageLifecycle.ts asks
 * {@link deliveryFailureFor}; calls.ts asks {@link callTestNumberError} (one line in its create).
 */

import { errors, type TwilioApiError } from './errors';
import { SANDBOX_NUMBER } from './resources';

/** Twilio's test-credential `From` numbers for messages, and the error each one is answered with. */
export const MESSAGE_TEST_FROM: ReadonlyMap<string, (from: string) => TwilioApiError> = new Map([
    ['+15005550001', (from: string) => errors.messageFromNotANumber(from)],
    ['+15005550007', (from: string) => errors.messageFromNotOwned(from)],
    ['+15005550008', () => errors.messageQueueFull()],
]);

/** Twilio's test-credential `To` numbers for messages; `from` is the sender (the pool's, with a service). */
export const MESSAGE_TEST_TO: ReadonlyMap<string, (to: string, from: string) => TwilioApiError> = new Map([
    ['+15005550001', (to: string) => errors.invalidTo(to)],
    ['+15005550002', (to: string, from: string) => errors.messageToUnreachable(to, from)],
    ['+15005550003', (to: string) => errors.messageRegionNotPermitted(to)],
    ['+15005550004', () => errors.messageToBlocked()],
    ['+15005550009', (to: string) => errors.messageToNotMobile(to)],
]);

/** Twilio's test-credential `From` numbers for calls. */
export const CALL_TEST_FROM: ReadonlyMap<string, (from: string) => TwilioApiError> = new Map([
    ['+15005550001', (from: string) => errors.callFromInvalid(from)],
]);

/** Twilio's test-credential `To` numbers for calls. */
export const CALL_TEST_TO: ReadonlyMap<string, (to: string) => TwilioApiError> = new Map([
    ['+15005550001', (to: string) => errors.callToInvalid(to)],
    ['+15005550002', (to: string) => errors.callToUnreachable(to)],
    ['+15005550003', (to: string) => errors.callToNotPermitted(to)],
    ['+15005550004', (to: string) => errors.callToBlocked(to)],
]);

/**
 * Twilio's refusal of a message create from `from` (`null` when a Messaging Service picks the sender)
 * to `to`, when either is one of Twilio's test numbers; `undefined` otherwise. The `From` is checked
 * first, as Twilio's documentation lists it.
 */
export function messageTestNumberError(from: string | null, to: string): TwilioApiError | undefined {
    if (from !== null) {
        const refuse = MESSAGE_TEST_FROM.get(from);
        if (refuse !== undefined) return refuse(from);
    }
    return MESSAGE_TEST_TO.get(to)?.(to, from ?? SANDBOX_NUMBER);
}

/**
 * Twilio's refusal of a call create from `from` to `to`, when either is one of Twilio's test numbers;
 * `undefined` otherwise. For calls.ts's create, after its own checks:
 * `const refused = callTestNumberError(from, to); if (refused !== undefined) throw refused;`
 */
export function callTestNumberError(from: string, to: string): TwilioApiError | undefined {
    return CALL_TEST_FROM.get(from)?.(from) ?? CALL_TEST_TO.get(to)?.(to);
}

/** How a message to one of the reserved numbers ends, as Twilio reports a carrier's refusal. */
export interface DeliveryFailure {
    /** `undelivered`: sent, then refused downstream; `failed`: Twilio could not send it at all. */
    readonly status: 'undelivered' | 'failed';
    readonly code: number;
    /** The error's title in Twilio's catalogue, for the resource's `error_message`. */
    readonly message: string;
}

const unreachable = { code: 30003, message: 'Unreachable destination handset' };
const unknownHandset = { code: 30005, message: 'Unknown destination handset' };
const landline = { code: 30006, message: 'Landline or unreachable carrier' };
const filtered = { code: 30007, message: 'Message filtered' };
const unknownError = { code: 30008, message: 'Unknown error' };

/**
 * The sandbox's reserved recipients: `+1500555003N` ends `undelivered` (sent, then refused by the
 * carrier) and `+1500555004N` ends `failed` (never sent), N = 0…4 for 30003, 30005, 30006, 30007, 30008.
 */
export const DELIVERY_FAILURES: ReadonlyMap<string, DeliveryFailure> = new Map<string, DeliveryFailure>([
    ['+15005550030', { status: 'undelivered', ...unreachable }],
    ['+15005550031', { status: 'undelivered', ...unknownHandset }],
    ['+15005550032', { status: 'undelivered', ...landline }],
    ['+15005550033', { status: 'undelivered', ...filtered }],
    ['+15005550034', { status: 'undelivered', ...unknownError }],
    ['+15005550040', { status: 'failed', ...unreachable }],
    ['+15005550041', { status: 'failed', ...unknownHandset }],
    ['+15005550042', { status: 'failed', ...landline }],
    ['+15005550043', { status: 'failed', ...filtered }],
    ['+15005550044', { status: 'failed', ...unknownError }],
]);

/** How a message to `to` ends when `to` is one of the sandbox's reserved numbers; else `undefined`. */
export function deliveryFailureFor(to: string): DeliveryFailure | undefined {
    return DELIVERY_FAILURES.get(to);
}
