/**
 * The sandbox's state file: when `npm start` runs the app against the sandbox (no real Twilio account
 * configured), it writes the sandbox's URL and generated credentials here, so local tools (`npm run sms`)
 * can sign webhooks with the same token the app validates against, and scripts that call Twilio's REST
 * API (`infra/scripts/configure-number.js`) can run against the sandbox with its API key.
 *
 * `.azurite/` is already git-ignored, Prettier- and ESLint-ignored, and local to the checkout. The files
 * are tiny and written once at startup, so the functions are synchronous.
 */

import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { readJsonFile } from '../settings';

/** Where the state file is by default, relative to the app's root (see `localPaths` in local/settings.ts). */
export const SANDBOX_STATE_FILE = join('.azurite', 'sandbox.json');

export interface SandboxState {
    accountSid: string;
    authToken: string;
    /** The sandbox's Standard API key (`SK…`) and its secret, when it has one. */
    apiKeySid?: string | undefined;
    apiKeySecret?: string | undefined;
    /** The sandbox's base URL, e.g. `http://127.0.0.1:5058` (what `TWILIO_API_URL` points at). */
    url: string;
    /** The app's base URL the webhooks are signed for, e.g. `http://localhost:7071`, when known. */
    appUrl?: string | undefined;
}

/** The state file's path in the local state folder `stateDir`. */
export function sandboxStatePath(stateDir: string): string {
    return join(stateDir, 'sandbox.json');
}

/** Writes the state atomically, readable by the owner only (it holds an auth token and a key secret). */
export function writeSandboxState(stateDir: string, state: SandboxState): void {
    const path = sandboxStatePath(stateDir);
    mkdirSync(dirname(path), { recursive: true });
    const temporary = `${path}.${String(process.pid)}.tmp`;
    const { accountSid, authToken, apiKeySid, apiKeySecret, url, appUrl } = state;
    const content = {
        accountSid,
        authToken,
        ...(apiKeySid === undefined ? {} : { apiKeySid, apiKeySecret }),
        url,
        ...(appUrl === undefined ? {} : { appUrl }),
    };
    writeFileSync(temporary, `${JSON.stringify(content, null, 4)}\n`, { mode: 0o600 });
    renameSync(temporary, path);
}

/**
 * Reads the state kept in `stateDir`, or `undefined` when there is no state file.
 *
 * @throws Error naming the file when it exists but does not hold a valid state.
 */
export function readSandboxState(stateDir: string): SandboxState | undefined {
    const path = sandboxStatePath(stateDir);
    const value = readJsonFile(path);
    if (value === undefined) return undefined;
    if (!isSandboxState(value)) {
        throw new Error(`${path} must hold {"accountSid": "AC…", "authToken": "…", "url": "http://…"}`);
    }
    const { accountSid, authToken, apiKeySid, apiKeySecret, url, appUrl } = value;
    return apiKeySid === undefined
        ? { accountSid, authToken, url, appUrl }
        : { accountSid, authToken, apiKeySid, apiKeySecret, url, appUrl };
}

/** Removes the state file (a real account is configured, or the sandbox stopped); no error if absent. */
export function clearSandboxState(stateDir: string): void {
    rmSync(sandboxStatePath(stateDir), { force: true });
}

function isSandboxState(value: unknown): value is SandboxState {
    if (typeof value !== 'object' || value === null) return false;
    const record = value as Record<string, unknown>;
    return (
        typeof record.accountSid === 'string' &&
        /^AC[0-9a-fA-F]{32}$/.test(record.accountSid) &&
        typeof record.authToken === 'string' &&
        record.authToken !== '' &&
        (record.apiKeySid === undefined
            ? record.apiKeySecret === undefined
            : typeof record.apiKeySid === 'string' &&
              /^SK[0-9a-fA-F]{32}$/.test(record.apiKeySid) &&
              typeof record.apiKeySecret === 'string' &&
              record.apiKeySecret !== '') &&
        typeof record.url === 'string' &&
        (record.appUrl === undefined || typeof record.appUrl === 'string')
    );
}
