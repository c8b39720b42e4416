/**
 * `host.json` `extensions.queues.maxDequeueCount`, as the media copy sees it: the attempt at this count
 * records the job `dead-lettered` on its message before the host moves it to the poison queue. The same
 * host setting as the outbound queue's (shared/outbound/settings.ts); a test keeps both equal to it.
 */
export const MEDIA_MAX_DEQUEUE_COUNT = 5;
