/**
 * An HTTP CONNECT proxy on 127.0.0.1 that tunnels `<anything>.vault.azure.net:443` (or the targets of the
 * routes it is given, e.g. `*.queue.core.windows.net:443`) to local ports.
 *
 * A child process given `HTTPS_PROXY=http://127.0.0.1:<port>` reaches the fake vault (or storage) under
 * its real host name, so the SDK's URL, the TLS host name check and the challenge-resource check all see
 * `*.vault.azure.net`. Any other target is refused with 403, and plain proxied requests with 405: a test
 * then fails loudly if something the SDK should have sent directly (the identity endpoint) comes here.
 */

import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { closeServer, listen, trackSockets } from './servers';

const VAULT_TARGET = /^[0-9a-z-]+\.vault\.azure\.net:443$/i;

/** Targets (`host:port`) matching `target` are tunnelled to 127.0.0.1:`port`. */
export interface ConnectRoute {
    readonly target: RegExp;
    readonly port: number;
}

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

/**
 * Starts the proxy on 127.0.0.1 on a free port, tunnelling `*.vault.azure.net:443` to 127.0.0.1:`routes`
 * when given a port, or each target to the port of the first route it matches.
 */
export async function startConnectProxy(routes: number | readonly ConnectRoute[]): Promise<FakeConnectProxy> {
    const table = typeof routes === 'number' ? [{ target: VAULT_TARGET, port: routes }] : routes;
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
        const targetPort = table.find((route) => route.target.test(target))?.port;
        if (targetPort === undefined) {
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
