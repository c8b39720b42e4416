/**
 * The `@azure/functions-core` module as the Node.js worker supplies it to `@azure/functions`: the library
 * calls `setProgrammingModel` once and `registerFunction` for every `app.http(...)`, `app.storageQueue(...)`,
 * …, so capturing those calls is how the local host learns the app's functions, exactly as the worker does.
 */

import Module from 'node:module';

export const FUNCTIONS_CORE_MODULE = '@azure/functions-core';

/** A binding as `@azure/functions` describes it to the worker. */
export interface CoreBinding {
    type: string;
    direction: 'in' | 'out';
    name?: string;
    [setting: string]: unknown;
}

export interface CoreFunctionMetadata {
    name: string;
    bindings: Record<string, CoreBinding>;
    retryOptions?: unknown;
}

export type CoreFunctionCallback = (...args: unknown[]) => unknown;

export interface RegisteredFunction {
    readonly name: string;
    readonly metadata: CoreFunctionMetadata;
    readonly handler: CoreFunctionCallback;
}

export type CoreLogLevel = 'information' | 'debug' | 'warning' | 'error' | 'trace' | 'critical' | 'none';

export interface FunctionsCoreShim {
    /** What `require('@azure/functions-core')` returns to the library. */
    readonly module: Record<string, unknown>;
    readonly functions: readonly RegisteredFunction[];
    readonly programmingModel: () => unknown;
}

/** Creates the shim; `log` receives the library's system log lines. */
export function createFunctionsCore(log: (level: CoreLogLevel, category: string, message: string) => void) {
    const functions: RegisteredFunction[] = [];
    let model: unknown;
    const disposable = { dispose: () => undefined };

    const module: Record<string, unknown> = {
        version: '3.10.1-local',
        hostVersion: '4.0.0-local',
        setProgrammingModel(programmingModel: unknown) {
            model = programmingModel;
        },
        getProgrammingModel: () => model,
        registerFunction(metadata: CoreFunctionMetadata, callback: CoreFunctionCallback) {
            if (functions.some((f) => f.name.toLowerCase() === metadata.name.toLowerCase())) {
                throw new Error(`A function named "${metadata.name}" is already registered`);
            }
            functions.push({ name: metadata.name, metadata, handler: callback });
            return disposable;
        },
        // App-level hooks are accepted so apps using them load; the local host does not run them.
        registerHook: () => disposable,
        log,
    };
    return { module, functions, programmingModel: () => model } satisfies FunctionsCoreShim;
}

interface ModuleInternals {
    _resolveFilename: (request: string, ...rest: unknown[]) => string;
    _cache: Record<string, NodeJS.Module>;
}

/**
 * Makes `require('@azure/functions-core')` return `shim` from anywhere in this process. It must run before
 * the first `require('@azure/functions')`: the library looks the module up once and caches the answer.
 */
export function installFunctionsCore(shim: FunctionsCoreShim): void {
    const internals = Module as unknown as ModuleInternals;
    const key = `\0${FUNCTIONS_CORE_MODULE}`;
    const entry = new Module(key);
    entry.exports = shim.module;
    entry.loaded = true;
    internals._cache[key] = entry;
    const resolve = internals._resolveFilename;
    internals._resolveFilename = function (this: unknown, request: string, ...rest: unknown[]) {
        return request === FUNCTIONS_CORE_MODULE ? key : resolve.call(this, request, ...rest);
    };
}
