/**
 * A sandbox context for testing its parts alone: no server, no real timers and no network. Pauses wait
 * on a fake clock the test releases, and requests go to a fake `fetch` that records them.
 */

import { generateTestCredentials, type TestCredentials } from '../../../local/sandbox/sandbox';
import type { SandboxContext } from '../../../local/sandbox/context';
import {
    createLifecycleScheduler,
    type LifecycleScheduler,
    type Wait,
} from '../../../local/sandbox/lifecycleScheduler';
import { startSandboxServer } from '../../../local/sandbox/server';
import { createSandboxStore } from '../../../local/sandbox/store';

/** The pause the test contexts are configured with. */
export const DELAY_MS = 200;

export interface FakeClock {
    readonly wait: Wait;
    /** The delays of the pauses waiting now. */
    pending(): number[];
    /** Ends every pause waiting now. */
    release(): void;
    /** Resolves when the next pause starts. */
    paused(): Promise<void>;
}

export function fakeClock(): FakeClock {
    const sleepers: { ms: number; resolve: () => void }[] = [];
    const onPause: (() => void)[] = [];
    return {
        wait: (ms, signal) =>
            new Promise<void>((resolve, reject) => {
                if (signal.aborted) {
                    reject(signal.reason as Error);
                    return;
                }
                // A lifecycle's signal outlives its pauses: each pause removes its listener when it ends,
                // however it ends, or they pile up on the signal (MaxListenersExceededWarning after 10).
                const onAbort = () => {
                    const index = sleepers.indexOf(sleeper);
                    if (index !== -1) sleepers.splice(index, 1);
                    reject(signal.reason as Error);
                };
                const sleeper = {
                    ms,
                    resolve: () => {
                        signal.removeEventListener('abort', onAbort);
                        resolve();
                    },
                };
                sleepers.push(sleeper);
                signal.addEventListener('abort', onAbort, { once: true });
                for (const notify of onPause.splice(0)) notify();
            }),
        pending: () => sleepers.map((sleeper) => sleeper.ms),
        release() {
            for (const sleeper of sleepers.splice(0)) sleeper.resolve();
        },
        paused: () => new Promise<void>((resolve) => onPause.push(resolve)),
    };
}

/** Lets every step that needs no I/O run: microtasks all drain before the next macrotask. */
export function settle(): Promise<void> {
    return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Releases the pending pauses and waits until the (one) lifecycle running pauses again or ends, however
 * many requests it makes in between.
 */
export async function step(clock: FakeClock, lifecycles: LifecycleScheduler): Promise<void> {
    const next = clock.paused();
    clock.release();
    await Promise.race([next, lifecycles.idle()]);
}

/** A request the fake `fetch` received. */
export interface FetchedRequest {
    url: string;
    method: string;
    headers: Record<string, string>;
    body: string;
}

/** A `fetch` that records each request and answers with `respond` (default: an empty 200). */
export function recordingFetch(respond: (request: FetchedRequest) => Response = () => new Response('')): {
    fetch: typeof fetch;
    requests: FetchedRequest[];
} {
    const requests: FetchedRequest[] = [];
    const fake = (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
        const request: FetchedRequest = {
            url: typeof input === 'string' ? input : input instanceof URL ? input.href : input.url,
            method: init?.method ?? 'GET',
            headers: { ...(init?.headers as Record<string, string> | undefined) },
            body: typeof init?.body === 'string' ? init.body : '',
        };
        requests.push(request);
        return Promise.resolve(respond(request));
    };
    return { fetch: fake, requests };
}

/** A `fetch` that finds nothing listening, as undici reports it. */
export const refusingFetch = (() =>
    Promise.reject(
        new TypeError('fetch failed', {
            cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }),
        }),
    )) as typeof fetch;

export interface TestSandbox {
    ctx: SandboxContext;
    clock: FakeClock;
    logs: string[];
    credentials: TestCredentials;
}

/** A context with an empty store, the fake clock and `fetch` (default: nothing listening). */
export function testSandbox(options: { fetch?: typeof fetch; url?: () => string } = {}): TestSandbox {
    const credentials = generateTestCredentials();
    const clock = fakeClock();
    const logs: string[] = [];
    const log = (line: string) => logs.push(line);
    const ctx: SandboxContext = {
        accountSid: credentials.accountSid,
        get url() {
            return options.url?.() ?? 'http://127.0.0.1:9';
        },
        authToken: credentials.authToken,
        store: createSandboxStore(credentials.accountSid, credentials.authToken),
        lifecycles: createLifecycleScheduler({ delayMs: DELAY_MS, log, wait: clock.wait }),
        log,
        fetch: options.fetch ?? refusingFetch,
    };
    return { ctx, clock, logs, credentials };
}

/** A {@link testSandbox} whose server listens on loopback (its `ctx.url`), for the parts served over HTTP. */
export async function servedSandbox(
    options: { fetch?: typeof fetch } = {},
): Promise<TestSandbox & { url: string; close: () => Promise<void> }> {
    let url = '';
    const test = testSandbox({ ...options, url: () => url });
    const server = await startSandboxServer(test.ctx, { port: 0, host: '127.0.0.1' });
    url = server.url;
    return { ...test, url, close: () => server.close() };
}
