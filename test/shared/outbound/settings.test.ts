import { readFileSync } from 'node:fs';
import path from 'node:path';
import { OUTBOUND_MAX_DEQUEUE_COUNT } from '../../../shared/outbound/settings';

describe('host.json and the outbound function agree', () => {
    const hostJson = JSON.parse(
        readFileSync(path.join(__dirname, '..', '..', '..', 'host.json'), 'utf8'),
    ) as {
        extensions: { queues: Record<string, unknown> };
    };

    it('on maxDequeueCount, so the last attempt is known and dead-lettered with its reason', () => {
        expect(hostJson.extensions.queues.maxDequeueCount).toBe(OUTBOUND_MAX_DEQUEUE_COUNT);
    });

    it('on messageEncoding "none": the function decodes base64 and plain JSON itself', () => {
        expect(hostJson.extensions.queues.messageEncoding).toBe('none');
    });
});
