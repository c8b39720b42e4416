/**
 * The outbound pipeline's real surroundings for integration tests: Azurite on free ports with a ledger
 * table, the Twilio sandbox, and the fault proxy between the real `twilio` client and the sandbox.
 *
 * The sandbox makes requests back to the app (status callbacks, a call's TwiML URL) on the app's public
 * origin, `https://app.example.com`; `appFetch` answers them on loopback (never the network).
 */

import { startAzurite, type Azurite } from '../../local/azurite';
import { generateTestCredentials, startTwilioSandbox, type TwilioSandbox } from '../../local/sandbox/sandbox';
import type { Ledger } from '../../shared/ledger/contract';
import { createLedger } from '../../shared/ledger/table';
import type { OutboundDependencies, OutboundLogger } from '../../shared/outbound/pipeline';
import { createStaticSecretProvider, type SecretProvider } from '../../shared/platform/secrets';
import { createTwilioClientFactory, type TwilioClientFactory } from '../../shared/platform/twilioClient';
import { startFaultProxy, type FaultProxy, type ProxiedRequest } from '../fakes/faultProxy';

export const PUBLIC_BASE_URL = 'https://app.example.com';
export const DEFAULT_FROM = '+15005550006';
export const DEFAULT_SERVICE = 'MG00000000000000000000000000000001';
export const TWIML_ANSWER = '<?xml version="1.0" encoding="UTF-8"?><Response><Say>hello</Say></Response>';

/** A request the sandbox made to the app. */
export interface AppHit {
    method: string;
    url: string;
    form: URLSearchParams;
}

export interface CapturingLogger extends OutboundLogger {
    readonly lines: { level: 'log' | 'warn' | 'error'; text: string }[];
}

export function capturingLogger(): CapturingLogger {
    const lines: CapturingLogger['lines'] = [];
    const push =
        (level: 'log' | 'warn' | 'error') =>
        (...args: unknown[]) => {
            lines.push({ level, text: args.map(String).join(' ') });
        };
    return { lines, log: push('log'), warn: push('warn'), error: push('error') };
}

/**
 * A `fetch` for the sandbox that answers every request to the app with TwiML (status callbacks ignore the
 * body) and records it; nothing leaves the process.
 */
export function stubAppFetch(hits: AppHit[]): typeof fetch {
    return async (input, init) => {
        const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
        const body = typeof init?.body === 'string' ? init.body : '';
        hits.push({ method: init?.method ?? 'GET', url, form: new URLSearchParams(body) });
        return Promise.resolve(
            new Response(TWIML_ANSWER, { status: 200, headers: { 'Content-Type': 'text/xml' } }),
        );
    };
}

export interface OutboundEnvironment {
    readonly azurite: Azurite;
    readonly ledger: Ledger;
    readonly sandbox: TwilioSandbox;
    readonly proxy: FaultProxy;
    readonly twilio: TwilioClientFactory;
    /** Requests the sandbox made to the app (only with the default `appFetch`). */
    readonly appHits: AppHit[];
    readonly log: CapturingLogger;
    /** Pipeline dependencies; `fromNumber` defaults to {@link DEFAULT_FROM}, no Messaging Service. */
    deps(overrides?: Partial<OutboundDependencies>): OutboundDependencies;
    /** A client factory on the proxy with another secret provider. */
    factory(secrets: SecretProvider): TwilioClientFactory;
    /** A new ledger on a new table of this Azurite. */
    newLedger(options?: { now?: () => Date }): { ledger: Ledger; tableName: string };
    /** The table of {@link ledger}. */
    readonly tableName: string;
    stop(): Promise<void>;
}

let tables = 0;

/** Starts Azurite, the sandbox and the proxy; `tablePrefix` names this file's tables. */
export async function startOutboundEnvironment(options: {
    tablePrefix: string;
    appFetch?: typeof fetch;
}): Promise<OutboundEnvironment> {
    const azurite = await startAzurite({ ports: 'free' });
    const appHits: AppHit[] = [];
    const credentials = generateTestCredentials();
    let sandbox: TwilioSandbox | undefined;
    let proxy: FaultProxy | undefined;
    try {
        sandbox = await startTwilioSandbox({
            ...credentials,
            callbackDelayMs: 0,
            fetch: options.appFetch ?? stubAppFetch(appHits),
        });
        proxy = await startFaultProxy(sandbox.url);
    } catch (error) {
        await proxy?.close();
        await sandbox?.close();
        await azurite.stop();
        throw error;
    }
    const sandboxReady = sandbox;
    const proxyReady = proxy;
    const factory = (secrets: SecretProvider) =>
        createTwilioClientFactory({ accountSid: credentials.accountSid, secrets, apiUrl: proxyReady.url });
    const newLedger = (ledgerOptions: { now?: () => Date } = {}) => {
        tables++;
        const tableName = `${options.tablePrefix}${String(tables)}`;
        const created = createLedger({
            connectionString: azurite.connectionString,
            tableName,
            storeBody: false,
            ...ledgerOptions,
        });
        return { ledger: created, tableName };
    };
    const { ledger, tableName } = newLedger();
    const twilio = factory(createStaticSecretProvider(credentials.authToken));
    const log = capturingLogger();

    return {
        azurite,
        ledger,
        tableName,
        sandbox: sandboxReady,
        proxy: proxyReady,
        twilio,
        appHits,
        log,
        deps: (overrides = {}) => ({
            ledger,
            twilio,
            fromNumber: DEFAULT_FROM,
            messagingServiceSid: undefined,
            publicBaseUrl: PUBLIC_BASE_URL,
            maxDequeueCount: 5,
            log,
            ...overrides,
        }),
        factory,
        newLedger,
        async stop() {
            await proxyReady.close();
            await sandboxReady.close();
            await azurite.stop();
        },
    };
}

let numbers = 0;

/** A phone number no other test in this process uses (the sandbox and the lookups are per number). */
export function freshNumber(): string {
    numbers++;
    return `+1555${String(process.pid % 1000).padStart(3, '0')}${String(numbers).padStart(4, '0')}`;
}

/** The proxy's requests of one kind: `POST` / `GET` to `Messages.json` / `Calls.json`. */
export function requestsTo(
    proxy: FaultProxy,
    method: 'GET' | 'POST',
    collection: 'Messages' | 'Calls',
    to?: string,
): ProxiedRequest[] {
    const path = new RegExp(`/Accounts/AC[0-9a-f]{32}/${collection}\\.json$`);
    return proxy.requests.filter(
        (r) =>
            r.method === method &&
            path.test(r.path) &&
            (to === undefined || (method === 'GET' ? r.query.get('To') : r.form.get('To')) === to),
    );
}

/** What a rejected promise was rejected with (fails the test when it resolved). */
export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
    return promise.then(
        (value: unknown) => {
            throw new Error(`expected a rejection, got ${JSON.stringify(value)}`);
        },
        (error: unknown) => error,
    );
}
