/**
 * An HTTPS front for Azurite that stands where `https://<account>.queue.core.windows.net` and
 * `https://<account>.table.core.windows.net` are, and lets a request through only with a bearer token the
 * fake managed identity issued for Azure Storage.
 *
 * Clients reach it under those host names through the CONNECT proxy (connectProxy.ts), with a certificate
 * from the test CA. Each request is recorded (who its token was issued to, or that it had none) and, when
 * the token is good, forwarded to Azurite (azuriteOAuth.ts) under the account's path, with the token
 * exchanged for one Azurite's OAuth check accepts: Azurite cannot know the fake identity's opaque tokens,
 * and this check is stricter than its own (the token must be one that was really issued, to the identity
 * the test expects). A request without a good token gets the 401 Azure Storage answers and never reaches
 * Azurite.
 */

import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, request as httpsRequest, type Server } from 'node:https';
import type { IssuedToken } from './managedIdentity';
import { closeServer, listen, trackSockets } from './servers';

export const STORAGE_RESOURCE = 'https://storage.azure.com';

export interface StorageGatewayRequest {
    readonly method: string;
    readonly host: string | undefined;
    readonly service: 'queue' | 'table' | 'blob' | undefined;
    /** The path as the client sent it (before the account segment is added for Azurite). */
    readonly path: string;
    readonly auth: 'none' | 'accepted' | 'rejected';
    /** The client id the token was issued to, when it was one the fake identity issued. */
    readonly clientId: string | undefined;
    /** The resource the token was issued for. */
    readonly resource: string | undefined;
    /** Azurite's status, or the gateway's own 401 / 404. */
    status: number;
}

export interface StorageGatewayOptions {
    /** PEM certificate for `*.queue.core.windows.net` and `*.table.core.windows.net`, and its key. */
    readonly cert: string;
    readonly key: string;
    /** The CA that signed Azurite's (`localhost`) certificate. */
    readonly ca: string;
    /** The storage account the host names must name (Azurite's `devstoreaccount1`). */
    readonly account: string;
    readonly azurite: { readonly queuePort: number; readonly tablePort: number; readonly blobPort: number };
    /** What a bearer token was issued for (the fake managed identity's `tokenInfo`). */
    readonly tokenInfo: (token: string) => IssuedToken | undefined;
}

export interface StorageGateway {
    readonly port: number;
    readonly requests: readonly StorageGatewayRequest[];
    clear(): void;
    close(): Promise<void>;
}

const HOST = /^([a-z0-9]{3,24})\.(queue|table|blob)\.core\.windows\.net(?::443)?$/i;

/** Starts the gateway on 127.0.0.1 on a free port. */
export async function startStorageGateway(options: StorageGatewayOptions): Promise<StorageGateway> {
    const requests: StorageGatewayRequest[] = [];
    const tenantId = randomUUID();

    const handle = (req: IncomingMessage, res: ServerResponse): void => {
        const host = req.headers.host;
        const match = HOST.exec(host ?? '');
        const service = match?.[2]?.toLowerCase() as 'queue' | 'table' | 'blob' | undefined;
        const bearer = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
        const issued = bearer === undefined ? undefined : options.tokenInfo(bearer);
        const auth =
            bearer === undefined ? 'none' : issued?.resource === STORAGE_RESOURCE ? 'accepted' : 'rejected';
        const record: StorageGatewayRequest = {
            method: req.method ?? '',
            host,
            service,
            path: req.url ?? '/',
            auth,
            clientId: issued?.clientId,
            resource: issued?.resource,
            status: 0,
        };
        requests.push(record);

        if (match === null || service === undefined || match[1]?.toLowerCase() !== options.account) {
            record.status = 404;
            res.writeHead(404, { 'Content-Type': 'text/plain' }).end('No such storage account here\n');
            return;
        }
        if (auth !== 'accepted') {
            record.status = 401;
            // Azure Storage's answer to a missing or unusable token, with its challenge.
            res.writeHead(401, {
                'Content-Type': 'application/xml',
                'WWW-Authenticate': `Bearer authorization_uri=https://login.microsoftonline.com/${tenantId}/oauth2/authorize resource_id=${STORAGE_RESOURCE}`,
                'x-ms-error-code':
                    auth === 'none' ? 'NoAuthenticationInformation' : 'InvalidAuthenticationInfo',
            });
            res.end(
                `<?xml version="1.0" encoding="utf-8"?><Error><Code>${auth === 'none' ? 'NoAuthenticationInformation' : 'InvalidAuthenticationInfo'}</Code><Message>Server failed to authenticate the request.</Message></Error>`,
            );
            return;
        }

        const port =
            service === 'queue'
                ? options.azurite.queuePort
                : service === 'table'
                  ? options.azurite.tablePort
                  : options.azurite.blobPort;
        const headers = { ...req.headers };
        delete headers.host;
        delete headers.authorization;
        const upstream = httpsRequest(
            {
                host: '127.0.0.1',
                port,
                servername: 'localhost',
                ca: options.ca,
                method: req.method,
                path: `/${options.account}${req.url ?? '/'}`,
                headers: {
                    ...headers,
                    host: `127.0.0.1:${port}`,
                    authorization: `Bearer ${azuriteToken(tenantId, issued?.clientId ?? '')}`,
                },
                agent: false,
            },
            (answer) => {
                record.status = answer.statusCode ?? 0;
                res.writeHead(answer.statusCode ?? 502, answer.headers);
                answer.pipe(res);
            },
        );
        upstream.on('error', (error) => {
            record.status = 502;
            if (!res.headersSent) res.writeHead(502, { 'Content-Type': 'text/plain' });
            res.end(`Azurite unreachable: ${error.message}\n`);
        });
        req.pipe(upstream);
    };

    const server: Server = createServer({ cert: options.cert, key: options.key }, handle);
    const sockets = trackSockets(server);
    server.on('tlsClientError', () => undefined);
    const port = await listen(server);
    return {
        port,
        requests,
        clear: () => {
            requests.length = 0;
        },
        close: () => closeServer(server, sockets),
    };
}

/** A token of the shape Azurite's basic OAuth check wants (it does not check signatures). */
function azuriteToken(tenantId: string, clientId: string): string {
    const now = Math.floor(Date.now() / 1000);
    const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const header = part({ alg: 'RS256', typ: 'JWT' });
    const payload = part({
        aud: STORAGE_RESOURCE,
        iss: `https://sts.windows.net/${tenantId}/`,
        iat: now - 60,
        nbf: now - 60,
        exp: now + 3600,
        appid: clientId,
        tid: tenantId,
    });
    return `${header}.${payload}.${Buffer.from('not-signed').toString('base64url')}`;
}
