/**
 * `host.json` `extensions.queues.maxDequeueCount`: the outbound function records a message as
 * dead-lettered on the attempt that fails at this count, because the host moves it to the poison queue
 * next. A test keeps the two equal.
 */
export const OUTBOUND_MAX_DEQUEUE_COUNT = 5;
