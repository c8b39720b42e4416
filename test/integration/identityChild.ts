/**
 * Child process for identity.test.ts: builds the app's services from its environment exactly as the
 * Functions host would (`createDependencies(parseConfig(process.env))`) and, on command, uses the ledger,
 * the outbound queue and the Key Vault secrets, so the unmodified storage, Key Vault and identity SDKs talk
 * HTTPS to the fakes.
 *
 * Protocol (JSON lines): `{"id":1,"op":"ledgerCreate","arg":"msg-1"}` on stdin; the answer
 * `{"id":1,"ok":true,"value":…}` or `{"id":1,"ok":false,"error":"Name: message"}` on stdout. Closing stdin
 * ends the process with code 0.
 */

import { createInterface } from 'node:readline';
import { parseConfig } from '../../shared/platform/config';
import { createDependencies } from '../../shared/platform/dependencies';
import type { LedgerRecord } from '../../shared/ledger/contract';

export interface IdentityCommand {
    readonly op:
        | 'coldStart'
        | 'ledgerCreate'
        | 'ledgerGet'
        | 'enqueue'
        | 'authToken'
        | 'apiKeySecret'
        | 'mediaPut'
        | 'mediaRead'
        | 'enqueueMedia';
    readonly arg?: string;
}

export type IdentityOutcome = { ok: true; value: unknown } | { ok: false; error: string };

const deps = createDependencies(parseConfig(process.env));

function record(id: string): LedgerRecord {
    const now = new Date().toISOString();
    return {
        id,
        direction: 'outbound',
        type: 'sms',
        to: '+15557654321',
        mediaCount: 0,
        status: 'queued',
        history: [{ status: 'queued', at: now, source: 'app' }],
        attempts: 0,
        createdAt: now,
        updatedAt: now,
    };
}

async function run(command: IdentityCommand): Promise<unknown> {
    const arg = command.arg ?? '';
    switch (command.op) {
        case 'coldStart':
            // The first ledger write and the first send at once, as concurrent invocations would.
            return Promise.all([deps.ledger().create(record(arg)), deps.enqueueOutbound(`{"id":"${arg}"}`)]);
        case 'ledgerCreate':
            return deps.ledger().create(record(arg));
        case 'ledgerGet': {
            const found = await deps.ledger().get(arg);
            return found === undefined ? null : { id: found.id, status: found.status };
        }
        case 'enqueue':
            await deps.enqueueOutbound(arg);
            return 'sent';
        case 'authToken':
            if (deps.authToken === undefined) throw new Error('No auth token source is configured');
            return deps.authToken.get();
        case 'mediaPut': {
            // What the media copy does: the container (created on first use), an upload with its type.
            const blob = (await deps.mediaContainer()).getBlockBlobClient(arg);
            await blob.uploadData(Buffer.from('media bytes'), {
                blobHTTPHeaders: { blobContentType: 'image/png' },
            });
            return 'stored';
        }
        case 'mediaRead': {
            // What GET /api/messages/{id}/media/{n} does: read the stored item back through the same client.
            const { readStoredMedia } = await import('../../shared/media/serve');
            const [id = '', n = '0'] = arg.split('/');
            const stored = await readStoredMedia(deps.mediaContainer, id, Number(n));
            return stored.kind === 'ok'
                ? { contentType: stored.contentType, text: Buffer.from(stored.body).toString('utf8') }
                : stored.kind;
        }
        case 'enqueueMedia':
            await deps.enqueueInboundMedia(arg);
            return 'sent';
        case 'apiKeySecret':
            if (deps.apiKeySecret === undefined) throw new Error('No API key is configured');
            return deps.apiKeySecret.get();
    }
}

let queue = Promise.resolve();
const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
    // One command at a time, in order: the parent asserts on what each step asked of the fakes.
    queue = queue.then(async () => {
        const { id, ...command } = JSON.parse(line) as IdentityCommand & { id: number };
        let outcome: IdentityOutcome;
        try {
            outcome = { ok: true, value: await run(command) };
        } catch (error) {
            outcome = {
                ok: false,
                error:
                    error instanceof Error
                        ? `${error.name}: ${error.message.split('\n')[0] ?? ''}`
                        : String(error),
            };
        }
        process.stdout.write(`${JSON.stringify({ id, ...outcome })}\n`);
    });
});
lines.on('close', () => {
    // Exit explicitly: the SDKs' keep-alive sockets would otherwise hold the process open for a while.
    void queue.then(() => process.exit(0));
});
