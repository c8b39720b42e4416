/**
 * Messages the Functions host moved to the outbound poison queue, recorded as `dead-lettered`.
 */

import { createHash } from 'node:crypto';
import type { Ledger, LedgerRecord } from './ledger';
import { lazy } from './lazy';
import { applyStatus } from './messageStatus';
import type { OutboundLogger } from './outboundPipeline';
import type { TwilioClientFactory } from './twilioClient';

const outboundMessage = lazy(() => import('./outboundMessage'));
const outboundPipeline = lazy(() => import('./outboundPipeline'));
const ID = /^[A-Za-z0-9._~:-]{1,200}$/;

export interface PoisonResult {
    id: string;
    kind: 'dead-lettered' | 'already-dead-lettered' | 'already-sent' | 'already-final' | 'found-at-twilio';
}

export interface PoisonOptions {
    /**
     * The Twilio client factory: when the record still holds the claim of an attempt whose outcome is
     * unknown, Twilio is asked whether it has the message before anything is dead-lettered.
     */
    twilio?: TwilioClientFactory;
    log?: OutboundLogger;
    now?: () => Date;
}

/**
 * Marks the message's ledger record `dead-lettered`, keeping the last error the outbound function
 * recorded. A message with no usable id (the outbound function then keyed it by its queue message id,
 * which the poison copy does not carry) is recorded under an id derived from its content.
 */
export async function recordPoisonedMessage(
    ledger: Ledger,
    item: unknown,
    poisonMessageId: string,
    options: PoisonOptions = {},
): Promise<PoisonResult> {
    const now = options.now ?? (() => new Date());
    const { decodeQueueItem, summarize, parseOutbound } = await outboundMessage();
    const decoded = decodeQueueItem(item);
    const value = decoded.ok ? decoded.value : undefined;
    const clientId = typeof value === 'object' && value !== null ? (value as { id?: unknown }).id : undefined;
    const text = typeof item === 'string' ? item : JSON.stringify(item);
    const id =
        typeof clientId === 'string' && ID.test(clientId)
            ? clientId
            : `poison-${createHash('sha256').update(text).digest('hex').slice(0, 40)}`;
    const parsed = value === undefined ? undefined : parseOutbound(value);

    // The last attempt may have reached Twilio and died before recording it (the host then poisons the
    // redelivery without running the function): ask Twilio before calling the message dead.
    if (options.twilio !== undefined && parsed?.ok === true) {
        const current = await ledger.get(id);
        if (current?.claim !== undefined && current.sid === undefined) {
            const { recoverAbandonedSend } = await outboundPipeline();
            const found = await recoverAbandonedSend(
                { ledger, twilio: options.twilio, log: options.log ?? console, now },
                id,
                parsed.value,
            );
            if (found !== undefined) return { id, kind: 'found-at-twilio' };
        }
    }

    let kind: PoisonResult['kind'] = 'dead-lettered';
    await ledger.update(id, (current) => {
        const at = now().toISOString();
        if (current?.sid !== undefined) {
            kind = 'already-sent';
            return undefined;
        }
        if (current?.status === 'dead-lettered') {
            kind = 'already-dead-lettered';
            return undefined;
        }
        const base: LedgerRecord = current ?? {
            id,
            direction: 'outbound',
            type: 'sms',
            mediaCount: 0,
            ...(parsed?.ok === true ? summarize(parsed.value) : {}),
            status: 'queued',
            history: [],
            attempts: 0,
            createdAt: at,
            updatedAt: at,
        };
        const moved = applyStatus(base, { status: 'dead-lettered', at, source: 'app' });
        if (moved === undefined) {
            kind = 'already-final';
            return undefined;
        }
        return {
            ...moved,
            claim: undefined,
            errorMessage:
                current?.errorMessage ??
                `moved to the poison queue (poison message ${poisonMessageId}) without a recorded error`,
            updatedAt: at,
        };
    });
    return { id, kind };
}
