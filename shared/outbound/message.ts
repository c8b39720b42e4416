/**
 * The outbound message — an SMS/MMS or a call to place — as it travels on the outbound queue and arrives
 * at the HTTP API: one versioned JSON schema, validated with zod, and its mapping to the `twilio`
 * client's create parameters.
 *
 * Loading: zod costs ~30 ms to load and the TwiML builders pull in an XML library, so neither is loaded
 * when this module is imported: zod on the first {@link parseOutbound}, the builders on the first call
 * with `say` / `message` (both with a synchronous `require`, so the API stays synchronous). The `twilio`
 * types are type-only imports. Still, only the outbound paths (the queue and HTTP-API functions) should
 * import this module.
 *
 * Schema (version 1; `"version": 1` is optional, any other version is rejected):
 *
 * - `{"type":"sms","to","body","mediaUrl":[…],"from","messagingServiceSid","statusCallback",
 *   "validityPeriod","maxPrice","id"}`
 * - `{"type":"call","to","from", at most one of "url" | "twiml" | "say" | "message":[…], "statusCallback",
 *   "timeout","record","machineDetection","id"}`
 *
 * Decisions:
 * - Lengths are counted in UTF-16 code units (`String.length`): never fewer than the characters Twilio
 *   counts, so nothing accepted here is over Twilio's limit (an emoji counts as 2).
 * - Phone numbers are E.164: `+`, then 8 to 15 digits, the first 1–9. For SMS, `to` and `from` may also be
 *   WhatsApp addresses (`whatsapp:+15551234567`); a WhatsApp recipient needs a WhatsApp `from` (or a
 *   Messaging Service) and the other way round. Alphanumeric sender IDs and short codes are not accepted as
 *   `from`: send those through a Messaging Service. Calls use E.164 numbers only.
 * - SMS sender precedence: the message's own `from` and/or `messagingServiceSid` (both are passed when
 *   both are given: a specific sender from the service's pool); otherwise `TWILIO_MESSAGING_SERVICE_SID`;
 *   otherwise `TWILIO_FROM_NUMBER`. Calls use the message's `from`, else `TWILIO_FROM_NUMBER`.
 * - A missing sender is an error on `from`: reported by {@link parseOutbound} when it is given the
 *   configured defaults ({@link ParseOptions}), and otherwise thrown by {@link toMessageCreateParams} /
 *   {@link toCallCreateParams} as an {@link OutboundValidationError}, which shared/outbound/sendErrors.ts
 *   classifies as permanent (the message fails, it is not retried). The same holds for a call that needs
 *   the app's voice URL when none is known (error on `url`).
 * - `body` or at least one `mediaUrl` is required (a body of only whitespace does not count); the error is
 *   on `body`. Media URLs are https only, at most 10.
 * - `validityPeriod` is 1–36000 seconds, the range Twilio documents now (errors 21624 / 90007, and the
 *   SDK's own parameter docs; 14400 was the old maximum). `maxPrice` (a decimal > 0, number or string) is
 *   passed on as a number, but Twilio has ignored it since 2024-06-03.
 * - A call without `url`, `twiml`, `say` or `message` runs the app's own voice endpoint
 *   (`defaultVoiceUrl`). `say` and `message` become inline TwiML built with twilio's VoiceResponse builder
 *   (text escaped, characters XML cannot carry dropped, as shared/platform/twiml.ts does), which like `twiml` must
 *   stay within Twilio's 4000 characters (the error names `say` or `message`). `twiml` is checked
 *   minimally: one `<Response>` root element, optionally after an XML declaration.
 * - Errors name the field as a path (`to`, `mediaUrl[2]`); `(message)` is the message as a whole.
 */

import type { z } from 'zod';
import type { CallListInstanceCreateOptions } from 'twilio/lib/rest/api/v2010/account/call';
import type { MessageListInstanceCreateOptions } from 'twilio/lib/rest/api/v2010/account/message';
import type VoiceResponse from 'twilio/lib/twiml/VoiceResponse';
import { createHash } from 'node:crypto';
import { pointsAtRecordingRoute, RECORDING_ROUTES, ROUTE_PREFIX } from '../platform/routes';
import { toXmlText } from '../platform/twiml';

export type { CallListInstanceCreateOptions, MessageListInstanceCreateOptions };

/** The schema version this module writes and accepts. */
export const OUTBOUND_MESSAGE_VERSION = 1;
/** Twilio's limit on a message body. */
export const MAX_BODY_LENGTH = 1600;
/** Twilio's limit on media URLs per message. */
export const MAX_MEDIA_URLS = 10;
/** Twilio's limit on a call's inline TwiML (`Twiml`). */
export const MAX_TWIML_LENGTH = 4000;
/** At most this many entries in a call's `message`. */
export const MAX_CALL_MESSAGES = 20;
/** The call progress events requested when the status callback is the app's own. */
export const CALL_STATUS_EVENTS: readonly string[] = ['initiated', 'ringing', 'answered', 'completed'];
/** The field name for the message as a whole. */
export const WHOLE_MESSAGE = '(message)';
/** At most this many field errors are reported for one request; the rest are counted. */
export const MAX_REPORTED_ERRORS = 20;
/** The message of an error about a field the schema does not have. */
export const UNKNOWN_FIELD = 'is not a known field';

export interface SmsRequest {
    type: 'sms';
    version: 1;
    /** The client's idempotency key. */
    id?: string;
    to: string;
    body?: string;
    mediaUrl?: string[];
    from?: string;
    messagingServiceSid?: string;
    statusCallback?: string;
    validityPeriod?: number;
    /** Obsolete at Twilio (ignored since 2024-06-03); passed on as a number. */
    maxPrice?: number | string;
    /** Set by the HTTP API: {@link requestFingerprint} of the request it accepted. */
    fingerprint?: string;
}

export interface CallRequest {
    type: 'call';
    version: 1;
    /** The client's idempotency key. */
    id?: string;
    to: string;
    from?: string;
    /** At most one of `url`, `twiml`, `say`, `message`; none means the app's own voice endpoint. */
    url?: string;
    twiml?: string;
    say?: string;
    /** Twimlets-style: an http(s) URL is played, any other text is said. */
    message?: string[];
    statusCallback?: string;
    timeout?: number;
    record?: boolean;
    machineDetection?: 'Enable' | 'DetectMessageEnd';
    /** Set by the HTTP API: {@link requestFingerprint} of the request it accepted. */
    fingerprint?: string;
}

export type OutboundRequest = SmsRequest | CallRequest;
export type OutboundKind = OutboundRequest['type'];

export interface FieldError {
    /** The field at fault, e.g. `to`, `mediaUrl[2]`; `(message)` for the message as a whole. */
    field: string;
    message: string;
}

export type ParseResult = { ok: true; value: OutboundRequest } | { ok: false; errors: FieldError[] };
export type DecodeResult = { ok: true; value: unknown } | { ok: false; error: string };

/** `TWILIO_FROM_NUMBER` and `TWILIO_MESSAGING_SERVICE_SID`, when configured. */
export interface SenderDefaults {
    fromNumber?: string | undefined;
    messagingServiceSid?: string | undefined;
}

/**
 * What the app is configured with. When given to {@link parseOutbound}, a message that names no sender
 * and has no default is rejected on `from`, and a call that needs the app's voice URL when none is known
 * is rejected on `url`.
 */
export interface ParseOptions {
    defaults: SenderDefaults;
    /** The app's own voice endpoint, for calls without url/twiml/say/message; `undefined` when unknown. */
    defaultVoiceUrl: string | undefined;
    /**
     * The app's own public base URLs: a status callback, call URL, media URL or URL in inline TwiML that
     * points at one of their ledger-recording routes (shared/platform/routes.ts) is refused.
     */
    ownBaseUrls?: readonly string[];
}

export interface MessageContext {
    /** The pipeline's id for this message (the status callback carries it). */
    id: string;
    defaults: SenderDefaults;
    /** The app's status callback URL for an id (`…/api/status?id=<id>`), `undefined` when no public URL is known. */
    statusCallbackUrl: (id: string) => string | undefined;
}

export interface CallContext {
    id: string;
    defaults: Pick<SenderDefaults, 'fromNumber'>;
    /** The app's own voice endpoint, used when the call has no url/twiml/say/message. */
    defaultVoiceUrl: string | undefined;
    statusCallbackUrl: (id: string) => string | undefined;
}

/** What the ledger keeps about a request: never the body or the TwiML. */
export interface OutboundSummary {
    type: OutboundKind;
    to: string;
    from?: string;
    messagingServiceSid?: string;
    bodyLength?: number;
    mediaCount: number;
}

/**
 * A request that cannot be turned into Twilio parameters with the configuration at hand (no sender, no
 * voice URL, inline TwiML too long). Thrown by the `to…CreateParams` functions; permanent: sending it
 * again cannot succeed. The message names fields and settings only, never values.
 */
export class OutboundValidationError extends Error {
    override readonly name = 'OutboundValidationError';
    readonly errors: readonly FieldError[];

    constructor(errors: readonly FieldError[]) {
        super(`Invalid outbound request: ${errors.map((e) => `${e.field} ${e.message}`).join('; ')}`);
        this.errors = errors;
    }
}

// ---------------------------------------------------------------------------------------------------
// Queue items

// The alphabet with at most two `=` at the end, and a length that is a multiple of 4: a grouped pattern
// such as `(?:[…]{4})*` backtracks on megabytes of text until V8's regexp stack overflows.
const BASE64_ALPHABET = /^[A-Za-z0-9+/]*={0,2}$/;
const isBase64 = (text: string): boolean => text.length % 4 === 0 && BASE64_ALPHABET.test(text);

/**
 * The JSON value carried by a queue item. The host runs with `messageEncoding: "none"`, so the item is
 * an object (the host parsed the JSON), a string of JSON text (the v12 SDKs, `az storage message put`)
 * or a string of base64-encoded JSON (the Functions output binding, older SDKs); a Buffer is read as
 * UTF-8 text. JSON text is tried first: base64 of a JSON object starts with `e`, which no JSON text
 * does, so the two cannot be confused. The error never quotes the item.
 */
export function decodeQueueItem(item: unknown): DecodeResult {
    if (typeof item === 'object' && item !== null && !Buffer.isBuffer(item)) return { ok: true, value: item };
    let text: string;
    if (typeof item === 'string') text = item;
    else if (Buffer.isBuffer(item)) text = item.toString('utf8');
    else {
        const what = item === null ? 'null' : typeof item;
        return { ok: false, error: `the queue item is ${what}, not a JSON message` };
    }

    text = text.trim();
    if (text === '') return { ok: false, error: 'the queue item is empty' };
    const json = parseJson(text);
    if (json !== undefined) return { ok: true, value: json.value };
    const compact = text.replace(/\s+/g, '');
    if (isBase64(compact)) {
        const decoded = decodeUtf8(Buffer.from(compact, 'base64'));
        const inner = decoded === undefined ? undefined : parseJson(decoded.trim());
        if (inner !== undefined) return { ok: true, value: inner.value };
        return { ok: false, error: 'the queue item is base64, but what it encodes is not JSON text' };
    }
    return { ok: false, error: 'the queue item is neither JSON nor base64-encoded JSON' };
}

function parseJson(text: string): { value: unknown } | undefined {
    try {
        return { value: JSON.parse(text) as unknown };
    } catch {
        return undefined;
    }
}

function decodeUtf8(bytes: Buffer): string | undefined {
    try {
        return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
        return undefined;
    }
}

// ---------------------------------------------------------------------------------------------------
// Validation

const E164 = /^\+[1-9]\d{7,14}$/;
const WHATSAPP_E164 = /^whatsapp:\+[1-9]\d{7,14}$/;
const MESSAGING_SERVICE_SID = /^MG[0-9a-fA-F]{32}$/;
const CLIENT_ID = /^[A-Za-z0-9._~:-]{1,200}$/;
const DECIMAL = /^(?:\d+(?:\.\d*)?|\.\d+)$/;
const FINGERPRINT = /^v1\.[A-Za-z0-9_-]{43}$/;
const TWIML_DOCUMENT = /^\s*(?:<\?xml\s[^>]*\?>\s*)?<Response(?:\s[^>]*)?(?:\/>|>[\s\S]*<\/Response>)\s*$/;
/** As shared/platform/twiml.ts `voiceTwiml`: a message that is an http(s) URL is played, anything else said. */
const URL_TO_PLAY = /^https?:\/\/\S+$/i;

const MSG_E164 = 'must be an E.164 phone number: + and 8 to 15 digits, e.g. +15551234567';
const MSG_SMS_ADDRESS = `${MSG_E164}, or whatsapp:+<E.164>`;
const MSG_NO_SENDER =
    'is required: no from or messagingServiceSid is given and neither TWILIO_MESSAGING_SERVICE_SID nor TWILIO_FROM_NUMBER is configured';
const MSG_NO_CALLER = 'is required: no from is given and TWILIO_FROM_NUMBER is not configured';
const MSG_NO_VOICE_URL =
    'is required: give url, twiml, say or message (the app has no public voice URL to use instead)';

function isUrl(value: string, protocols: readonly string[]): boolean {
    if (!URL.canParse(value)) return false;
    const url = new URL(value);
    return protocols.includes(url.protocol) && url.hostname !== '';
}
const isHttpsUrl = (value: string): boolean => isUrl(value, ['https:']);
const isHttpUrl = (value: string): boolean => isUrl(value, ['https:', 'http:']);
const isPositiveDecimal = (value: number | string): boolean =>
    typeof value === 'number'
        ? Number.isFinite(value) && value > 0
        : DECIMAL.test(value) && Number(value) > 0;
const isBlank = (value: string): boolean => toXmlText(value).trim() === '';
const isSmsAddress = (value: string): boolean => E164.test(value) || WHATSAPP_E164.test(value);

// What each refinement checks, as JSON Schema for the API's OpenAPI document (shared/api/openapi.ts): a
// refinement is a function, which z.toJSONSchema cannot see into. Each is as strict as the check or
// looser, never stricter on a value the check accepts, except as test/shared/api/openapi.test.ts
// lists. Metadata only: validation is the refinement's.
const SMS_ADDRESS_SCHEMA = { pattern: `^(?:whatsapp:)?${E164.source.slice(1)}` };
const HTTP_URL_SCHEMA = { format: 'uri', pattern: '^[Hh][Tt][Tt][Pp][Ss]?://[^/?#\\s]' };
const HTTPS_URL_PATTERN = '^[Hh][Tt][Tt][Pp][Ss]://[^/?#\\s]';
const NOT_BLANK_SCHEMA = { pattern: '\\S' };

function buildSchemas(zod: typeof z) {
    const common = {
        type: zod.unknown().optional(), // checked before the schema is chosen
        version: zod
            .literal(OUTBOUND_MESSAGE_VERSION, { error: 'is not supported: only version 1 is' })
            .optional(),
        id: zod
            .string()
            .regex(CLIENT_ID, { error: 'must be 1 to 200 characters of A-Z a-z 0-9 . _ ~ : -' })
            .optional(),
        statusCallback: zod
            .string()
            .refine(isHttpUrl, { error: 'must be an http(s) URL' })
            .meta(HTTP_URL_SCHEMA)
            .optional(),
        fingerprint: zod
            .string()
            .regex(FINGERPRINT, { error: 'must be a fingerprint written by the HTTP API' })
            .optional(),
    };
    const seconds = (min: number, max: number) =>
        zod
            .number()
            .int({ error: 'must be a whole number of seconds' })
            .min(min, { error: `must be ${min} to ${max} seconds` })
            .max(max, { error: `must be ${min} to ${max} seconds` });
    const sms = zod.strictObject({
        ...common,
        to: zod.string().refine(isSmsAddress, { error: MSG_SMS_ADDRESS }).meta(SMS_ADDRESS_SCHEMA),
        body: zod
            .string()
            // Not .max(): zod counts code points, Twilio's limit is checked here in UTF-16 code units.
            .refine((v) => v.length <= MAX_BODY_LENGTH, {
                error: `must be at most ${MAX_BODY_LENGTH} characters (UTF-16 code units)`,
            })
            .meta({ maxLength: MAX_BODY_LENGTH })
            .optional(),
        mediaUrl: zod
            .array(
                zod
                    .string()
                    .refine(isHttpsUrl, { error: 'must be an https URL' })
                    .meta({ format: 'uri', pattern: HTTPS_URL_PATTERN }),
            )
            .max(MAX_MEDIA_URLS, { error: `must have at most ${MAX_MEDIA_URLS} URLs` })
            .optional(),
        from: zod
            .string()
            .refine(isSmsAddress, { error: MSG_SMS_ADDRESS })
            .meta(SMS_ADDRESS_SCHEMA)
            .optional(),
        messagingServiceSid: zod
            .string()
            .regex(MESSAGING_SERVICE_SID, { error: 'must be a Messaging Service SID: MG and 32 hex digits' })
            .optional(),
        validityPeriod: seconds(1, 36000).optional(),
        maxPrice: zod
            .union([zod.number(), zod.string()], { error: 'must be a decimal number greater than 0' })
            .refine(isPositiveDecimal, { error: 'must be a decimal number greater than 0' })
            .meta({
                anyOf: [
                    { type: 'number', minimum: 0 },
                    { type: 'string', pattern: DECIMAL.source },
                ],
            })
            .optional(),
    });
    const call = zod.strictObject({
        ...common,
        to: zod.string().regex(E164, { error: MSG_E164 }),
        from: zod.string().regex(E164, { error: MSG_E164 }).optional(),
        url: zod
            .string()
            .refine(isHttpUrl, { error: 'must be an http(s) URL' })
            .meta(HTTP_URL_SCHEMA)
            .optional(),
        twiml: zod
            .string()
            .refine((v) => v.length <= MAX_TWIML_LENGTH, {
                error: `must be at most ${MAX_TWIML_LENGTH} characters (UTF-16 code units)`,
                abort: true,
            })
            .regex(TWIML_DOCUMENT, { error: 'must be a TwiML document with a <Response> root element' })
            .meta({ maxLength: MAX_TWIML_LENGTH })
            .optional(),
        say: zod
            .string()
            .refine((v) => !isBlank(v), { error: 'must not be empty' })
            .meta(NOT_BLANK_SCHEMA)
            .optional(),
        message: zod
            .array(
                zod
                    .string()
                    .refine((v) => !isBlank(v), { error: 'must not be empty' })
                    .meta(NOT_BLANK_SCHEMA),
            )
            .min(1, { error: 'must have at least one entry' })
            .max(MAX_CALL_MESSAGES, { error: `must have at most ${MAX_CALL_MESSAGES} entries` })
            .optional(),
        timeout: seconds(5, 600).optional(),
        record: zod.boolean().optional(),
        machineDetection: zod
            .enum(['Enable', 'DetectMessageEnd'], { error: 'must be "Enable" or "DetectMessageEnd"' })
            .optional(),
    });
    return { sms, call };
}

let schemas: ReturnType<typeof buildSchemas> | undefined;

/** zod and the schemas, loaded on first use. */
function loadSchemas(): ReturnType<typeof buildSchemas> {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use, not at cold start
    schemas ??= buildSchemas((require('zod') as { z: typeof z }).z);
    return schemas;
}

/**
 * The zod schemas of an SMS and of a call request (before the rules across fields), loaded on first use:
 * what shared/api/openapi.ts turns into the API's request schemas, so the document is the validation's.
 */
export function outboundSchemas(): ReturnType<typeof buildSchemas> {
    return loadSchemas();
}

const TYPE_NAMES: Readonly<Record<string, string>> = {
    string: 'a string',
    number: 'a number',
    boolean: 'true or false',
    array: 'an array',
};

function fieldPath(path: readonly PropertyKey[]): string {
    let field = '';
    for (const segment of path) {
        if (typeof segment === 'number') field += `[${segment}]`;
        else field += field === '' ? String(segment) : `.${String(segment)}`;
    }
    return field === '' ? WHOLE_MESSAGE : field;
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
    let value = input;
    for (const segment of path) {
        if (typeof value !== 'object' || value === null) return undefined;
        value = (value as Record<PropertyKey, unknown>)[segment];
    }
    return value;
}

/** One error per field: the first issue zod raised for it (a length check also runs on a wrong type). */
function toFieldErrors(issues: readonly z.core.$ZodIssue[], input: unknown): FieldError[] {
    const errors: FieldError[] = [];
    const seen = new Set<string>();
    for (const issue of issues) {
        if (issue.code !== 'unrecognized_keys') {
            const field = fieldPath(issue.path);
            if (seen.has(field)) continue;
            seen.add(field);
        }
        if (issue.code === 'unrecognized_keys') {
            for (const key of issue.keys) {
                errors.push({ field: fieldPath([...issue.path, key]), message: UNKNOWN_FIELD });
            }
        } else if (issue.code === 'invalid_type' && valueAt(input, issue.path) === undefined) {
            errors.push({ field: fieldPath(issue.path), message: 'is required' });
        } else if (issue.code === 'invalid_type' && TYPE_NAMES[issue.expected] !== undefined) {
            errors.push({
                field: fieldPath(issue.path),
                message: `must be ${TYPE_NAMES[issue.expected] ?? ''}`,
            });
        } else {
            // Every other check carries its own message (above).
            errors.push({ field: fieldPath(issue.path), message: issue.message });
        }
    }
    return errors;
}

function isRecord(value: unknown): value is Record<string, unknown> {
    return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Validates an outbound request (a decoded queue item, or an HTTP API body). Every problem is reported,
 * each naming its field.
 *
 * @param kind set by the HTTP API (`sms` for POST /api/messages, `call` for POST /api/calls): `type` may
 *   then be omitted, and any other `type` is an error on `type`. Without it, `type` is required.
 * @param options the configured senders and voice URL: with them, a request that names no sender (or a
 *   call that needs the app's voice URL) is rejected here on `from` (`url`); without them those checks are
 *   left to {@link toMessageCreateParams} / {@link toCallCreateParams}.
 */
export function parseOutbound(input: unknown, kind?: OutboundKind, options?: ParseOptions): ParseResult {
    if (!isRecord(input))
        return { ok: false, errors: [{ field: WHOLE_MESSAGE, message: 'must be a JSON object' }] };

    const errors: FieldError[] = [];
    const type = resolveKind(input.type, kind, errors);
    if (type === undefined) return { ok: false, errors };

    const { sms, call } = loadSchemas();
    const parsed = type === 'sms' ? sms.safeParse(input) : call.safeParse(input);
    const flagged = new Set<string>();
    if (!parsed.success) {
        // Appended one by one: spreading a hundred thousand unknown-key errors into push() would overflow
        // the call stack.
        for (const error of toFieldErrors(parsed.error.issues, input)) errors.push(error);
        for (const issue of parsed.error.issues) {
            const [head] = issue.path;
            if (typeof head === 'string') flagged.add(head);
        }
    }
    // The rules across fields, applied to the fields that are valid on their own.
    const valid = (name: string): boolean => !flagged.has(name);
    for (const error of type === 'sms' ? smsRules(input, valid, options) : callRules(input, valid, options)) {
        errors.push(error);
    }

    if (!parsed.success || errors.length > 0) return { ok: false, errors };
    const value = { ...parsed.data, type, version: OUTBOUND_MESSAGE_VERSION } as OutboundRequest;
    return { ok: true, value };
}

function resolveKind(
    type: unknown,
    kind: OutboundKind | undefined,
    errors: FieldError[],
): OutboundKind | undefined {
    if (kind !== undefined) {
        if (type !== undefined && type !== kind) {
            errors.push({ field: 'type', message: `must be "${kind}" here (or left out)` });
        }
        return kind;
    }
    if (type === 'sms' || type === 'call') return type;
    errors.push({
        field: 'type',
        message: type === undefined ? 'is required: "sms" or "call"' : 'must be "sms" or "call"',
    });
    return undefined;
}

type Validity = (name: string) => boolean;
const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

function smsRules(
    input: Record<string, unknown>,
    valid: Validity,
    options: ParseOptions | undefined,
): FieldError[] {
    const errors: FieldError[] = [];
    if (valid('body') && valid('mediaUrl')) {
        const body = str(input.body);
        const hasMedia = Array.isArray(input.mediaUrl) && input.mediaUrl.length > 0;
        if (!hasMedia && (body === undefined || body.trim() === '')) {
            errors.push({ field: 'body', message: 'is required: give a body or at least one mediaUrl' });
        }
    }
    const own = options?.ownBaseUrls ?? [];
    if (valid('statusCallback'))
        errors.push(...ownRouteErrors('statusCallback', [str(input.statusCallback)], own));
    if (valid('mediaUrl') && Array.isArray(input.mediaUrl)) {
        input.mediaUrl.forEach((url: unknown, index) => {
            errors.push(...ownRouteErrors(`mediaUrl[${String(index)}]`, [str(url)], own));
        });
    }
    if (!valid('from') || !valid('messagingServiceSid')) return errors;

    const from = str(input.from);
    const service = str(input.messagingServiceSid);
    const sender =
        options === undefined && from === undefined && service === undefined
            ? undefined // no defaults known: toMessageCreateParams decides
            : smsSender(from, service, options?.defaults ?? {});
    if (sender === undefined && options !== undefined) errors.push({ field: 'from', message: MSG_NO_SENDER });

    const to = valid('to') ? str(input.to) : undefined;
    if (to !== undefined && sender?.from !== undefined && sender.messagingServiceSid === undefined) {
        const toWhatsApp = to.startsWith('whatsapp:');
        if (toWhatsApp !== sender.from.startsWith('whatsapp:')) {
            errors.push({
                field: 'from',
                message: toWhatsApp
                    ? 'must be a whatsapp: sender (or use a Messaging Service) for a whatsapp: recipient'
                    : 'is a whatsapp: sender, which can only send to a whatsapp: recipient',
            });
        }
    }
    return errors;
}

const CALL_CONTENT = ['url', 'twiml', 'say', 'message'] as const;

function callRules(
    input: Record<string, unknown>,
    valid: Validity,
    options: ParseOptions | undefined,
): FieldError[] {
    const errors: FieldError[] = [];
    if (options !== undefined && input.from === undefined && options.defaults.fromNumber === undefined) {
        errors.push({ field: 'from', message: MSG_NO_CALLER });
    }
    const given = CALL_CONTENT.filter((name) => input[name] !== undefined);
    for (const extra of given.slice(1)) {
        errors.push({
            field: extra,
            message: `cannot be given with ${given[0] ?? ''}: give one of url, twiml, say, message`,
        });
    }
    if (options !== undefined && given.length === 0 && options.defaultVoiceUrl === undefined) {
        errors.push({ field: 'url', message: MSG_NO_VOICE_URL });
    }
    const own = options?.ownBaseUrls ?? [];
    if (valid('statusCallback'))
        errors.push(...ownRouteErrors('statusCallback', [str(input.statusCallback)], own));
    if (valid('url')) errors.push(...ownRouteErrors('url', [str(input.url)], own));
    const twimlText = valid('twiml') ? str(input.twiml) : undefined;
    if (twimlText !== undefined) errors.push(...ownRouteErrors('twiml', urlsInTwiml(twimlText, own), own));
    if (given.length === 1) {
        const say = valid('say') ? str(input.say) : undefined;
        const message = valid('message') ? input.message : undefined;
        const messages = Array.isArray(message)
            ? message.filter((m): m is string => typeof m === 'string')
            : undefined;
        const texts = say !== undefined ? [say] : (messages ?? []);
        // Escaping only lengthens text, so what is kept of it bounds the TwiML from below: a long `say` is
        // refused before twilio's builder makes several times its size of XML.
        const kept = texts.reduce((sum, text) => sum + toXmlText(text).trim().length, 0);
        if (kept > MAX_TWIML_LENGTH) {
            errors.push({ field: given[0] ?? '', message: tooMuchTwiml(kept, 'over') });
        } else if (say !== undefined || messages !== undefined) {
            const twiml = inlineTwiml(say, messages);
            if (twiml.length > MAX_TWIML_LENGTH) {
                errors.push({ field: given[0] ?? '', message: tooMuchTwiml(twiml.length) });
            }
        }
    }
    return errors;
}

const tooMuchTwiml = (length: number, over?: 'over'): string =>
    `makes ${over === undefined ? String(length) : `over ${String(MAX_TWIML_LENGTH)}`} characters of TwiML; Twilio accepts at most ${String(MAX_TWIML_LENGTH)}`;

const MSG_RECORDING_ROUTE = `must not point at this app's ${RECORDING_ROUTES.map((route) => `/${ROUTE_PREFIX}/${route}`).join(' or ')}: Twilio's requests there are recorded in the ledger`;

/** An error on `field` when any of `urls` points at one of the app's ledger-recording routes. */
function ownRouteErrors(
    field: string,
    urls: readonly (string | undefined)[],
    ownBaseUrls: readonly string[],
): FieldError[] {
    const hit = urls.some((url) => url !== undefined && pointsAtRecordingRoute(url, ownBaseUrls));
    return hit ? [{ field, message: MSG_RECORDING_ROUTE }] : [];
}

const XML_ENTITY = /&(?:#x([0-9a-f]{1,6})|#(\d{1,7})|(amp|lt|gt|quot|apos));/gi;
const NAMED_ENTITIES: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/**
 * The URLs a TwiML document can make Twilio request: absolute http(s) URLs anywhere in it, and values
 * that start with `/` (relative or scheme-relative), resolved against each of the app's base URLs. Entities
 * are decoded first, so `h&#116;tp://…` is seen as what Twilio would read. Linear in the document.
 */
function urlsInTwiml(twiml: string, ownBaseUrls: readonly string[]): string[] {
    const text = twiml.replace(XML_ENTITY, (entity, hex?: string, decimal?: string, name?: string) => {
        const code =
            hex !== undefined ? parseInt(hex, 16) : decimal !== undefined ? Number(decimal) : undefined;
        if (code !== undefined) return code <= 0x10ffff ? String.fromCodePoint(code) : entity;
        return NAMED_ENTITIES[(name ?? '').toLowerCase()] ?? entity;
    });
    const urls: string[] = [...(text.match(/https?:\/\/[^\s"'<>]+/gi) ?? [])];
    for (const match of text.matchAll(/(?:=\s*["']|>)\s*(\/[^\s"'<>]*)/g)) {
        const path = match[1] ?? '';
        for (const base of ownBaseUrls) {
            if (URL.canParse(path, `${base}/`)) urls.push(new URL(path, `${base}/`).href);
        }
    }
    return urls;
}

let voiceResponse: typeof VoiceResponse | undefined;

/**
 * The TwiML for `say` (said as given, even when it looks like a URL) or `message` (each entry played
 * when it is an http(s) URL, else said), built with twilio's VoiceResponse builder, loaded on first use.
 */
function inlineTwiml(say: string | undefined, messages: readonly string[] | undefined): string {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use, not at cold start
    voiceResponse ??= require('twilio/lib/twiml/VoiceResponse') as typeof VoiceResponse; // module.exports = class
    const response = new voiceResponse();
    if (say !== undefined) response.say(toXmlText(say));
    for (const message of say === undefined ? (messages ?? []) : []) {
        const text = message.trim(); // as the webhook trims twimlets `Message` values
        if (URL_TO_PLAY.test(text)) response.play(toXmlText(text));
        else response.say(toXmlText(text));
    }
    return response.toString();
}

// ---------------------------------------------------------------------------------------------------
// Twilio create parameters

function smsSender(
    from: string | undefined,
    messagingServiceSid: string | undefined,
    defaults: SenderDefaults,
): { from?: string; messagingServiceSid?: string } | undefined {
    if (from !== undefined || messagingServiceSid !== undefined) {
        return {
            ...(from === undefined ? {} : { from }),
            ...(messagingServiceSid === undefined ? {} : { messagingServiceSid }),
        };
    }
    if (defaults.messagingServiceSid !== undefined)
        return { messagingServiceSid: defaults.messagingServiceSid };
    if (defaults.fromNumber !== undefined) return { from: defaults.fromNumber };
    return undefined;
}

/**
 * The parameters for `client.messages.create(...)`. Sender: the message's `from` / `messagingServiceSid`,
 * else the default Messaging Service, else the default number. Status callback: the message's own, else
 * the app's for `context.id` (none when no public URL is known).
 *
 * @throws OutboundValidationError (on `from`) when there is no sender.
 */
export function toMessageCreateParams(
    message: SmsRequest,
    context: MessageContext,
): MessageListInstanceCreateOptions {
    const sender = smsSender(message.from, message.messagingServiceSid, context.defaults);
    if (sender === undefined) throw new OutboundValidationError([{ field: 'from', message: MSG_NO_SENDER }]);
    const params: MessageListInstanceCreateOptions = { to: message.to, ...sender };
    if (message.body !== undefined && message.body !== '') params.body = message.body;
    if (message.mediaUrl !== undefined && message.mediaUrl.length > 0)
        params.mediaUrl = [...message.mediaUrl];
    const statusCallback = message.statusCallback ?? context.statusCallbackUrl(context.id);
    if (statusCallback !== undefined) params.statusCallback = statusCallback;
    if (message.validityPeriod !== undefined) params.validityPeriod = message.validityPeriod;
    if (message.maxPrice !== undefined) params.maxPrice = Number(message.maxPrice);
    return params;
}

/**
 * The parameters for `client.calls.create(...)`: `url` (the call's own, or the app's voice endpoint) or
 * `twiml` (given, or built from `say` / `message`). With the app's own status callback every progress
 * event is requested; with the call's own, Twilio's default (`completed` only) applies.
 *
 * Asynchronous so that the TwiML builders may be loaded lazily; rejects with an
 * {@link OutboundValidationError} when there is no caller number (`from`), no voice URL (`url`), or the
 * inline TwiML is over 4000 characters (`say` / `message`).
 */
export function toCallCreateParams(
    call: CallRequest,
    context: CallContext,
): Promise<CallListInstanceCreateOptions> {
    try {
        return Promise.resolve(callParams(call, context));
    } catch (error) {
        return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
}

function callParams(call: CallRequest, context: CallContext): CallListInstanceCreateOptions {
    const from = call.from ?? context.defaults.fromNumber;
    if (from === undefined) throw new OutboundValidationError([{ field: 'from', message: MSG_NO_CALLER }]);
    const params: CallListInstanceCreateOptions = { to: call.to, from };

    if (call.url !== undefined) params.url = call.url;
    else if (call.twiml !== undefined) params.twiml = call.twiml;
    else if (call.say !== undefined || call.message !== undefined) {
        const twiml = inlineTwiml(call.say, call.message);
        if (twiml.length > MAX_TWIML_LENGTH) {
            const field = call.say !== undefined ? 'say' : 'message';
            throw new OutboundValidationError([{ field, message: tooMuchTwiml(twiml.length) }]);
        }
        params.twiml = twiml;
    } else if (context.defaultVoiceUrl !== undefined) params.url = context.defaultVoiceUrl;
    else throw new OutboundValidationError([{ field: 'url', message: MSG_NO_VOICE_URL }]);

    if (call.statusCallback !== undefined) params.statusCallback = call.statusCallback;
    else {
        const own = context.statusCallbackUrl(context.id);
        if (own !== undefined) {
            params.statusCallback = own;
            params.statusCallbackEvent = [...CALL_STATUS_EVENTS];
        }
    }
    if (call.timeout !== undefined) params.timeout = call.timeout;
    if (call.record !== undefined) params.record = call.record;
    if (call.machineDetection !== undefined) params.machineDetection = call.machineDetection;
    return params;
}

/** What the ledger keeps about a request (no body, no TwiML). */
export function summarize(message: OutboundRequest): OutboundSummary {
    const summary: OutboundSummary = { type: message.type, to: message.to, mediaCount: 0 };
    if (message.from !== undefined) summary.from = message.from;
    if (message.type === 'sms') {
        if (message.messagingServiceSid !== undefined)
            summary.messagingServiceSid = message.messagingServiceSid;
        if (message.body !== undefined) summary.bodyLength = message.body.length;
        summary.mediaCount = message.mediaUrl?.length ?? 0;
    }
    return summary;
}

/**
 * What makes two requests under one id the same request, in the sense of the IETF `Idempotency-Key`
 * draft: SHA-256 over the canonical JSON (keys sorted) of every validated field but `id` and
 * `fingerprint`, so a changed recipient, body, sender or kind gives another fingerprint. Versioned
 * (`v1.`), so a later canonical form can be told from this one.
 */
export function requestFingerprint(request: OutboundRequest): string {
    const { id: _id, fingerprint: _fingerprint, ...content } = request;
    const entries = Object.entries(content).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const canonical = JSON.stringify(Object.fromEntries(entries));
    return `v1.${createHash('sha256').update(canonical).digest('base64url')}`;
}

/**
 * Field errors as one line, at most {@link MAX_REPORTED_ERRORS} listed and the rest counted. For a log
 * (`forLog`), fields the schema does not know are only counted, with masked names: a payload's keys can
 * be personal data too. The ledger record, which holds the recipient's number anyway, names them.
 */
export function describeFieldErrors(
    errors: readonly FieldError[],
    options: { forLog?: boolean } = {},
): string {
    const masked = options.forLog === true;
    const unknown = masked ? errors.filter((error) => error.message === UNKNOWN_FIELD) : [];
    const listed = masked ? errors.filter((error) => error.message !== UNKNOWN_FIELD) : errors;
    const parts = listed.slice(0, MAX_REPORTED_ERRORS).map((error) => `${error.field}: ${error.message}`);
    if (listed.length > MAX_REPORTED_ERRORS) {
        parts.push(`and ${String(listed.length - MAX_REPORTED_ERRORS)} more field errors`);
    }
    if (unknown.length > 0) {
        const names = unknown.slice(0, MAX_REPORTED_ERRORS).map((error) => maskFieldName(error.field));
        const more = unknown.length > names.length ? ', …' : '';
        parts.push(
            `${String(unknown.length)} unknown field${unknown.length === 1 ? '' : 's'} (${names.join(', ')}${more})`,
        );
    }
    return parts.join('; ');
}

/** A field name reduced to its first character, enough to tell a typo from a stray payload. */
function maskFieldName(name: string): string {
    const first = String.fromCodePoint(name.codePointAt(0) ?? 0x3f);
    return `${/[\p{L}\p{N}_]/u.test(first) ? first : '?'}***`;
}
