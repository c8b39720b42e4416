/** Plumbing shared by the loopback fakes. */

import { createServer, type Server, type Socket } from 'node:net';

/** Listens on 127.0.0.1 on a free port and resolves to the port. */
export function listen(server: Server): Promise<number> {
    return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => {
            server.off('error', reject);
            const address = server.address();
            if (address === null || typeof address === 'string') {
                reject(new Error('The server has no TCP address'));
                return;
            }
            resolve(address.port);
        });
    });
}

/** A loopback port nothing listens on (it was free a moment ago): a request to it is refused. */
export async function closedPort(): Promise<number> {
    const closed = createServer();
    const port = await listen(closed);
    await new Promise((resolve) => closed.close(resolve));
    return port;
}

/**
 * The set of `server`'s open TCP connections, kept current. `server.close()` waits for idle keep-alive
 * and tunnelled connections, which would keep jest alive, so the fakes destroy them themselves.
 */
export function trackSockets(server: Server): Set<Socket> {
    const sockets = new Set<Socket>();
    server.on('connection', (socket: Socket) => {
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
    });
    return sockets;
}

/** Stops `server` and destroys `sockets` (see {@link trackSockets}). */
export function closeServer(server: Server, sockets: Set<Socket>): Promise<void> {
    return new Promise((resolve, reject) => {
        server.close((error) => {
            if (error === undefined) resolve();
            else reject(error);
        });
        for (const socket of sockets) socket.destroy();
    });
}
