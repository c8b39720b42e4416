/**
 * The Messaging webhook's part of the media copy: for an inbound MMS it puts one small job on
 * `INBOUND_MEDIA_QUEUE` (shared/media/job.ts) and fetches nothing itself, so the webhook answers Twilio as
 * fast as for a text. What cannot become a job is recorded on the message instead: media refused as a
 * whole (`NumMedia` over 10, or not a number), or a job the queue would not take (`not-queued`, the media
 * staying at Twilio).
 */

import type { InboundMedia, Ledger } from '../ledger/contract';
import { planMediaJob, type MediaUrlPolicy } from './job';

export type InboundMediaOutcome =
    | { kind: 'none' }
    | { kind: 'queued'; items: number }
    | { kind: 'refused'; reason: string }
    | { kind: 'not-queued'; reason: string };

/**
 * Plans and enqueues the media copy of message `sid` (already recorded in `ledger`).
 *
 * @throws only what the ledger throws when recording a refusal.
 */
export async function queueInboundMedia(
    form: URLSearchParams,
    sid: string,
    deps: { ledger: Ledger; enqueue: (text: string) => Promise<void>; policy: MediaUrlPolicy },
): Promise<InboundMediaOutcome> {
    const plan = planMediaJob(form, sid, deps.policy);
    if (plan.kind === 'none') return plan;
    if (plan.kind === 'refused') {
        await record(deps.ledger, sid, { status: 'refused', items: [], reason: plan.reason });
        return plan;
    }
    try {
        await deps.enqueue(JSON.stringify(plan.job));
        return { kind: 'queued', items: plan.job.items.length };
    } catch (error) {
        const reason = `the media copy could not be queued: ${error instanceof Error ? error.name : 'error'}`;
        await record(deps.ledger, sid, { status: 'not-queued', items: [], reason });
        return { kind: 'not-queued', reason };
    }
}

async function record(ledger: Ledger, sid: string, media: InboundMedia): Promise<void> {
    await ledger.update(sid, (current) =>
        current === undefined || current.media !== undefined ? undefined : { ...current, media },
    );
}
