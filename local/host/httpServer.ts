/**
 * Serves the app's HTTP functions on `http://localhost:<port>/<routePrefix>/<route>`, building the
 * library's own `HttpRequest` for each call and writing back its `HttpResponse`.
 */

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type * as AzureFunctions from '@azure/functions';
import { PortInUseError } from '../azurite';
import type { RegisteredFunction } from './functionsCore';
import { invoke, type FunctionsLibrary, type HostLogger } from './invoke';
import type { QueueOutputWriter } from './queueOutput';

export interface HttpRoute {
    readonly fn: RegisteredFunction;
    readonly template: string;
    /** Upper-case methods. */
    readonly methods: readonly string[];
    readonly authLevel: string;
    readonly match: (path: string) => Record<string, string> | undefined;
}

/** The HTTP-triggered functions of the app, with their compiled routes. */
export function httpRoutes(functions: readonly RegisteredFunction[], routePrefix: string): HttpRoute[] {
    const routes: HttpRoute[] = [];
    for (const fn of functions) {
        const trigger = Object.values(fn.metadata.bindings).find((b) => b.type === 'httpTrigger');
        if (trigger === undefined) continue;
        const route = typeof trigger.route === 'string' ? trigger.route : fn.name;
        const template = [routePrefix, route.replace(/^\/+/, '')].filter((p) => p !== '').join('/');
        const methods = Array.isArray(trigger.methods)
            ? trigger.methods.map((m) => String(m).toUpperCase())
            : ['GET', 'POST'];
        routes.push({
            fn,
            template,
            methods,
            authLevel: typeof trigger.authLevel === 'string' ? trigger.authLevel : 'anonymous',
            match: compileRoute(template),
        });
    }
    return routes;
}

/**
 * Compiles an ASP.NET-style route template (`messages/{id}`, `{id?}`, `{id:int}`, `{*rest}`) into a
 * case-insensitive matcher returning the route parameters.
 */
export function compileRoute(template: string): (path: string) => Record<string, string> | undefined {
    const names: string[] = [];
    const segments = template.split('/').filter((s) => s !== '');
    let source = '';
    for (const segment of segments) {
        const param = /^\{(\*)?([A-Za-z_][A-Za-z0-9_]*)(?::([a-z]+)(?:\([^)]*\))?)?(\?)?\}$/.exec(segment);
        if (param === null) {
            source += `/${segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`;
            continue;
        }
        const [, catchAll, name = '', constraint, optional] = param;
        names.push(name);
        const value = catchAll
            ? '(.*)'
            : constraint === 'int'
              ? '(-?\\d+)'
              : constraint === 'alpha'
                ? '([A-Za-z]+)'
                : '([^/]+)';
        source += optional || catchAll ? `(?:/${value})?` : `/${value}`;
    }
    const regex = new RegExp(`^${source}/?$`, 'i');
    return (path) => {
        const match = regex.exec(path);
        if (match === null) return undefined;
        const params: Record<string, string> = {};
        for (const [i, name] of names.entries()) {
            const value = match[i + 1];
            if (value === undefined) continue;
            const decoded = decodePathSegment(value);
            // The server answers a malformed path 400 before routing; here it simply does not match.
            if (decoded === undefined) return undefined;
            params[name] = decoded;
        }
        return params;
    };
}

/** `decodeURIComponent`, or `undefined` for malformed percent-encoding (`%A`, `%`, `%E0%A4%A`, bad UTF-8). */
export function decodePathSegment(text: string): string | undefined {
    try {
        return decodeURIComponent(text);
    } catch {
        return undefined;
    }
}

/**
 * The request limits of the Functions host, which the local host imitates:
 * - the body: Kestrel's `MaxRequestBodySize`, which the host sets to 100 MB (104,857,600 bytes) and to
 *   `FUNCTIONS_REQUEST_BODY_SIZE_LIMIT` when that setting holds a number; over it Kestrel answers 413;
 * - the URL: the documented HTTP trigger limit of 4 KB (4,096 bytes); a longer request target is 414, as
 *   Kestrel answers a request line over its limit.
 */
export const DEFAULT_MAX_REQUEST_BODY_BYTES = 104_857_600;
export const MAX_URL_BYTES = 4_096;

/** The body limit for `settings`: `FUNCTIONS_REQUEST_BODY_SIZE_LIMIT` when it is a whole number of bytes. */
export function maxRequestBodyBytes(settings: Readonly<Record<string, string | undefined>>): number {
    const text = settings.FUNCTIONS_REQUEST_BODY_SIZE_LIMIT?.trim() ?? '';
    return /^\d{1,15}$/.test(text) ? Number(text) : DEFAULT_MAX_REQUEST_BODY_BYTES;
}

/** A log-safe name for a request target: its path without the query (which can carry phone numbers). */
function withoutQuery(target: string): string {
    const end = target.search(/[?#]/);
    return end === -1 ? target : target.slice(0, end);
}

export interface LocalHttpServer {
    readonly port: number;
    readonly url: string;
    close(): Promise<void>;
}

/**
 * Starts the HTTP server on `port` (0 for a free one) on all loopback addresses.
 *
 * Before a function runs: a request target over {@link MAX_URL_BYTES} is 414; one that is not a URL, or
 * whose path has malformed percent-encoding, is 400; no route, or a route without this method, is 404; a body over
 * `maxBodyBytes` (default {@link DEFAULT_MAX_REQUEST_BODY_BYTES}) is 413, from `Content-Length` before
 * anything is read, or as soon as the bytes read pass it. Log lines name the path or the route template,
 * never the query string.
 */
export async function startHttpServer(options: {
    lib: FunctionsLibrary;
    routes: readonly HttpRoute[];
    port: number;
    log: HostLogger;
    queueOutput: QueueOutputWriter;
    maxBodyBytes?: number;
}): Promise<LocalHttpServer> {
    const { lib, routes, log } = options;
    const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_REQUEST_BODY_BYTES;

    /** Answers with an empty body and closes the connection, so an unread body is never parsed as a request. */
    const refuse = (res: ServerResponse, status: number) => {
        res.writeHead(status, { Connection: 'close', 'Content-Length': '0' }).end();
    };

    const handle = async (req: IncomingMessage, res: ServerResponse) => {
        const target = req.url ?? '/';
        if (Buffer.byteLength(target) > MAX_URL_BYTES) {
            refuse(res, 414);
            return;
        }
        const host = req.headers.host ?? `localhost:${String(port)}`;
        const url = `http://${host}${target}`;
        const parsed = URL.canParse(url) ? new URL(url) : undefined;
        if (parsed === undefined || decodePathSegment(parsed.pathname) === undefined) {
            refuse(res, 400);
            return;
        }
        const pathname = parsed.pathname;
        const candidates = routes
            .map((route) => ({ route, params: route.match(pathname) }))
            .filter((c) => c.params !== undefined);
        if (candidates.length === 0) {
            res.writeHead(404).end();
            return;
        }
        const method = (req.method ?? 'GET').toUpperCase();
        const chosen = candidates.find((c) => c.route.methods.includes(method));
        if (chosen === undefined) {
            // The Functions host routes on method and path together, so a known path called with another
            // method is simply not found (azure-functions-host#10098), not 405.
            res.writeHead(404, { 'Content-Length': '0' }).end();
            return;
        }

        const declared = req.headers['content-length'];
        if (declared !== undefined && Number(declared) > maxBodyBytes) {
            refuse(res, 413);
            return;
        }
        const received = await readBody(req, maxBodyBytes);
        if (received === undefined) {
            refuse(res, 413);
            return;
        }
        // The host hands the worker a body only when the request declares a Content-Length above 0; a chunked
        // request reaches the function with an empty body (azure-functions-host#4926, #7930).
        const body = declared !== undefined && Number(declared) > 0 ? received : Buffer.alloc(0);
        const headers: Record<string, string> = {};
        for (const [name, value] of Object.entries(req.headers)) {
            if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
        }
        const request = new lib.HttpRequest({
            method,
            url,
            headers,
            query: hostQuery(parsed.search),
            params: chosen.params ?? {},
            body: { bytes: new Uint8Array(body) },
        });

        let response: AzureFunctions.HttpResponse;
        try {
            const { context, result } = await invoke(
                lib,
                chosen.route.fn,
                {
                    reason: `This function was programmatically called via the host APIs.`,
                    args: [request],
                    // Inside the invocation, as the library's toRpcHttp runs in the worker: a return value it
                    // cannot convert fails the invocation (logged as Failed) and the caller gets a 500.
                    convertResult: (value) => toHttpResponse(lib, value),
                },
                log,
            );
            await options.queueOutput.write(chosen.route.fn, context, result);
            response = result as AzureFunctions.HttpResponse;
        } catch {
            // The failure is already logged by invoke(); like the Functions host, the caller sees a bare 500.
            if (!res.headersSent) res.writeHead(500).end();
            return;
        }
        await writeResponse(response, res);
    };

    const server: Server = createServer((req, res) => {
        handle(req, res).catch((error: unknown) => {
            // The path only: a query string can carry phone numbers, and so can an error quoting the URL.
            const path = withoutQuery(req.url ?? '/');
            const reason =
                error instanceof Error
                    ? `${error.name}: ${error.message.replace(/\?\S*/g, '?…')}`
                    : typeof error;
            log('error', `Local host failed to serve ${req.method ?? ''} ${path}: ${reason}`);
            if (!res.headersSent) res.writeHead(500);
            res.end();
        });
    });
    await new Promise<void>((resolve, reject) => {
        server.once('error', (error: NodeJS.ErrnoException) => {
            reject(error.code === 'EADDRINUSE' ? new PortInUseError(options.port, 'the app', error) : error);
        });
        server.listen(options.port, 'localhost', () => {
            server.removeAllListeners('error');
            resolve();
        });
    });
    const port = (server.address() as AddressInfo).port;
    return {
        port,
        url: `http://localhost:${String(port)}`,
        close: () =>
            new Promise<void>((resolve) => {
                server.close(() => resolve());
                server.closeAllConnections();
            }),
    };
}

/**
 * The request body, or `undefined` as soon as more than `limit` bytes have arrived. The rest of an
 * oversized body is read and dropped rather than the socket destroyed, so the client can still read the
 * 413 (the connection is closed after it).
 */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
    return new Promise((resolve, reject) => {
        const chunks: Buffer[] = [];
        let received = 0;
        req.on('data', (chunk: Buffer) => {
            if (received > limit) return;
            received += chunk.length;
            if (received > limit) {
                chunks.length = 0;
                resolve(undefined);
            } else chunks.push(chunk);
        });
        req.on('end', () => resolve(Buffer.concat(chunks)));
        req.on('error', reject);
    });
}

/**
 * The handler's return value as the response, converted as the library's `toRpcHttp` converts it: nothing
 * (`undefined`, `null`) is an empty response, an object is an `HttpResponse` or its init, and anything else
 * (a string, a number, a boolean) is an error.
 */
export function toHttpResponse(lib: FunctionsLibrary, result: unknown): AzureFunctions.HttpResponse {
    if (result === undefined || result === null) return new lib.HttpResponse();
    if (typeof result !== 'object') {
        throw new Error(
            'The HTTP response must be an object with optional properties "body", "status", "headers", and "cookies".',
        );
    }
    return result instanceof lib.HttpResponse ? result : new lib.HttpResponse(result);
}

/**
 * `request.query` as the Functions host builds it: ASP.NET Core's query collection compares keys without
 * regard to case (the first spelling is kept) and the host passes each key's values joined with commas, so
 * `?to=A&TO=B` reaches the function as one `to` of `"A,B"`.
 */
export function hostQuery(search: string): Record<string, string> {
    const byKey = new Map<string, { name: string; values: string[] }>();
    for (const [name, value] of new URLSearchParams(search)) {
        const key = name.toLowerCase();
        const entry = byKey.get(key);
        if (entry === undefined) byKey.set(key, { name, values: [value] });
        else entry.values.push(value);
    }
    const query: Record<string, string> = {};
    for (const { name, values } of byKey.values()) query[name] = values.join(',');
    return query;
}

async function writeResponse(response: AzureFunctions.HttpResponse, res: ServerResponse): Promise<void> {
    const headers: [string, string][] = [];
    response.headers.forEach((value, name) => headers.push([name, value]));
    const cookies = response.cookies.map(serializeCookie);
    const body = response.body === null ? Buffer.alloc(0) : Buffer.from(await response.arrayBuffer());
    res.statusCode = response.status;
    for (const [name, value] of headers) res.setHeader(name, value);
    if (cookies.length > 0) res.setHeader('Set-Cookie', cookies);
    res.end(body);
}

/** A `Set-Cookie` value for one of the library's `Cookie` objects. */
export function serializeCookie(cookie: AzureFunctions.Cookie): string {
    const parts = [`${cookie.name}=${encodeURIComponent(cookie.value)}`];
    if (cookie.domain !== undefined) parts.push(`Domain=${cookie.domain}`);
    if (cookie.path !== undefined) parts.push(`Path=${cookie.path}`);
    if (cookie.expires !== undefined) parts.push(`Expires=${new Date(cookie.expires).toUTCString()}`);
    if (cookie.maxAge !== undefined) parts.push(`Max-Age=${String(cookie.maxAge)}`);
    if (cookie.secure === true) parts.push('Secure');
    if (cookie.httpOnly === true) parts.push('HttpOnly');
    if (cookie.sameSite !== undefined) parts.push(`SameSite=${cookie.sameSite}`);
    return parts.join('; ');
}
