/**
 * The project's own Functions host, for machines without Azure Functions Core Tools: loads the app as the
 * Node.js worker does and serves its HTTP and storage queue triggers on Azurite.
 */

import type { RegisteredFunction } from './functionsCore';
import { httpRoutes, maxRequestBodyBytes, startHttpServer, type HttpRoute } from './httpServer';
import type { FunctionsLibrary, HostLogger } from './invoke';
import { loadApp, readHostJson } from './loader';
import { createQueueOutputWriter } from './queueOutput';
import { queueFunctions, startQueueListener, type QueueListener } from './queueListener';
import { createQueueClients, type Settings } from './storage';

export interface LocalHostOptions {
    /** The folder holding the app's `package.json` and `host.json`. */
    appDir: string;
    /** HTTP port; 0 picks a free one. */
    port: number;
    /** The app settings; the caller has already put them in `process.env`, where the app reads them. */
    settings: Settings;
    log: HostLogger;
}

export interface LocalHost {
    readonly url: string;
    readonly routes: readonly HttpRoute[];
    readonly listeners: readonly QueueListener[];
    stop(): Promise<void>;
}

const SUPPORTED_TRIGGERS = new Set(['httpTrigger', 'queueTrigger']);

/**
 * Loads the app and starts serving it.
 *
 * @throws Error when the app cannot be loaded or uses a binding this host cannot serve.
 */
export async function startLocalHost(options: LocalHostOptions): Promise<LocalHost> {
    const { appDir, settings, log } = options;
    const hostJson = readHostJson(appDir);
    const app = loadApp(appDir, (level, category, message) => {
        log(level, `[${category}] ${message}`);
    });
    for (const fn of app.functions) checkBindings(fn);

    // The app's own copy of the library, so requests and contexts are built by the code the app runs with.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const lib = require(require.resolve('@azure/functions', { paths: [appDir] })) as FunctionsLibrary;
    const clients = createQueueClients(settings);
    const listeners: QueueListener[] = [];
    const queueOutput = createQueueOutputWriter(
        clients,
        settings,
        hostJson.queues.messageEncoding,
        (queueName) => {
            // The host's fast path: a message this host just wrote is picked up without waiting for the back-off.
            for (const listener of listeners) if (listener.queueName === queueName) listener.wake();
        },
    );

    try {
        for (const fn of queueFunctions(app.functions)) {
            listeners.push(
                await startQueueListener({
                    lib,
                    fn,
                    clients,
                    settings,
                    queues: hostJson.queues,
                    log,
                    queueOutput,
                }),
            );
        }
    } catch (error) {
        await Promise.all(listeners.map((l) => l.stop()));
        throw error;
    }
    const routes = httpRoutes(app.functions, hostJson.routePrefix);
    let server;
    try {
        server = await startHttpServer({
            lib,
            routes,
            port: options.port,
            log,
            queueOutput,
            maxBodyBytes: maxRequestBodyBytes(settings),
        });
    } catch (error) {
        await Promise.all(listeners.map((l) => l.stop()));
        throw error;
    }
    const http = server;
    return {
        url: http.url,
        routes,
        listeners,
        async stop() {
            await http.close();
            await Promise.all(listeners.map((l) => l.stop()));
        },
    };
}

function checkBindings(fn: RegisteredFunction): void {
    for (const [name, binding] of Object.entries(fn.metadata.bindings)) {
        const supported =
            binding.direction === 'in'
                ? SUPPORTED_TRIGGERS.has(binding.type)
                : binding.type === 'queue' || (binding.type === 'http' && name === '$return');
        if (!supported) {
            throw new Error(
                `Function "${fn.name}" uses a "${binding.type}" ${binding.direction === 'in' ? 'input/trigger' : 'output'} binding, which the local host cannot serve: run it with "func start" (Azure Functions Core Tools)`,
            );
        }
    }
}

/** One line per function, as Core Tools prints them at startup. */
export function describeFunctions(host: LocalHost): string[] {
    const lines = host.routes.map(
        (route) => `${route.fn.name}: [${route.methods.join(',')}] ${host.url}/${route.template}`,
    );
    for (const listener of host.listeners) {
        lines.push(`${listener.functionName}: queueTrigger on '${listener.queueName}'`);
    }
    return lines;
}
