import {
    CALL_STATUS_EVENTS,
    OutboundValidationError,
    decodeQueueItem,
    describeFieldErrors,
    parseOutbound,
    requestFingerprint,
    summarize,
    toCallCreateParams,
    toMessageCreateParams,
    type CallContext,
    type CallRequest,
    type FieldError,
    type MessageContext,
    type OutboundRequest,
    type ParseOptions,
    type SmsRequest,
} from '../../../shared/outbound/message';
import { voiceTwiml } from '../../../shared/platform/twiml';

const XML = '<?xml version="1.0" encoding="UTF-8"?>';
const TO = '+15557654321';
const FROM = '+15551230000';
const SERVICE = 'MG0123456789abcdef0123456789abcdef';
const DEFAULT_SERVICE = 'MGfedcba9876543210fedcba9876543210';
const DEFAULT_FROM = '+15550001111';
const VOICE_URL = 'https://app.example.com/api/voice';
const CALLBACK = (id: string) => `https://app.example.com/api/status?id=${encodeURIComponent(id)}`;

const WITH_FROM: ParseOptions = { defaults: { fromNumber: DEFAULT_FROM }, defaultVoiceUrl: VOICE_URL };
const NOTHING_CONFIGURED: ParseOptions = { defaults: {}, defaultVoiceUrl: undefined };

function valid(input: unknown, kind?: 'sms' | 'call', options: ParseOptions = WITH_FROM): OutboundRequest {
    const result = parseOutbound(input, kind, options);
    if (!result.ok) throw new Error(`expected valid, got ${JSON.stringify(result.errors)}`);
    return result.value;
}

function errorsOf(
    input: unknown,
    kind?: 'sms' | 'call',
    options: ParseOptions | undefined = WITH_FROM,
): FieldError[] {
    const result = parseOutbound(input, kind, options);
    if (result.ok) throw new Error(`expected errors, got ${JSON.stringify(result.value)}`);
    return result.errors;
}

const fieldsOf = (input: unknown, kind?: 'sms' | 'call', options?: ParseOptions): string[] =>
    errorsOf(input, kind, options).map((error) => error.field);

const sms = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    type: 'sms',
    to: TO,
    body: 'hello',
    ...extra,
});
const call = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    type: 'call',
    to: TO,
    ...extra,
});

const messageContext = (
    defaults: MessageContext['defaults'] = {},
    statusCallbackUrl: MessageContext['statusCallbackUrl'] = CALLBACK,
): MessageContext => ({ id: 'msg-1', defaults, statusCallbackUrl });
const callContext = (extra: Partial<CallContext> = {}): CallContext => ({
    id: 'call-1',
    defaults: { fromNumber: DEFAULT_FROM },
    defaultVoiceUrl: VOICE_URL,
    statusCallbackUrl: CALLBACK,
    ...extra,
});

function asSms(value: OutboundRequest): SmsRequest {
    if (value.type !== 'sms') throw new Error('expected an sms');
    return value;
}
function asCall(value: OutboundRequest): CallRequest {
    if (value.type !== 'call') throw new Error('expected a call');
    return value;
}

/** The TwiML a call's `say` makes, for lengths. */
const sayDocument = (text: string) => `${XML}<Response><Say>${text}</Say></Response>`;

describe('decodeQueueItem', () => {
    const message = { type: 'sms', to: TO, body: 'héllo ✓' };
    const json = JSON.stringify(message);

    it('passes through an object the host already parsed', () => {
        expect(decodeQueueItem(message)).toEqual({ ok: true, value: message });
    });

    it('parses JSON text (v12 SDKs, az storage message put)', () => {
        expect(decodeQueueItem(`  ${json}\n`)).toEqual({ ok: true, value: message });
    });

    it('decodes base64 of JSON (the output binding, older SDKs), also wrapped over lines', () => {
        const base64 = Buffer.from(json, 'utf8').toString('base64');
        expect(decodeQueueItem(base64)).toEqual({ ok: true, value: message });
        expect(decodeQueueItem(base64.replace(/(.{20})/g, '$1\r\n'))).toEqual({ ok: true, value: message });
    });

    it('reads a Buffer as UTF-8 text', () => {
        expect(decodeQueueItem(Buffer.from(json, 'utf8'))).toEqual({ ok: true, value: message });
    });

    it('hands on JSON that is not an object for parseOutbound to reject', () => {
        expect(decodeQueueItem('[1,2]')).toEqual({ ok: true, value: [1, 2] });
        expect(decodeQueueItem('"text"')).toEqual({ ok: true, value: 'text' });
    });

    it('rejects a string that is neither JSON nor base64 JSON, without quoting it', () => {
        const result = decodeQueueItem('send +15551234567 hello');
        expect(result).toEqual({
            ok: false,
            error: 'the queue item is neither JSON nor base64-encoded JSON',
        });
        expect(decodeQueueItem('{"type":"sms",')).toEqual(result);
    });

    it('rejects base64 that does not encode JSON (or UTF-8)', () => {
        const error = 'the queue item is base64, but what it encodes is not JSON text';
        expect(decodeQueueItem(Buffer.from('hello world').toString('base64'))).toEqual({ ok: false, error });
        expect(decodeQueueItem(Buffer.from([0xff, 0xfe, 0x7b, 0x7d]).toString('base64'))).toEqual({
            ok: false,
            error,
        });
    });

    it('rejects empty strings and values that are not messages', () => {
        expect(decodeQueueItem('  ')).toEqual({ ok: false, error: 'the queue item is empty' });
        expect(decodeQueueItem(42)).toEqual({
            ok: false,
            error: 'the queue item is number, not a JSON message',
        });
        expect(decodeQueueItem(undefined)).toEqual({
            ok: false,
            error: 'the queue item is undefined, not a JSON message',
        });
        expect(decodeQueueItem(null)).toEqual({
            ok: false,
            error: 'the queue item is null, not a JSON message',
        });
    });
});

describe('parseOutbound: the envelope', () => {
    it('normalizes a valid message to version 1 with its type', () => {
        expect(valid({ type: 'sms', to: TO, body: 'hi' })).toStrictEqual({
            type: 'sms',
            version: 1,
            to: TO,
            body: 'hi',
        });
        expect(valid({ version: 1, type: 'call', to: TO, url: 'https://x.example/t' })).toStrictEqual({
            type: 'call',
            version: 1,
            to: TO,
            url: 'https://x.example/t',
        });
    });

    it.each([null, [], 'text', 3])('rejects %p as a whole', (input) => {
        expect(errorsOf(input)).toEqual([{ field: '(message)', message: 'must be a JSON object' }]);
    });

    it('rejects any version but 1, naming version', () => {
        for (const version of [2, 0, '1', null]) {
            expect(errorsOf(sms({ version }))).toEqual([
                { field: 'version', message: 'is not supported: only version 1 is' },
            ]);
        }
    });

    it('requires type without a kind, and only sms or call', () => {
        expect(errorsOf({ to: TO, body: 'x' })).toEqual([
            { field: 'type', message: 'is required: "sms" or "call"' },
        ]);
        expect(errorsOf(sms({ type: 'fax' }))).toEqual([
            { field: 'type', message: 'must be "sms" or "call"' },
        ]);
    });

    it('takes the kind from the HTTP API: type may be left out, and another type is an error', () => {
        expect(valid({ to: TO, body: 'hi' }, 'sms')).toMatchObject({ type: 'sms' });
        expect(valid({ to: TO, say: 'hi' }, 'call')).toMatchObject({ type: 'call' });
        // Validated as the kind the route implies: an sms's fields are unknown to a call.
        expect(errorsOf(sms(), 'call')).toEqual([
            { field: 'type', message: 'must be "call" here (or left out)' },
            { field: 'body', message: 'is not a known field' },
        ]);
        expect(fieldsOf({ type: 'call', to: TO, body: 'hi', say: 'x' }, 'sms')).toEqual(['type', 'say']);
    });

    it('rejects unknown fields, naming each', () => {
        expect(errorsOf(sms({ Body: 'x', callback: 'y' }))).toEqual([
            { field: 'Body', message: 'is not a known field' },
            { field: 'callback', message: 'is not a known field' },
        ]);
        expect(fieldsOf(call({ url: 'https://x.example', messagingServiceSid: SERVICE }))).toEqual([
            'messagingServiceSid',
        ]);
    });

    it('accepts a client id of 1-200 URL-safe characters', () => {
        expect(valid(sms({ id: 'Order-42.a_b~c:d' }))).toMatchObject({ id: 'Order-42.a_b~c:d' });
        expect(valid(sms({ id: 'x'.repeat(200) }))).toMatchObject({ id: 'x'.repeat(200) });
        for (const id of ['', 'x'.repeat(201), 'a b', 'a/b', 'ü', 5]) {
            expect(fieldsOf(sms({ id }))).toEqual(['id']);
        }
    });

    it('reports every problem at once', () => {
        expect(
            errorsOf({
                type: 'sms',
                to: '555',
                mediaUrl: ['http://x.example/a.png'],
                validityPeriod: 0,
                extra: 1,
            }),
        ).toEqual([
            {
                field: 'to',
                message:
                    'must be an E.164 phone number: + and 8 to 15 digits, e.g. +15551234567, or whatsapp:+<E.164>',
            },
            { field: 'mediaUrl[0]', message: 'must be an https URL' },
            { field: 'validityPeriod', message: 'must be 1 to 36000 seconds' },
            { field: 'extra', message: 'is not a known field' },
        ]);
    });
});

describe('parseOutbound: sms', () => {
    it('accepts every field', () => {
        const input = {
            type: 'sms',
            to: TO,
            body: 'Your code is 1234',
            mediaUrl: ['https://cdn.example.com/a.png', 'https://cdn.example.com/b.jpg?x=1'],
            from: FROM,
            messagingServiceSid: SERVICE,
            statusCallback: 'https://hooks.example.com/status',
            validityPeriod: 3600,
            maxPrice: '0.05',
            id: 'client-key',
        };
        expect(valid(input)).toStrictEqual({ ...input, version: 1 });
    });

    it.each([
        ['5557654321', 'no +'],
        ['+05557654321', 'leading 0'],
        ['+1234567', '7 digits'],
        ['+1234567890123456', '16 digits'],
        ['+1 555 765 4321', 'spaces'],
        ['whatsapp:5557654321', 'whatsapp without E.164'],
        ['client:alice', 'a client'],
    ])('rejects to %p (%s)', (to) => {
        expect(errorsOf(sms({ to }))).toEqual([
            {
                field: 'to',
                message:
                    'must be an E.164 phone number: + and 8 to 15 digits, e.g. +15551234567, or whatsapp:+<E.164>',
            },
        ]);
    });

    it('accepts 8 to 15 digits and whatsapp: addresses', () => {
        expect(valid(sms({ to: '+12345678' }))).toMatchObject({ to: '+12345678' });
        expect(valid(sms({ to: '+123456789012345' }))).toMatchObject({ to: '+123456789012345' });
        expect(valid(sms({ to: 'whatsapp:+15557654321', from: 'whatsapp:+15551230000' }))).toMatchObject({
            to: 'whatsapp:+15557654321',
        });
    });

    it('requires to, as a string', () => {
        expect(errorsOf({ type: 'sms', body: 'x' })).toEqual([{ field: 'to', message: 'is required' }]);
        expect(errorsOf(sms({ to: 15557654321 }))).toEqual([{ field: 'to', message: 'must be a string' }]);
    });

    it('limits the body to 1600 UTF-16 code units (an emoji counts as 2)', () => {
        expect(valid(sms({ body: 'x'.repeat(1600) }))).toMatchObject({ body: 'x'.repeat(1600) });
        expect(valid(sms({ body: '😀'.repeat(800) }))).toMatchObject({ type: 'sms' });
        const tooLong = [{ field: 'body', message: 'must be at most 1600 characters (UTF-16 code units)' }];
        expect(errorsOf(sms({ body: 'x'.repeat(1601) }))).toEqual(tooLong);
        expect(errorsOf(sms({ body: `${'😀'.repeat(800)}x` }))).toEqual(tooLong);
    });

    it('requires a non-empty body or at least one media URL, on body', () => {
        const required = [{ field: 'body', message: 'is required: give a body or at least one mediaUrl' }];
        expect(errorsOf({ type: 'sms', to: TO })).toEqual(required);
        expect(errorsOf(sms({ body: '' }))).toEqual(required);
        expect(errorsOf(sms({ body: ' \n ' }))).toEqual(required);
        expect(errorsOf(sms({ body: undefined, mediaUrl: [] }))).toEqual(required);
        expect(valid({ type: 'sms', to: TO, mediaUrl: ['https://x.example/a.png'] })).toMatchObject({
            type: 'sms',
        });
        expect(valid(sms({ body: '', mediaUrl: ['https://x.example/a.png'] }))).toMatchObject({ body: '' });
    });

    it('checks the body type', () => {
        expect(errorsOf(sms({ body: 42 }))).toEqual([{ field: 'body', message: 'must be a string' }]);
    });

    it('accepts up to 10 https media URLs, naming the one at fault', () => {
        const urls = Array.from({ length: 10 }, (_, i) => `https://cdn.example.com/${i}.png`);
        expect(valid(sms({ mediaUrl: urls }))).toMatchObject({ mediaUrl: urls });
        expect(errorsOf(sms({ mediaUrl: [...urls, 'https://cdn.example.com/10.png'] }))).toEqual([
            { field: 'mediaUrl', message: 'must have at most 10 URLs' },
        ]);
        expect(
            errorsOf(
                sms({
                    mediaUrl: [
                        'https://a.example/1.png',
                        'https://a.example/2.png',
                        'http://a.example/3.png',
                    ],
                }),
            ),
        ).toEqual([{ field: 'mediaUrl[2]', message: 'must be an https URL' }]);
        expect(
            fieldsOf(
                sms({ mediaUrl: ['not a url', 'https://', 'ftp://a.example/x', 'https://ok.example/x'] }),
            ),
        ).toEqual(['mediaUrl[0]', 'mediaUrl[1]', 'mediaUrl[2]']);
        expect(errorsOf(sms({ mediaUrl: 'https://a.example/1.png' }))).toEqual([
            { field: 'mediaUrl', message: 'must be an array' },
        ]);
        expect(errorsOf(sms({ mediaUrl: [7] }))).toEqual([
            { field: 'mediaUrl[0]', message: 'must be a string' },
        ]);
    });

    it('checks from and messagingServiceSid', () => {
        for (const from of ['ACME', '5551230000', 'whatsapp:ACME', '']) {
            expect(fieldsOf(sms({ from }))).toEqual(['from']);
        }
        for (const messagingServiceSid of [
            'MG123',
            `PN${SERVICE.slice(2)}`,
            `${SERVICE}0`,
            `MG${'g'.repeat(32)}`,
        ]) {
            expect(errorsOf(sms({ messagingServiceSid }))).toEqual([
                {
                    field: 'messagingServiceSid',
                    message: 'must be a Messaging Service SID: MG and 32 hex digits',
                },
            ]);
        }
    });

    it('needs a sender: its own, or a configured one; none is an error on from', () => {
        const noSender = [
            {
                field: 'from',
                message:
                    'is required: no from or messagingServiceSid is given and neither TWILIO_MESSAGING_SERVICE_SID nor TWILIO_FROM_NUMBER is configured',
            },
        ];
        expect(errorsOf(sms(), undefined, NOTHING_CONFIGURED)).toEqual(noSender);
        expect(valid(sms({ from: FROM }), undefined, NOTHING_CONFIGURED)).toMatchObject({ from: FROM });
        expect(valid(sms({ messagingServiceSid: SERVICE }), undefined, NOTHING_CONFIGURED)).toMatchObject({
            messagingServiceSid: SERVICE,
        });
        const configured = (defaults: ParseOptions['defaults']) => ({ defaults, defaultVoiceUrl: undefined });
        expect(valid(sms(), undefined, configured({ fromNumber: DEFAULT_FROM }))).toMatchObject({
            type: 'sms',
        });
        expect(valid(sms(), undefined, configured({ messagingServiceSid: DEFAULT_SERVICE }))).toMatchObject({
            type: 'sms',
        });
    });

    it('leaves the sender to toMessageCreateParams when not given the configuration', () => {
        expect(parseOutbound(sms())).toMatchObject({ ok: true });
        expect(parseOutbound({ to: TO, body: 'x' }, 'sms')).toMatchObject({ ok: true });
    });

    it('does not report a missing sender on top of an invalid one', () => {
        expect(fieldsOf(sms({ from: 'ACME' }), undefined, NOTHING_CONFIGURED)).toEqual(['from']);
    });

    it('keeps whatsapp: to whatsapp: (unless a Messaging Service sends)', () => {
        expect(errorsOf(sms({ to: 'whatsapp:+15557654321', from: FROM }))).toEqual([
            {
                field: 'from',
                message: 'must be a whatsapp: sender (or use a Messaging Service) for a whatsapp: recipient',
            },
        ]);
        expect(errorsOf(sms({ to: 'whatsapp:+15557654321' }))).toEqual([
            {
                field: 'from',
                message: 'must be a whatsapp: sender (or use a Messaging Service) for a whatsapp: recipient',
            },
        ]);
        expect(errorsOf(sms({ from: 'whatsapp:+15551230000' }))).toEqual([
            { field: 'from', message: 'is a whatsapp: sender, which can only send to a whatsapp: recipient' },
        ]);
        expect(valid(sms({ to: 'whatsapp:+15557654321', messagingServiceSid: SERVICE }))).toMatchObject({
            to: 'whatsapp:+15557654321',
        });
    });

    it('accepts an http(s) status callback', () => {
        expect(valid(sms({ statusCallback: 'http://hooks.example.com/s?a=1' }))).toMatchObject({
            statusCallback: 'http://hooks.example.com/s?a=1',
        });
        for (const statusCallback of ['ftp://hooks.example.com', '/api/status', 'hooks.example.com', 7]) {
            expect(fieldsOf(sms({ statusCallback }))).toEqual(['statusCallback']);
        }
    });

    it('accepts validityPeriod as whole seconds from 1 to 36000', () => {
        expect(valid(sms({ validityPeriod: 1 }))).toMatchObject({ validityPeriod: 1 });
        expect(valid(sms({ validityPeriod: 36000 }))).toMatchObject({ validityPeriod: 36000 });
        expect(errorsOf(sms({ validityPeriod: 0 }))).toEqual([
            { field: 'validityPeriod', message: 'must be 1 to 36000 seconds' },
        ]);
        expect(errorsOf(sms({ validityPeriod: 36001 }))).toEqual([
            { field: 'validityPeriod', message: 'must be 1 to 36000 seconds' },
        ]);
        expect(errorsOf(sms({ validityPeriod: 60.5 }))).toEqual([
            { field: 'validityPeriod', message: 'must be a whole number of seconds' },
        ]);
        expect(errorsOf(sms({ validityPeriod: '60' }))).toEqual([
            { field: 'validityPeriod', message: 'must be a number' },
        ]);
    });

    it('accepts maxPrice as a decimal greater than 0, number or string', () => {
        for (const maxPrice of ['0.05', 0.05, '1', 2, '.5', '10.']) {
            expect(valid(sms({ maxPrice }))).toMatchObject({ maxPrice });
        }
        for (const maxPrice of [0, -1, '0', '0.00', '-0.5', 'abc', '1e3', '', true, null]) {
            expect(errorsOf(sms({ maxPrice }))).toEqual([
                { field: 'maxPrice', message: 'must be a decimal number greater than 0' },
            ]);
        }
    });
});

describe('parseOutbound: call', () => {
    it('accepts every field (with url)', () => {
        const input = {
            type: 'call',
            to: TO,
            from: FROM,
            url: 'http://twimlets.com/message?Message%5B0%5D=Hi',
            statusCallback: 'https://hooks.example.com/call',
            timeout: 30,
            record: false,
            machineDetection: 'Enable',
            id: 'call-key',
        };
        expect(valid(input)).toStrictEqual({ ...input, version: 1 });
        expect(valid(call({ say: 'x', machineDetection: 'DetectMessageEnd' }))).toMatchObject({
            machineDetection: 'DetectMessageEnd',
        });
    });

    it('uses E.164 numbers only', () => {
        for (const to of ['whatsapp:+15557654321', 'client:alice', 'sip:alice@example.com', '5557654321']) {
            expect(errorsOf(call({ to, say: 'x' }))).toEqual([
                {
                    field: 'to',
                    message: 'must be an E.164 phone number: + and 8 to 15 digits, e.g. +15551234567',
                },
            ]);
        }
        expect(fieldsOf(call({ from: 'whatsapp:+15551230000', say: 'x' }))).toEqual(['from']);
    });

    it('needs a caller number: its own or TWILIO_FROM_NUMBER', () => {
        const options = { defaults: { messagingServiceSid: DEFAULT_SERVICE }, defaultVoiceUrl: VOICE_URL };
        expect(errorsOf(call({ say: 'x' }), undefined, options)).toEqual([
            {
                field: 'from',
                message: 'is required: no from is given and TWILIO_FROM_NUMBER is not configured',
            },
        ]);
        expect(valid(call({ say: 'x', from: FROM }), undefined, options)).toMatchObject({ from: FROM });
        expect(parseOutbound(call({ say: 'x' }))).toMatchObject({ ok: true });
    });

    it('takes at most one of url, twiml, say, message, naming the extra ones', () => {
        expect(errorsOf(call({ url: 'https://x.example', say: 'hi' }))).toEqual([
            { field: 'say', message: 'cannot be given with url: give one of url, twiml, say, message' },
        ]);
        expect(fieldsOf(call({ twiml: '<Response/>', say: 'hi', message: ['a'] }))).toEqual([
            'say',
            'message',
        ]);
    });

    it('falls back to the app voice URL, and needs one when the call has no content', () => {
        expect(valid(call())).toStrictEqual({ type: 'call', version: 1, to: TO });
        expect(
            errorsOf(call(), undefined, {
                defaults: { fromNumber: DEFAULT_FROM },
                defaultVoiceUrl: undefined,
            }),
        ).toEqual([
            {
                field: 'url',
                message:
                    'is required: give url, twiml, say or message (the app has no public voice URL to use instead)',
            },
        ]);
    });

    it('checks url', () => {
        for (const url of ['ftp://x.example/t', 'twimlets.com/message', '', 12]) {
            expect(fieldsOf(call({ url }))).toEqual(['url']);
        }
    });

    it('accepts TwiML with a <Response> root, up to 4000 characters', () => {
        for (const twiml of [
            '<Response><Say>Hi</Say></Response>',
            `${XML}\n<Response>\n  <Play>https://x.example/a.mp3</Play>\n</Response>\n`,
            '<Response/>',
            '<Response ></Response>',
        ]) {
            expect(valid(call({ twiml }))).toMatchObject({ twiml });
        }
        const document = `<Response><Say>${'x'.repeat(4000 - 32)}</Say></Response>`;
        expect(document).toHaveLength(4000);
        expect(valid(call({ twiml: document }))).toMatchObject({ type: 'call' });
        expect(errorsOf(call({ twiml: document.replace('<Say>', '<Say>x') }))).toEqual([
            { field: 'twiml', message: 'must be at most 4000 characters (UTF-16 code units)' },
        ]);
        for (const twiml of [
            'Hello',
            '<Say>Hi</Say>',
            '<Response><Say>Hi</Say>',
            '<Responses/>',
            '<response/>',
            '',
        ]) {
            expect(errorsOf(call({ twiml }))).toEqual([
                { field: 'twiml', message: 'must be a TwiML document with a <Response> root element' },
            ]);
        }
    });

    it('checks say and message', () => {
        for (const say of ['', '   ', '\u0000']) {
            expect(errorsOf(call({ say }))).toEqual([{ field: 'say', message: 'must not be empty' }]);
        }
        expect(errorsOf(call({ message: [] }))).toEqual([
            { field: 'message', message: 'must have at least one entry' },
        ]);
        expect(errorsOf(call({ message: Array.from({ length: 21 }, () => 'a') }))).toEqual([
            { field: 'message', message: 'must have at most 20 entries' },
        ]);
        expect(valid(call({ message: Array.from({ length: 20 }, () => 'a') }))).toMatchObject({
            type: 'call',
        });
        expect(errorsOf(call({ message: ['Hi', ' '] }))).toEqual([
            { field: 'message[1]', message: 'must not be empty' },
        ]);
        expect(errorsOf(call({ message: 'Hi' }))).toEqual([
            { field: 'message', message: 'must be an array' },
        ]);
    });

    it('limits the TwiML built from say or message to 4000 characters, on that field', () => {
        const fill = 4000 - sayDocument('').length;
        expect(valid(call({ say: 'a'.repeat(fill) }))).toMatchObject({ type: 'call' });
        expect(errorsOf(call({ say: 'a'.repeat(fill + 1) }))).toEqual([
            { field: 'say', message: 'makes 4001 characters of TwiML; Twilio accepts at most 4000' },
        ]);
        // Escaping counts: 800 ampersands are 4000 characters of TwiML text.
        expect(errorsOf(call({ say: '&'.repeat(800) }))).toEqual([
            {
                field: 'say',
                message: `makes ${sayDocument('&amp;'.repeat(800)).length} characters of TwiML; Twilio accepts at most 4000`,
            },
        ]);
        expect(fieldsOf(call({ message: Array.from({ length: 20 }, () => 'x'.repeat(200)) }))).toEqual([
            'message',
        ]);
    });

    it('checks timeout, record and machineDetection', () => {
        expect(valid(call({ timeout: 5 }))).toMatchObject({ timeout: 5 });
        expect(valid(call({ timeout: 600 }))).toMatchObject({ timeout: 600 });
        expect(errorsOf(call({ timeout: 4 }))).toEqual([
            { field: 'timeout', message: 'must be 5 to 600 seconds' },
        ]);
        expect(errorsOf(call({ timeout: 601 }))).toEqual([
            { field: 'timeout', message: 'must be 5 to 600 seconds' },
        ]);
        expect(errorsOf(call({ timeout: 30.5 }))).toEqual([
            { field: 'timeout', message: 'must be a whole number of seconds' },
        ]);
        expect(errorsOf(call({ record: 'yes' }))).toEqual([
            { field: 'record', message: 'must be true or false' },
        ]);
        for (const machineDetection of ['enable', 'Yes', true]) {
            expect(errorsOf(call({ machineDetection }))).toEqual([
                { field: 'machineDetection', message: 'must be "Enable" or "DetectMessageEnd"' },
            ]);
        }
    });
});

describe('toMessageCreateParams', () => {
    const parsed = (input: Record<string, unknown>) => asSms(valid(input));

    it('maps every field to the client parameters', () => {
        const message = parsed({
            type: 'sms',
            to: TO,
            body: 'Hi',
            mediaUrl: ['https://cdn.example.com/a.png'],
            from: FROM,
            statusCallback: 'https://hooks.example.com/s',
            validityPeriod: 600,
            maxPrice: '0.05',
            id: 'client-key',
        });
        expect(toMessageCreateParams(message, messageContext())).toStrictEqual({
            to: TO,
            from: FROM,
            body: 'Hi',
            mediaUrl: ['https://cdn.example.com/a.png'],
            statusCallback: 'https://hooks.example.com/s',
            validityPeriod: 600,
            maxPrice: 0.05,
        });
    });

    it("defaults the status callback to the app's for the pipeline id, and leaves it out when unknown", () => {
        const message = parsed(sms({ from: FROM }));
        expect(toMessageCreateParams(message, messageContext())).toStrictEqual({
            to: TO,
            from: FROM,
            body: 'hello',
            statusCallback: 'https://app.example.com/api/status?id=msg-1',
        });
        expect(
            toMessageCreateParams(
                message,
                messageContext({}, () => undefined),
            ),
        ).toStrictEqual({
            to: TO,
            from: FROM,
            body: 'hello',
        });
    });

    it('picks the sender: the message, then TWILIO_MESSAGING_SERVICE_SID, then TWILIO_FROM_NUMBER', () => {
        const both = { fromNumber: DEFAULT_FROM, messagingServiceSid: DEFAULT_SERVICE };
        const noCallback = () => undefined;
        const sender = (extra: Record<string, unknown>, defaults: MessageContext['defaults']) => {
            const params = toMessageCreateParams(parsed(sms(extra)), messageContext(defaults, noCallback));
            return { from: params.from, messagingServiceSid: params.messagingServiceSid };
        };
        expect(sender({ from: FROM }, both)).toEqual({ from: FROM });
        expect(sender({ messagingServiceSid: SERVICE }, both)).toEqual({ messagingServiceSid: SERVICE });
        expect(sender({ from: FROM, messagingServiceSid: SERVICE }, both)).toEqual({
            from: FROM,
            messagingServiceSid: SERVICE,
        });
        expect(sender({}, both)).toEqual({ messagingServiceSid: DEFAULT_SERVICE });
        expect(sender({}, { fromNumber: DEFAULT_FROM })).toEqual({ from: DEFAULT_FROM });
        expect(toMessageCreateParams(parsed(sms()), messageContext(both, noCallback))).toStrictEqual({
            to: TO,
            messagingServiceSid: DEFAULT_SERVICE,
            body: 'hello',
        });
    });

    it('throws an OutboundValidationError on from when there is no sender at all', () => {
        const message = asSms(valid(sms()));
        let thrown: unknown;
        try {
            toMessageCreateParams(message, messageContext({}));
        } catch (error) {
            thrown = error;
        }
        expect(thrown).toBeInstanceOf(OutboundValidationError);
        expect((thrown as OutboundValidationError).errors).toEqual([
            {
                field: 'from',
                message:
                    'is required: no from or messagingServiceSid is given and neither TWILIO_MESSAGING_SERVICE_SID nor TWILIO_FROM_NUMBER is configured',
            },
        ]);
    });

    it('sends media without an empty body', () => {
        const message = parsed(sms({ body: '', mediaUrl: ['https://cdn.example.com/a.png'] }));
        expect(
            toMessageCreateParams(
                message,
                messageContext({ fromNumber: DEFAULT_FROM }, () => undefined),
            ),
        ).toStrictEqual({
            to: TO,
            from: DEFAULT_FROM,
            mediaUrl: ['https://cdn.example.com/a.png'],
        });
    });
});

describe('toCallCreateParams', () => {
    const parsed = (input: Record<string, unknown>) => asCall(valid(input));
    const ours = {
        statusCallback: 'https://app.example.com/api/status?id=call-1',
        statusCallbackEvent: ['initiated', 'ringing', 'answered', 'completed'],
    };

    it('maps a url call, requesting every progress event on our status callback', async () => {
        const c = parsed(
            call({
                from: FROM,
                url: 'https://x.example/twiml',
                timeout: 20,
                record: false,
                machineDetection: 'Enable',
            }),
        );
        expect(await toCallCreateParams(c, callContext())).toStrictEqual({
            to: TO,
            from: FROM,
            url: 'https://x.example/twiml',
            ...ours,
            timeout: 20,
            record: false,
            machineDetection: 'Enable',
        });
        expect(CALL_STATUS_EVENTS).toEqual(ours.statusCallbackEvent);
    });

    it("uses the call's own status callback with Twilio's default events, or none when no URL is known", async () => {
        const own = parsed(
            call({ url: 'https://x.example/t', statusCallback: 'https://hooks.example.com/c' }),
        );
        expect(await toCallCreateParams(own, callContext())).toStrictEqual({
            to: TO,
            from: DEFAULT_FROM,
            url: 'https://x.example/t',
            statusCallback: 'https://hooks.example.com/c',
        });
        const plain = parsed(call({ url: 'https://x.example/t' }));
        expect(
            await toCallCreateParams(plain, callContext({ statusCallbackUrl: () => undefined })),
        ).toStrictEqual({
            to: TO,
            from: DEFAULT_FROM,
            url: 'https://x.example/t',
        });
    });

    it('passes TwiML through', async () => {
        const twiml = '<Response><Hangup/></Response>';
        expect(await toCallCreateParams(parsed(call({ twiml })), callContext())).toStrictEqual({
            to: TO,
            from: DEFAULT_FROM,
            twiml,
            ...ours,
        });
    });

    it('turns say into escaped inline TwiML, said even when it looks like a URL', async () => {
        const params = await toCallCreateParams(
            parsed(call({ say: `<Dial>+15551234567</Dial> & "Tom" 'J'` })),
            callContext(),
        );
        expect(params).toStrictEqual({
            to: TO,
            from: DEFAULT_FROM,
            twiml: `${XML}<Response><Say>&lt;Dial&gt;+15551234567&lt;/Dial&gt; &amp; "Tom" 'J'</Say></Response>`,
            ...ours,
        });
        expect(
            (await toCallCreateParams(parsed(call({ say: 'https://x.example/a.mp3' })), callContext())).twiml,
        ).toBe(`${XML}<Response><Say>https://x.example/a.mp3</Say></Response>`);
    });

    it('turns message into twimlets-style TwiML: URLs played, text said, in order', async () => {
        const message = ['Hello <you> & "friends"', 'https://x.example/a.mp3?x=1&y=2', "Bye 'now'\u0007"];
        const params = await toCallCreateParams(parsed(call({ message })), callContext());
        expect(params.twiml).toBe(
            `${XML}<Response><Say>Hello &lt;you&gt; &amp; "friends"</Say><Play>https://x.example/a.mp3?x=1&amp;y=2</Play><Say>Bye 'now'</Say></Response>`,
        );
        // The same document the /api/voice webhook answers for these messages.
        expect(params.twiml).toBe(await voiceTwiml('unused', message));
        // Entries are trimmed, as the webhook trims Message values: a padded URL is still played.
        const padded = await toCallCreateParams(
            parsed(call({ message: ['  https://x.example/a.mp3 '] })),
            callContext(),
        );
        expect(padded.twiml).toBe(`${XML}<Response><Play>https://x.example/a.mp3</Play></Response>`);
    });

    it("uses the app's voice endpoint when the call has no content", async () => {
        expect(await toCallCreateParams(parsed(call({ from: FROM })), callContext())).toStrictEqual({
            to: TO,
            from: FROM,
            url: VOICE_URL,
            ...ours,
        });
    });

    it('accepts inline TwiML of exactly 4000 characters', async () => {
        const say = 'a'.repeat(4000 - sayDocument('').length);
        const params = await toCallCreateParams(parsed(call({ say })), callContext());
        expect(params.twiml).toHaveLength(4000);
    });

    it('rejects with OutboundValidationError what it cannot send', async () => {
        const noContent = asCall(valid(call()));
        await expect(toCallCreateParams(noContent, callContext({ defaults: {} }))).rejects.toMatchObject({
            name: 'OutboundValidationError',
            errors: [
                {
                    field: 'from',
                    message: 'is required: no from is given and TWILIO_FROM_NUMBER is not configured',
                },
            ],
        });
        await expect(
            toCallCreateParams(noContent, callContext({ defaultVoiceUrl: undefined })),
        ).rejects.toBeInstanceOf(OutboundValidationError);
        // Only reachable when the request was not validated; the check still holds.
        const tooLong: CallRequest = { type: 'call', version: 1, to: TO, say: 'a'.repeat(4000) };
        await expect(toCallCreateParams(tooLong, callContext())).rejects.toMatchObject({
            errors: [
                {
                    field: 'say',
                    message: `makes ${sayDocument('a'.repeat(4000)).length} characters of TwiML; Twilio accepts at most 4000`,
                },
            ],
        });
    });
});

describe('summarize', () => {
    it('keeps what the ledger needs, never the body', () => {
        const message = valid(
            sms({
                body: 'secret 😀',
                from: FROM,
                messagingServiceSid: SERVICE,
                mediaUrl: ['https://x.example/a.png'],
            }),
        );
        expect(summarize(message)).toStrictEqual({
            type: 'sms',
            to: TO,
            from: FROM,
            messagingServiceSid: SERVICE,
            bodyLength: 9,
            mediaCount: 1,
        });
        expect(
            summarize(valid({ type: 'sms', to: TO, mediaUrl: ['https://x.example/a.png'] })),
        ).toStrictEqual({
            type: 'sms',
            to: TO,
            mediaCount: 1,
        });
        expect(summarize(valid(call({ say: 'secret', from: FROM })))).toStrictEqual({
            type: 'call',
            to: TO,
            from: FROM,
            mediaCount: 0,
        });
    });
});

describe('a queue item end to end', () => {
    it('decodes base64 JSON, validates it and maps it', () => {
        const item = Buffer.from(JSON.stringify({ type: 'sms', to: TO, body: 'hi', id: 'k1' })).toString(
            'base64',
        );
        const decoded = decodeQueueItem(item);
        if (!decoded.ok) throw new Error(decoded.error);
        const message = asSms(valid(decoded.value));
        expect(
            toMessageCreateParams(message, { ...messageContext({ fromNumber: DEFAULT_FROM }), id: 'k1' }),
        ).toStrictEqual({
            to: TO,
            from: DEFAULT_FROM,
            body: 'hi',
            statusCallback: 'https://app.example.com/api/status?id=k1',
        });
    });
});

describe('bounded validation', () => {
    it('130,000 unknown keys: every one reported, no stack overflow', () => {
        const input: Record<string, unknown> = sms();
        for (let i = 0; i < 130_000; i++) input[`x${String(i)}`] = i;
        const result = parseOutbound(input);
        expect(result.ok).toBe(false);
        if (!result.ok) expect(result.errors).toHaveLength(130_000);
    });

    it('a 5 MB `say` is refused before any TwiML is built', () => {
        const errors = parseOutbound(call({ say: 'a'.repeat(5_000_000) }), undefined, WITH_FROM);
        expect(errors).toEqual({
            ok: false,
            errors: [
                {
                    field: 'say',
                    // The pre-check's wording: the builder's own check would name the exact length.
                    message: 'makes over 4000 characters of TwiML; Twilio accepts at most 4000',
                },
            ],
        });
        const many = parseOutbound(call({ message: Array.from({ length: 20 }, () => 'b'.repeat(250)) }));
        expect(many.ok).toBe(false);
        if (!many.ok) expect(many.errors[0]?.message).toMatch(/^makes over 4000 characters/);
    });

    it('describes field errors for a log with unknown names masked and counted, at most 20 listed', () => {
        const input: Record<string, unknown> = sms({ to: 'nope' });
        input['+15559876543'] = 'x';
        input.secretKey = 'y';
        const result = parseOutbound(input);
        if (result.ok) throw new Error('expected errors');
        const forLog = describeFieldErrors(result.errors, { forLog: true });
        expect(forLog).toMatch(/^to: must be an E\.164 phone number/);
        expect(forLog).toContain('2 unknown fields (');
        expect(forLog).toContain('s***');
        expect(forLog).not.toContain('secretKey');
        expect(forLog).not.toContain('5559876543');
        expect(describeFieldErrors(result.errors)).toContain('secretKey: is not a known field');

        const many = Array.from({ length: 45 }, (_, i) => ({ field: `f${String(i)}`, message: 'bad' }));
        const text = describeFieldErrors(many);
        expect(text.split('; ')).toHaveLength(21);
        expect(text).toMatch(/and 25 more field errors$/);
    });
});

describe('requestFingerprint', () => {
    const parsed = (input: Record<string, unknown>) => {
        const result = parseOutbound(input);
        if (!result.ok) throw new Error(JSON.stringify(result.errors));
        return result.value;
    };

    it('is the same for the same request whatever its key order or id, and differs for any change', () => {
        const a = requestFingerprint(
            parsed(sms({ id: 'a', body: 'hello', mediaUrl: ['https://x.example/1'] })),
        );
        const b = requestFingerprint(
            parsed({ mediaUrl: ['https://x.example/1'], body: 'hello', to: TO, type: 'sms', id: 'b' }),
        );
        expect(a).toMatch(/^v1\.[A-Za-z0-9_-]{43}$/);
        expect(b).toBe(a);
        for (const changed of [
            sms({ body: 'hello!', mediaUrl: ['https://x.example/1'] }),
            sms({ body: 'hello', mediaUrl: ['https://x.example/2'] }),
            sms({ to: '+15557654322', body: 'hello', mediaUrl: ['https://x.example/1'] }),
            sms({ body: 'hello', mediaUrl: ['https://x.example/1'], validityPeriod: 60 }),
        ]) {
            expect(requestFingerprint(parsed(changed))).not.toBe(a);
        }
        expect(requestFingerprint(parsed(call({ say: 'hello' })))).not.toBe(
            requestFingerprint(parsed(sms({ body: 'hello' }))),
        );
    });
});

describe('own recording routes', () => {
    const own: ParseOptions = { ...WITH_FROM, ownBaseUrls: ['https://app.example.com'] };
    const fieldsOrNone = (input: unknown, options: ParseOptions): string[] => {
        const result = parseOutbound(input, undefined, options);
        return result.ok ? [] : result.errors.map((error) => error.field);
    };
    it.each([
        [sms({ body: 'x', statusCallback: 'https://app.example.com/api/status?id=v' }), 'statusCallback'],
        [sms({ mediaUrl: ['https://app.example.com/api/sms'] }), 'mediaUrl[0]'],
        [call({ url: 'https://app.example.com/api/status' }), 'url'],
        [
            call({ twiml: '<Response><Redirect method="POST">/api/status?id=v</Redirect></Response>' }),
            'twiml',
        ],
        [
            call({
                twiml: '<Response><Dial action="/api/sms"><Number>+15551112222</Number></Dial></Response>',
            }),
            'twiml',
        ],
        [
            call({ twiml: '<Response><Play>h&#x74;tps://app.example.com/api/status</Play></Response>' }),
            'twiml',
        ],
    ])('refuses %j on %s; allowed without the app origin', (input, field) => {
        expect(fieldsOrNone(input, own)).toEqual([field]);
        expect(fieldsOrNone(input, WITH_FROM)).toEqual([]);
    });

    it('keeps the TwiML routes valid', () => {
        expect(fieldsOrNone(call({ url: 'https://app.example.com/api/voice?Message=hi' }), own)).toEqual([]);
        expect(
            fieldsOrNone(
                call({
                    twiml: '<Response><Redirect>https://app.example.com/api/voice</Redirect></Response>',
                }),
                own,
            ),
        ).toEqual([]);
    });
});

describe('decodeQueueItem on large input', () => {
    it('5 MB of base64-looking text is read linearly, without a regexp stack overflow', () => {
        expect(decodeQueueItem('x'.repeat(5_000_000))).toEqual({
            ok: false,
            error: 'the queue item is base64, but what it encodes is not JSON text',
        });
        expect(decodeQueueItem(`${'x'.repeat(4_999_999)}!`)).toEqual({
            ok: false,
            error: 'the queue item is neither JSON nor base64-encoded JSON',
        });
    });
});
