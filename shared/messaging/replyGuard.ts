/**
 * The loop guard of `/api/sms`: the auto-reply stops answering a sender that has written more than
 * `SMS_REPLY_LIMIT` messages within `SMS_REPLY_WINDOW_SECONDS`. Two auto-responders answering each other
 * would otherwise ping-pong until Twilio blocks the pair (error 14107, at 30 messages in 30 seconds),
 * paying for every message on the way.
 *
 * **Counted across instances.** Each (sender, our number) pair has one counter in storage — the window's
 * start and how many messages it holds — moved by {@link nextWindow} and written with optimistic
 * concurrency (an ETag), so instances answering the same sender at once each count their message once.
 * One counter per pair, overwritten when its window ends, so storage stays one small entity per
 * correspondent and the work per message is one read and one write, whatever the traffic.
 *
 * **Windows.** A window starts with the first message after the previous one ended and lasts the
 * configured time (a fixed window from that message, not a sliding one): the limit holds within each
 * window, so at most twice the limit can pass in any stretch of one window's length that straddles two.
 * That is enough to stop a loop, which never pauses.
 *
 * Pure but for the contract: no I/O, no clock.
 */

/** One sender's counter: when its window started, and how many messages it has counted in it. */
export interface ReplyWindow {
    /** ISO 8601. */
    start: string;
    count: number;
}

/**
 * Counters for the loop guard. An implementation keeps one {@link ReplyWindow} per (from, to) and applies
 * {@link nextWindow} to it atomically (retrying on a concurrent write).
 */
export interface ReplyWindows {
    /**
     * Counts one message from `from` to `to` received at `now`, and answers how many messages the current
     * window holds, this one included.
     *
     * @throws RangeError for an address longer than {@link MAX_ADDRESS_LENGTH} or empty.
     */
    count(from: string, to: string, now: Date, windowMs: number): Promise<number>;
}

/** The longest address a counter is kept for (Twilio's addresses are far shorter). */
export const MAX_ADDRESS_LENGTH = 128;
const MAX_COUNT = 0x7fffffff;

/**
 * The counter after one more message at `now`: a new window (count 1) when there is none, it has ended
 * (`windowMs` after its start), or it starts in the future (a clock that went back); else one more.
 */
export function nextWindow(current: ReplyWindow | undefined, now: Date, windowMs: number): ReplyWindow {
    const start = current === undefined ? NaN : Date.parse(current.start);
    const at = now.getTime();
    if (current === undefined || Number.isNaN(start) || at >= start + windowMs || at < start) {
        return { start: now.toISOString(), count: 1 };
    }
    return { start: current.start, count: Math.min(current.count + 1, MAX_COUNT) };
}

/** Whether a message that is the `count`-th of its window gets no auto-reply. */
export function isReplySuppressed(count: number, limit: number): boolean {
    return count > limit;
}

/** Refuses an address no counter is kept for. */
export function checkCounterAddress(address: string): void {
    if (address.length < 1 || address.length > MAX_ADDRESS_LENGTH) {
        throw new RangeError(`A reply counter address is 1-${String(MAX_ADDRESS_LENGTH)} characters`);
    }
}
