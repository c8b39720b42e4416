import { app, type InvocationContext, type StorageQueueFunctionOptions } from '@azure/functions';
import { getDependencies } from '../shared/platform/dependencies';
import { lazy } from '../shared/platform/lazy';
import { OUTBOUND_MAX_DEQUEUE_COUNT } from '../shared/outbound/settings';

// The pipeline pulls in zod and the Twilio REST client: loaded on the first message, not at app start.
const pipeline = lazy(() => import('../shared/outbound/pipeline'));

/**
 * Sends one SMS/MMS or places one call from the outbound queue. Transient failures are rethrown so the
 * host redelivers the message (and, after maxDequeueCount attempts, moves it to the poison queue);
 * Twilio's back-pressure (429, 21611, 30001) re-enqueues a delayed copy and acknowledges this one;
 * invalid messages and permanent Twilio errors are recorded in the ledger and acknowledged.
 */
export async function outbound(item: unknown, context: InvocationContext): Promise<void> {
    const deps = getDependencies();
    const { processOutbound } = await pipeline();
    await processOutbound(
        item,
        {
            id: String(context.triggerMetadata?.id),
            dequeueCount: Number(context.triggerMetadata?.dequeueCount),
        },
        {
            ledger: deps.ledger(),
            twilio: deps.twilio,
            fromNumber: deps.config.fromNumber,
            messagingServiceSid: deps.config.messagingServiceSid,
            publicBaseUrl: deps.config.publicBaseUrl,
            maxDequeueCount: OUTBOUND_MAX_DEQUEUE_COUNT,
            log: context,
            // Back-pressure from Twilio waits on the queue itself, for longer than the host's one
            // visibilityTimeout: a delayed copy of the message.
            requeue: (text, delaySeconds) => deps.enqueueOutbound(text, { delaySeconds }),
            maxAgeMs: deps.config.outboundMaxAgeMs,
            // An SMS/MMS to a recipient who opted out of its sender is refused here, not by Twilio.
            optOuts: deps.optOuts(),
        },
    );
}

export const outboundOptions = {
    queueName: '%OUTBOUND_QUEUE%',
    connection: 'AzureWebJobsStorage',
    handler: outbound,
} satisfies StorageQueueFunctionOptions;

app.storageQueue('outbound', outboundOptions);
