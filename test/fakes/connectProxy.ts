/**
 * An HTTP CONNECT proxy on 127.0.0.1 that tunnels `<anything>.vault.azure.net:443` to a local port.
 *
 * A child process given `HTTPS_PROXY=http://127.0.0.1:<port>` reaches the fake vault under its real
 * host name, so `SecretClient`'s vault URL, TLS host name check and challenge-resource check all see
 * `*.vault.azure.net`. Any other target is refused with 403, and plain proxied requests with 405: a test
 * then fails loudly if something the SDK should have sent directly (the identity endpoint) comes here.
 */

import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { closeServer, listen, trackSockets } from './servers';

const ALLOWED_TARGET = /^[0-9a-z-]+\.vault\.azure\.net:443$/i;

export interface FakeConnectProxy {
    /** Value for `HTTPS_PROXY`. */
    readonly url: string;
    /** `host:port` of every tunnel opened, oldest first. */
    readonly tunnels: readonly string[];
    /** Requests refused: a CONNECT to another target, or a request that was not a CONNECT. */
    readonly refused: readonly string[];
    /** Forgets the recorded tunnels and refusals. */
    clear(): void;
    close(): Promise<void>;
}

/** Starts the proxy on 127.0.0.1 on a free port, tunnelling allowed targets to 127.0.0.1:`targetPort`. */
export async function startConnectProxy(targetPort: number): Promise<FakeConnectProxy> {
    const tunnels: string[] = [];
    const refused: string[] = [];
    const upstreams = new Set<Socket>();

    const server: Server = createServer((req, res) => {
        refused.push(`${req.method ?? ''} ${req.url ?? ''}`);
        res.writeHead(405, { 'Content-Type': 'text/plain' }).end('This proxy only tunnels (CONNECT).\n');
    });
    const sockets = trackSockets(server);

    server.on('connect', (req: IncomingMessage, client: Duplex, head: Buffer) => {
        const target = req.url ?? '';
        client.on('error', () => client.destroy());
        if (!ALLOWED_TARGET.test(target)) {
            refused.push(`CONNECT ${target}`);
            client.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
            return;
        }
        tunnels.push(target.toLowerCase());
        const upstream = connect(targetPort, '127.0.0.1');
        let established = false;
        upstreams.add(upstream);
        upstream.on('error', () => {
            if (!established)
                client.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
        });
        upstream.on('close', () => {
            upstreams.delete(upstream);
            if (established) client.destroy();
        });
        client.on('close', () => upstream.destroy());
        upstream.once('connect', () => {
            established = true;
            client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
            if (head.length > 0) upstream.write(head);
            upstream.pipe(client);
            client.pipe(upstream);
        });
    });

    const port = await listen(server);
    return {
        url: `http://127.0.0.1:${port}`,
        tunnels,
        refused,
        clear: () => {
            tunnels.length = 0;
            refused.length = 0;
        },
        close: async () => {
            for (const upstream of upstreams) upstream.destroy();
            await closeServer(server, sockets);
        },
    };
}
