import { app, type InvocationContext, type StorageQueueFunctionOptions } from '@azure/functions';
import { getDependencies } from '../shared/platform/dependencies';
import { lazy } from '../shared/platform/lazy';

// Loaded on first use: not every function needs it on a cold start.
const poisonModule = lazy(() => import('../shared/media/poison'));

/**
 * Records every media copy job the host moved to the poison queue on its message, as `dead-lettered`
 * with the reason, so no message's media are dropped silently (shared/media/poison.ts).
 */
export async function inboundMediaPoison(item: unknown, context: InvocationContext): Promise<void> {
    const deps = getDependencies();
    await (
        await poisonModule()
    ).recordPoisonedMediaJob(item, String(context.triggerMetadata?.id), {
        ledger: deps.ledger(),
        container: deps.mediaContainer,
        log: context,
    });
}

export const inboundMediaPoisonOptions = {
    queueName: '%INBOUND_MEDIA_QUEUE%-poison',
    connection: 'AzureWebJobsStorage',
    handler: inboundMediaPoison,
} satisfies StorageQueueFunctionOptions;

app.storageQueue('inboundMediaPoison', inboundMediaPoisonOptions);
