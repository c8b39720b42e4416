/**
 * The sandbox's HTTP server on loopback: reads each request (form bodies up to 1 MB), sends `/sandbox/…`
 * to the views and everything else to the REST router, records each REST request in the store (without
 * its password), and writes the answer as Twilio's API does (JSON, or a recording's bytes, with a
 * `Twilio-Request-Id`). A handler that fails unexpectedly answers Twilio's 500 (20500), logged with the
 * reason.
 *
 * Nothing here knows a resource: new resources and behaviours go to the router and the lifecycles.
 */

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { messageOf } from './callbacks';
import type { SandboxContext } from './context';
import { basicAuthUser } from './credentials';
import { newSid } from './resources';
import type { Answer } from './restHandler';
import { answerRestRequest } from './router';
import { sandboxView } from './views';

const MAX_BODY_BYTES = 1024 * 1024;

export interface SandboxServer {
    /** e.g. `http://127.0.0.1:53412`. */
    readonly url: string;
    /** Stops listening and drops open connections. */
    close(): Promise<void>;
}

/** Listens on `host`:`port` (0: a free port) and serves `ctx`. */
export async function startSandboxServer(
    ctx: SandboxContext,
    { port, host }: { port: number; host: string },
): Promise<SandboxServer> {
    const server = createServer((req, res) => {
        handle(ctx, req, res).catch((error: unknown) => {
            ctx.log(`sandbox: internal error: ${messageOf(error)}`);
            if (!res.headersSent) {
                send(res, {
                    status: 500,
                    body: { code: 20500, message: 'Internal Server Error', more_info: '', status: 500 },
                });
            }
        });
    });
    await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
            server.off('error', reject);
            resolve();
        });
    });
    const address = server.address() as AddressInfo;
    return {
        url: `http://127.0.0.1:${String(address.port)}`,
        async close() {
            const closed = new Promise<void>((resolve, reject) => {
                server.close((error) => (error === undefined ? resolve() : reject(error)));
            });
            server.closeAllConnections();
            await closed;
        },
    };
}

async function handle(ctx: SandboxContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const rawPath = req.url ?? '/';
    const queryStart = rawPath.indexOf('?');
    const path = queryStart === -1 ? rawPath : rawPath.slice(0, queryStart);
    const query = new URLSearchParams(queryStart === -1 ? '' : rawPath.slice(queryStart + 1));

    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
        size += (chunk as Buffer).length;
        if (size > MAX_BODY_BYTES) {
            send(res, { status: 413, body: { message: 'Request body too large' } });
            return;
        }
        chunks.push(chunk as Buffer);
    }
    const contentType = (req.headers['content-type'] ?? '').toLowerCase();
    const form = contentType.startsWith('application/x-www-form-urlencoded')
        ? new URLSearchParams(Buffer.concat(chunks).toString('utf8'))
        : new URLSearchParams();

    if (path === '/sandbox' || path.startsWith('/sandbox/')) {
        send(
            res,
            await sandboxView(ctx, {
                method,
                path,
                body: Buffer.concat(chunks).toString('utf8'),
                contentType,
                authorization: req.headers.authorization,
            }),
        );
        return;
    }

    const { authorization } = req.headers;
    const answer = answerRestRequest(ctx, { method, path, query, form, authorization });
    const errorCode = answer.status >= 400 ? ((answer.body as { code?: number }).code ?? null) : null;
    ctx.store.recordRequest({
        at: new Date(),
        method,
        path: rawPath,
        query,
        form,
        username: basicAuthUser(authorization),
        status: answer.status,
        errorCode,
    });
    send(res, answer);
}

function send(res: ServerResponse, answer: Answer): void {
    const headers: Record<string, string> = {
        'Twilio-Request-Id': newSid('RQ'),
        ...answer.headers,
    };
    if (answer.body === undefined) {
        res.writeHead(answer.status, headers);
        res.end();
        return;
    }
    // Media (a recording's audio): the bytes as they are, with the handler's Content-Type.
    if (answer.body instanceof Uint8Array) {
        res.writeHead(answer.status, { ...headers, 'Content-Length': String(answer.body.length) });
        res.end(answer.body);
        return;
    }
    const json = JSON.stringify(answer.body);
    res.writeHead(answer.status, {
        ...headers,
        'Content-Type': 'application/json; charset=utf-8',
        'Content-Length': String(Buffer.byteLength(json)),
    });
    res.end(json);
}
