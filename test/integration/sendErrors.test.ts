import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import twilio from 'twilio';
import RequestClient from 'twilio/lib/base/RequestClient';
import RestException from 'twilio/lib/base/RestException';
import TwilioServiceException from 'twilio/lib/base/TwilioServiceException';
import { ConfigError, SecretUnavailableError } from '../../shared/platform/errors';
import { OutboundValidationError } from '../../shared/outbound/message';
import { classifySendError, describeSendError, maskPhoneNumbers } from '../../shared/outbound/sendErrors';
import { closeServer, listen, trackSockets } from '../fakes/servers';

const SID = 'AC0123456789abcdef0123456789abcdef';
const TOKEN = 'secret-token-0123456789abcdef0123';
const TO = '+15557654321';
const BODY = 'the private message body';

/** A RestException as the SDK builds it from a response (`Version.throwException`). */
function restException(statusCode: number, body: unknown): RestException {
    return new RestException({ statusCode, body });
}

function twilioBody(status: number, code: number, message: string) {
    return { status, code, message, more_info: `https://www.twilio.com/docs/errors/${code}` };
}

describe('classifySendError: Twilio HTTP errors (RestException)', () => {
    it.each([429, 503])('HTTP %i: transient, and Twilio did not take the request', (status) => {
        expect(
            classifySendError(restException(status, twilioBody(status, 20429, 'Too Many Requests'))),
        ).toEqual({
            kind: 'transient',
            reason: `HTTP ${status}`,
            mayHaveBeenCreated: false,
            status,
            code: '20429',
        });
    });

    it.each([500, 502, 504])('HTTP %i: transient, the outcome is unknown', (status) => {
        expect(classifySendError(restException(status, '<html>Bad Gateway</html>'))).toEqual({
            kind: 'transient',
            reason: `HTTP ${status}`,
            mayHaveBeenCreated: true,
            status,
        });
    });

    it('HTTP 401 or code 20003: auth', () => {
        expect(classifySendError(restException(401, twilioBody(401, 20003, 'Authenticate')))).toEqual({
            kind: 'auth',
            status: 401,
            code: '20003',
            message: 'Authenticate',
        });
        expect(classifySendError(restException(401, ''))).toEqual({
            kind: 'auth',
            status: 401,
            message: '[HTTP 401] Failed to execute request',
        });
        expect(
            classifySendError(restException(403, twilioBody(403, 20003, 'Permission denied'))),
        ).toMatchObject({
            kind: 'auth',
            code: '20003',
        });
    });

    it.each([
        [21211, "The 'To' number +15557654321 is not a valid phone number."],
        [21610, 'Attempt to send to unsubscribed recipient'],
        [21614, "'To' number is not a valid mobile number"],
        [
            21408,
            'Permission to send an SMS has not been enabled for the region indicated by the +15557654321',
        ],
        [
            21608,
            'The number +15557654321 is unverified. Trial accounts cannot send messages to unverified numbers',
        ],
        [21602, 'Message body is required.'],
        [21617, 'The concatenated message body exceeds the 1600 character limit.'],
        [
            21606,
            'The From phone number +15551230000 is not a valid, SMS-capable inbound phone number or short code for your account.',
        ],
        [21205, 'Url parameter is required.'],
    ])('HTTP 400 code %i: permanent, with the code and the message (numbers masked)', (code, message) => {
        const verdict = classifySendError(restException(400, JSON.stringify(twilioBody(400, code, message))));
        expect(verdict).toEqual({
            kind: 'permanent',
            status: 400,
            code: String(code),
            message: maskPhoneNumbers(message),
        });
        expect(JSON.stringify(verdict)).not.toMatch(/5557654321|5551230000/);
    });

    it("HTTP 400 code 21611 (the sender's queue is full): transient, and Twilio did not take the request", () => {
        const message = "This 'From' number has exceeded the maximum number of queued messages";
        const expected = {
            kind: 'transient',
            reason: "HTTP 400 code 21611: the sender's queue is full",
            mayHaveBeenCreated: false,
            status: 400,
            code: '21611',
        };
        expect(classifySendError(restException(400, twilioBody(400, 21611, message)))).toEqual(expected);
        const problem = new TwilioServiceException({
            statusCode: 400,
            body: {
                type: 'https://www.twilio.com/docs/errors/21611',
                title: message,
                status: 400,
                code: 21611,
            },
        });
        expect(classifySendError(problem)).toEqual(expected);
    });

    it('other 4xx: permanent', () => {
        expect(
            classifySendError(
                restException(404, twilioBody(404, 20404, 'The requested resource was not found')),
            ),
        ).toEqual({
            kind: 'permanent',
            status: 404,
            code: '20404',
            message: 'The requested resource was not found',
        });
        expect(classifySendError(restException(400, 'not json'))).toEqual({
            kind: 'permanent',
            status: 400,
            message: '[HTTP 400] Failed to execute request',
        });
    });

    it('RFC 9457 problem responses (TwilioServiceException) are classified the same way', () => {
        const problem = (status: number, code: number) =>
            new TwilioServiceException({
                statusCode: status,
                body: {
                    type: `https://www.twilio.com/docs/errors/${code}`,
                    title: 'Invalid parameter',
                    status,
                    code,
                    detail: `The 'To' number ${TO} is not valid`,
                },
            });
        expect(classifySendError(problem(400, 21211))).toEqual({
            kind: 'permanent',
            status: 400,
            code: '21211',
            message: "The 'To' number +1555***4321 is not valid",
        });
        expect(classifySendError(problem(503, 20503))).toMatchObject({
            kind: 'transient',
            mayHaveBeenCreated: false,
        });
        expect(classifySendError(problem(401, 20003))).toMatchObject({ kind: 'auth' });
    });
});

describe('classifySendError: other errors', () => {
    const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });

    it.each(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'CERT_HAS_EXPIRED'])(
        '%s: transient, never sent',
        (code) => {
            expect(classifySendError(withCode('x', code))).toEqual({
                kind: 'transient',
                reason: code,
                mayHaveBeenCreated: false,
                code,
            });
        },
    );

    it.each(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'ERR_NETWORK', 'ERR_SOMETHING_NEW'])(
        '%s: transient, may have been sent',
        (code) => {
            expect(classifySendError(withCode('x', code))).toMatchObject({
                kind: 'transient',
                mayHaveBeenCreated: true,
                code,
            });
        },
    );

    it('finds the code in an AggregateError (happy eyeballs) or a cause', () => {
        const aggregate = new AggregateError(
            [withCode('connect ECONNREFUSED ::1:443', 'ECONNREFUSED')],
            'connect failed',
        );
        expect(classifySendError(aggregate)).toMatchObject({ kind: 'transient', mayHaveBeenCreated: false });
        const wrapped = new Error('request failed', {
            cause: withCode('getaddrinfo EAI_AGAIN api.twilio.com', 'EAI_AGAIN'),
        });
        expect(classifySendError(wrapped)).toMatchObject({
            kind: 'transient',
            mayHaveBeenCreated: false,
            code: 'EAI_AGAIN',
        });
    });

    it('a request that cannot be sent with this configuration: permanent', () => {
        const error = new OutboundValidationError([{ field: 'from', message: 'is required' }]);
        expect(classifySendError(error)).toEqual({
            kind: 'permanent',
            message: 'Invalid outbound request: from is required',
        });
    });

    it('no auth token or settings yet: transient, nothing was sent', () => {
        expect(classifySendError(new SecretUnavailableError('Key Vault down'))).toEqual({
            kind: 'transient',
            reason: 'auth token unavailable',
            mayHaveBeenCreated: false,
        });
        expect(classifySendError(new ConfigError(['TWILIO_ACCOUNT_SID is required']))).toMatchObject({
            kind: 'transient',
            mayHaveBeenCreated: false,
        });
    });

    it('anything else: transient, may have been created', () => {
        for (const error of [
            new Error('boom'),
            new TypeError('x is undefined'),
            'a string',
            undefined,
            null,
            { status: 'x' },
        ]) {
            expect(classifySendError(error)).toEqual({
                kind: 'transient',
                reason: 'unknown error',
                mayHaveBeenCreated: true,
            });
        }
        expect(classifySendError(new Error('Request timed out'))).toEqual({
            kind: 'transient',
            reason: 'timeout',
            mayHaveBeenCreated: true,
        });
    });
});

describe('describeSendError', () => {
    it('gives status, code and the message with numbers masked', () => {
        const error = restException(
            400,
            twilioBody(400, 21211, `The 'To' number ${TO} is not a valid phone number.`),
        );
        expect(describeSendError(error)).toBe(
            "Twilio HTTP 400 code 21211: The 'To' number +1555***4321 is not a valid phone number.",
        );
        expect(describeSendError(restException(502, '<html>\n<b>Bad Gateway</b>\n</html>'))).toBe(
            'Twilio HTTP 502: [HTTP 502] Failed to execute request',
        );
    });

    it('names transport errors, other errors and non-errors', () => {
        expect(
            describeSendError(
                Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }),
            ),
        ).toBe('network error ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:1');
        expect(describeSendError(new TypeError(`cannot send to whatsapp:${TO}`))).toBe(
            'TypeError: cannot send to whatsapp:+1555***4321',
        );
        expect(describeSendError('oops')).toBe('non-Error thrown (string)');
        expect(describeSendError(null)).toBe('non-Error thrown (null)');
    });

    it('stays short and on one line', () => {
        const description = describeSendError(new Error(`line one\n${'x'.repeat(1000)}`));
        expect(description).toHaveLength(300);
        expect(description).not.toContain('\n');
        expect(description.endsWith('…')).toBe(true);
    });
});

describe('maskPhoneNumbers', () => {
    it('masks E.164 and bare numbers of 7-15 digits, not codes, SIDs or addresses', () => {
        expect(maskPhoneNumbers('To +15557654321, from 15551230000 and whatsapp:+447700900123')).toBe(
            'To +1555***4321, from 1555***0000 and whatsapp:+4477***0123',
        );
        const untouched =
            'code 21211, SM0123456789abcdef0123456789abcdef, 127.0.0.1:4431, https://x.example/errors/21211';
        expect(maskPhoneNumbers(untouched)).toBe(untouched);
    });
});

// ---------------------------------------------------------------------------------------------------
// The real twilio client against local servers: what its transport errors look like, and how they classify.

/** The SDK's own RequestClient, sending every request to `origin` instead of api.twilio.com. */
class LocalRequestClient extends RequestClient {
    constructor(
        private readonly origin: string,
        options: RequestClient.RequestClientOptions,
    ) {
        super(options);
    }

    override request<TData>(opts: RequestClient.RequestOptions<TData>) {
        const original = new URL(opts.uri);
        return super.request({ ...opts, uri: `${this.origin}${original.pathname}${original.search}` });
    }
}

function client(port: number, timeout = 10_000) {
    return twilio(SID, TOKEN, {
        httpClient: new LocalRequestClient(`http://127.0.0.1:${port}`, { timeout }),
    });
}

/** Sends a message through the real client and resolves to what it threw. */
async function sendFailure(port: number, timeout?: number): Promise<unknown> {
    try {
        await client(port, timeout).messages.create({ to: TO, from: '+15551230000', body: BODY });
    } catch (error) {
        return error;
    }
    throw new Error('the send was expected to fail');
}

function expectLogSafe(description: string): void {
    expect(description).not.toContain(TOKEN);
    expect(description).not.toContain(BODY);
    expect(description).not.toContain('5557654321');
}

interface LocalServer {
    port: number;
    close(): Promise<void>;
}

async function startServer(
    handler: (req: IncomingMessage, res: ServerResponse, socket: Socket) => void,
): Promise<LocalServer> {
    const server: Server = createServer((req, res) => {
        // Read the whole request (so it has certainly been sent) before acting.
        req.resume();
        req.on('end', () => {
            handler(req, res, req.socket);
        });
    });
    const sockets = trackSockets(server);
    const port = await listen(server);
    return { port, close: () => closeServer(server, sockets) };
}

describe('classifySendError with the real twilio client', () => {
    it('connection refused (nothing listening): transient, never sent', async () => {
        const closed = await startServer(() => undefined);
        await closed.close();
        const error = await sendFailure(closed.port);

        expect(error).toMatchObject({ code: 'ECONNREFUSED' });
        expect(classifySendError(error)).toEqual({
            kind: 'transient',
            reason: 'ECONNREFUSED',
            mayHaveBeenCreated: false,
            code: 'ECONNREFUSED',
        });
        expect(describeSendError(error)).toMatch(/^network error ECONNREFUSED: /);
        expectLogSafe(describeSendError(error));
    });

    it('a server that takes the request and never answers: a timeout, which may have been sent', async () => {
        let received = 0;
        const hanging = await startServer(() => {
            received++;
        });
        try {
            const error = await sendFailure(hanging.port, 200);

            expect(received).toBe(1);
            expect(classifySendError(error)).toMatchObject({ kind: 'transient', mayHaveBeenCreated: true });
            expect(classifySendError(error)).toMatchObject({
                reason: expect.stringMatching(/^timeout/) as unknown,
            });
            expectLogSafe(describeSendError(error));
        } finally {
            await hanging.close();
        }
    });

    it('a server that drops the connection after reading the request: may have been sent', async () => {
        const dropping = await startServer((_req, _res, socket) => {
            socket.destroy();
        });
        try {
            const error = await sendFailure(dropping.port);

            expect(error).toMatchObject({ code: 'ECONNRESET' });
            expect(classifySendError(error)).toEqual({
                kind: 'transient',
                reason: 'connection lost (ECONNRESET)',
                mayHaveBeenCreated: true,
                code: 'ECONNRESET',
            });
            expectLogSafe(describeSendError(error));
        } finally {
            await dropping.close();
        }
    });

    it.each([
        [
            400,
            twilioBody(400, 21211, `The 'To' number ${TO} is not a valid phone number.`),
            { kind: 'permanent', code: '21211' },
        ],
        [401, twilioBody(401, 20003, 'Authenticate'), { kind: 'auth', code: '20003' }],
        [429, twilioBody(429, 20429, 'Too Many Requests'), { kind: 'transient', mayHaveBeenCreated: false }],
        [
            503,
            twilioBody(503, 20503, 'Service Unavailable'),
            { kind: 'transient', mayHaveBeenCreated: false },
        ],
        [
            500,
            twilioBody(500, 20500, 'Internal Server Error'),
            { kind: 'transient', mayHaveBeenCreated: true },
        ],
    ])('Twilio answering HTTP %i', async (status, body, expected) => {
        const answering = await startServer((_req, res) => {
            res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
        });
        try {
            const error = await sendFailure(answering.port);

            expect(error).toBeInstanceOf(RestException);
            expect(classifySendError(error)).toMatchObject({ ...expected, status });
            expect(describeSendError(error)).toBe(
                `Twilio HTTP ${status} code ${body.code}: ${maskPhoneNumbers(body.message)}`,
            );
            expectLogSafe(describeSendError(error));
        } finally {
            await answering.close();
        }
    });
});
