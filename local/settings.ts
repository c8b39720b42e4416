/**
 * `local.settings.json`, read the way Azure Functions Core Tools reads it.
 */

import {
    copyFileSync,
    existsSync,
    mkdirSync,
    readFileSync,
    renameSync,
    rmSync,
    writeFileSync,
} from 'node:fs';
import path from 'node:path';

export const SETTINGS_FILE = 'local.settings.json';
export const SETTINGS_EXAMPLE = 'local.settings.json.example';

export interface LocalSettings {
    /** `Values`: the app settings. */
    readonly values: Record<string, string>;
    /** `Host.LocalHttpPort`, when set. */
    readonly httpPort: number | undefined;
}

/**
 * Where `npm start` and `npm run sms` keep their files: the settings file and the state folder (Azurite's
 * data, the sandbox's credentials). `LOCAL_SETTINGS_FILE` and `LOCAL_STATE_DIR` override them, so tests can
 * run `npm start` without touching a developer's own files.
 */
export function localPaths(
    appDir: string,
    env: Readonly<Record<string, string | undefined>>,
): { settingsFile: string; stateDir: string } {
    return {
        settingsFile: env.LOCAL_SETTINGS_FILE ?? path.join(appDir, SETTINGS_FILE),
        stateDir: env.LOCAL_STATE_DIR ?? path.join(appDir, '.azurite'),
    };
}

/** The nearest folder at or above `start` holding both `package.json` and `host.json`. */
export function findAppDir(start: string): string {
    let dir = path.resolve(start);
    for (;;) {
        if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'host.json'))) return dir;
        const parent = path.dirname(dir);
        if (parent === dir)
            throw new Error(`No Functions app (package.json + host.json) at or above ${start}`);
        dir = parent;
    }
}

/** Creates the settings file from the app's example when it is missing; returns whether it did. */
export function ensureLocalSettings(appDir: string, file = path.join(appDir, SETTINGS_FILE)): boolean {
    if (existsSync(file)) return false;
    copyFileSync(path.join(appDir, SETTINGS_EXAMPLE), file);
    return true;
}

/** Reads a `local.settings.json` file (an empty set of values when there is none). */
export function readLocalSettings(file: string): LocalSettings {
    if (!existsSync(file)) return { values: {}, httpPort: undefined };
    let raw: { IsEncrypted?: unknown; Values?: unknown; Host?: { LocalHttpPort?: unknown } };
    try {
        raw = JSON.parse(readFileSync(file, 'utf8')) as typeof raw;
    } catch (error) {
        throw new Error(`${SETTINGS_FILE} is not valid JSON: ${(error as Error).message}`);
    }
    if (raw.IsEncrypted === true) {
        throw new Error(`${SETTINGS_FILE} is encrypted; the local host reads only unencrypted settings`);
    }
    const values: Record<string, string> = {};
    for (const [name, value] of Object.entries((raw.Values ?? {}) as Record<string, unknown>)) {
        if (value === null || value === undefined) continue;
        values[name] = typeof value === 'string' ? value : JSON.stringify(value);
    }
    const port = raw.Host?.LocalHttpPort;
    return { values, httpPort: typeof port === 'number' ? port : undefined };
}

/**
 * The settings the app runs with: `local.settings.json` values, with variables already set in the
 * environment taking precedence, as with Core Tools.
 */
export function effectiveSettings(
    fileValues: Readonly<Record<string, string>>,
    env: Readonly<Record<string, string | undefined>>,
): Record<string, string> {
    const settings: Record<string, string> = { ...fileValues };
    for (const name of Object.keys(fileValues)) {
        const fromEnv = env[name];
        if (fromEnv !== undefined) settings[name] = fromEnv;
    }
    return settings;
}

/** Where `npm start` says which app it runs, relative to the app's root (the state folder of {@link localPaths}). */
export const APP_STATE_FILE = path.join('.azurite', 'app.json');

/** What `npm start` writes while it runs, so local tools (`npm run sms`) reach the app on whatever port. */
export interface AppState {
    /** The app's base URL, e.g. `http://localhost:7181`. */
    readonly url: string;
    /** The `npm start` process that owns the file; the file is stale once it is gone. */
    readonly pid: number;
    /** The process serving the app (the local host or `func`), which changes when `npm run dev` reloads. */
    readonly appPid?: number | undefined;
}

/** The app state file's path in the state folder `stateDir`. */
export function appStatePath(stateDir: string): string {
    return path.join(stateDir, 'app.json');
}

/** Writes the app state atomically (a reader never sees half a file). */
export function writeAppState(stateDir: string, state: AppState): void {
    const file = appStatePath(stateDir);
    mkdirSync(stateDir, { recursive: true });
    const temporary = `${file}.${String(process.pid)}.tmp`;
    writeFileSync(temporary, `${JSON.stringify(state, null, 4)}\n`);
    renameSync(temporary, file);
}

/**
 * The JSON value in `file`, or `undefined` when there is no such file.
 *
 * @throws Error naming the file when it is not valid JSON (or cannot be read).
 */
export function readJsonFile(file: string): unknown {
    let text: string;
    try {
        text = readFileSync(file, 'utf8');
    } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw error;
    }
    try {
        return JSON.parse(text) as unknown;
    } catch {
        throw new Error(`${file} is not valid JSON`);
    }
}

/**
 * Reads the app state in `stateDir`, or `undefined` when there is none.
 *
 * @throws Error naming the file when it exists but does not hold an app state.
 */
export function readAppState(stateDir: string): AppState | undefined {
    const file = appStatePath(stateDir);
    const value = readJsonFile(file);
    if (value === undefined) return undefined;
    const record = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
    const { url, pid, appPid } = record;
    if (
        typeof url !== 'string' ||
        !URL.canParse(url) ||
        !Number.isInteger(pid) ||
        (appPid !== undefined && !Number.isInteger(appPid))
    ) {
        throw new Error(`${file} must hold {"url": "http://…", "pid": <number>}`);
    }
    return { url, pid: pid as number, appPid: appPid as number | undefined };
}

/** Removes the app state when the process `pid` (default: this one) wrote it; another run's file stays. */
export function clearAppState(stateDir: string, pid = process.pid): void {
    let state: AppState | undefined;
    try {
        state = readAppState(stateDir);
    } catch {
        state = undefined;
    }
    if (state?.pid === pid) rmSync(appStatePath(stateDir), { force: true });
}

/** Whether a process with this id exists (one we may not signal counts). */
export function isProcessAlive(pid: number): boolean {
    try {
        process.kill(pid, 0);
        return true;
    } catch (error) {
        return (error as NodeJS.ErrnoException).code === 'EPERM';
    }
}

/**
 * The Node.js options in a `languageWorkers__node__arguments` value (`--inspect=9229 --enable-source-maps`),
 * split on spaces outside quotes, as the command line the host starts the worker with splits them.
 */
export function splitNodeArguments(text: string): string[] {
    const args: string[] = [];
    for (const match of text.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)) {
        args.push(match[1] ?? match[2] ?? match[3] ?? '');
    }
    return args;
}
