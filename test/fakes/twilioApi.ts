import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A request the fake Twilio API received. */
export interface RecordedTwilioRequest {
    method: string;
    path: string;
    /** The `username:password` of the Basic auth header, or `undefined`. */
    basicAuth: string | undefined;
    /**
     * Which credentials let the request in: the account's auth token, or the API key (`SK…`) it names;
     * `rejected` for anything else (answered 401 / 20003).
     */
    authenticatedWith: 'authToken' | { apiKey: string } | 'rejected';
    form: URLSearchParams;
}

export interface FakeTwilioApi {
    /** e.g. `http://127.0.0.1:53412` */
    readonly url: string;
    readonly requests: RecordedTwilioRequest[];
    /** Changes the credentials it accepts (a rotated auth token). */
    setCredentials(accountSid: string, authToken: string): void;
    /**
     * Accepts API key `sid` (`SK…`) of the account with `secret` from now on, replacing any earlier secret of
     * that key (a rotated key secret); `undefined` revokes the key.
     */
    setApiKey(sid: string, secret: string | undefined): void;
    /**
     * Answers the next `count` authenticated requests with HTTP 429 and Twilio's code 20429, as Twilio does
     * when an account goes over its rate.
     */
    rateLimitNext(count: number): void;
    close(): Promise<void>;
}

/**
 * A loopback stand-in for the part of api.twilio.com the client factory is tested against: Basic auth
 * checked against one account, as Twilio does, with the account SID and auth token, or with an API key of
 * the account (the key SID as user, its secret as password, the account in the path); 401 with Twilio's
 * error JSON and code 20003 otherwise. Messages create is answered with a Twilio-shaped resource, or with
 * 429 / 20429 when told to ({@link FakeTwilioApi.rateLimitNext}).
 */
export async function startFakeTwilioApi(accountSid: string, authToken: string): Promise<FakeTwilioApi> {
    let account = accountSid;
    let credentials = `${accountSid}:${authToken}`;
    const apiKeys = new Map<string, string>();
    let rateLimited = 0;
    const requests: RecordedTwilioRequest[] = [];

    const server: Server = createServer((req, res) => {
        void handle(req, res);
    });
    const handle = async (req: IncomingMessage, res: ServerResponse) => {
        const chunks: Buffer[] = [];
        for await (const chunk of req) chunks.push(chunk as Buffer);
        const header = req.headers.authorization;
        const basicAuth = header?.startsWith('Basic ')
            ? Buffer.from(header.slice(6), 'base64').toString('utf8')
            : undefined;
        const path = req.url ?? '/';
        const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
        const authenticatedWith = authenticate(basicAuth, path);
        requests.push({ method: req.method ?? '', path, basicAuth, authenticatedWith, form });

        const send = (status: number, body: unknown) => {
            res.writeHead(status, { 'Content-Type': 'application/json' });
            res.end(JSON.stringify(body));
        };
        if (authenticatedWith === 'rejected') {
            send(401, {
                code: 20003,
                message: 'Authenticate',
                more_info: 'https://www.twilio.com/docs/errors/20003',
                status: 401,
            });
            return;
        }
        if (rateLimited > 0) {
            rateLimited--;
            send(429, {
                code: 20429,
                message: 'Too Many Requests',
                more_info: 'https://www.twilio.com/docs/errors/20429',
                status: 429,
            });
            return;
        }
        const match = /^\/2010-04-01\/Accounts\/(AC[0-9a-f]{32})\/Messages\.json$/.exec(path);
        if (req.method !== 'POST' || match === null) {
            send(404, { code: 20404, message: 'The requested resource was not found', status: 404 });
            return;
        }
        const sid = `SM${randomBytes(16).toString('hex')}`;
        const now = new Date().toUTCString();
        send(201, {
            sid,
            account_sid: match[1],
            to: form.get('To'),
            from: form.get('From'),
            messaging_service_sid: form.get('MessagingServiceSid'),
            body: form.get('Body'),
            status: 'queued',
            num_segments: '1',
            num_media: String(form.getAll('MediaUrl').length),
            direction: 'outbound-api',
            api_version: '2010-04-01',
            date_created: now,
            date_updated: now,
            date_sent: null,
            error_code: null,
            error_message: null,
            price: null,
            price_unit: 'USD',
            uri: `/2010-04-01/Accounts/${match[1] ?? ''}/Messages/${sid}.json`,
            subresource_uris: { media: `/2010-04-01/Accounts/${match[1] ?? ''}/Messages/${sid}/Media.json` },
        });
    };

    /** An API key only acts for its own account: the account in the path must be the key's. */
    const authenticate = (
        basicAuth: string | undefined,
        path: string,
    ): RecordedTwilioRequest['authenticatedWith'] => {
        if (basicAuth === undefined) return 'rejected';
        if (basicAuth === credentials) return 'authToken';
        const separator = basicAuth.indexOf(':');
        const user = basicAuth.slice(0, separator);
        const secret = apiKeys.get(user);
        const pathAccount = /^\/2010-04-01\/Accounts\/(AC[0-9a-f]{32})\//.exec(path)?.[1];
        if (
            separator > 0 &&
            secret !== undefined &&
            basicAuth.slice(separator + 1) === secret &&
            pathAccount === account
        ) {
            return { apiKey: user };
        }
        return 'rejected';
    };

    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return {
        url: `http://127.0.0.1:${port}`,
        requests,
        setCredentials(sid, token) {
            account = sid;
            credentials = `${sid}:${token}`;
        },
        setApiKey(sid, secret) {
            if (secret === undefined) apiKeys.delete(sid);
            else apiKeys.set(sid, secret);
        },
        rateLimitNext(count) {
            rateLimited = count;
        },
        close: () =>
            new Promise<void>((resolve, reject) => {
                server.closeAllConnections();
                server.close((error) => (error ? reject(error) : resolve()));
            }),
    };
}
