import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { REPO_ROOT } from './childProcess';

export interface LintMessage {
    ruleId: string | null;
    message: string;
    line: number;
}

/**
 * Lints each text as the file at `path` (relative to the repo root; it need not exist) with the repo's
 * ESLint config, the type-aware rules off (see lintWorker.js), and returns each text's messages.
 */
export async function lintTexts(
    samples: readonly { path: string; text: string }[],
): Promise<LintMessage[][]> {
    const worker = new Worker(join(__dirname, 'lintWorker.js'), {
        workerData: {
            cwd: REPO_ROOT,
            samples: samples.map(({ path, text }) => ({ filePath: join(REPO_ROOT, path), text })),
        },
    });
    try {
        const answer = await new Promise<unknown>((resolve, reject) => {
            worker.once('message', resolve);
            worker.once('error', reject);
            worker.once('exit', (code) => {
                reject(new Error(`the lint worker exited (${String(code)}) without an answer`));
            });
        });
        if (!Array.isArray(answer))
            throw new Error(`ESLint failed: ${(answer as { error?: string }).error ?? ''}`);
        return answer as LintMessage[][];
    } finally {
        await worker.terminate();
    }
}
