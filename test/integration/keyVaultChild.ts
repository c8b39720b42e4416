/**
 * Child process for keyVault.test.ts: builds the app's services from its environment exactly as the
 * Functions host would (`createDependencies(parseConfig(process.env))`) and exercises the auth-token (or
 * API key secret) provider on command, so the real `SecretClient` and `DefaultAzureCredential` talk HTTP(S) to the fakes.
 *
 * Protocol (JSON lines): `{"id":1,"op":"get"|"refresh","count":200,"parallel":true}` on stdin; the
 * answer `{"id":1,"fulfilled":200,"values":["..."],"rejected":0,"errors":[]}` on stdout. `values` and
 * `errors` are distinct entries only. Closing stdin ends the process with code 0.
 */

import { createInterface } from 'node:readline';
import { inspect } from 'node:util';
import { parseConfig } from '../../shared/platform/config';
import { createDependencies } from '../../shared/platform/dependencies';
import { SecretUnavailableError } from '../../shared/platform/errors';

export interface ChildCommand {
    readonly op: 'get' | 'refresh';
    /** Which secret: the auth token (default) or the API key's secret (`TWILIO_API_KEY_SID` set). */
    readonly secret?: 'authToken' | 'apiKey';
    readonly count: number;
    /** All calls at once (default), or each after the previous one settled. */
    readonly parallel?: boolean;
}

export interface ChildError {
    readonly name: string;
    readonly message: string;
    readonly isSecretUnavailableError: boolean;
    /** `util.inspect` of the error, cause included: what a logger that is handed the error would print. */
    readonly inspected: string;
}

export interface ChildOutcome {
    readonly fulfilled: number;
    readonly values: string[];
    readonly rejected: number;
    readonly errors: ChildError[];
}

const { authToken, apiKeySecret } = createDependencies(parseConfig(process.env));
if (authToken === undefined) throw new Error('No auth token source is configured; set KEY_VAULT_URL');

async function run(command: ChildCommand): Promise<ChildOutcome> {
    const provider = command.secret === 'apiKey' ? apiKeySecret : authToken;
    if (provider === undefined) throw new Error('No API key is configured; set TWILIO_API_KEY_SID');
    const call = command.op === 'get' ? () => provider.get() : () => provider.refresh();
    let settled: PromiseSettledResult<string>[];
    if (command.parallel ?? true) {
        settled = await Promise.allSettled(Array.from({ length: command.count }, call));
    } else {
        settled = [];
        for (let i = 0; i < command.count; i++) {
            settled.push(...(await Promise.allSettled([call()])));
        }
    }
    const values = new Set<string>();
    const errors = new Map<string, ChildError>();
    for (const result of settled) {
        if (result.status === 'fulfilled') {
            values.add(result.value);
        } else {
            const report = describe(result.reason);
            errors.set(`${report.name}: ${report.message}`, report);
        }
    }
    return {
        fulfilled: settled.filter((r) => r.status === 'fulfilled').length,
        values: [...values],
        rejected: settled.filter((r) => r.status === 'rejected').length,
        errors: [...errors.values()],
    };
}

function describe(error: unknown): ChildError {
    if (!(error instanceof Error)) {
        return {
            name: typeof error,
            message: String(error),
            isSecretUnavailableError: false,
            inspected: inspect(error),
        };
    }
    return {
        name: error.name,
        message: error.message,
        isSecretUnavailableError: error instanceof SecretUnavailableError,
        inspected: inspect(error, { depth: 6 }),
    };
}

let queue = Promise.resolve();
const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
    // One command at a time, in order, so the parent can change the fakes between two commands.
    queue = queue.then(async () => {
        const { id, ...command } = JSON.parse(line) as ChildCommand & { id: number };
        const outcome = await run(command);
        process.stdout.write(`${JSON.stringify({ id, ...outcome })}\n`);
    });
});
lines.on('close', () => {
    // Exit explicitly: the SDK's keep-alive sockets would otherwise hold the process open for a while.
    void queue.then(() => process.exit(0));
});
