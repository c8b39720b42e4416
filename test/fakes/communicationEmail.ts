/**
 * A stand-in for an Azure Communication Services resource's Email data plane, on 127.0.0.1 (plain http,
 * which the app accepts for a loopback endpoint only; `cert`/`key` serve it over https instead).
 *
 * It answers as the REST API (api-version 2023-03-31) documents, and is strict about what a client must
 * send, so a passing test shows the app built the request:
 *
 * - `POST /emails:send?api-version=2023-03-31` with `Authorization: Bearer <token>`: a missing token is
 *   401, a token {@link FakeCommunicationEmailOptions.isAuthorized} refuses is 401 too; a wrong or missing
 *   api-version is 400 `UnsupportedApiVersion`; a body without `senderAddress`, `recipients.to[].address`,
 *   `content.subject` or one of `content.plainText` / `content.html` is 400 `InvalidRequest`; a sender
 *   that is not one of the resource's MailFrom addresses is 400 `DomainNotLinked`-style
 *   (`InvalidSenderUserName`); an `Operation-Id` that is not a UUID is 400. Errors carry
 *   `x-ms-error-code` and `{"error":{"code","message"}}`.
 * - Accepted: 202, `Operation-Location: <origin>/emails/operations/<id>?api-version=…`, body
 *   `{"id","status":"Running","error":null}`; the operation id is the client's `Operation-Id`, else new.
 * - `GET /emails/operations/{id}?api-version=…`: `{"id","status":"Succeeded","error":null}`, 404 otherwise.
 *
 * {@link FakeCommunicationEmail.refuseNext} makes the next sends fail with a given status and code
 * (a throttled or suspended resource), and every accepted e-mail is kept for assertions.
 */

import { randomUUID } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { closeServer, listen, trackSockets } from './servers';

export const COMMUNICATION_RESOURCE = 'https://communication.azure.com';
const API_VERSION = '2023-03-31';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface FakeCommunicationEmailOptions {
    /** The resource's MailFrom addresses. */
    readonly senders: readonly string[];
    /** Whether `token` is a valid bearer token for {@link COMMUNICATION_RESOURCE}. */
    readonly isAuthorized: (token: string) => boolean;
    /** Serve over https with this certificate and key. */
    readonly cert?: string;
    readonly key?: string;
}

/** One request the service answered. */
export interface EmailServiceRequest {
    readonly method: string;
    readonly path: string;
    readonly apiVersion: string | null;
    readonly auth: 'none' | 'accepted' | 'rejected';
    readonly operationId: string | undefined;
    readonly status: number;
}

/** An e-mail the service accepted. */
export interface AcceptedEmail {
    readonly operationId: string;
    readonly senderAddress: string;
    readonly to: readonly string[];
    readonly subject: string;
    readonly plainText: string | undefined;
    readonly html: string | undefined;
}

export interface FakeCommunicationEmail {
    /** Value for `EMAIL_ENDPOINT`. */
    readonly endpoint: string;
    readonly requests: readonly EmailServiceRequest[];
    readonly accepted: readonly AcceptedEmail[];
    /** The next `count` sends are answered `status` with `code`. */
    refuseNext(status: number, code: string, count?: number): void;
    clear(): void;
    close(): Promise<void>;
}

interface Answer {
    status: number;
    body?: unknown;
    headers?: Record<string, string>;
}

function failure(status: number, code: string, message: string): Answer {
    return { status, body: { error: { code, message } }, headers: { 'x-ms-error-code': code } };
}

/** Starts the service on a free port. */
export async function startFakeCommunicationEmail(
    options: FakeCommunicationEmailOptions,
): Promise<FakeCommunicationEmail> {
    const requests: EmailServiceRequest[] = [];
    const accepted: AcceptedEmail[] = [];
    const operations = new Set<string>();
    let refusal: { status: number; code: string; count: number } | undefined;
    let origin = '';

    const answer = (
        req: IncomingMessage,
        url: URL,
        body: string,
        auth: EmailServiceRequest['auth'],
    ): Answer => {
        if (auth === 'none') return failure(401, 'Unauthorized', 'The request has no bearer token.');
        if (auth === 'rejected')
            return failure(401, 'Unauthorized', 'The token is not valid for this resource.');
        if (url.searchParams.get('api-version') !== API_VERSION) {
            return failure(400, 'UnsupportedApiVersion', `api-version must be ${API_VERSION}`);
        }
        const operation = /^\/emails\/operations\/([^/]+)$/.exec(url.pathname);
        if (operation !== null && req.method === 'GET') {
            const id = operation[1] ?? '';
            return operations.has(id)
                ? { status: 200, body: { id, status: 'Succeeded', error: null } }
                : failure(404, 'NotFound', 'No such operation.');
        }
        if (url.pathname !== '/emails:send') return failure(404, 'NotFound', 'No such resource.');
        if (req.method !== 'POST') return failure(405, 'MethodNotAllowed', 'Use POST.');
        const operationId = header(req, 'operation-id');
        if (operationId !== undefined && !UUID.test(operationId)) {
            return failure(400, 'InvalidRequest', 'Operation-Id must be a UUID.');
        }
        if (!/^application\/json\b/i.test(header(req, 'content-type') ?? '')) {
            return failure(415, 'UnsupportedMediaType', 'The body must be application/json.');
        }
        let parsed: unknown;
        try {
            parsed = JSON.parse(body);
        } catch {
            return failure(400, 'InvalidRequest', 'The body is not JSON.');
        }
        const email = readEmail(parsed);
        if (email === undefined) return failure(400, 'InvalidRequest', 'The e-mail request is not valid.');
        if (!options.senders.includes(email.senderAddress)) {
            return failure(
                400,
                'InvalidSenderUserName',
                'The sender is not a MailFrom address of the domain.',
            );
        }
        if (refusal !== undefined) {
            const { status, code } = refusal;
            refusal.count -= 1;
            if (refusal.count <= 0) refusal = undefined;
            return failure(status, code, 'Refused by the stand-in.');
        }
        const id = operationId ?? randomUUID();
        operations.add(id);
        accepted.push({ operationId: id, ...email });
        return {
            status: 202,
            body: { id, status: 'Running', error: null },
            headers: { 'Operation-Location': `${origin}/emails/operations/${id}?api-version=${API_VERSION}` },
        };
    };

    const handle = (req: IncomingMessage, res: ServerResponse): void => {
        const chunks: Buffer[] = [];
        req.on('data', (chunk: Buffer) => chunks.push(chunk));
        req.on('end', () => {
            const url = new URL(req.url ?? '/', 'http://127.0.0.1');
            const bearer = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
            const auth =
                bearer === undefined ? 'none' : options.isAuthorized(bearer) ? 'accepted' : 'rejected';
            const result = answer(req, url, Buffer.concat(chunks).toString('utf8'), auth);
            requests.push({
                method: req.method ?? '',
                path: url.pathname,
                apiVersion: url.searchParams.get('api-version'),
                auth,
                operationId: header(req, 'operation-id'),
                status: result.status,
            });
            const text = result.body === undefined ? '' : JSON.stringify(result.body);
            res.writeHead(result.status, {
                ...(text === '' ? {} : { 'Content-Type': 'application/json; charset=utf-8' }),
                'Content-Length': Buffer.byteLength(text),
                ...result.headers,
            });
            res.end(text);
        });
    };

    const tls = options.cert !== undefined && options.key !== undefined;
    const server = tls
        ? createHttpsServer({ cert: options.cert, key: options.key }, handle)
        : createHttpServer(handle);
    const sockets = trackSockets(server);
    const port = await listen(server);
    origin = `${tls ? 'https' : 'http'}://127.0.0.1:${String(port)}`;
    return {
        endpoint: origin,
        requests,
        accepted,
        refuseNext(status, code, count = 1) {
            refusal = { status, code, count };
        },
        clear() {
            requests.length = 0;
            accepted.length = 0;
            refusal = undefined;
        },
        close: () => closeServer(server, sockets),
    };
}

function header(req: IncomingMessage, name: string): string | undefined {
    const value = req.headers[name];
    return Array.isArray(value) ? value.join(',') : value;
}

/** The fields of an e-mail request the service requires, or undefined when one is missing. */
function readEmail(value: unknown): Omit<AcceptedEmail, 'operationId'> | undefined {
    if (typeof value !== 'object' || value === null) return undefined;
    const { senderAddress, recipients, content } = value as Record<string, unknown>;
    if (typeof senderAddress !== 'string' || senderAddress === '') return undefined;
    const to = (recipients as { to?: unknown } | null | undefined)?.to;
    if (!Array.isArray(to) || to.length === 0 || to.length > 50) return undefined;
    const addresses: string[] = [];
    for (const recipient of to as unknown[]) {
        const address = (recipient as { address?: unknown } | null)?.address;
        if (typeof address !== 'string' || !address.includes('@')) return undefined;
        addresses.push(address);
    }
    if (typeof content !== 'object' || content === null) return undefined;
    const { subject, plainText, html } = content as Record<string, unknown>;
    if (typeof subject !== 'string' || subject === '') return undefined;
    if (typeof plainText !== 'string' && typeof html !== 'string') return undefined;
    return {
        senderAddress,
        to: addresses,
        subject,
        plainText: typeof plainText === 'string' ? plainText : undefined,
        html: typeof html === 'string' ? html : undefined,
    };
}
