/**
 * Compiles infra/main.bicep with the project's own script (infra/scripts/bicep.sh: the Bicep CLI restored
 * from NuGet, compile + lint, warnings as errors), so the tests always check the template as it is now.
 */

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ArmTemplate } from './arm';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');

/** Exit code of bicep.sh when there is no Bicep CLI and no .NET SDK to restore one. */
const NO_CLI = 3;

export type Compiled =
    | { kind: 'compiled'; template: ArmTemplate }
    | { kind: 'failed'; output: string }
    | { kind: 'no-cli'; output: string };

/** Runs the build synchronously (jest collects tests synchronously, and whether they run depends on it). */
export function compileMainBicep(): Compiled {
    const dir = mkdtempSync(path.join(tmpdir(), 'infra-'));
    const out = path.join(dir, 'main.json');
    try {
        const result = spawnSync(
            'bash',
            [path.join(REPO_ROOT, 'infra', 'scripts', 'bicep.sh'), '--out', out],
            {
                cwd: REPO_ROOT,
                encoding: 'utf8',
                timeout: 300_000,
            },
        );
        const output = `${result.stdout}${result.stderr}`.trim();
        if (result.status === NO_CLI) return { kind: 'no-cli', output };
        if (result.status !== 0) {
            return { kind: 'failed', output: `${output}\n(exit ${String(result.status ?? result.signal)})` };
        }
        return { kind: 'compiled', template: JSON.parse(readFileSync(out, 'utf8')) as ArmTemplate };
    } finally {
        rmSync(dir, { recursive: true, force: true });
    }
}

/** Whether this run is CI, where a missing Bicep CLI fails instead of being reported as not run. */
export function inCi(): boolean {
    const ci = (process.env.CI ?? '').toLowerCase();
    return ci !== '' && ci !== 'false' && ci !== '0';
}
