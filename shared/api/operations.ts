/**
 * The HTTP API's operations as data: one entry per operation (route, method, parameters, request and
 * response schemas, examples), from which shared/api/openapi.ts writes both the OpenAPI 3 document and
 * the Swagger 2.0 document Logic Apps and Power Automate custom connectors import. Nothing here is
 * written twice for the two formats.
 *
 * Where each part comes from:
 *
 * - Request bodies: the zod schemas that validate them (shared/outbound/message.ts `outboundSchemas`,
 *   shared/api/optOuts.ts `optOutBodySchema`), converted by openapi.ts; only their titles and
 *   descriptions are written here ({@link REQUEST_FIELDS}).
 * - Query, path and header parameters: the bounds the handlers check (shared/api/read.ts, fields.ts),
 *   through the constants they export.
 * - Response bodies: {@link RESPONSE_SCHEMAS}, the shapes the handlers answer (shared/api/send.ts,
 *   read.ts, fields.ts, shared/platform/httpBody.ts). test/local/openapi.test.ts sends every example to
 *   the running app and validates each answer against them.
 *
 * Adding an operation is one entry in {@link OPERATIONS}, with its schemas
 * in {@link RESPONSE_SCHEMAS} (or a zod schema converted as the send bodies are) and at least one
 * example; the contract test then drives it with no change of its own.
 *
 * Schemas here use the subset JSON Schema, OpenAPI 3.0 and Swagger 2.0 share (no `anyOf` / `oneOf`, no
 * `nullable`), so openapi.ts can write them into either document unchanged. `title` is the name a
 * connector shows (openapi.ts copies it to `x-ms-summary`).
 */

import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from './read';
import { API_ID } from './fields';
import { MAX_API_BODY_BYTES } from './send';
import { MAX_FILTER_VALUE } from '../ledger/contract';
import { MAX_BODY_LENGTH, MAX_MEDIA_URLS, MAX_REPORTED_ERRORS } from '../outbound/message';
import { ROUTES, type Route } from '../platform/routes';
import { DEFAULT_OPT_OUT_PAGE_SIZE, MAX_OPT_OUT_BODY_BYTES, MSG_BAD_SINCE } from './optOuts';
import {
    MAX_OPT_OUT_PAGE_SIZE,
    MSG_BAD_RECIPIENT,
    MSG_BAD_SENDER,
    OPT_OUT_SOURCES,
} from '../messaging/optOuts';

/** A JSON Schema object (the shared subset above). */
export type JsonSchema = { [keyword: string]: unknown };

/** How prominently a connector shows an operation or a field (`x-ms-visibility`). */
export type Visibility = 'important' | 'advanced' | 'internal';

export interface ParameterDoc {
    name: string;
    in: 'path' | 'query' | 'header';
    required: boolean;
    /** Title Case, as a connector labels the field (`x-ms-summary`). */
    title: string;
    description: string;
    schema: JsonSchema;
    visibility?: Visibility;
}

export interface HeaderDoc {
    description: string;
    schema: JsonSchema;
}

export interface ResponseDoc {
    description: string;
    /** A key of {@link RESPONSE_SCHEMAS}; none for an empty body (or a binary one). */
    schema?: string;
    /** `application/json` unless given. */
    mediaType?: string;
    /**
     * A binary body (a file) in one of these media types (ranges such as `image/*` allowed): OpenAPI 3
     * writes `type: string, format: binary` under each, Swagger 2.0 `type: file` and the types in
     * `produces`, as custom connectors expect a file download.
     */
    binary?: readonly string[];
    headers?: Record<string, HeaderDoc>;
}

/**
 * One example exchange: the request (parameters by name, body) and the answer it gets from the app, which
 * the contract test checks. `response` is compared exactly for a 4xx; for a 2xx only its `id` (the rest,
 * such as a status, moves on as the message is sent).
 */
export interface ExampleDoc {
    name: string;
    summary: string;
    /** Values by parameter name, as the parameter's schema types them (a query's text is `String(value)`). */
    parameters?: Record<string, string | number>;
    body?: Record<string, unknown>;
    status: number;
    response?: Record<string, unknown>;
}

/** The request bodies there are: an SMS/MMS, a call, an opt-out's (PUT /opt-outs/…). */
export type RequestKind = 'sms' | 'call' | 'optOut';

export interface ApiOperation {
    /** PascalCase: the connector's action name and API Management's operation name. */
    operationId: string;
    method: 'get' | 'post' | 'put' | 'delete';
    route: Route;
    tag: string;
    /** Sentence case, as a connector titles an action. */
    summary: string;
    description: string;
    visibility: Visibility;
    parameters: readonly ParameterDoc[];
    /**
     * The request body, of this kind (its schema comes from the zod schema that validates it); required
     * unless `optional`.
     */
    requestBody?: { kind: RequestKind; schemaName: string; description: string; optional?: boolean };
    responses: Readonly<Record<number, ResponseDoc>>;
    examples: readonly ExampleDoc[];
}

/** Tags, in the order the documents list them. */
export const TAGS: readonly { name: string; description: string }[] = [
    { name: 'Messages', description: 'Send SMS/MMS, and read the ledger of messages and calls.' },
    { name: 'Calls', description: 'Place outbound calls.' },
    {
        name: 'Media',
        description:
            "Inbound MMS media the app copied from Twilio, and call recordings, served with the function key so no one needs Twilio's URLs or credentials.",
    },
    {
        name: 'Opt-outs',
        description:
            'Who opted out of SMS from which sender (a number, short code or Messaging Service): sends to them are refused with 21610 before Twilio is asked.',
    },
];

// ---- Request body fields: titles and descriptions of the zod schemas' properties ----------------------

export interface FieldDoc {
    title: string;
    description: string;
    visibility?: Visibility;
}

const STATUS_CALLBACK_DOC: FieldDoc = {
    title: 'Status Callback URL',
    description:
        "An http(s) URL Twilio posts this send's status changes to. Default: the app's own status route, which records them in the ledger (GET the message to see them). Must not point at this app's status or SMS routes.",
    visibility: 'advanced',
};

/**
 * What each request body field means, by kind. Every property the zod schema has must be listed here
 * (test/shared/api/openapi.test.ts checks), so a new field cannot reach the documents undescribed.
 */
export const REQUEST_FIELDS: Readonly<Record<RequestKind, Readonly<Record<string, FieldDoc>>>> = {
    sms: {
        type: { title: 'Type', description: '"sms", or left out: POST /messages sends SMS/MMS.' },
        version: { title: 'Schema Version', description: 'The request schema version: 1, or left out.' },
        id: {
            title: 'Id',
            description:
                'The idempotency key, as the Idempotency-Key header (give one or the other; both must agree).',
            visibility: 'advanced',
        },
        to: {
            title: 'To Phone Number',
            description:
                'The recipient: E.164 (+ and 8 to 15 digits, e.g. +15557654321), or whatsapp:+<E.164>.',
            visibility: 'important',
        },
        from: {
            title: 'From Phone Number',
            description:
                'The sender: E.164 or whatsapp:+<E.164>. Default: the Messaging Service, else the number, the app is configured with. A whatsapp: recipient needs a whatsapp: sender or a Messaging Service.',
            visibility: 'important',
        },
        body: {
            title: 'Text',
            description: `The message text, at most ${String(MAX_BODY_LENGTH)} characters (UTF-16 code units: an emoji counts as 2). Required unless a media URL is given.`,
            visibility: 'important',
        },
        mediaUrl: {
            title: 'Media URLs',
            description: `Up to ${String(MAX_MEDIA_URLS)} https URLs of media to send as MMS.`,
            visibility: 'advanced',
        },
        messagingServiceSid: {
            title: 'Messaging Service SID',
            description:
                'A Messaging Service to send from (MG and 32 hex digits); with From, a sender from its pool.',
            visibility: 'advanced',
        },
        statusCallback: STATUS_CALLBACK_DOC,
        validityPeriod: {
            title: 'Validity Period',
            description: 'Seconds (1 to 36000) the message may wait in Twilio’s queue before it is dropped.',
            visibility: 'advanced',
        },
        maxPrice: {
            title: 'Max Price',
            description: 'Obsolete: Twilio has ignored it since 2024-06-03. A decimal number greater than 0.',
            visibility: 'internal',
        },
    },
    call: {
        type: { title: 'Type', description: '"call", or left out: POST /calls places calls.' },
        version: { title: 'Schema Version', description: 'The request schema version: 1, or left out.' },
        id: {
            title: 'Id',
            description:
                'The idempotency key, as the Idempotency-Key header (give one or the other; both must agree).',
            visibility: 'advanced',
        },
        to: {
            title: 'To Phone Number',
            description: 'The number to call: E.164 (+ and 8 to 15 digits, e.g. +15557654321).',
            visibility: 'important',
        },
        from: {
            title: 'From Phone Number',
            description: 'The caller ID: E.164. Default: the number the app is configured with.',
            visibility: 'important',
        },
        url: {
            title: 'TwiML URL',
            description:
                "An http(s) URL Twilio fetches the call's TwiML from. At most one of TwiML URL, TwiML, Say and Message; with none, the app's own voice route answers.",
        },
        twiml: {
            title: 'TwiML',
            description: 'Inline TwiML, at most 4000 characters, with a <Response> root element.',
            visibility: 'advanced',
        },
        say: {
            title: 'Say',
            description:
                'Text to say when the call is answered (becomes inline TwiML, at most 4000 characters).',
            visibility: 'important',
        },
        message: {
            title: 'Message',
            description:
                'Twimlets-style entries, in order: an http(s) URL is played, any other text is said.',
            visibility: 'advanced',
        },
        statusCallback: STATUS_CALLBACK_DOC,
        timeout: {
            title: 'Ring Timeout',
            description: 'Seconds (5 to 600) to let the call ring before giving up.',
            visibility: 'advanced',
        },
        record: { title: 'Record', description: 'Whether to record the call.', visibility: 'advanced' },
        machineDetection: {
            title: 'Machine Detection',
            description: 'Answering machine detection: "Enable" or "DetectMessageEnd".',
            visibility: 'advanced',
        },
    },
    optOut: {
        since: {
            title: 'Since',
            description:
                'When the recipient opted out, for an import (e.g. the date in Twilio’s opt-out list): ISO 8601 with a time, from 1970 up to now. Default: now.',
            visibility: 'important',
        },
    },
};

/** Fields the API refuses in a request body (set by the API itself), left out of the documents. */
export const API_SET_FIELDS: readonly string[] = ['fingerprint'];

// ---- Response schemas -----------------------------------------------------------------------------------

const errorCode = (code: string): JsonSchema => ({
    type: 'string',
    enum: [code],
    title: 'Error',
    description: 'What went wrong, as a code.',
});
const idProperty: JsonSchema = {
    type: 'string',
    title: 'Message Id',
    description: 'The id of the message or call.',
};
const messageProperty: JsonSchema = { type: 'string', title: 'Message', description: 'What to do about it.' };
const RECORDING_SID_PROPERTY: JsonSchema = {
    type: 'string',
    title: 'Recording SID',
    description: 'The recording asked for.',
};

/** The schemas of every answer's body, by name (`#/components/schemas/<name>`, `#/definitions/<name>`). */
export const RESPONSE_SCHEMAS: Readonly<Record<string, JsonSchema>> = {
    Accepted: {
        type: 'object',
        title: 'Accepted',
        required: ['id', 'status'],
        properties: {
            id: idProperty,
            status: {
                type: 'string',
                title: 'Status',
                description:
                    'The current status: queued when just accepted; a retry with the same key shows how far the send got.',
            },
        },
    },
    StatusEvent: {
        type: 'object',
        title: 'Status Event',
        required: ['status', 'at', 'source'],
        properties: {
            status: { type: 'string', title: 'Status', description: 'The status reached.' },
            at: { type: 'string', format: 'date-time', title: 'At', description: 'When (ISO 8601).' },
            source: {
                type: 'string',
                enum: ['app', 'twilio'],
                title: 'Source',
                description: 'Who reported it: the app, or a Twilio status callback.',
            },
            sid: { type: 'string', title: 'SID', description: 'The Twilio SID the event was about.' },
            detail: {
                type: 'string',
                title: 'Detail',
                description: 'Why it was recorded, when the status does not say.',
            },
        },
    },
    Message: {
        type: 'object',
        title: 'Message',
        description:
            'A ledger record: an outbound or inbound message, or a call. Fields may be added; clients must ignore those they do not know.',
        required: [
            'id',
            'direction',
            'type',
            'status',
            'mediaCount',
            'history',
            'attempts',
            'createdAt',
            'updatedAt',
        ],
        properties: {
            id: idProperty,
            direction: {
                type: 'string',
                enum: ['outbound', 'inbound'],
                title: 'Direction',
                description: 'outbound (sent by the app) or inbound (received).',
            },
            type: {
                type: 'string',
                enum: ['sms', 'call'],
                title: 'Type',
                description: 'sms (SMS/MMS) or call.',
            },
            to: { type: 'string', title: 'To', description: 'The recipient.' },
            from: { type: 'string', title: 'From', description: 'The sender, when known.' },
            messagingServiceSid: {
                type: 'string',
                title: 'Messaging Service SID',
                description: 'The Messaging Service it was sent from.',
            },
            bodyLength: {
                type: 'integer',
                minimum: 0,
                title: 'Body Length',
                description: 'The text length.',
            },
            body: {
                type: 'string',
                title: 'Body',
                description: 'The text, only when the ledger is configured to store bodies.',
            },
            mediaCount: {
                type: 'integer',
                minimum: 0,
                title: 'Media Count',
                description: 'How many media items.',
            },
            sid: {
                type: 'string',
                title: 'SID',
                description: "Twilio's SID (SM…, MM…, CA…), once Twilio has it.",
            },
            status: {
                type: 'string',
                title: 'Status',
                description:
                    'accepting, queued, sending, then Twilio’s (sent, delivered, undelivered, failed, …; for calls ringing, in-progress, completed, busy, no-answer, …), or rejected / dead-lettered (docs/delivery.md).',
            },
            history: {
                type: 'array',
                title: 'History',
                description: 'Status events, oldest first (the last 50).',
                items: { $ref: 'StatusEvent' },
            },
            errorCode: {
                type: 'string',
                title: 'Error Code',
                description: "Twilio's error code (e.g. 21610), or the app's for a refused send.",
            },
            errorMessage: { type: 'string', title: 'Error Message', description: 'What went wrong.' },
            attempts: {
                type: 'integer',
                minimum: 0,
                title: 'Attempts',
                description: 'Send attempts so far.',
            },
            createdAt: { type: 'string', format: 'date-time', title: 'Created At', description: 'ISO 8601.' },
            updatedAt: { type: 'string', format: 'date-time', title: 'Updated At', description: 'ISO 8601.' },
        },
    },
    MessageList: {
        type: 'object',
        title: 'Messages',
        required: ['messages'],
        properties: {
            messages: {
                type: 'array',
                title: 'Messages',
                description: 'Newest first.',
                items: { $ref: 'Message' },
            },
            continuationToken: {
                type: 'string',
                title: 'Continuation Token',
                description: 'Present when more may follow: pass it back with the same query.',
            },
            nextPageUrl: {
                type: 'string',
                format: 'uri',
                title: 'Next Page URL',
                description: 'This query with the continuation token (add the function key).',
            },
        },
    },
    InvalidRequest: {
        type: 'object',
        title: 'Invalid Request',
        required: ['error', 'errors'],
        properties: {
            error: errorCode('invalid_request'),
            errors: {
                type: 'array',
                title: 'Errors',
                description: `Each field at fault (the first ${String(MAX_REPORTED_ERRORS)}).`,
                maxItems: MAX_REPORTED_ERRORS,
                items: {
                    type: 'object',
                    required: ['field', 'message'],
                    properties: {
                        field: {
                            type: 'string',
                            title: 'Field',
                            description:
                                'The field, as a path (to, mediaUrl[2]); (body) for the body as a whole.',
                        },
                        message: { type: 'string', title: 'Message', description: 'What is wrong with it.' },
                    },
                },
            },
            errorCount: {
                type: 'integer',
                minimum: MAX_REPORTED_ERRORS + 1,
                title: 'Error Count',
                description: `How many errors there were, when more than ${String(MAX_REPORTED_ERRORS)}.`,
            },
        },
    },
    NotFound: {
        type: 'object',
        title: 'Not Found',
        required: ['error', 'id'],
        properties: { error: errorCode('not_found'), id: idProperty },
    },
    InProgress: {
        type: 'object',
        title: 'In Progress',
        required: ['error', 'id', 'message'],
        properties: { error: errorCode('request_in_progress'), id: idProperty, message: messageProperty },
    },
    PayloadTooLarge: {
        type: 'object',
        title: 'Payload Too Large',
        required: ['error', 'message'],
        properties: { error: errorCode('payload_too_large'), message: messageProperty },
    },
    KeyReused: {
        type: 'object',
        title: 'Idempotency Key Reused',
        required: ['error', 'id', 'message'],
        properties: { error: errorCode('idempotency_key_reused'), id: idProperty, message: messageProperty },
    },
    OptOut: {
        type: 'object',
        title: 'Opt-out',
        required: ['sender', 'recipient', 'since', 'source'],
        properties: {
            sender: {
                type: 'string',
                title: 'Sender',
                description: 'The number, short code or Messaging Service SID (MG…) the opt-out applies to.',
            },
            recipient: {
                type: 'string',
                title: 'Recipient',
                description: 'The E.164 number that opted out.',
            },
            since: {
                type: 'string',
                format: 'date-time',
                title: 'Since',
                description: 'When it was recorded.',
            },
            source: {
                type: 'string',
                enum: [...OPT_OUT_SOURCES],
                title: 'Source',
                description:
                    "keyword (STOP, …), OptOutType (a Messaging Service's Advanced Opt-Out), twilio-21610 (Twilio refused a send) or api.",
            },
            cause: {
                type: 'string',
                title: 'Cause',
                description: 'The inbound message SID or the outbound id that caused it.',
            },
        },
    },
    OptOutList: {
        type: 'object',
        title: 'Opt-outs',
        required: ['optOuts'],
        properties: {
            optOuts: {
                type: 'array',
                title: 'Opt-outs',
                description: 'By sender, then recipient.',
                items: { $ref: 'OptOut' },
            },
            continuationToken: {
                type: 'string',
                title: 'Continuation Token',
                description: 'Present when more may follow: pass it back with the same query.',
            },
            nextPageUrl: {
                type: 'string',
                format: 'uri',
                title: 'Next Page URL',
                description: 'This query with the continuation token (add the function key).',
            },
        },
    },
    OptOutNotFound: {
        type: 'object',
        title: 'Not Found',
        required: ['error', 'sender', 'recipient'],
        properties: {
            error: errorCode('not_found'),
            sender: { type: 'string', title: 'Sender', description: 'The sender asked for.' },
            recipient: { type: 'string', title: 'Recipient', description: 'The recipient asked for.' },
        },
    },
    ChangedConcurrently: {
        type: 'object',
        title: 'Changed Concurrently',
        required: ['error'],
        properties: { error: errorCode('changed_concurrently') },
    },
    MediaNotFound: {
        type: 'object',
        title: 'Not Found',
        required: ['error', 'id', 'n'],
        properties: {
            error: errorCode('not_found'),
            id: idProperty,
            n: { type: 'integer', title: 'Media Index', description: 'The index asked for.' },
        },
    },
    RecordingNotFound: {
        type: 'object',
        title: 'Not Found',
        required: ['error', 'sid'],
        properties: { error: errorCode('not_found'), sid: RECORDING_SID_PROPERTY },
    },
    UpstreamFailed: {
        type: 'object',
        title: 'Upstream Failed',
        required: ['error', 'sid', 'message'],
        properties: {
            error: errorCode('upstream_failed'),
            sid: RECORDING_SID_PROPERTY,
            message: {
                type: 'string',
                title: 'Message',
                description:
                    'What failed: a status Twilio answered, a timeout, Twilio not reachable, a recording over the size limit.',
            },
        },
    },
    QueueUnavailable: {
        type: 'object',
        title: 'Queue Unavailable',
        required: ['error', 'id', 'message'],
        properties: { error: errorCode('queue_unavailable'), id: idProperty, message: messageProperty },
    },
};

// ---- Parameters and responses the operations share ------------------------------------------------------

const IDEMPOTENCY_KEY: ParameterDoc = {
    name: 'Idempotency-Key',
    in: 'header',
    required: false,
    title: 'Idempotency Key',
    description:
        'Names this request (IETF Idempotency-Key draft): it becomes the id, and a retry with the same key and request is answered 202 and sent once; with another request, 422. Give one in a workflow (e.g. the run id and the action name) so the connector’s retries cannot send twice.',
    schema: { type: 'string', pattern: API_ID.source },
    visibility: 'important',
};

const retryAfter = (seconds: string): HeaderDoc => ({
    description: `Seconds to wait before retrying (${seconds}).`,
    schema: { type: 'integer', minimum: 1 },
});

const COMMON_RESPONSES: Readonly<Record<number, ResponseDoc>> = {
    401: {
        description:
            'No valid function key (in Azure; the local host does not check keys). The Functions host answers with an empty body.',
    },
    500: {
        description: 'The app is misconfigured (the function log names each setting at fault).',
        mediaType: 'text/plain',
        schema: 'PlainText',
    },
};

const sendResponses = (what: string): Readonly<Record<number, ResponseDoc>> => ({
    202: {
        description: `Accepted: the ${what} is recorded and queued (also for a retry with the same Idempotency-Key and request).`,
        schema: 'Accepted',
        headers: {
            Location: {
                description: 'Where GET answers for it (…/messages/{id}).',
                schema: { type: 'string', format: 'uri' },
            },
        },
    },
    400: {
        description: 'Invalid JSON, fields or Idempotency-Key; each field at fault is named.',
        schema: 'InvalidRequest',
    },
    409: {
        description: 'A request with this Idempotency-Key is still being accepted: retry after Retry-After.',
        schema: 'InProgress',
        headers: { 'Retry-After': retryAfter('2') },
    },
    413: { description: `The body is over ${String(MAX_API_BODY_BYTES)} bytes.`, schema: 'PayloadTooLarge' },
    422: {
        description: 'The Idempotency-Key was used for another request (body, recipient, options or kind).',
        schema: 'KeyReused',
    },
    503: {
        description:
            'Recorded but not queued (the queue could not be reached): retry with the same Idempotency-Key after Retry-After; it is sent once.',
        schema: 'QueueUnavailable',
        headers: { 'Retry-After': retryAfter('5') },
    },
    ...COMMON_RESPONSES,
});

/** Extra schemas the responses refer to that are not JSON bodies. */
export const OTHER_SCHEMAS: Readonly<Record<string, JsonSchema>> = {
    PlainText: { type: 'string', title: 'Text' },
};

const RECIPIENT = '+15557654321';
const MSG_SMS_ADDRESS =
    'must be an E.164 phone number: + and 8 to 15 digits, e.g. +15551234567, or whatsapp:+<E.164>';

const OPT_OUT_SENDER: ParameterDoc = {
    name: 'sender',
    in: 'path',
    required: true,
    title: 'Sender',
    description: `The number, short code or Messaging Service SID the opt-out applies to: it ${MSG_BAD_SENDER}.`,
    schema: { type: 'string', minLength: 3, maxLength: 34 },
};
const OPT_OUT_RECIPIENT: ParameterDoc = {
    name: 'recipient',
    in: 'path',
    required: true,
    title: 'Recipient',
    description: `The number that opted out: it ${MSG_BAD_RECIPIENT}.`,
    schema: { type: 'string', minLength: 8, maxLength: 16 },
};
const OPT_OUT_EXAMPLE = { sender: '+15551230000', recipient: '+15557650001' };
const OPT_OUT_IMPORTED = { sender: '+15551230000', recipient: '+15557650003' };

/** The inbound MMS of the media examples (test/local/openapi.test.ts stores its item 0). */
export const MEDIA_EXAMPLE_SID = `MM${'5a1e'.repeat(8)}`;
/** A recording SID of the recording examples: no recording has it. */
const RECORDING_EXAMPLE_SID = `RE${'0123456789abcdef'.repeat(2)}`;

/** What a copied media item can be: the families of the types Twilio accepts for MMS (docs/media.md). */
const MEDIA_TYPES = ['image/*', 'audio/*', 'video/*', 'text/*', 'application/*'] as const;
const BINARY_HEADERS: Record<string, HeaderDoc> = {
    'Cache-Control': {
        description: 'private, no-store: personal data, never kept by a cache on the way.',
        schema: { type: 'string' },
    },
};

/** A list operation's `pageSize` (1 to `max`, default `fallback`) and `continuationToken` parameters. */
function pagingParameters(max: number, fallback: number): ParameterDoc[] {
    return [
        {
            name: 'pageSize',
            in: 'query',
            required: false,
            title: 'Limit',
            description: `At most this many per page (1 to ${String(max)}, default ${String(fallback)}).`,
            schema: { type: 'integer', minimum: 1, maximum: max, default: fallback },
            visibility: 'advanced',
        },
        {
            name: 'continuationToken',
            in: 'query',
            required: false,
            title: 'Continuation Token',
            description: 'From the previous page, to get the next one.',
            schema: { type: 'string' },
            visibility: 'advanced',
        },
    ];
}

/** Every operation of the API, in the order the documents list them. */
export const OPERATIONS: readonly ApiOperation[] = [
    {
        operationId: 'SendMessage',
        method: 'post',
        route: ROUTES.messages,
        tag: 'Messages',
        summary: 'Send a text message (SMS/MMS)',
        description:
            'Validates the message as the queue function will, records it in the ledger and puts it on the outbound queue, which sends it through Twilio with retries and no duplicates. Answers 202 with its id; GET it to follow its status.',
        visibility: 'important',
        parameters: [IDEMPOTENCY_KEY],
        requestBody: { kind: 'sms', schemaName: 'SendMessageRequest', description: 'The message.' },
        responses: sendResponses('message'),
        examples: [
            {
                name: 'mms',
                summary: 'A text with an image, under an idempotency key',
                parameters: { 'Idempotency-Key': 'order-1042-shipped' },
                body: {
                    to: RECIPIENT,
                    body: 'Your order has shipped',
                    mediaUrl: ['https://example.com/label.png'],
                },
                status: 202,
                response: { id: 'order-1042-shipped', status: 'queued' },
            },
            {
                name: 'retried',
                summary: 'The same request again: recognised, not sent twice',
                parameters: { 'Idempotency-Key': 'order-1042-shipped' },
                body: {
                    to: RECIPIENT,
                    body: 'Your order has shipped',
                    mediaUrl: ['https://example.com/label.png'],
                },
                status: 202,
                response: { id: 'order-1042-shipped', status: 'queued' },
            },
            {
                name: 'keyReused',
                summary: 'The same key with another body',
                parameters: { 'Idempotency-Key': 'order-1042-shipped' },
                body: { to: RECIPIENT, body: 'Your order has shipped today' },
                status: 422,
                response: {
                    error: 'idempotency_key_reused',
                    id: 'order-1042-shipped',
                    message:
                        'this Idempotency-Key was used for another request (body, recipient or options differ)',
                },
            },
            {
                name: 'invalidFields',
                summary: 'A recipient without + and a media URL that is not https',
                body: { to: '5557654321', mediaUrl: ['http://example.com/label.png'] },
                status: 400,
                response: {
                    error: 'invalid_request',
                    errors: [
                        { field: 'to', message: MSG_SMS_ADDRESS },
                        { field: 'mediaUrl[0]', message: 'must be an https URL' },
                    ],
                },
            },
            {
                name: 'invalidKey',
                summary: 'An Idempotency-Key with a space',
                parameters: { 'Idempotency-Key': 'order 1042' },
                body: { to: RECIPIENT, body: 'Your order has shipped' },
                status: 400,
                response: {
                    error: 'invalid_request',
                    errors: [{ field: 'Idempotency-Key', message: 'must be 1-200 of A-Z a-z 0-9 . _ ~ : -' }],
                },
            },
        ],
    },
    {
        operationId: 'PlaceCall',
        method: 'post',
        route: ROUTES.calls,
        tag: 'Calls',
        summary: 'Place a call',
        description:
            'Validates the call, records it and puts it on the outbound queue, which places it through Twilio. Say, Message, TwiML or a TwiML URL says what the call does; with none, the app’s own voice route answers. Answers 202 with its id; GET it to follow its status.',
        visibility: 'important',
        parameters: [IDEMPOTENCY_KEY],
        requestBody: { kind: 'call', schemaName: 'PlaceCallRequest', description: 'The call.' },
        responses: sendResponses('call'),
        examples: [
            {
                name: 'say',
                summary: 'A call that says one sentence',
                parameters: { 'Idempotency-Key': 'reminder-call-77' },
                body: { to: RECIPIENT, say: 'Your appointment is tomorrow at ten.' },
                status: 202,
                response: { id: 'reminder-call-77', status: 'queued' },
            },
            {
                name: 'twoContents',
                summary: 'A TwiML URL and Say together',
                body: { to: RECIPIENT, url: 'https://example.com/twiml', say: 'Hello' },
                status: 400,
                response: {
                    error: 'invalid_request',
                    errors: [
                        {
                            field: 'say',
                            message: 'cannot be given with url: give one of url, twiml, say, message',
                        },
                    ],
                },
            },
        ],
    },
    {
        operationId: 'GetMessage',
        method: 'get',
        route: ROUTES.message,
        tag: 'Messages',
        summary: 'Get a message',
        description:
            'The ledger record of one message or call, outbound or inbound: its status, Twilio SID, error code and status history.',
        visibility: 'important',
        parameters: [
            {
                name: 'id',
                in: 'path',
                required: true,
                title: 'Message Id',
                description: 'The id the send answered with (its Idempotency-Key when it had one).',
                schema: { type: 'string' },
            },
        ],
        responses: {
            200: { description: 'The record.', schema: 'Message' },
            404: { description: 'No message or call has this id.', schema: 'NotFound' },
            ...COMMON_RESPONSES,
        },
        examples: [
            {
                name: 'sent',
                summary: 'The message sent above',
                parameters: { id: 'order-1042-shipped' },
                status: 200,
                response: {
                    id: 'order-1042-shipped',
                    direction: 'outbound',
                    type: 'sms',
                    to: RECIPIENT,
                    from: '+15551230000',
                    bodyLength: 22,
                    mediaCount: 1,
                    sid: 'MM0123456789abcdef0123456789abcdef',
                    status: 'delivered',
                    history: [
                        { status: 'queued', at: '2026-12-01T10:00:00.000Z', source: 'app' },
                        { status: 'sending', at: '2026-12-01T10:00:00.120Z', source: 'app' },
                        {
                            status: 'sent',
                            at: '2026-12-01T10:00:00.480Z',
                            source: 'twilio',
                            sid: 'MM0123456789abcdef0123456789abcdef',
                        },
                        {
                            status: 'delivered',
                            at: '2026-12-01T10:00:02.900Z',
                            source: 'twilio',
                            sid: 'MM0123456789abcdef0123456789abcdef',
                        },
                    ],
                    attempts: 1,
                    createdAt: '2026-12-01T10:00:00.000Z',
                    updatedAt: '2026-12-01T10:00:02.900Z',
                },
            },
            {
                name: 'unknown',
                summary: 'An id nothing was sent under',
                parameters: { id: 'no-such-message' },
                status: 404,
                response: { error: 'not_found', id: 'no-such-message' },
            },
        ],
    },
    {
        operationId: 'ListMessages',
        method: 'get',
        route: ROUTES.messages,
        tag: 'Messages',
        summary: 'List messages',
        description:
            'Outbound and inbound messages and calls from the ledger, newest first, filtered by recipient, sender and the UTC day they were created (the last 30 days unless dateSentAfter says otherwise), a page at a time.',
        visibility: 'important',
        parameters: [
            ...(['to', 'from'] as const).map((name): ParameterDoc => ({
                name,
                in: 'query',
                required: false,
                title: name === 'to' ? 'To Phone Number' : 'From Phone Number',
                description: `Only messages ${name === 'to' ? 'to' : 'from'} this address (exactly as stored, e.g. +15557654321).`,
                schema: { type: 'string', minLength: 1, maxLength: MAX_FILTER_VALUE },
                visibility: 'important',
            })),
            ...(
                [
                    ['dateSent', 'Date Sent', 'Only this UTC day (not with the two below).'],
                    ['dateSentAfter', 'Date Sent After', 'From this UTC day on, inclusive.'],
                    ['dateSentBefore', 'Date Sent Before', 'Up to this UTC day, inclusive.'],
                ] as const
            ).map(([name, title, description]): ParameterDoc => ({
                name,
                in: 'query',
                required: false,
                title,
                description: `${description} YYYY-MM-DD.`,
                schema: { type: 'string', format: 'date' },
                visibility: 'advanced',
            })),
            ...pagingParameters(MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE),
        ],
        responses: {
            200: { description: 'A page of records.', schema: 'MessageList' },
            400: {
                description: 'An invalid filter, page size or continuation token, named.',
                schema: 'InvalidRequest',
            },
            ...COMMON_RESPONSES,
        },
        examples: [
            {
                name: 'byRecipient',
                summary: 'The messages to one recipient, 20 at a time',
                parameters: { to: RECIPIENT, pageSize: 20 },
                status: 200,
            },
            {
                name: 'invalidDate',
                summary: 'A day that does not exist',
                parameters: { dateSent: '2026-02-30' },
                status: 400,
                response: {
                    error: 'invalid_request',
                    errors: [
                        {
                            field: 'dateSent',
                            message: 'must be a date as YYYY-MM-DD, from 1970-01-01 to 9999-12-31',
                        },
                    ],
                },
            },
        ],
    },
    {
        operationId: 'ListOptOuts',
        method: 'get',
        route: ROUTES.optOuts,
        tag: 'Opt-outs',
        summary: 'List opt-outs',
        description:
            'Who opted out of SMS from which sender, by sender and/or recipient, a page at a time (docs/opt-outs.md).',
        visibility: 'important',
        parameters: [
            {
                ...OPT_OUT_SENDER,
                in: 'query',
                required: false,
                description: 'Only opt-outs for this sender.',
            },
            {
                ...OPT_OUT_RECIPIENT,
                in: 'query',
                required: false,
                description: 'Only opt-outs of this number (E.164).',
            },
            ...pagingParameters(MAX_OPT_OUT_PAGE_SIZE, DEFAULT_OPT_OUT_PAGE_SIZE),
        ],
        responses: {
            200: { description: 'A page of opt-outs.', schema: 'OptOutList' },
            400: {
                description: 'An invalid sender, recipient, page size or continuation token, named.',
                schema: 'InvalidRequest',
            },
            ...COMMON_RESPONSES,
        },
        examples: [
            {
                name: 'bySender',
                summary: "One number's opt-outs, 20 at a time",
                parameters: { sender: OPT_OUT_EXAMPLE.sender, pageSize: 20 },
                status: 200,
            },
            {
                name: 'invalidRecipient',
                summary: 'A recipient that is not an E.164 number',
                parameters: { recipient: '5557650001' },
                status: 400,
                response: {
                    error: 'invalid_request',
                    errors: [{ field: 'recipient', message: MSG_BAD_RECIPIENT }],
                },
            },
        ],
    },
    {
        operationId: 'AddOptOut',
        method: 'put',
        route: ROUTES.optOut,
        tag: 'Opt-outs',
        summary: 'Add an opt-out',
        description:
            'Records that the recipient opted out of SMS from the sender (source api): an import from Twilio’s opt-out list, or a request made another way. 201, or 200 with the opt-out already recorded. An optional JSON body {"since": "<ISO 8601>"} dates an import.',
        visibility: 'important',
        parameters: [OPT_OUT_SENDER, OPT_OUT_RECIPIENT],
        requestBody: {
            kind: 'optOut',
            schemaName: 'AddOptOutRequest',
            description: 'Optional: when the recipient opted out (an import). Empty or left out: now.',
            optional: true,
        },
        responses: {
            201: { description: 'Recorded.', schema: 'OptOut' },
            200: { description: 'Already recorded: the first opt-out, as it was.', schema: 'OptOut' },
            400: {
                description:
                    'An invalid sender, recipient or body (not a JSON object, an unknown field, a bad since), named.',
                schema: 'InvalidRequest',
            },
            409: {
                description:
                    'The opt-out was removed while this request recorded it: nothing is recorded; send it again.',
                schema: 'ChangedConcurrently',
            },
            413: {
                description: `The body is over ${String(MAX_OPT_OUT_BODY_BYTES)} bytes.`,
                schema: 'PayloadTooLarge',
            },
            ...COMMON_RESPONSES,
        },
        examples: [
            {
                name: 'added',
                summary: 'A recipient who asked by phone',
                parameters: OPT_OUT_EXAMPLE,
                status: 201,
            },
            {
                name: 'imported',
                summary: 'An opt-out imported from Twilio’s list, with its date',
                parameters: OPT_OUT_IMPORTED,
                body: { since: '2024-05-01T08:30:00Z' },
                status: 201,
                response: { ...OPT_OUT_IMPORTED, since: '2024-05-01T08:30:00.000Z', source: 'api' },
            },
            {
                name: 'invalidSince',
                summary: 'A since that is not an ISO 8601 time',
                parameters: OPT_OUT_IMPORTED,
                body: { since: 'yesterday' },
                status: 400,
                response: { error: 'invalid_request', errors: [{ field: 'since', message: MSG_BAD_SINCE }] },
            },
            {
                name: 'invalidSender',
                summary: 'A sender that cannot have opt-outs',
                parameters: { sender: 'whatsapp:+15551230000', recipient: OPT_OUT_EXAMPLE.recipient },
                status: 400,
                response: {
                    error: 'invalid_request',
                    errors: [{ field: 'sender', message: MSG_BAD_SENDER }],
                },
            },
        ],
    },
    {
        operationId: 'RemoveOptOut',
        method: 'delete',
        route: ROUTES.optOut,
        tag: 'Opt-outs',
        summary: 'Remove an opt-out',
        description:
            'Lifts an opt-out, so sends from the sender to the recipient go to Twilio again (Twilio still refuses them with 21610 while its own opt-out stands: the recipient lifts that by texting START).',
        visibility: 'important',
        parameters: [OPT_OUT_SENDER, OPT_OUT_RECIPIENT],
        responses: {
            204: { description: 'Removed.' },
            400: { description: 'An invalid sender or recipient, named.', schema: 'InvalidRequest' },
            404: { description: 'There was no such opt-out.', schema: 'OptOutNotFound' },
            ...COMMON_RESPONSES,
        },
        examples: [
            { name: 'removed', summary: 'The opt-out added above', parameters: OPT_OUT_EXAMPLE, status: 204 },
            {
                name: 'unknown',
                summary: 'A recipient who never opted out',
                parameters: { sender: OPT_OUT_EXAMPLE.sender, recipient: '+15557650002' },
                status: 404,
                response: { error: 'not_found', sender: OPT_OUT_EXAMPLE.sender, recipient: '+15557650002' },
            },
        ],
    },
    {
        operationId: 'GetMessageMedia',
        method: 'get',
        route: ROUTES.messageMedia,
        tag: 'Media',
        summary: 'Get a media item of a message',
        description:
            'Media item n of an inbound MMS, as the app copied it from Twilio into its storage (docs/media.md), with the content type Twilio gave it. The message record’s media.items say which items were stored.',
        visibility: 'important',
        parameters: [
            {
                name: 'id',
                in: 'path',
                required: true,
                title: 'Message SID',
                description: 'The inbound message’s SID (MM… or SM…), its id in the ledger.',
                schema: { type: 'string', minLength: 34, maxLength: 34 },
            },
            {
                name: 'n',
                in: 'path',
                required: true,
                title: 'Media Index',
                description: 'Which item: a whole number from 0 to 9 (MediaUrl0 … MediaUrl9).',
                schema: { type: 'integer', minimum: 0, maximum: 9 },
            },
        ],
        responses: {
            200: {
                description: 'The media item, in its content type.',
                binary: MEDIA_TYPES,
                headers: BINARY_HEADERS,
            },
            400: { description: 'n is not a whole number from 0 to 9.', schema: 'InvalidRequest' },
            404: {
                description: 'The message has no such item stored (not copied, refused, or no such message).',
                schema: 'MediaNotFound',
            },
            ...COMMON_RESPONSES,
        },
        examples: [
            {
                name: 'stored',
                summary: 'The first item of an inbound MMS',
                parameters: { id: MEDIA_EXAMPLE_SID, n: 0 },
                status: 200,
            },
            {
                name: 'invalidIndex',
                summary: 'An index over 9',
                parameters: { id: MEDIA_EXAMPLE_SID, n: 10 },
                status: 400,
                response: {
                    error: 'invalid_request',
                    errors: [{ field: 'n', message: 'must be a whole number from 0 to 9' }],
                },
            },
            {
                name: 'notStored',
                summary: 'An item the message does not have',
                parameters: { id: MEDIA_EXAMPLE_SID, n: 9 },
                status: 404,
                response: { error: 'not_found', id: MEDIA_EXAMPLE_SID, n: 9 },
            },
        ],
    },
    {
        operationId: 'GetRecording',
        method: 'get',
        route: ROUTES.recording,
        tag: 'Media',
        summary: 'Get a recording',
        description:
            'A call recording’s audio (a voicemail, docs/voicemail.md), fetched from Twilio with the account’s credentials so no one is handed Twilio’s media URL. MP3 unless format is wav.',
        visibility: 'important',
        parameters: [
            {
                name: 'sid',
                in: 'path',
                required: true,
                title: 'Recording SID',
                description: 'RE and 32 lowercase hexadecimal characters (RecordingSid).',
                schema: { type: 'string', pattern: '^RE[0-9a-f]{32}$' },
            },
            {
                name: 'format',
                in: 'query',
                required: false,
                title: 'Format',
                description: 'mp3 (default) or wav.',
                schema: { type: 'string', enum: ['mp3', 'wav'], default: 'mp3' },
                visibility: 'advanced',
            },
        ],
        responses: {
            200: {
                description: 'The audio: audio/mpeg (MP3) or audio/x-wav (WAV), as Twilio serves it.',
                binary: ['audio/mpeg', 'audio/x-wav'],
                headers: {
                    ...BINARY_HEADERS,
                    'Content-Disposition': {
                        description: 'inline; filename="<sid>.<format>".',
                        schema: { type: 'string' },
                    },
                },
            },
            400: { description: 'An invalid sid or format, named.', schema: 'InvalidRequest' },
            404: { description: 'Twilio has no such recording.', schema: 'RecordingNotFound' },
            502: {
                description:
                    'Twilio could not be asked or answered otherwise (a status, a timeout, a recording over 40 MiB): the message says which.',
                schema: 'UpstreamFailed',
            },
            ...COMMON_RESPONSES,
        },
        examples: [
            {
                name: 'invalidFormat',
                summary: 'A format the app does not serve',
                parameters: { sid: RECORDING_EXAMPLE_SID, format: 'ogg' },
                status: 400,
                response: {
                    error: 'invalid_request',
                    errors: [{ field: 'format', message: 'must be "mp3" or "wav"' }],
                },
            },
            {
                name: 'unknown',
                summary: 'A recording Twilio does not have',
                parameters: { sid: RECORDING_EXAMPLE_SID, format: 'mp3' },
                status: 404,
                response: { error: 'not_found', sid: RECORDING_EXAMPLE_SID },
            },
        ],
    },
];
