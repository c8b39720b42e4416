/**
 * Loads a Functions app the way the Node.js worker does: every file matched by `package.json` `main` is
 * required, and the functions they register through `@azure/functions` are collected.
 */

import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import {
    createFunctionsCore,
    installFunctionsCore,
    type CoreLogLevel,
    type RegisteredFunction,
} from './functionsCore';

export interface LoadedApp {
    readonly entryFiles: readonly string[];
    readonly functions: readonly RegisteredFunction[];
}

/**
 * Requires each entry file of the app in `appDir` with the `@azure/functions-core` shim installed.
 *
 * @throws Error when `main` matches no file, an entry fails to load, or nothing registers a function.
 */
export function loadApp(
    appDir: string,
    log: (level: CoreLogLevel, category: string, message: string) => void,
): LoadedApp {
    const pkg = JSON.parse(readFileSync(path.join(appDir, 'package.json'), 'utf8')) as {
        main?: unknown;
        type?: unknown;
    };
    const main = typeof pkg.main === 'string' && pkg.main !== '' ? pkg.main : 'index.js';
    const entryFiles = globFiles(appDir, main);
    if (pkg.type === 'module' || entryFiles.some((file) => file.endsWith('.mjs'))) {
        throw new Error(
            'The local host loads CommonJS entry points only; run an ES module app with "func start"',
        );
    }
    if (entryFiles.length === 0) {
        throw new Error(
            `package.json "main" (${main}) matches no file in ${appDir}: run "npm run build" first`,
        );
    }

    const shim = createFunctionsCore(log);
    installFunctionsCore(shim);
    for (const file of entryFiles) {
        try {
            // eslint-disable-next-line @typescript-eslint/no-require-imports
            require(file);
        } catch (error) {
            throw new Error(`Worker was unable to load entry point "${path.relative(appDir, file)}"`, {
                cause: error,
            });
        }
    }
    if (shim.functions.length === 0) {
        throw new Error(`No functions were registered by ${main}`);
    }
    return { entryFiles, functions: shim.functions };
}

/**
 * Files under `root` matching a glob with `*`, `**`, `?` and `{a,b}`, sorted, as the worker's glob does for
 * `main`. A pattern without wildcards names one file.
 */
export function globFiles(root: string, pattern: string): string[] {
    const normalized = pattern.replace(/\\/g, '/').replace(/^\.\//, '');
    const matcher = globToRegExp(normalized);
    const parts = normalized.split('/');
    const firstWildcard = parts.findIndex((part) => /[*?{]/.test(part));
    const start = path.join(root, ...(firstWildcard === -1 ? parts : parts.slice(0, firstWildcard)));
    const found: string[] = [];
    const walk = (dir: string) => {
        let entries: string[];
        try {
            entries = readdirSync(dir);
        } catch {
            return;
        }
        for (const name of entries) {
            if (name === 'node_modules') continue;
            const full = path.join(dir, name);
            const stat = statSync(full);
            if (stat.isDirectory()) walk(full);
            else if (matcher.test(path.relative(root, full).split(path.sep).join('/'))) found.push(full);
        }
    };
    try {
        if (statSync(start).isFile()) return matcher.test(normalized) ? [start] : [];
    } catch {
        return [];
    }
    walk(start);
    return found.sort();
}

function globToRegExp(glob: string): RegExp {
    let source = '';
    for (let i = 0; i < glob.length; i++) {
        const char = glob.charAt(i);
        if (char === '*' && glob[i + 1] === '*') {
            // `**/` matches zero or more directories
            source += glob[i + 2] === '/' ? '(?:.*/)?' : '.*';
            i += glob[i + 2] === '/' ? 2 : 1;
        } else if (char === '*') source += '[^/]*';
        else if (char === '?') source += '[^/]';
        else if (char === '{') {
            const end = glob.indexOf('}', i);
            if (end === -1) source += '\\{';
            else {
                source += `(?:${glob
                    .slice(i + 1, end)
                    .split(',')
                    .map((part) => globToRegExp(part).source.slice(1, -1))
                    .join('|')})`;
                i = end;
            }
        } else source += char.replace(/[.+^$()|[\]\\]/g, '\\$&');
    }
    return new RegExp(`^${source}$`);
}

/** The parts of `host.json` the local host honours. */
export interface HostJson {
    routePrefix: string;
    queues: QueueSettings;
}

export interface QueueSettings {
    batchSize: number;
    newBatchThreshold: number;
    maxDequeueCount: number;
    visibilityTimeoutMs: number;
    maxPollingIntervalMs: number;
    messageEncoding: 'base64' | 'none';
}

/** Reads `host.json`, applying the Functions host's documented defaults. */
export function readHostJson(appDir: string): HostJson {
    const raw = JSON.parse(readFileSync(path.join(appDir, 'host.json'), 'utf8')) as {
        version?: unknown;
        extensions?: { http?: { routePrefix?: unknown }; queues?: Record<string, unknown> };
    };
    if (raw.version !== '2.0') throw new Error('host.json must have "version": "2.0"');
    const queues = raw.extensions?.queues ?? {};
    const batchSize = integer(queues.batchSize, 16, 'batchSize', 1, 32);
    const encoding = queues.messageEncoding ?? 'base64';
    if (encoding !== 'base64' && encoding !== 'none') {
        throw new Error('host.json extensions.queues.messageEncoding must be "base64" or "none"');
    }
    const routePrefix = raw.extensions?.http?.routePrefix;
    return {
        routePrefix: typeof routePrefix === 'string' ? routePrefix.replace(/^\/+|\/+$/g, '') : 'api',
        queues: {
            batchSize,
            newBatchThreshold: integer(
                queues.newBatchThreshold,
                Math.floor(batchSize / 2),
                'newBatchThreshold',
                0,
                1000,
            ),
            maxDequeueCount: integer(queues.maxDequeueCount, 5, 'maxDequeueCount', 1, 1000),
            visibilityTimeoutMs: timeSpan(queues.visibilityTimeout, 0, 'visibilityTimeout'),
            maxPollingIntervalMs: Math.max(
                100,
                timeSpan(queues.maxPollingInterval, 60_000, 'maxPollingInterval'),
            ),
            messageEncoding: encoding,
        },
    };
}

function integer(value: unknown, fallback: number, name: string, min: number, max: number): number {
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
        throw new Error(`host.json extensions.queues.${name} must be a whole number from ${min} to ${max}`);
    }
    return value;
}

/** A .NET TimeSpan string (`[d.]hh:mm:ss[.fff]`) or a number of milliseconds, in milliseconds. */
export function timeSpan(value: unknown, fallback: number, name: string): number {
    if (value === undefined) return fallback;
    if (typeof value === 'number' && value >= 0) return value;
    const match =
        typeof value === 'string'
            ? /^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?$/.exec(value)
            : null;
    if (match === null)
        throw new Error(`host.json extensions.queues.${name} must be a time span like "00:00:30"`);
    const [, days = '0', hours = '0', minutes = '0', seconds = '0', fraction = '0'] = match;
    return (
        ((Number(days) * 24 + Number(hours)) * 60 + Number(minutes)) * 60_000 +
        Number(seconds) * 1000 +
        Math.round(Number(`0.${fraction}`) * 1000)
    );
}
