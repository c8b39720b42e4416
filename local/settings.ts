/**
 * `local.settings.json`, read the way Azure Functions Core Tools reads it.
 */

import { copyFileSync, existsSync, readFileSync } from 'node:fs';
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
