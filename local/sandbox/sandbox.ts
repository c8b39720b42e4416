/**
 * The Twilio sandbox: a local stand-in for the part of Twilio's REST API this app and its deployment use
 * (Messages, Calls, IncomingPhoneNumbers and Keys under `/2010-04-01/Accounts/{AccountSid}`) and for the
 * requests Twilio makes back (message status callbacks, the call's TwiML fetch and call status callbacks),
 * all signed with the sandbox's auth token. REST requests authenticate with the account's auth token or
 * with one of its API keys, in HTTP Basic auth as Twilio takes them.
 *
 * The real `twilio` SDK talks to it unchanged through the client factory's `TWILIO_API_URL` redirect.
 * `npm start` runs the app against it when no Twilio account is configured; tests use it as the fake
 * Twilio API. It listens on loopback only.
 *
 * Besides the API it serves `GET /sandbox/messages`, `/sandbox/calls`, `/sandbox/phone-numbers` and
 * `/sandbox/requests` (no auth): everything it received and did, newest first, with each resource's status
 * history and callbacks, and each number's updates.
 *
 * This module is the composition root and the public surface: it checks the options, builds the
 * {@link SandboxContext} (store.ts, lifecycleScheduler.ts) that every part is handed, starts the server
 * (server.ts → router.ts → messages.ts, calls.ts, incomingPhoneNumbers.ts, keys.ts; views.ts) and
 * returns the handle. The lifecycles (messageLifecycle.ts, callLifecycle.ts) and the signed requests
 * they make (signedCallbacks.ts) run behind it. A new option for the next parts (delivery outcomes, the
 * call simulator's answers) is read here and put on the context.
 */

import { randomBytes } from 'node:crypto';
import { shortSid, type SandboxContext } from './context';
import { newKeySecret, type ApiKeyType, type NewApiKey } from './credentials';
import type { InboundSmsResult } from './inbound';
import { placeInboundCall, type SandboxInboundCall } from './inboundCalls';
import { receiveSms, type SandboxInboundSms } from './inboundMessages';
import { createApiKey, revokeApiKey } from './keys';
import { createLifecycleScheduler } from './lifecycleScheduler';
import { createRateLimiter, type RateLimitOptions } from './rateLimit';
import { newPhoneNumber, type SandboxPhoneNumber } from './phoneNumbers';
import type { SandboxRecording } from './recordings';
import { isE164, newSid, SANDBOX_NUMBER, type SandboxCall, type SandboxMessage } from './resources';
import { startSandboxServer } from './server';
import { createSandboxStore, type ReceivedRequest } from './store';

export type { CallbackAttempt, CallStatus, MessageStatus, SandboxCall, SandboxMessage } from './resources';
export type { InboundSmsResult } from './inbound';
export type { RateLimitOptions } from './rateLimit';
export type { ApiKeyType, NewApiKey } from './credentials';
export type { PhoneNumberUpdate, SandboxPhoneNumber } from './phoneNumbers';
export type { ReceivedRequest } from './store';
export type { SandboxRecording } from './recordings';
export type { SandboxInboundSms } from './inboundMessages';
export type { SandboxInboundCall } from './inboundCalls';
export type { CallScript, CalleeAnswer, RecordInput } from './callScript';
export type { TranscriptStep } from './callTranscript';

export interface TwilioSandboxOptions {
    accountSid: string;
    authToken: string;
    /**
     * A Standard API key of the account (`SK` + 32 hex), accepted in Basic auth with `apiKeySecret` as
     * Twilio accepts it. More keys: {@link TwilioSandbox.createApiKey} or the Keys resource.
     */
    apiKeySid?: string | undefined;
    apiKeySecret?: string | undefined;
    /** The numbers the account owns (IncomingPhoneNumbers), E.164; default: the sandbox's number. */
    phoneNumbers?: readonly string[];
    /** 0 (the default) picks a free port. */
    port?: number;
    host?: '127.0.0.1';
    /** Pause before each lifecycle step (status change and its callback); default 200 ms, 0 in tests. */
    callbackDelayMs?: number;
    /** Called with one line per event; phone numbers are masked and message bodies never included. */
    log?: (line: string) => void;
    /** Used for every request the sandbox makes (callbacks, TwiML, inbound messages). */
    fetch?: typeof fetch;
    /**
     * Answer every n-th Messages or Calls create with Twilio's 429 (20429), creating nothing
     * (rateLimit.ts); default: never.
     */
    rateLimit?: RateLimitOptions | undefined;
}

export interface TwilioSandbox {
    /** e.g. `http://127.0.0.1:53412`: pass it as the client factory's `apiUrl` / `TWILIO_API_URL`. */
    readonly url: string;
    readonly accountSid: string;
    readonly authToken: string;
    /** Every message, newest first (outbound from the API, inbound and replies from {@link receiveSms}). */
    readonly messages: readonly Readonly<SandboxMessage>[];
    /** Every call, newest first. */
    readonly calls: readonly Readonly<SandboxCall>[];
    /** Every recording calls left (`<Record>`), newest first; served at `…/Recordings/{Sid}`. */
    readonly recordings: readonly Readonly<SandboxRecording>[];
    /** The account's numbers, in the order they were provisioned. */
    readonly phoneNumbers: readonly Readonly<SandboxPhoneNumber>[];
    /** Adds an API key of the account (Standard unless `type` says `main`); the secret is returned only here. */
    createApiKey(options?: { friendlyName?: string; type?: ApiKeyType }): NewApiKey;
    /** Revokes an API key: requests with it are refused (401, 20003) from then on. */
    revokeApiKey(sid: string): boolean;
    /** The REST requests received, oldest first. */
    received(): readonly ReceivedRequest[];
    /**
     * An inbound message to the app, as Twilio delivers it: recorded as an `inbound` message, posted signed
     * to `appUrl`, and each `<Message>` of the TwiML answer recorded and sent as an `outbound-reply`.
     */
    receiveSms(message: SandboxInboundSms): Promise<InboundSmsResult>;
    /**
     * A call to one of the account's numbers, as Twilio handles it: recorded as an `inbound` call, the
     * number's Voice URL (or `url`) fetched signed, its TwiML run with `script` (keys per `<Gather>`,
     * callees' answers, recordings). Resolves with the finished call and its `transcript`.
     */
    placeInboundCall(call: SandboxInboundCall): Promise<Readonly<SandboxCall>>;
    /** Resolves once every scheduled status change and callback has run. */
    idle(): Promise<void>;
    /** Stops the server and abandons pending callbacks. */
    close(): Promise<void>;
}

const DEFAULT_CALLBACK_DELAY_MS = 200;

export interface TestCredentials {
    accountSid: string;
    authToken: string;
    /** A Standard API key of the account, as Twilio recommends for REST calls in production. */
    apiKeySid: string;
    apiKeySecret: string;
}

/**
 * Credentials in Twilio's shape, random each time: `AC` + 32 hex, a 32-hex auth token, and an API key
 * (`SK` + 32 hex, a 32-character secret). Pass them whole to {@link startTwilioSandbox}.
 */
export function generateTestCredentials(): TestCredentials {
    return {
        accountSid: newSid('AC'),
        authToken: randomBytes(16).toString('hex'),
        apiKeySid: newSid('SK'),
        apiKeySecret: newKeySecret(),
    };
}

/** Starts the sandbox on loopback. */
export async function startTwilioSandbox(options: TwilioSandboxOptions): Promise<TwilioSandbox> {
    const { accountSid, authToken } = options;
    if (!/^AC[0-9a-fA-F]{32}$/.test(accountSid)) throw new Error('accountSid must be AC + 32 hex characters');
    if (authToken === '') throw new Error('authToken must not be empty');
    const log = options.log ?? (() => undefined);
    const rateLimit = createRateLimiter(options.rateLimit);
    const store = createSandboxStore(accountSid, authToken);
    if ((options.apiKeySid === undefined) !== (options.apiKeySecret === undefined)) {
        throw new Error('apiKeySid and apiKeySecret go together');
    }
    if (options.apiKeySid !== undefined) {
        store.addKey({ sid: options.apiKeySid, secret: options.apiKeySecret, friendlyName: 'sandbox' });
    }
    for (const number of options.phoneNumbers ?? [SANDBOX_NUMBER]) {
        if (!isE164(number)) throw new Error('phoneNumbers must be E.164 numbers');
        if (store.phoneNumbers.oldestFirst().some((n) => n.phoneNumber === number))
            throw new Error('phoneNumbers repeats a number');
        store.phoneNumbers.add(newPhoneNumber(accountSid, number));
    }

    let serverUrl = '';
    const ctx: SandboxContext = {
        accountSid,
        get url() {
            return serverUrl;
        },
        authToken,
        store,
        lifecycles: createLifecycleScheduler({
            delayMs: options.callbackDelayMs ?? DEFAULT_CALLBACK_DELAY_MS,
            log,
        }),
        log,
        fetch: options.fetch ?? globalThis.fetch,
        rateLimit,
    };
    const server = await startSandboxServer(ctx, {
        port: options.port ?? 0,
        host: options.host ?? '127.0.0.1',
    });
    const { url } = server;
    serverUrl = url;
    log(`sandbox: Twilio API stand-in listening on ${url} (account ${shortSid(accountSid)})`);
    if (options.rateLimit !== undefined) {
        const n = options.rateLimit.every;
        log(
            `sandbox: rateLimit: creates ${String(n)}, ${String(2 * n)}, ${String(3 * n)}, … answer 429 (20429)`,
        );
    }

    let closing: Promise<void> | undefined;
    return {
        url,
        accountSid,
        authToken,
        get messages() {
            return store.messages.newestFirst();
        },
        get calls() {
            return store.calls.newestFirst();
        },
        get recordings() {
            return store.recordings.newestFirst();
        },
        get phoneNumbers() {
            return store.phoneNumbers.oldestFirst();
        },
        createApiKey(keyOptions = {}) {
            const { key, secret } = createApiKey(ctx, keyOptions);
            return { sid: key.sid, secret };
        },
        revokeApiKey: (sid) => revokeApiKey(ctx, sid),
        received: () => store.requests(),
        receiveSms: (inbound) => receiveSms(ctx, inbound),
        placeInboundCall: (inbound) => placeInboundCall(ctx, inbound),
        idle: () => ctx.lifecycles.idle(),
        close() {
            closing ??= (async () => {
                ctx.lifecycles.cancelAll();
                await server.close();
                await ctx.lifecycles.idle();
                log('sandbox: closed');
            })();
            return closing;
        },
    };
}
