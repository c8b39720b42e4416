/**
 * Fuzzing the three Twilio webhooks (`/api/sms`, `/api/voice`, `/api/status`) through their real handlers
 * with real `HttpRequest` / `InvocationContext` objects.
 *
 * Every request is generated from a seeded PRNG (`FUZZ_SEED` reproduces a run) and signed in the test with
 * Twilio's algorithm (test/support/webhooks.ts `twilioSignature`). Genuine requests carry random
 * parameters — Unicode with astral and combining characters, controls, empty values, repeated keys, `+ % &
 * =` in names and values, values of thousands of characters — and reach the app the ways it is configured
 * to accept: through a proxy (internal `http://10.x…` URL) with `PUBLIC_BASE_URL` (an origin, or an API
 * Management origin with a path prefix), through a proxy with `X-Forwarded-Proto` / `X-Forwarded-Host`
 * (with or without `:443`, lists, spaces) and no `PUBLIC_BASE_URL`, or directly; signed with or without
 * `:443`; voice as GET (parameters in the query) or POST. Tampered requests change one thing after
 * signing: a parameter changed, added or removed, the host, scheme, path, query, endpoint, method or
 * content type, or the signature truncated, corrupted, another request's, from another token, empty or
 * missing.
 *
 * Asserted for every request: tampered ones are refused (403; 400 without a signature) and never reach the
 * ledger; genuine ones are answered (sms/voice 200 with TwiML, status 204 — or 400 for a signed callback
 * whose parameters are no status, a class of its own); every TwiML answer is well-formed XML
 * (test/support/xmlWellFormed.ts) with a `<Response>` root and exactly the
 * expected verbs: `<Message>SMS_REPLY</Message>` (none for the keywords Twilio answers itself), or the
 * greeting, or each twimlets `Message` text said / played, compared after dropping the characters XML
 * cannot carry; inbound messages and status callbacks are recorded as expected. Half the deployments read
 * the token from a counting Key Vault stand-in on a fake clock: its reads stay within one plus one a minute.
 *
 * The ledger: 10,000+ requests on Azurite take longer than this file's budget (3.5 ms per ledger write
 * measured, several writes per request, on 2 cores), so the bulk runs on test/support/memoryLedger.ts — a
 * full in-memory `Ledger` checked against the Table ledger by test/fuzz/memoryLedger.test.ts — and a
 * smaller share runs with `AzureWebJobsStorage` pointing at Azurite (started on free ports), through the
 * app's own `createDependencies`.
 */

import { HttpRequest, InvocationContext, type HttpResponseInit } from '@azure/functions';
import { inboundSms } from '../../functions/inboundSms';
import { status } from '../../functions/status';
import { voice } from '../../functions/voice';
import { startAzurite, type Azurite } from '../../local/azurite';
import { parseConfig } from '../../shared/platform/config';
import {
    createDependencies,
    setDependencies,
    type AppDependencies,
} from '../../shared/platform/dependencies';
import type { Ledger, LedgerRecord } from '../../shared/ledger/contract';
import { createSecretProvider } from '../../shared/platform/secrets';
import {
    dropNonXmlChars,
    fuzzSeed,
    longText,
    randomText,
    Rng,
    type TextOptions,
} from '../support/fuzzRandom';
import { createMemoryLedger } from '../support/memoryLedger';
import { twilioSignature, type Params } from '../support/webhooks';
import { checkXml, childElements, textContent } from '../support/xmlWellFormed';

const SEED = fuzzSeed();
const BULK_REQUESTS = 10_200;
const AZURITE_REQUESTS = 600;
const BURST_REQUESTS = 2_000;

const HOST = 'myapp.azurewebsites.net';
const PUBLIC_ORIGIN = `https://${HOST}`;
const APIM_BASE = 'https://api.contoso.com/twilio';
const SMS_REPLY = 'Thanks <3 & "see" you ]]> soon\u0001!';
const VOICE_GREETING = "Welcome to <Contoso> & co's line";
const TTL_MS = 15 * 60_000;

const seedRng = new Rng(SEED);
const TOKEN = seedRng.fork('token').hex(32);
const OTHER_TOKEN = seedRng.fork('other-token').hex(32);

type Endpoint = 'sms' | 'voice' | 'status';
type Pair = [string, string];
const HANDLERS = { sms: inboundSms, voice, status } as const;

// ---------------------------------------------------------------------------------------------------------
// Deployments: how the app is configured, and the ways a genuine request reaches it

interface Deployment {
    readonly name: string;
    readonly publicBaseUrl: string | undefined;
    readonly keyVault: boolean;
    readonly deps: AppDependencies;
}

/** The Key Vault stand-in: counts reads, on a clock the test moves. */
const vault = { reads: 0, now: Date.parse('2025-01-01T00:00:00.000Z') };
const vaultStart = vault.now;
const vaultProvider = createSecretProvider({
    read: () => {
        vault.reads++;
        return Promise.resolve(TOKEN);
    },
    ttlMs: TTL_MS,
    now: () => vault.now,
});

function deployments(
    ledger: (() => Ledger) | undefined,
    extraSettings: Record<string, string>,
): Deployment[] {
    const make = (name: string, publicBaseUrl: string | undefined, keyVault: boolean): Deployment => {
        const settings: Record<string, string> = {
            TWILIO_AUTH_TOKEN: TOKEN,
            SMS_REPLY,
            VOICE_GREETING,
            ...extraSettings,
            // Forwarded headers are only honoured for listed proxies (issue 8, item 5).
            ...(publicBaseUrl === undefined
                ? { TRUSTED_FORWARDED_HOSTS: HOST }
                : { PUBLIC_BASE_URL: publicBaseUrl }),
        };
        const built = createDependencies(parseConfig(settings));
        const deps: AppDependencies = {
            ...built,
            ...(keyVault ? { authToken: vaultProvider } : {}),
            ...(ledger === undefined ? {} : { ledger }),
        };
        return { name, publicBaseUrl, keyVault, deps };
    };
    return [
        make('setting+PUBLIC_BASE_URL', PUBLIC_ORIGIN, false),
        make('setting+proxy-headers', undefined, false),
        make('keyvault+PUBLIC_BASE_URL(path)', APIM_BASE, true),
        make('keyvault+proxy-headers', undefined, true),
    ];
}

interface Route {
    variant: string;
    /** Scheme, host and port of the URL the Functions host gives the app. */
    requestOrigin: string;
    headers: Record<string, string>;
    /** What Twilio signed: the configured webhook origin (and prefix). */
    signedBase: string;
}

const internalOrigin = (rng: Rng): string =>
    `http://10.${String(rng.int(0, 255))}.${String(rng.int(0, 255))}.${String(rng.int(1, 254))}${rng.pick([':80', '', ':8080', ':7071'])}`;

/** `https://host/prefix` → `https://host:443/prefix` (Twilio may have been given either; both are one URL). */
const with443 = (base: string): string => base.replace(/^(https:\/\/[^/]+)/, '$1:443');

function route(rng: Rng, deployment: Deployment): Route {
    const signedWith = (base: string) => (rng.bool(0.3) ? with443(base) : base);
    if (deployment.publicBaseUrl !== undefined) {
        // Behind a proxy; whatever it forwards is ignored when PUBLIC_BASE_URL is set.
        const headers: Record<string, string> = rng.bool(0.5)
            ? {
                  'X-Forwarded-Proto': rng.pick(['http', 'https']),
                  'X-Forwarded-Host': rng.pick(['evil.example.com', HOST, '10.0.0.1:8080']),
              }
            : {};
        return {
            variant: 'public-base-url',
            requestOrigin: internalOrigin(rng),
            headers,
            signedBase: signedWith(deployment.publicBaseUrl),
        };
    }
    if (rng.bool(0.65)) {
        return {
            variant: 'forwarded',
            requestOrigin: internalOrigin(rng),
            headers: {
                'X-Forwarded-Proto': rng.pick(['https', 'https, http', 'https,http']),
                'X-Forwarded-Host': rng.pick([HOST, `${HOST}:443`, `${HOST}, internal.proxy`, ` ${HOST} ,x`]),
            },
            signedBase: signedWith(PUBLIC_ORIGIN),
        };
    }
    return {
        variant: 'direct',
        requestOrigin: rng.pick([PUBLIC_ORIGIN, with443(PUBLIC_ORIGIN)]),
        headers: {},
        signedBase: signedWith(PUBLIC_ORIGIN),
    };
}

// ---------------------------------------------------------------------------------------------------------
// Parameters

const text = (rng: Rng, options?: TextOptions) => randomText(rng, options);

// prettier-ignore
const EXTRA_NAMES = [
    'AccountSid', 'ApiVersion', 'FromCity', 'FromState', 'FromZip', 'FromCountry', 'ToCity', 'ToCountry',
    'NumSegments', 'MediaUrl0', 'MediaContentType0', 'ReferralNumMedia', 'OptOutType', 'Timestamp',
    'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'length', '0', 'message', 'MESSAGE', 'Message[x]',
    'Message[-1]', 'Message[1.5]', 'Message [0]', 'a+b', 'a%20b', 'a&b', 'a=b', '%', '+', '=', '&', '[]',
];

function randomName(rng: Rng): string {
    return rng.weighted([
        [10, () => rng.pick(EXTRA_NAMES)],
        [
            8,
            () =>
                text(rng, {
                    minLength: 1,
                    maxLength: 14,
                    pools: { ascii: 6, urlMeta: 3, latin: 1, bmp: 1, astral: 1, combining: 1, space: 1 },
                }),
        ],
        [1, () => ''],
    ])();
}

function randomValue(rng: Rng): string {
    return rng.weighted([
        [40, () => text(rng, { maxLength: 30 })],
        [8, () => ''],
        [4, () => longText(rng, 1_000, 8_000)],
        [4, () => text(rng, { maxLength: 30, pools: { ascii: 4, xmlMeta: 2 } })],
        [3, () => text(rng, { maxLength: 20, pools: { ascii: 4, controls: 1, space: 1 } })],
    ])();
}

function extras(rng: Rng, max: number): Pair[] {
    const pairs: Pair[] = [];
    for (let i = rng.int(0, max); i > 0; i--) {
        const pair: Pair = [randomName(rng), randomValue(rng)];
        pairs.push(pair);
        // Repeated keys, with the same value or another one.
        if (rng.bool(0.15)) pairs.push([pair[0], rng.bool(0.5) ? pair[1] : randomValue(rng)]);
    }
    return pairs;
}

const sid = (rng: Rng, prefix: string): string => `${prefix}${rng.hex(32)}`;

function phone(rng: Rng): string {
    return rng.weighted([
        [20, () => `+1555${String(rng.int(0, 9_999_999)).padStart(7, '0')}`],
        [3, () => `whatsapp:+44${String(rng.int(0, 9_999_999_999)).padStart(10, '0')}`],
        [2, () => `client:${text(rng, { minLength: 1, maxLength: 10 })}`],
        [1, () => text(rng, { maxLength: 20 })],
    ])();
}

const KEYWORDS = [
    'STOP',
    'STOPALL',
    'UNSUBSCRIBE',
    'CANCEL',
    'END',
    'QUIT',
    'OPTOUT',
    'REVOKE',
    'START',
    'YES',
    'UNSTOP',
    'HELP',
    'INFO',
];

function randomCase(rng: Rng, word: string): string {
    return Array.from(word)
        .map((c) => (rng.bool(0.5) ? c.toLowerCase() : c.toUpperCase()))
        .join('');
}

function randomBody(rng: Rng): string {
    return rng.weighted([
        [40, () => text(rng, { maxLength: 160 })],
        [
            6,
            () =>
                `${rng.pick(['', ' ', '\t', '\n '])}${randomCase(rng, rng.pick(KEYWORDS))}${rng.pick(['', ' ', '\r\n'])}`,
        ],
        [2, () => `${randomCase(rng, rng.pick(KEYWORDS))}${rng.pick(['!', '.', ' now', 'S', ' please'])}`],
        [4, () => ''],
        [4, () => longText(rng, 1_600, 12_000)],
        [4, () => text(rng, { maxLength: 60, pools: { ascii: 3, xmlMeta: 3, astral: 1 } })],
        [2, () => text(rng, { maxLength: 30, pools: { ascii: 3, controls: 1 } })],
    ])();
}

function smsParams(rng: Rng): Pair[] {
    const messageSid = rng.weighted([
        [30, () => sid(rng, rng.pick(['SM', 'MM']))],
        [1, () => sid(rng, 'XX')],
        [1, () => `SM${rng.hex(31)}`],
    ])();
    const pairs: Pair[] = [
        ['ToCountry', 'US'],
        ['SmsMessageSid', messageSid],
        ['NumMedia', rng.pick(['0', '1', '3', '-1', 'x'])],
        ['SmsSid', messageSid],
        ['SmsStatus', 'received'],
        ['Body', randomBody(rng)],
        ['To', phone(rng)],
        ['NumSegments', String(rng.int(1, 10))],
        ['MessageSid', messageSid],
        ['AccountSid', sid(rng, 'AC')],
        ['From', phone(rng)],
        ['ApiVersion', '2010-04-01'],
    ];
    if (rng.bool(0.05)) pairs.splice(8, 1); // no MessageSid: the SmsMessageSid is used
    if (rng.bool(0.03)) pairs.splice(0, pairs.length); // an empty form
    return [...pairs, ...extras(rng, 4)];
}

function messageValue(rng: Rng): string {
    return rng.weighted([
        [10, () => text(rng, { minLength: 1, maxLength: 40 })],
        [4, () => `https://cdn.example.com/${rng.alnum(8)}.mp3${rng.bool(0.3) ? '?a=1&b=2' : ''}`],
        [1, () => `${rng.pick(['HTTP', 'Https', 'http'])}://EXAMPLE.com/${rng.alnum(3)}.wav`],
        [
            1,
            () =>
                rng.pick([
                    'https://a b.mp3',
                    'https://',
                    'ftp://x.example/y',
                    ' https://x.example/y \n',
                    'http://\u00a0x',
                ]),
        ],
        [3, () => text(rng, { maxLength: 40, pools: { ascii: 3, xmlMeta: 3, controls: 1 } })],
        [2, () => rng.pick(['', ' ', '\t\n', '\u00a0'])],
        [1, () => longText(rng, 500, 3_000)],
    ])();
}

function messageParams(rng: Rng): Pair[] {
    const pairs: Pair[] = [];
    for (
        let i = rng.weighted([
            [3, 0],
            [5, rng.int(1, 3)],
            [1, rng.int(4, 8)],
        ] as const);
        i > 0;
        i--
    ) {
        const key = rng.weighted([
            [4, 'Message'],
            [1, 'Message[]'],
            [6, `Message[${String(rng.int(0, 12))}]`],
            [1, `Message[0${String(rng.int(0, 9))}]`],
            [1, 'Message[99999999999999999999]'],
        ]);
        pairs.push([key, messageValue(rng)]);
    }
    return pairs;
}

function voiceParams(rng: Rng): Pair[] {
    return [
        ['AccountSid', sid(rng, 'AC')],
        ['ApiVersion', '2010-04-01'],
        ['CallSid', sid(rng, 'CA')],
        ['CallStatus', 'ringing'],
        ['Called', phone(rng)],
        ['Caller', phone(rng)],
        ['CallerName', text(rng, { maxLength: 20 })],
        ['Direction', 'inbound'],
        ['From', phone(rng)],
        ['To', phone(rng)],
        ...extras(rng, 3),
    ];
}

const MESSAGE_STATUSES = [
    'accepted',
    'scheduled',
    'queued',
    'sending',
    'sent',
    'delivered',
    'undelivered',
    'failed',
    'read',
    'canceled',
    'receiving',
    'received',
];
const CALL_STATUSES = [
    'queued',
    'initiated',
    'ringing',
    'in-progress',
    'completed',
    'busy',
    'no-answer',
    'failed',
    'canceled',
];

function statusParams(rng: Rng): { form: Pair[]; query: Pair[] } {
    const kind = rng.weighted([
        [6, 'message'],
        [3, 'call'],
        [1, 'sms-alias'],
        [1, 'not-a-status'],
    ] as const);
    const common: Pair[] = [
        ['AccountSid', sid(rng, 'AC')],
        ['ApiVersion', '2010-04-01'],
        ['From', phone(rng)],
        ['To', phone(rng)],
    ];
    let form: Pair[];
    if (kind === 'message') {
        const messageSid = sid(rng, rng.pick(['SM', 'MM']));
        const state = rng.pick(MESSAGE_STATUSES);
        form = [
            ...common,
            ['MessageSid', messageSid],
            ['MessageStatus', state],
            ['SmsSid', messageSid],
            ['SmsStatus', state],
        ];
        if (rng.bool(0.2)) form.push(['ErrorCode', String(rng.int(30001, 30034))]);
    } else if (kind === 'call') {
        form = [
            ...common,
            ['CallSid', sid(rng, 'CA')],
            ['CallStatus', rng.pick(CALL_STATUSES)],
            ['CallDuration', String(rng.int(0, 600))],
            ['Direction', rng.pick(['outbound-api', 'inbound', 'outbound-dial'])],
            ['SequenceNumber', String(rng.int(0, 5))],
        ];
    } else if (kind === 'sms-alias') {
        form = [...common, ['SmsSid', sid(rng, 'SM')], ['SmsStatus', rng.pick(MESSAGE_STATUSES)]];
    } else {
        form = rng.pick<Pair[]>([
            [...common],
            [...common, ['MessageSid', sid(rng, 'SM')]],
            [...common, ['MessageSid', 'SM123'], ['MessageStatus', 'sent']],
            [...common, ['MessageSid', sid(rng, 'SM')], ['MessageStatus', 'Delivered']],
            [...common, ['CallSid', sid(rng, 'CA')], ['CallStatus', 'x'.repeat(33)]],
            [...common, ['MessageSid', sid(rng, 'SM')], ['MessageStatus', '']],
            [],
        ]);
    }
    form = [...form, ...extras(rng, 3)];
    const query: Pair[] = [];
    if (rng.bool(0.5)) {
        query.push([
            'id',
            rng.weighted([
                [6, () => `cb-${rng.alnum(10)}${rng.pick(['', '.', '~x', ':1', '-2', '_'])}`],
                [1, () => `bad id ${rng.alnum(6)}`],
                [1, () => `${rng.alnum(4)}/é${rng.alnum(4)}`],
            ])(),
        ]);
    }
    return { form, query };
}

// ---------------------------------------------------------------------------------------------------------
// Encoding, signing, requests

type FormStyle = 'standard' | 'percent20' | 'lowerhex' | 'bare-empty' | 'extra-ampersands';

const lowerHex = (encoded: string): string => encoded.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase());

/** `application/x-www-form-urlencoded`, in one of the spellings a sender may use (all decode the same). */
function encodeForm(pairs: readonly Pair[], style: FormStyle): string {
    const standard = (pair: Pair) => new URLSearchParams([pair]).toString();
    switch (style) {
        case 'standard':
            return new URLSearchParams(pairs).toString();
        case 'percent20':
            return pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
        case 'lowerhex':
            return lowerHex(new URLSearchParams(pairs).toString());
        case 'bare-empty':
            return pairs
                .map((pair) => (pair[1] === '' ? standard(pair).replace(/=$/, '') : standard(pair)))
                .join('&');
        case 'extra-ampersands':
            return `&${pairs.map(standard).join('&&')}&`;
    }
}

/** A query string that the URL parser leaves as it is (Twilio percent-encodes what it adds). */
function encodeQuery(pairs: readonly Pair[], style: 'standard' | 'lowerhex' | 'bare-empty'): string {
    if (style === 'bare-empty') return encodeForm(pairs, 'bare-empty');
    return style === 'lowerhex'
        ? lowerHex(new URLSearchParams(pairs).toString())
        : new URLSearchParams(pairs).toString();
}

/** Pairs as Twilio's algorithm takes them: a repeated key's values together (own properties only). */
function signingParams(pairs: readonly Pair[]): Params {
    const grouped = new Map<string, string[]>();
    for (const [key, value] of pairs) grouped.set(key, [...(grouped.get(key) ?? []), value]);
    return Object.fromEntries(
        [...grouped].map(([key, values]) => [key, values.length === 1 ? (values[0] ?? '') : values]),
    );
}

/**
 * What the signature covers of the parameters: Twilio's data string (names sorted, each followed by its
 * distinct values, sorted). Changes that leave it as it is (a repeated value's count, the order of the
 * parameters, an empty name with an empty value) are invisible to Twilio's algorithm by design, so they
 * are not generated as tampering.
 */
function signedView(pairs: readonly Pair[]): string {
    const grouped = new Map<string, Set<string>>();
    for (const [key, value] of pairs) grouped.set(key, (grouped.get(key) ?? new Set()).add(value));
    let data = '';
    for (const key of [...grouped.keys()].sort()) {
        for (const value of [...(grouped.get(key) ?? [])].sort()) data += key + value;
    }
    return data;
}

interface Spec {
    endpoint: Endpoint;
    method: 'GET' | 'POST';
    path: string;
    query: Pair[];
    queryText: string;
    form: Pair[];
    formStyle: FormStyle;
    contentType: string;
    route: Route;
    signature: string | undefined;
}

const pathOf = (endpoint: Endpoint) => `/api/${endpoint}`;
const urlOf = (origin: string, spec: Pick<Spec, 'path' | 'queryText'>) =>
    `${origin}${spec.path}${spec.queryText === '' ? '' : `?${spec.queryText}`}`;

function sign(spec: Spec, token = TOKEN, signedBase = spec.route.signedBase): string {
    return twilioSignature(
        token,
        urlOf(signedBase, spec),
        spec.method === 'GET' ? {} : signingParams(spec.form),
    );
}

function toRequest(spec: Spec): HttpRequest {
    const headers: Record<string, string> = { ...spec.route.headers, 'User-Agent': 'TwilioProxy/1.1' };
    if (spec.signature !== undefined) headers['X-Twilio-Signature'] = spec.signature;
    if (spec.method === 'GET') {
        return new HttpRequest({ method: 'GET', url: urlOf(spec.route.requestOrigin, spec), headers });
    }
    headers['Content-Type'] = spec.contentType;
    return new HttpRequest({
        method: spec.method,
        url: urlOf(spec.route.requestOrigin, spec),
        headers,
        body: { string: encodeForm(spec.form, spec.formStyle) },
    });
}

function genuineSpec(rng: Rng, endpoint: Endpoint, deployment: Deployment): Spec {
    let method: 'GET' | 'POST' = 'POST';
    let query: Pair[] = [];
    let form: Pair[] = [];
    if (endpoint === 'sms') {
        form = smsParams(rng);
        if (rng.bool(0.15)) query = extras(rng, 2);
    } else if (endpoint === 'voice') {
        method = rng.bool(0.5) ? 'GET' : 'POST';
        const params = voiceParams(rng);
        const messages = messageParams(rng);
        if (method === 'GET') query = rng.shuffle([...params, ...messages]);
        else if (rng.bool(0.4)) {
            // A twimlets-style URL configured with messages, and more in the form.
            const split = rng.int(0, messages.length);
            query = messages.slice(0, split);
            form = [...params, ...messages.slice(split)];
        } else form = rng.shuffle([...params, ...messages]);
    } else {
        ({ form, query } = statusParams(rng));
    }
    const spec: Spec = {
        endpoint,
        method,
        path: pathOf(endpoint),
        query,
        queryText: encodeQuery(
            query,
            rng.weighted([
                [8, 'standard'],
                [1, 'lowerhex'],
                [1, 'bare-empty'],
            ] as const),
        ),
        form,
        formStyle: rng.weighted([
            [8, 'standard'],
            [2, 'percent20'],
            [1, 'lowerhex'],
            [1, 'bare-empty'],
            [1, 'extra-ampersands'],
        ] as const),
        contentType: rng.pick([
            'application/x-www-form-urlencoded',
            'application/x-www-form-urlencoded; charset=UTF-8',
            'Application/X-WWW-Form-URLEncoded',
        ]),
        route: route(rng, deployment),
        signature: undefined,
    };
    spec.signature = sign(spec);
    return spec;
}

// ---------------------------------------------------------------------------------------------------------
// Tampering: one change after signing

// prettier-ignore
type Tamper =
    | 'param-changed' | 'param-added' | 'param-removed' | 'host-changed' | 'scheme-changed' | 'path-changed'
    | 'endpoint-replay' | 'query-changed' | 'method-changed' | 'content-type-changed' | 'signature-truncated'
    | 'signature-corrupted' | 'signature-of-another-request' | 'signature-other-token' | 'signature-empty'
    | 'signature-missing';

// prettier-ignore
const TAMPERS: readonly (readonly [number, Tamper])[] = [
    [10, 'param-changed'], [6, 'param-added'], [6, 'param-removed'], [4, 'host-changed'], [3, 'scheme-changed'],
    [3, 'path-changed'], [3, 'endpoint-replay'], [4, 'query-changed'], [2, 'method-changed'],
    [2, 'content-type-changed'], [3, 'signature-truncated'], [3, 'signature-corrupted'],
    [2, 'signature-of-another-request'], [3, 'signature-other-token'], [1, 'signature-empty'], [2, 'signature-missing'],
];

function changedValue(rng: Rng, value: string): string {
    const changed = rng.weighted([
        [4, () => value + text(rng, { minLength: 1, maxLength: 3 })],
        [3, () => text(rng, { minLength: 1, maxLength: 20 })],
        [2, () => value.slice(0, -1)],
        [2, () => (value === value.toUpperCase() ? value.toLowerCase() : value.toUpperCase())],
        [1, () => ` ${value}`],
        [1, () => value.normalize(value.normalize('NFC') === value ? 'NFD' : 'NFC')],
    ])();
    // (Cutting the last code unit can split a surrogate pair, which no request can carry.)
    const wellFormed = Buffer.from(changed, 'utf8').toString('utf8') === changed;
    return changed === value || !wellFormed ? `${value}x` : changed;
}

/** Where the parameters of `spec` are: the form (POST) or the query (GET). */
function paramSide(spec: Spec): 'form' | 'query' {
    return spec.method === 'GET' ? 'query' : 'form';
}

function withParams(spec: Spec, side: 'form' | 'query', pairs: Pair[], rng: Rng): Spec {
    if (side === 'form') return { ...spec, form: pairs };
    return {
        ...spec,
        query: pairs,
        queryText: encodeQuery(pairs, rng.pick(['standard', 'lowerhex'] as const)),
    };
}

/** Applies `tamper` to a signed genuine request, or undefined when it does not apply to this one. */
function tamper(rng: Rng, spec: Spec, kind: Tamper, another: Spec): Spec | undefined {
    const side = rng.bool(0.75)
        ? paramSide(spec)
        : spec.method === 'GET'
          ? 'query'
          : rng.pick(['form', 'query'] as const);
    const pairs = side === 'form' ? spec.form : spec.query;
    const changesSignedView = (next: Pair[]) => side === 'query' || signedView(next) !== signedView(pairs);
    switch (kind) {
        case 'param-changed': {
            if (pairs.length === 0) return undefined;
            const index = rng.int(0, pairs.length - 1);
            const next = pairs.map((pair, i): Pair =>
                i === index ? [pair[0], changedValue(rng, pair[1])] : pair,
            );
            return changesSignedView(next) ? withParams(spec, side, next, rng) : undefined;
        }
        case 'param-added': {
            const existing = pairs.length > 0 && rng.bool(0.3) ? rng.pick(pairs)[0] : randomName(rng);
            const next: Pair[] = [...pairs];
            next.splice(rng.int(0, pairs.length), 0, [existing, randomValue(rng)]);
            return changesSignedView(next) ? withParams(spec, side, next, rng) : undefined;
        }
        case 'param-removed': {
            if (pairs.length === 0) return undefined;
            const index = rng.int(0, pairs.length - 1);
            const next = pairs.filter((_, i) => i !== index);
            return changesSignedView(next) ? withParams(spec, side, next, rng) : undefined;
        }
        case 'host-changed': {
            const { route: r } = spec;
            if (r.variant === 'public-base-url') {
                const other = rng.pick([
                    'https://evil.example.com',
                    `${PUBLIC_ORIGIN}.evil.com`,
                    'https://api.contoso.com',
                    `${APIM_BASE}2`,
                    'https://api.contoso.com/other',
                    'https://myapp2.azurewebsites.net',
                ]);
                if (other === r.signedBase.replace(':443', '')) return undefined;
                // The attacker holds a signature Twilio made for another site.
                return { ...spec, signature: sign(spec, TOKEN, other) };
            }
            if (r.variant === 'forwarded') {
                return {
                    ...spec,
                    route: {
                        ...r,
                        headers: {
                            ...r.headers,
                            'X-Forwarded-Host': rng.pick([
                                'evil.example.com',
                                `${HOST}.evil.com`,
                                'myapp2.azurewebsites.net',
                            ]),
                        },
                    },
                };
            }
            return {
                ...spec,
                route: {
                    ...r,
                    requestOrigin: rng.pick(['https://evil.example.com', 'https://myapp2.azurewebsites.net']),
                },
            };
        }
        case 'scheme-changed': {
            const { route: r } = spec;
            if (r.variant === 'public-base-url')
                return { ...spec, signature: sign(spec, TOKEN, r.signedBase.replace('https:', 'http:')) };
            if (r.variant === 'forwarded') {
                const headers = { ...r.headers };
                if (rng.bool(0.5)) headers['X-Forwarded-Proto'] = 'http';
                else delete headers['X-Forwarded-Proto']; // the request's own scheme (http) is then used
                return { ...spec, route: { ...r, headers } };
            }
            return { ...spec, route: { ...r, requestOrigin: `http://${HOST}` } };
        }
        case 'path-changed':
            return {
                ...spec,
                path: rng.pick([
                    `${spec.path}/`,
                    spec.path.toUpperCase(),
                    `${spec.path}2`,
                    `/api/v2${spec.path.slice(4)}`,
                    `/x${spec.path}`,
                ]),
            };
        case 'endpoint-replay': {
            if (spec.method === 'GET') return undefined;
            const target = rng.pick((['sms', 'voice', 'status'] as const).filter((e) => e !== spec.endpoint));
            return { ...spec, endpoint: target, path: pathOf(target) };
        }
        case 'query-changed': {
            const choice = rng.int(0, 2);
            if (choice === 0 || spec.query.length === 0) {
                const added: Pair[] = [
                    ...spec.query,
                    [rng.pick(['x', 'id', 'Message', 'bodySHA', 'utm']), rng.alnum(rng.int(0, 4))],
                ];
                return { ...spec, query: added, queryText: encodeQuery(added, 'standard') };
            }
            if (choice === 1) return { ...spec, query: [], queryText: '' };
            const reordered = [...spec.query].reverse();
            const reorderedText = encodeQuery(reordered, 'standard');
            return reorderedText === spec.queryText
                ? undefined
                : { ...spec, query: reordered, queryText: reorderedText };
        }
        case 'method-changed': {
            if (spec.endpoint !== 'voice') return undefined;
            if (spec.method === 'POST') {
                if (signedView(spec.form) === '') return undefined;
                const query = [...spec.query, ...spec.form];
                return { ...spec, method: 'GET', form: [], query, queryText: encodeQuery(query, 'standard') };
            }
            if (spec.query.length === 0) return undefined;
            return { ...spec, method: 'POST', form: spec.query, query: [], queryText: '' };
        }
        case 'content-type-changed':
            // The form is then not read: a change unless the form signs as nothing.
            if (spec.method === 'GET' || signedView(spec.form) === '') return undefined;
            return {
                ...spec,
                contentType: rng.pick([
                    'text/plain',
                    'application/json',
                    'multipart/form-data; boundary=x',
                    'application/xml',
                ]),
            };
        case 'signature-truncated': {
            const signature = spec.signature ?? '';
            return { ...spec, signature: signature.slice(0, rng.int(1, signature.length - 1)) };
        }
        case 'signature-corrupted': {
            const signature = spec.signature ?? '';
            const index = rng.int(0, signature.length - 2); // not the '=' padding
            const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
            const replacement = rng.pick(alphabet.split('').filter((c) => c !== signature[index]));
            return {
                ...spec,
                signature: signature.slice(0, index) + replacement + signature.slice(index + 1),
            };
        }
        case 'signature-of-another-request':
            return another.signature === undefined ||
                another.signature === '' ||
                another.signature === spec.signature
                ? undefined
                : { ...spec, signature: another.signature };
        case 'signature-other-token':
            return { ...spec, signature: sign(spec, OTHER_TOKEN) };
        case 'signature-empty':
            return { ...spec, signature: '' };
        case 'signature-missing':
            return { ...spec, signature: undefined };
    }
}

// ---------------------------------------------------------------------------------------------------------
// Expectations, written from the README (not from the handlers)

const first = (pairs: readonly Pair[], key: string): string | undefined =>
    pairs.find(([k]) => k === key)?.[1];

/**
 * Whole message, any (ASCII) case, surrounding white space ignored; an opt-out (the first eight) also with
 * trailing punctuation, which the app honours too (docs/opt-outs.md).
 */
const isKeyword = (body: string | undefined): boolean =>
    body !== undefined &&
    (new RegExp(`^(?:${KEYWORDS.join('|')})$`, 'i').test(body.trim()) ||
        new RegExp(`^(?:${KEYWORDS.slice(0, 8).join('|')})[.!?,;:]+$`, 'i').test(body.trim()));

interface Verb {
    name: string;
    text: string;
}

/** `Message`, `Message[]` in order, then `Message[n]` by n (ties in order); empty ones skipped. */
function expectedVoice(query: readonly Pair[], form: readonly Pair[]): Verb[] {
    const plain: string[] = [];
    const indexed: { index: number; order: number; value: string }[] = [];
    for (const [key, raw] of [...query, ...form]) {
        const match = /^Message(?:\[(\d*)\])?$/.exec(key);
        const value = raw.trim();
        if (match === null || value === '') continue;
        if (match[1] === undefined || match[1] === '') plain.push(value);
        else indexed.push({ index: Number(match[1]), order: indexed.length, value });
    }
    indexed.sort((a, b) => a.index - b.index || a.order - b.order);
    const messages = [...plain, ...indexed.map((entry) => entry.value)];
    if (messages.length === 0) return [{ name: 'Say', text: dropNonXmlChars(VOICE_GREETING) }];
    return messages.map((message) => ({
        name: /^https?:\/\/\S+$/i.test(message) ? 'Play' : 'Say',
        text: dropNonXmlChars(message),
    }));
}

function expectedSms(form: readonly Pair[]): Verb[] {
    return isKeyword(first(form, 'Body')) ? [] : [{ name: 'Message', text: dropNonXmlChars(SMS_REPLY) }];
}

/** Checks a TwiML answer: well-formed, `<Response>` root, exactly `verbs`, nothing else. */
function twimlProblem(response: HttpResponseInit, verbs: Verb[]): string | undefined {
    if (
        response.headers === undefined ||
        (response.headers as Record<string, string>)['Content-Type'] !== 'text/xml'
    ) {
        return `Content-Type is not text/xml: ${JSON.stringify(response.headers)}`;
    }
    if (typeof response.body !== 'string') return 'the body is not a string';
    const xml = response.body;
    const checked = checkXml(xml);
    if (!checked.ok) return `not well-formed XML (${checked.error} at ${String(checked.offset)})`;
    const { document } = checked;
    if (document.declaration?.version !== '1.0' || document.declaration.encoding !== 'UTF-8')
        return 'no XML 1.0 UTF-8 declaration';
    if (document.comments + document.processingInstructions + document.cdataSections > 0)
        return 'comments, PIs or CDATA in TwiML';
    if (document.root.name !== 'Response') return `root <${document.root.name}>`;
    if (Object.keys(document.root.attributes).length > 0) return 'attributes on <Response>';
    if (document.root.children.some((child) => !('name' in child))) return 'text directly in <Response>';
    const got = childElements(document.root).map((element) => {
        const nested = childElements(element).length + Object.keys(element.attributes).length;
        return {
            name: nested > 0 ? `${element.name}(+${String(nested)} nested/attributes)` : element.name,
            text: textContent(element),
        };
    });
    if (JSON.stringify(got) !== JSON.stringify(verbs)) {
        return `verbs ${JSON.stringify(got).slice(0, 300)} ≠ expected ${JSON.stringify(verbs).slice(0, 300)}`;
    }
    return undefined;
}

interface ExpectedRecord {
    key: string;
    check: (record: LedgerRecord) => string | undefined;
}

/** The ledger record a genuine request leaves (README: inbound messages deduplicated on MessageSid). */
function expectedSmsRecord(form: readonly Pair[]): ExpectedRecord | undefined {
    const messageSid = first(form, 'MessageSid') ?? first(form, 'SmsMessageSid');
    if (messageSid === undefined || !/^(SM|MM)[0-9a-fA-F]{32}$/.test(messageSid)) return undefined;
    const body = first(form, 'Body') ?? '';
    return {
        key: messageSid,
        check: (record) =>
            record.direction === 'inbound' &&
            record.type === 'sms' &&
            record.status === 'received' &&
            record.bodyLength === body.length &&
            record.sid === messageSid &&
            record.to === first(form, 'To') &&
            record.from === first(form, 'From') &&
            record.body === undefined
                ? undefined
                : `record ${JSON.stringify(record).slice(0, 300)}`,
    };
}

type StatusExpectation = { valid: false } | { valid: true; record: ExpectedRecord };

/**
 * README: "updates the ledger (idempotent, never backwards; unknown SIDs are recorded)", and a callback
 * only changes the record of the send that produced it: the fuzzed ledger holds no send waiting for these
 * SIDs, so every valid callback is kept under its own SID, whatever `id` its URL names.
 */
function expectedStatus(form: readonly Pair[]): StatusExpectation {
    const callSid = first(form, 'CallSid');
    const isCall = callSid !== undefined && first(form, 'CallStatus') !== undefined;
    const theSid = isCall ? callSid : (first(form, 'MessageSid') ?? first(form, 'SmsSid'));
    const state = isCall
        ? first(form, 'CallStatus')
        : (first(form, 'MessageStatus') ?? first(form, 'SmsStatus'));
    if (
        theSid === undefined ||
        state === undefined ||
        !/^[A-Z]{2}[0-9a-fA-F]{32}$/.test(theSid) ||
        !/^[a-z][a-z_-]{0,31}$/.test(state)
    ) {
        return { valid: false };
    }
    const key = theSid;
    return {
        valid: true,
        record: {
            key,
            check: (record) =>
                record.status === state &&
                record.type === (isCall ? 'call' : 'sms') &&
                record.sid === theSid &&
                record.history.some((e) => e.status === state && e.sid === theSid && e.source === 'twilio')
                    ? undefined
                    : `record ${JSON.stringify(record).slice(0, 300)}`,
        },
    };
}

/** Every id the request could have written under: its SIDs and its `id`. */
function ledgerKeys(spec: Spec): string[] {
    const keys = new Set<string>();
    for (const [k, v] of [...spec.form, ...spec.query]) {
        if (['MessageSid', 'SmsMessageSid', 'SmsSid', 'CallSid', 'id'].includes(k) && v !== '') keys.add(v);
    }
    return [...keys];
}

// ---------------------------------------------------------------------------------------------------------
// Running

interface Case {
    n: number;
    klass: string;
    deployment: Deployment;
    spec: Spec;
    expectedStatus: number;
    verbs: Verb[] | undefined;
    record: ExpectedRecord | undefined;
    /** Ids that must not be in the ledger afterwards. */
    untouched: string[];
}

function generateCase(
    rng: Rng,
    n: number,
    pool: readonly Deployment[],
    previous: Spec | undefined,
    forgedOnly = false,
): Case {
    const endpoint = rng.pick(['sms', 'voice', 'status'] as const);
    const deployment = rng.pick(pool);
    const genuine = genuineSpec(rng, endpoint, deployment);
    const another = previous ?? genuineSpec(rng, endpoint, deployment);
    if (forgedOnly || rng.bool(0.45)) {
        for (let attempt = 0; attempt < 20; attempt++) {
            const kind = rng.weighted(TAMPERS);
            const spec = tamper(rng, genuine, kind, another);
            if (spec === undefined) continue;
            const missing = spec.signature === undefined || spec.signature === '';
            return {
                n,
                klass: `tampered:${kind}`,
                deployment,
                spec,
                expectedStatus: missing ? 400 : 403,
                verbs: undefined,
                record: undefined,
                untouched: ledgerKeys(spec),
            };
        }
    }
    if (endpoint === 'sms') {
        const record = expectedSmsRecord(genuine.form);
        const verbs = expectedSms(genuine.form);
        return {
            n,
            klass:
                record === undefined
                    ? 'valid:no-valid-MessageSid'
                    : verbs.length === 0
                      ? 'valid:keyword'
                      : 'valid',
            deployment,
            spec: genuine,
            expectedStatus: 200,
            verbs,
            record,
            untouched: record === undefined ? ledgerKeys(genuine) : [],
        };
    }
    if (endpoint === 'voice') {
        return {
            n,
            klass: `valid:${genuine.method}`,
            deployment,
            spec: genuine,
            expectedStatus: 200,
            verbs: expectedVoice(genuine.query, genuine.form),
            record: undefined,
            untouched: ledgerKeys(genuine),
        };
    }
    const expectation = expectedStatus(genuine.form);
    return expectation.valid
        ? {
              n,
              klass: 'valid',
              deployment,
              spec: genuine,
              expectedStatus: 204,
              verbs: undefined,
              record: expectation.record,
              untouched: [],
          }
        : {
              n,
              klass: 'signed-not-a-status',
              deployment,
              spec: genuine,
              expectedStatus: 400,
              verbs: undefined,
              record: undefined,
              untouched: ledgerKeys(genuine),
          };
}

interface RunResult {
    failures: string[];
    /** The numbers of the cases with at least one failure. */
    failed: Set<number>;
    counts: Map<string, number>;
}

function describeCase(c: Case): string {
    return `FUZZ_SEED=${String(SEED)} case ${String(c.n)} ${c.spec.endpoint} ${c.klass} [${c.deployment.name}/${c.spec.route.variant} ${c.spec.method}]`;
}

async function runCases(cases: readonly Case[], ledger: () => Ledger, rng: Rng): Promise<RunResult> {
    const failures: string[] = [];
    const failed = new Set<number>();
    const fail = (c: Case, problem: string) => {
        failures.push(`${describeCase(c)}: ${problem}`);
        failed.add(c.n);
    };
    const counts = new Map<string, number>();
    for (const c of cases) {
        const label = `${c.spec.endpoint} ${c.klass.split(':')[0] ?? ''}`;
        counts.set(label, (counts.get(label) ?? 0) + 1);
        if (c.klass.includes(':')) {
            const full = `${c.spec.endpoint} ${c.klass}`;
            counts.set(full, (counts.get(full) ?? 0) + 1);
        }
        setDependencies(c.deployment.deps);
        if (c.deployment.keyVault) vault.now += rng.int(0, 3_000);
        const context = new InvocationContext({
            functionName: c.spec.endpoint,
            invocationId: `fuzz-${String(c.n)}`,
            logHandler: () => undefined,
        });
        let response: HttpResponseInit;
        try {
            response = await HANDLERS[c.spec.endpoint](toRequest(c.spec), context);
        } catch (error) {
            fail(c, `threw ${error instanceof Error ? error.message : String(error)}`);
            continue;
        }
        if (response.status !== c.expectedStatus) {
            fail(c, `status ${String(response.status)}, expected ${String(c.expectedStatus)}`);
            continue;
        }
        if (c.verbs !== undefined) {
            const problem = twimlProblem(response, c.verbs);
            if (problem !== undefined) fail(c, problem);
        } else if (typeof response.body === 'string' && response.body.includes('<Response')) {
            fail(c, 'a refused request got TwiML');
        }
    }
    // The ledger: what genuine requests recorded, and nothing from the others.
    let expectedRecords = 0;
    for (const c of cases) {
        if (c.record !== undefined) {
            expectedRecords++;
            const stored = await ledger().get(c.record.key);
            const problem = stored === undefined ? 'not recorded' : c.record.check(stored);
            if (problem !== undefined) fail(c, `ledger ${c.record.key}: ${problem}`);
        }
        for (const key of c.untouched) {
            if ((await ledger().get(key)) !== undefined) fail(c, `ledger has ${key}`);
        }
    }
    counts.set('ledger records expected', expectedRecords);
    return { failures, failed, counts };
}

function report(title: string, result: RunResult): void {
    const lines = [...result.counts]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => `  ${k}: ${String(v)}`);
    console.log(
        `${title} (FUZZ_SEED=${String(SEED)})\n${lines.join('\n')}\n  Key Vault reads: ${String(vault.reads)} over ${String(Math.round((vault.now - vaultStart) / 60_000))} fake minutes`,
    );
}

/** ≤ 1 initial read + ≤ 1 per minute of (fake) time, however many forged requests arrived. */
function vaultReadBound(): number {
    return 1 + Math.floor((vault.now - vaultStart) / 60_000);
}

let azurite: Azurite;

beforeAll(async () => {
    console.log(`webhooks fuzz: FUZZ_SEED=${String(SEED)}`);
    azurite = await startAzurite({ ports: 'free' });
}, 60_000);

afterAll(async () => {
    setDependencies();
    await azurite.stop();
});

describe(`webhook fuzzing (FUZZ_SEED=${String(SEED)})`, () => {
    it(`${String(BULK_REQUESTS)} generated requests: every tampered one refused, every genuine one answered with well-formed TwiML`, async () => {
        const memory = createMemoryLedger({ storeBody: false });
        const pool = deployments(() => memory, {});
        const rng = new Rng(SEED).fork('bulk');
        const cases: Case[] = [];
        for (let n = 0; n < BULK_REQUESTS; n++) cases.push(generateCase(rng, n, pool, cases[n - 1]?.spec));
        const result = await runCases(cases, () => memory, rng.fork('run'));
        report(`bulk: ${String(cases.length)} requests, in-memory ledger`, result);

        expect(result.failures.slice(0, 25)).toEqual([]);
        expect(memory.size).toBe(result.counts.get('ledger records expected'));
        expect(vault.reads).toBeGreaterThanOrEqual(1);
        expect(vault.reads).toBeLessThanOrEqual(vaultReadBound());
        // Every class was generated.
        for (const label of [
            'sms valid',
            'sms tampered',
            'voice valid',
            'voice tampered',
            'status valid',
            'status tampered',
            'status signed-not-a-status',
        ]) {
            expect(result.counts.get(label) ?? 0).toBeGreaterThan(50);
        }
    }, 120_000);

    it(`${String(AZURITE_REQUESTS)} generated requests with the ledger on Azurite (AzureWebJobsStorage)`, async () => {
        const pool = deployments(undefined, {
            AzureWebJobsStorage: azurite.connectionString,
            LEDGER_TABLE: `fuzz${String(SEED)}`,
        });
        const ledger = pool[0]?.deps.ledger;
        if (ledger === undefined) throw new Error('no deployments');
        // Every deployment's ledger is the same table.
        const rng = new Rng(SEED).fork('azurite');
        const cases: Case[] = [];
        for (let n = 0; n < AZURITE_REQUESTS; n++) cases.push(generateCase(rng, n, pool, cases[n - 1]?.spec));
        const result = await runCases(cases, ledger, rng.fork('run'));
        report(`azurite: ${String(cases.length)} requests, Table ledger`, result);

        expect(result.failures.slice(0, 25)).toEqual([]);
        const all = await ledger().list({ pageSize: 1000, dateFrom: '2000-01-01' });
        expect(all.items.length).toBe(result.counts.get('ledger records expected'));
        expect(vault.reads).toBeLessThanOrEqual(vaultReadBound());
    }, 120_000);

    it(`a burst of ${String(BURST_REQUESTS)} forged requests with the clock stopped costs at most one Key Vault read`, async () => {
        const memory = createMemoryLedger({ storeBody: false });
        const pool = deployments(() => memory, {}).filter((d) => d.keyVault);
        const rng = new Rng(SEED).fork('burst');
        vault.now += 61_000; // a refresh is allowed again
        const before = vault.reads;
        const stopped = vault.now;
        const failures: string[] = [];
        let previous: Spec | undefined;
        for (let n = 0; n < BURST_REQUESTS; n++) {
            const c = generateCase(rng, n, pool, previous, true);
            previous = c.spec;
            setDependencies(c.deployment.deps);
            const context = new InvocationContext({
                functionName: c.spec.endpoint,
                logHandler: () => undefined,
            });
            const response = await HANDLERS[c.spec.endpoint](toRequest(c.spec), context);
            if (response.status !== c.expectedStatus)
                failures.push(`${describeCase(c)}: status ${String(response.status)}`);
        }
        expect(vault.now).toBe(stopped);
        expect(failures.slice(0, 25)).toEqual([]);
        expect(vault.reads - before).toBeLessThanOrEqual(1);
        expect(memory.size).toBe(0);
    }, 60_000);

    it('self-check: with signature validation switched off, every tampered request (and only those) is reported', async () => {
        const memory = createMemoryLedger({ storeBody: false });
        const pool = deployments(() => memory, { TWILIO_WEBHOOK_VALIDATION: 'off' }).filter(
            (d) => !d.keyVault,
        );
        const rng = new Rng(SEED).fork('self-check');
        const cases: Case[] = [];
        for (let n = 0; n < 400; n++) cases.push(generateCase(rng, n, pool, cases[n - 1]?.spec));
        const result = await runCases(cases, () => memory, rng.fork('run'));
        // An unsigned status callback expects 400 (missing signature); with validation off, one whose
        // parameters are not a status also gets 400, from the handler itself: those cases cannot tell.
        const ambiguous = (c: Case) => c.expectedStatus === 400 && c.spec.endpoint === 'status';
        const tampered = cases.filter((c) => c.klass.startsWith('tampered') && !ambiguous(c)).map((c) => c.n);
        expect(tampered.length).toBeGreaterThan(100);
        const failed = [...result.failed].filter((n) => cases[n] !== undefined && !ambiguous(cases[n]));
        expect(failed.sort((a, b) => a - b)).toEqual(tampered);
    }, 60_000);
});

describe('webhook signature bugs found by fuzzing', () => {
    const url = `${PUBLIC_ORIGIN}/api/sms`;
    const form: Pair[] = [
        ['MessageSid', `SM${'0'.repeat(32)}`],
        ['From', '+15550100999'],
        ['To', '+15550100998'],
        ['Body', 'hello'],
    ];
    const post = (pairs: readonly Pair[], signature: string) =>
        new HttpRequest({
            method: 'POST',
            url,
            headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'X-Twilio-Signature': signature },
            body: { string: new URLSearchParams(pairs).toString() },
        });
    beforeEach(() => {
        setDependencies(deployments(() => createMemoryLedger({ storeBody: false }), {})[1]?.deps);
    });

    it('a form parameter named __proto__ added after signing is refused', async () => {
        const signature = twilioSignature(TOKEN, url, signingParams(form));
        expect((await inboundSms(post(form, signature), testContextQuiet())).status).toBe(200);
        const forged = await inboundSms(
            post([...form, ['__proto__', 'added by an attacker']], signature),
            testContextQuiet(),
        );
        expect(forged.status).toBe(403);
    });

    it.each(["Message=Don't+hang+up", "Message[0]=O'Brien&Message[1]=hi", "Message=It's%20me:%20Bob"])(
        'a GET signed by Twilio for a configured query with an apostrophe (%s) is accepted',
        async (query) => {
            const signedUrl = `${PUBLIC_ORIGIN}/api/voice?${query}`;
            const request = new HttpRequest({
                method: 'GET',
                url: signedUrl,
                headers: { 'X-Twilio-Signature': twilioSignature(TOKEN, signedUrl) },
            });
            expect((await voice(request, testContextQuiet())).status).toBe(200);
        },
    );
});

function testContextQuiet(): InvocationContext {
    return new InvocationContext({ functionName: 'fuzz', logHandler: () => undefined });
}
