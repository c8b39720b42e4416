import { app, type InvocationContext, type StorageQueueFunctionOptions } from '@azure/functions';
import { getDependencies } from '../shared/platform/dependencies';
import { lazy } from '../shared/platform/lazy';
import { MEDIA_MAX_DEQUEUE_COUNT } from '../shared/media/settings';

// The copy pulls in the Blob SDK: loaded on the first job, not at app start.
const copyModule = lazy(() => import('../shared/media/copy'));
const fetchModule = lazy(() => import('../shared/media/fetch'));

/**
 * Copies one inbound MMS's media from Twilio to the media container and records each item on the
 * message (shared/media/copy.ts). A transient failure is rethrown so the host redelivers the job (and,
 * after maxDequeueCount attempts, moves it to the poison queue, which inboundMediaPoison records).
 */
export async function inboundMedia(item: unknown, context: InvocationContext): Promise<void> {
    const deps = getDependencies();
    const [{ processMediaJob }, { mediaCredentials }] = await Promise.all([copyModule(), fetchModule()]);
    await processMediaJob(
        item,
        {
            id: String(context.triggerMetadata?.id),
            dequeueCount: Number(context.triggerMetadata?.dequeueCount),
        },
        {
            ledger: deps.ledger(),
            container: deps.mediaContainer,
            credentials: mediaCredentials({
                accountSid: deps.config.accountSid,
                apiKeySid: deps.config.apiKey?.sid,
                authToken: deps.authToken,
                apiKeySecret: deps.apiKeySecret,
            }),
            policy: { accountSid: deps.config.accountSid, twilioApiUrl: deps.config.twilioApiUrl },
            deleteAfterCopy: deps.config.media.deleteAfterCopy,
            maxDequeueCount: MEDIA_MAX_DEQUEUE_COUNT,
            log: context,
        },
    );
}

export const inboundMediaOptions = {
    queueName: '%INBOUND_MEDIA_QUEUE%',
    connection: 'AzureWebJobsStorage',
    handler: inboundMedia,
} satisfies StorageQueueFunctionOptions;

app.storageQueue('inboundMedia', inboundMediaOptions);
