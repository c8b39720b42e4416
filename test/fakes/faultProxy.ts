/**
 * A fault-injecting HTTP proxy for the Twilio REST API: a real server on 127.0.0.1 that the `twilio` client
 * talks to (as the client factory's `apiUrl`) and that forwards to an upstream (the Twilio sandbox).
 *
 * Every request is recorded. Faults are scripted per matching request (method, path, form fields): each
 * matching request takes the next scripted fault, in order; a request with no fault left is forwarded
 * unchanged. The faults are what a client can meet on the way to Twilio:
 *
 * - `error`: Twilio's error JSON (`{ code, message, more_info, status }`) with the given HTTP status, not
 *   forwarded (429 / 503 rate limiting and unavailability, a 500, a 4xx with a Twilio error code);
 * - `reset`: nothing forwarded; the connection is destroyed after `afterMs` (a hung request ending in a
 *   dropped connection, without waiting for the client's 30 s timeout);
 * - `forward-then-error` / `forward-then-reset`: forwarded (so the upstream acted on it), but the client
 *   gets an error answer or a dropped connection instead of the upstream's answer: "may have been created".
 *
 * Every answer carries `Connection: close`, so no keep-alive socket is ever reused across requests (a
 * reused socket closing under the client would be a fault nobody scripted).
 */

import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { closeServer, listen, trackSockets } from './servers';

export type Fault =
    /**
     * Answer with Twilio's error JSON (and `headers`, e.g. `Retry-After`); the upstream never sees the
     * request.
     */
    | { kind: 'error'; status: number; code?: number; message?: string; headers?: Record<string, string> }
    /** Destroy the connection after `afterMs` (default 0) without forwarding. */
    | { kind: 'reset'; afterMs?: number }
    /** Forward, wait for the upstream's answer, then answer the client with Twilio's error JSON instead. */
    | { kind: 'forward-then-error'; status: number; code?: number; message?: string }
    /** Forward, wait for the upstream's answer, then destroy the client's connection. */
    | { kind: 'forward-then-reset' };

export interface FaultMatch {
    /** e.g. `POST`; any method when absent. */
    method?: string;
    /** Tested against the path without the query; any path when absent. */
    path?: RegExp;
    /** Form fields (POST) or query parameters (GET) that must all be present with these values. */
    params?: Readonly<Record<string, string>>;
}

/** A request the proxy received, and what it did with it. */
export interface ProxiedRequest {
    readonly method: string;
    /** Path without the query. */
    readonly path: string;
    readonly query: URLSearchParams;
    /** The form-encoded body (empty when there is none). */
    readonly form: URLSearchParams;
    /** The fault applied, or `forward` when it was passed through. */
    readonly action: Fault['kind'] | 'forward';
    /** Whether the upstream received it. */
    readonly forwarded: boolean;
    /** The upstream's HTTP status, when it was forwarded and answered. */
    readonly upstreamStatus: number | undefined;
    /** What the client got: an HTTP status, or `reset`. */
    readonly answered: number | 'reset';
}

export interface FaultProxy {
    /** e.g. `http://127.0.0.1:53412`: the client factory's `apiUrl`. */
    readonly url: string;
    /** Every request received, oldest first (a request appears once it has been answered or reset). */
    readonly requests: readonly ProxiedRequest[];
    /** Appends faults for requests matching `match`; each matching request takes the next one. */
    script(match: FaultMatch, ...faults: Fault[]): void;
    /** Applies `fault` to every matching request from now on (until {@link clear}). */
    always(match: FaultMatch, fault: Fault): void;
    /** How many scripted faults have not been used yet (`always` faults do not count). */
    pendingFaults(): number;
    /** Forgets the recorded requests and every scripted fault. */
    clear(): void;
    close(): Promise<void>;
}

interface Rule {
    match: FaultMatch;
    faults: Fault[];
    always: boolean;
}

const DEFAULT_MESSAGES: Readonly<Record<number, string>> = {
    20429: 'Too Many Requests',
    20500: 'Internal Server Error',
    20503: 'Service Unavailable',
    21211: "The 'To' number is not a valid phone number.",
    21408: "Permission to send an SMS has not been enabled for the region indicated by the 'To' number",
    21608: 'The number is unverified. Trial accounts cannot send messages to unverified numbers',
    21610: 'Attempt to send to unsubscribed recipient',
    21614: "'To' number is not a valid mobile number",
};

/** Twilio's error body for an HTTP status and code (the code defaults to 20000 + status, as Twilio's). */
export function twilioErrorBody(
    status: number,
    code = 20000 + status,
    message = DEFAULT_MESSAGES[code] ?? `Error ${String(code)}`,
): { code: number; message: string; more_info: string; status: number } {
    return { code, message, more_info: `https://www.twilio.com/docs/errors/${String(code)}`, status };
}

export async function startFaultProxy(upstreamUrl: string): Promise<FaultProxy> {
    const upstream = new URL(upstreamUrl);
    const requests: ProxiedRequest[] = [];
    let rules: Rule[] = [];
    const timers = new Set<NodeJS.Timeout>();

    const matches = (match: FaultMatch, method: string, path: string, params: URLSearchParams): boolean =>
        (match.method === undefined || match.method.toUpperCase() === method) &&
        (match.path === undefined || match.path.test(path)) &&
        Object.entries(match.params ?? {}).every(([name, value]) => params.get(name) === value);

    const nextFault = (method: string, path: string, params: URLSearchParams): Fault | undefined => {
        for (const rule of rules) {
            if (!matches(rule.match, method, path, params)) continue;
            if (rule.always) return rule.faults[0];
            const fault = rule.faults.shift();
            if (fault !== undefined) return fault;
        }
        return undefined;
    };

    const forward = (req: IncomingMessage, body: Buffer) =>
        new Promise<{ status: number; headers: IncomingMessage['headers']; body: Buffer }>(
            (resolve, reject) => {
                const headers = { ...req.headers, host: upstream.host, connection: 'close' };
                const outgoing = httpRequest(
                    {
                        host: upstream.hostname,
                        port: upstream.port,
                        method: req.method,
                        path: req.url,
                        headers,
                    },
                    (response) => {
                        const chunks: Buffer[] = [];
                        response.on('data', (chunk: Buffer) => chunks.push(chunk));
                        response.on('end', () =>
                            resolve({
                                status: response.statusCode ?? 502,
                                headers: response.headers,
                                body: Buffer.concat(chunks),
                            }),
                        );
                        response.on('error', reject);
                    },
                );
                outgoing.on('error', reject);
                outgoing.end(body);
            },
        );

    const sendError = (
        res: ServerResponse,
        fault: { status: number; code?: number; message?: string; headers?: Record<string, string> },
    ) => {
        const json = JSON.stringify(twilioErrorBody(fault.status, fault.code, fault.message));
        res.writeHead(fault.status, {
            ...fault.headers,
            'Content-Type': 'application/json; charset=utf-8',
            'Content-Length': String(Buffer.byteLength(json)),
            Connection: 'close',
        });
        res.end(json);
    };

    const handle = async (req: IncomingMessage, res: ServerResponse) => {
        const chunks: Buffer[] = [];
        for await (const chunk of req) chunks.push(chunk as Buffer);
        const body = Buffer.concat(chunks);
        const method = (req.method ?? 'GET').toUpperCase();
        const raw = req.url ?? '/';
        const queryAt = raw.indexOf('?');
        const path = queryAt === -1 ? raw : raw.slice(0, queryAt);
        const query = new URLSearchParams(queryAt === -1 ? '' : raw.slice(queryAt + 1));
        const isForm = (req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
        const form = new URLSearchParams(isForm ? body.toString('utf8') : '');
        const fault = nextFault(method, path, method === 'GET' ? query : form);
        const record = (entry: Pick<ProxiedRequest, 'forwarded' | 'upstreamStatus' | 'answered'>) =>
            requests.push({ method, path, query, form, action: fault?.kind ?? 'forward', ...entry });
        const reset = () => {
            record({ forwarded: false, upstreamStatus: undefined, answered: 'reset' });
            req.socket.destroy();
        };

        if (fault?.kind === 'error') {
            record({ forwarded: false, upstreamStatus: undefined, answered: fault.status });
            sendError(res, fault);
            return;
        }
        if (fault?.kind === 'reset') {
            const timer = setTimeout(() => {
                timers.delete(timer);
                reset();
            }, fault.afterMs ?? 0);
            timers.add(timer);
            return;
        }
        const answer = await forward(req, body);
        if (fault?.kind === 'forward-then-error') {
            record({ forwarded: true, upstreamStatus: answer.status, answered: fault.status });
            sendError(res, fault);
            return;
        }
        if (fault?.kind === 'forward-then-reset') {
            record({ forwarded: true, upstreamStatus: answer.status, answered: 'reset' });
            req.socket.destroy();
            return;
        }
        record({ forwarded: true, upstreamStatus: answer.status, answered: answer.status });
        const headers = { ...answer.headers, connection: 'close' };
        delete headers['transfer-encoding'];
        headers['content-length'] = String(answer.body.length);
        res.writeHead(answer.status, headers);
        res.end(answer.body);
    };

    const server = createServer((req, res) => {
        handle(req, res).catch((error: unknown) => {
            if (!res.headersSent) {
                res.writeHead(502, { 'Content-Type': 'text/plain', Connection: 'close' });
                res.end(`fault proxy: ${error instanceof Error ? error.message : String(error)}`);
            }
        });
    });
    const sockets = trackSockets(server);
    const port = await listen(server);

    return {
        url: `http://127.0.0.1:${String(port)}`,
        get requests() {
            return [...requests];
        },
        script(match, ...faults) {
            rules.push({ match, faults: [...faults], always: false });
        },
        always(match, fault) {
            rules.push({ match, faults: [fault], always: true });
        },
        pendingFaults() {
            return rules.filter((rule) => !rule.always).reduce((sum, rule) => sum + rule.faults.length, 0);
        },
        clear() {
            requests.length = 0;
            rules = [];
        },
        async close() {
            for (const timer of timers) clearTimeout(timer);
            timers.clear();
            await closeServer(server, sockets);
        },
    };
}
