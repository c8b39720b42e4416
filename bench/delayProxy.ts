/**
 * A small HTTP proxy on 127.0.0.1 in front of the Twilio sandbox that holds every Messages/Calls create for
 * a fixed latency before forwarding it, as a slow Twilio API would, and counts the creates per message id
 * (the `id` of the app's status callback URL) and how many were in flight at once.
 */

import {
    Agent,
    createServer,
    request as httpRequest,
    type IncomingMessage,
    type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

const CREATE = /^\/2010-04-01\/Accounts\/[^/]+\/(Messages|Calls)\.json$/;

export interface DelayProxy {
    readonly url: string;
    /** Creates per our message id (the `id` query parameter of the StatusCallback), or the `To` number. */
    readonly createsPerId: ReadonlyMap<string, number>;
    /** The most creates in flight at once (held or forwarded, not yet answered). */
    peakInFlight(): number;
    /** Time-weighted mean of creates in flight between the first create and the last answer. */
    meanInFlight(): number;
    close(): Promise<void>;
}

export async function startDelayProxy(upstream: string, latencyMs: number): Promise<DelayProxy> {
    const target = new URL(upstream);
    const agent = new Agent({ keepAlive: true, maxSockets: 256 });
    const createsPerId = new Map<string, number>();
    let inFlight = 0;
    let peak = 0;
    let area = 0;
    let first: number | undefined;
    let last = 0;
    const change = (delta: number) => {
        const now = performance.now();
        first ??= now;
        area += inFlight * (now - last);
        last = now;
        inFlight += delta;
        peak = Math.max(peak, inFlight);
    };

    const forward = (req: IncomingMessage, res: ServerResponse, body: Buffer) =>
        new Promise<void>((resolve) => {
            const upstreamRequest = httpRequest(
                {
                    host: target.hostname,
                    port: target.port,
                    method: req.method,
                    path: req.url,
                    headers: { ...req.headers, host: target.host, 'content-length': String(body.length) },
                    agent,
                },
                (upstreamResponse) => {
                    res.writeHead(upstreamResponse.statusCode ?? 502, upstreamResponse.headers);
                    upstreamResponse.pipe(res);
                    upstreamResponse.on('end', resolve);
                    upstreamResponse.on('error', resolve);
                },
            );
            upstreamRequest.on('error', () => {
                if (!res.headersSent) res.writeHead(502);
                res.end();
                resolve();
            });
            upstreamRequest.end(body);
        });

    const handle = async (req: IncomingMessage, res: ServerResponse) => {
        const chunks: Buffer[] = [];
        for await (const chunk of req) chunks.push(chunk as Buffer);
        const body = Buffer.concat(chunks);
        const path = (req.url ?? '/').split('?')[0] ?? '/';
        if (req.method !== 'POST' || !CREATE.test(path)) {
            await forward(req, res, body);
            return;
        }
        const form = new URLSearchParams(body.toString('utf8'));
        const callback = form.get('StatusCallback');
        const id =
            (callback === null ? null : new URL(callback).searchParams.get('id')) ?? form.get('To') ?? '?';
        createsPerId.set(id, (createsPerId.get(id) ?? 0) + 1);
        change(1);
        try {
            await sleep(latencyMs);
            await forward(req, res, body);
        } finally {
            change(-1);
        }
    };

    const server = createServer((req, res) => {
        handle(req, res).catch(() => {
            if (!res.headersSent) res.writeHead(502);
            res.end();
        });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return {
        url: `http://127.0.0.1:${String(port)}`,
        createsPerId,
        peakInFlight: () => peak,
        meanInFlight: () => (first === undefined || last <= first ? 0 : area / (last - first)),
        close: () =>
            new Promise<void>((resolve) => {
                server.close(() => resolve());
                server.closeAllConnections();
                agent.destroy();
            }),
    };
}
