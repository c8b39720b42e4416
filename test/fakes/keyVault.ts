/**
 * A stand-in for an Azure Key Vault's secrets data plane, served over HTTPS on 127.0.0.1.
 *
 * Clients reach it as `https://<name>.vault.azure.net` through the CONNECT proxy in `connectProxy.ts`,
 * with a certificate for `*.vault.azure.net` from a test CA. It behaves as Key Vault does towards
 * `SecretClient`: a request without a bearer token gets the 401 challenge that names the tenant and the
 * resource to ask a token for, and only a token the fake managed identity issued for that resource is let
 * through. Bodies and error codes follow the Key Vault REST API (`SecretBundle`, `SecretNotFound`).
 */

import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import { closeServer, listen, trackSockets } from './servers';

export const KEY_VAULT_RESOURCE = 'https://vault.azure.net';

/** How the vault is unreachable: connections dropped before TLS, or every request answered 503. */
export type VaultOutage = 'reset' | 'unavailable';

/** One HTTP request the vault answered. Connections dropped during an outage are not requests. */
export interface VaultRequest {
    readonly method: string;
    readonly host: string | undefined;
    readonly path: string;
    readonly apiVersion: string | null;
    /** Whether a bearer token came with the request, and whether it was accepted. */
    readonly auth: 'none' | 'accepted' | 'rejected';
    readonly secretName: string | undefined;
    readonly status: number;
}

export interface FakeKeyVaultOptions {
    /** PEM server certificate (for `*.vault.azure.net`) and its key. */
    readonly cert: string;
    readonly key: string;
    /** Whether `token` is a valid bearer token for {@link KEY_VAULT_RESOURCE}. */
    readonly isAuthorized: (token: string) => boolean;
}

export interface FakeKeyVault {
    readonly port: number;
    /** The tenant named in the 401 challenge. */
    readonly tenantId: string;
    /** Every request answered, oldest first. */
    readonly requests: readonly VaultRequest[];
    /** Creates the secret or adds a new current version of it (rotation); returns the version ID. */
    setSecret(name: string, value: string): string;
    deleteSecret(name: string): void;
    /** Authenticated GETs of `name` that the vault answered (200 or 404), i.e. reads that reached Key Vault. */
    reads(name: string): number;
    /** Requests answered with the 401 challenge because they carried no token. */
    challenges(): number;
    /** TCP connections accepted, and the ones among them dropped because the vault was down. */
    connectionCount(): { accepted: number; dropped: number };
    /** Makes the vault unreachable until {@link comeBack}. */
    goDown(outage?: VaultOutage): void;
    comeBack(): void;
    /** Deletes every secret, forgets requests and counters, and brings the vault back up. */
    reset(): void;
    close(): Promise<void>;
}

interface SecretVersion {
    readonly version: string;
    readonly value: string;
    readonly created: number;
}

const SECRET_PATH = /^\/secrets\/([0-9a-zA-Z-]{1,127})(?:\/([0-9a-zA-Z]*))?$/;

/** Starts the vault on 127.0.0.1 on a free port. */
export async function startFakeKeyVault(options: FakeKeyVaultOptions): Promise<FakeKeyVault> {
    const tenantId = '72f988bf-0000-4000-8000-00000000c0de';
    const challenge = `Bearer authorization="https://login.microsoftonline.com/${tenantId}", resource="${KEY_VAULT_RESOURCE}"`;
    const secrets = new Map<string, SecretVersion[]>();
    const requests: VaultRequest[] = [];
    let outage: VaultOutage | undefined;
    let accepted = 0;
    let dropped = 0;

    const handle = (req: IncomingMessage, res: ServerResponse): void => {
        const url = new URL(req.url ?? '/', 'https://vault.invalid');
        const match = SECRET_PATH.exec(url.pathname);
        const bearer = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
        const auth = bearer === undefined ? 'none' : options.isAuthorized(bearer) ? 'accepted' : 'rejected';
        const { status, body, headers } = answer(req, url, match, auth);
        requests.push({
            method: req.method ?? '',
            host: req.headers.host,
            path: url.pathname,
            apiVersion: url.searchParams.get('api-version'),
            auth,
            secretName: match?.[1],
            status,
        });
        sendJson(res, status, body, headers ?? {});
    };

    const answer = (
        req: IncomingMessage,
        url: URL,
        match: RegExpExecArray | null,
        auth: VaultRequest['auth'],
    ): Answer => {
        if (outage === 'unavailable') {
            return failure(503, 'ServiceUnavailable', 'The service is temporarily unavailable.');
        }
        if (auth === 'none') {
            return failure(
                401,
                'Unauthorized',
                'AKV10000: Request is missing a Bearer or PoP token.',
                challenge,
            );
        }
        if (auth === 'rejected') {
            return failure(401, 'Unauthorized', 'AKV10022: Invalid audience or token.', challenge);
        }
        if (!url.searchParams.has('api-version')) {
            return failure(
                400,
                'BadParameter',
                'The request URI contains an invalid or missing api-version parameter.',
            );
        }
        const secretName = match?.[1];
        if (secretName === undefined) {
            return failure(404, 'NotFound', `No operation matches ${req.method ?? ''} ${url.pathname}.`);
        }
        if (req.method !== 'GET') {
            return failure(405, 'MethodNotAllowed', `This fake only reads secrets; got ${req.method ?? ''}.`);
        }
        const versions = secrets.get(secretName) ?? [];
        const version = match?.[2];
        const wanted =
            version === undefined || version === ''
                ? versions.at(-1)
                : versions.find((v) => v.version === version);
        if (wanted === undefined) {
            return failure(
                404,
                'SecretNotFound',
                `A secret with (name/id) ${secretName} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`,
            );
        }
        return {
            status: 200,
            body: {
                value: wanted.value,
                id: `https://${req.headers.host ?? 'vault.invalid'}/secrets/${secretName}/${wanted.version}`,
                attributes: {
                    enabled: true,
                    created: wanted.created,
                    updated: wanted.created,
                    recoveryLevel: 'Recoverable+Purgeable',
                    recoverableDays: 90,
                },
                tags: {},
            },
        };
    };

    const server: Server = createServer({ cert: options.cert, key: options.key }, handle);
    const sockets = trackSockets(server);
    server.on('connection', (socket: import('node:net').Socket) => {
        accepted += 1;
        if (outage === 'reset') {
            dropped += 1;
            socket.destroy();
        }
    });
    // A client that gives up mid-handshake is expected here (outages, closing); it is not a test failure.
    server.on('tlsClientError', () => undefined);
    const port = await listen(server);

    const reads = (name: string): number =>
        requests.filter(
            (r) => r.secretName === name && r.method === 'GET' && r.auth === 'accepted' && r.status !== 503,
        ).length;

    return {
        port,
        tenantId,
        requests,
        setSecret: (name, value) => {
            const version = randomBytes(16).toString('hex');
            const list = secrets.get(name) ?? [];
            list.push({ version, value, created: Math.floor(Date.now() / 1000) });
            secrets.set(name, list);
            return version;
        },
        deleteSecret: (name) => {
            secrets.delete(name);
        },
        reads,
        challenges: () => requests.filter((r) => r.status === 401 && r.auth === 'none').length,
        connectionCount: () => ({ accepted, dropped }),
        goDown: (kind = 'reset') => {
            outage = kind;
            // Kept-alive connections would otherwise still reach a vault that is meant to be gone.
            if (kind === 'reset') for (const socket of sockets) socket.destroy();
        },
        comeBack: () => {
            outage = undefined;
        },
        reset: () => {
            secrets.clear();
            requests.length = 0;
            outage = undefined;
            accepted = 0;
            dropped = 0;
        },
        close: () => closeServer(server, sockets),
    };
}

interface Answer {
    readonly status: number;
    readonly body: unknown;
    readonly headers?: Record<string, string>;
}

/** Key Vault's error body; a 401 also carries the challenge. */
function failure(status: number, code: string, message: string, challenge?: string): Answer {
    return {
        status,
        body: { error: { code, message } },
        ...(challenge === undefined ? {} : { headers: { 'WWW-Authenticate': challenge } }),
    };
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string>): void {
    const text = JSON.stringify(body);
    res.writeHead(status, {
        ...headers,
        'Content-Type': 'application/json; charset=utf-8',
        'Content-Length': String(Buffer.byteLength(text)),
    });
    res.end(text);
}
