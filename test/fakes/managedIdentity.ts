/**
 * A stand-in for the App Service / Functions managed-identity endpoint, the one `@azure/identity` (through
 * MSAL's `AppService` source) calls when `IDENTITY_ENDPOINT` and `IDENTITY_HEADER` are set.
 *
 * It is strict about what MSAL sends, so a passing test shows the real credential built the request:
 * `GET <IDENTITY_ENDPOINT>?api-version=2019-08-01&resource=<resource>[&client_id=<id> | &mi_res_id=<arm id>]` with the
 * `X-IDENTITY-HEADER` secret. Every token it issues is opaque and random, and {@link FakeManagedIdentity.tokenInfo}
 * lets a fake resource server check a bearer token against it.
 */

import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { closeServer, listen, trackSockets } from './servers';

export const MANAGED_IDENTITY_API_VERSION = '2019-08-01';
const TOKEN_PATH = '/msi/token';

/** One request the endpoint received, whether or not it issued a token. */
export interface ManagedIdentityRequest {
    readonly method: string;
    readonly path: string;
    readonly apiVersion: string | null;
    readonly resource: string | null;
    /** `client_id` query parameter: set for a user-assigned identity chosen by client ID. */
    readonly clientId: string | null;
    /** `mi_res_id` query parameter: set for a user-assigned identity chosen by its resource ID. */
    readonly resourceId: string | null;
    readonly identityHeader: string | undefined;
    readonly status: number;
}

/** What a token was issued for. */
export interface IssuedToken {
    readonly resource: string;
    /**
     * The user-assigned identity's client ID, or the system-assigned identity's; for an identity asked for
     * by resource ID, the client ID {@link FakeManagedIdentity.clientIdOf} gives it.
     */
    readonly clientId: string;
}

export interface FakeManagedIdentity {
    /** Value for `IDENTITY_ENDPOINT`. */
    readonly endpoint: string;
    /** Value for `IDENTITY_HEADER`; a request without it is refused. */
    readonly identityHeader: string;
    /** Client ID reported for requests that name no user-assigned identity. */
    readonly systemAssignedClientId: string;
    /** The client ID this endpoint gives the user-assigned identity with ARM id `resourceId`. */
    clientIdOf(resourceId: string): string;
    /** Every request, oldest first. */
    readonly requests: readonly ManagedIdentityRequest[];
    /** What `token` was issued for, or `undefined` if this endpoint never issued it. */
    tokenInfo(token: string): IssuedToken | undefined;
    /** Every token issued so far. */
    issuedTokens(): string[];
    /** Forgets recorded requests (issued tokens stay valid). */
    clearRequests(): void;
    close(): Promise<void>;
}

/** Starts the endpoint on 127.0.0.1 on a free port. */
export async function startFakeManagedIdentity(): Promise<FakeManagedIdentity> {
    const identityHeader = randomBytes(16).toString('hex');
    const systemAssignedClientId = randomUUID();
    const requests: ManagedIdentityRequest[] = [];
    const issued = new Map<string, IssuedToken>();
    const byResourceId = new Map<string, string>();
    const clientIdOf = (resourceId: string): string => {
        const key = resourceId.toLowerCase();
        let clientId = byResourceId.get(key);
        if (clientId === undefined) {
            clientId = randomUUID();
            byResourceId.set(key, clientId);
        }
        return clientId;
    };

    const handle = (req: IncomingMessage, res: ServerResponse): void => {
        const url = new URL(req.url ?? '/', 'http://127.0.0.1');
        const query = url.searchParams;
        const header = req.headers['x-identity-header'];
        const refusal = whyRefused(req.method, url, header);
        const resource = query.get('resource') ?? '';
        const status = refusal?.status ?? 200;
        requests.push({
            method: req.method ?? '',
            path: url.pathname,
            apiVersion: query.get('api-version'),
            resource: query.get('resource'),
            clientId: query.get('client_id'),
            resourceId: query.get('mi_res_id'),
            identityHeader: Array.isArray(header) ? header.join(',') : header,
            status,
        });
        if (refusal !== undefined) {
            sendJson(res, status, {
                statusCode: status,
                message: refusal.message,
                correlationId: randomUUID(),
            });
            return;
        }

        const resourceId = query.get('mi_res_id');
        const clientId =
            query.get('client_id') ?? (resourceId === null ? systemAssignedClientId : clientIdOf(resourceId));
        const token = `fake-mi-token-${randomBytes(24).toString('hex')}`;
        issued.set(token, { resource, clientId });
        // App Service sends `expires_on` as a string of epoch seconds; MSAL subtracts "now" from it.
        sendJson(res, 200, {
            access_token: token,
            expires_on: String(Math.floor(Date.now() / 1000) + 3600),
            resource,
            token_type: 'Bearer',
            client_id: clientId,
            ...(resourceId === null ? {} : { mi_res_id: resourceId }),
        });
    };

    const whyRefused = (
        method: string | undefined,
        url: URL,
        header: string | string[] | undefined,
    ): { status: number; message: string } | undefined => {
        const query = url.searchParams;
        if (url.pathname !== TOKEN_PATH) return { status: 404, message: 'Not found' };
        if (method !== 'GET') return { status: 405, message: 'Method not allowed' };
        if (header !== identityHeader) {
            return { status: 401, message: 'The X-IDENTITY-HEADER header is missing or wrong' };
        }
        if (query.get('api-version') !== MANAGED_IDENTITY_API_VERSION) {
            return {
                status: 400,
                message: `Unsupported api-version; expected ${MANAGED_IDENTITY_API_VERSION}`,
            };
        }
        if ((query.get('resource') ?? '') === '') {
            return { status: 400, message: 'The resource parameter is required' };
        }
        if (query.has('object_id')) {
            return { status: 400, message: 'Identities are chosen by client_id or mi_res_id here' };
        }
        if (query.has('client_id') && query.has('mi_res_id')) {
            return { status: 400, message: 'Only one of client_id and mi_res_id may be given' };
        }
        return undefined;
    };

    const server: Server = createServer(handle);
    const sockets = trackSockets(server);
    const port = await listen(server);

    return {
        endpoint: `http://127.0.0.1:${port}${TOKEN_PATH}`,
        identityHeader,
        systemAssignedClientId,
        clientIdOf,
        requests,
        tokenInfo: (token) => issued.get(token),
        issuedTokens: () => [...issued.keys()],
        clearRequests: () => {
            requests.length = 0;
        },
        close: () => closeServer(server, sockets),
    };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, {
        'Content-Type': 'application/json; charset=utf-8',
        'Content-Length': Buffer.byteLength(text),
    });
    res.end(text);
}
