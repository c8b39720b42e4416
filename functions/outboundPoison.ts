import { app, type InvocationContext, type StorageQueueFunctionOptions } from '@azure/functions';
import { getDependencies } from '../shared/platform/dependencies';
import { lazy } from '../shared/platform/lazy';

// Loaded on first use: not every function needs it on a cold start.
const poisonModule = lazy(() => import('../shared/outbound/poison'));

/**
 * Records every message the host moved to the poison queue as `dead-lettered` in the ledger, with the
 * last error, so nothing disappears silently.
 */
export async function outboundPoison(item: unknown, context: InvocationContext): Promise<void> {
    const deps = getDependencies();
    // recordPoisonedMessage logs the outcome line (dead-lettered, found-at-twilio or poisoned).
    await (
        await poisonModule()
    ).recordPoisonedMessage(deps.ledger(), item, String(context.triggerMetadata?.id), {
        twilio: deps.twilio,
        log: context,
    });
}

export const outboundPoisonOptions = {
    queueName: '%OUTBOUND_QUEUE%-poison',
    connection: 'AzureWebJobsStorage',
    handler: outboundPoison,
} satisfies StorageQueueFunctionOptions;

app.storageQueue('outboundPoison', outboundPoisonOptions);
