/**
 * Worker thread for test/support/lint.ts: lints texts with ESLint and the repo's eslint.config.mjs, as
 * `npm run lint` does. A worker because ESLint loads its config with a native `import()`, which jest's
 * module sandbox cannot serve; a thread, not a process, so the unit tests start none.
 *
 * workerData: { cwd, samples: [{ filePath, text }] }; posts [[{ ruleId, message, line }]] or { error }.
 */
'use strict';

const { parentPort, workerData } = require('node:worker_threads');
const { ESLint } = require('eslint');
const tseslint = require('typescript-eslint');

async function main() {
    // The type-aware rules need a TypeScript program of the whole repo (tens of seconds); every other
    // rule, the import restrictions among them, runs as configured.
    const eslint = new ESLint({ cwd: workerData.cwd, overrideConfig: tseslint.configs.disableTypeChecked });
    const results = [];
    for (const { filePath, text } of workerData.samples) {
        const [result] = await eslint.lintText(text, { filePath });
        results.push(result.messages.map(({ ruleId, message, line }) => ({ ruleId, message, line })));
    }
    return results;
}

main().then(
    (results) => parentPort.postMessage(results),
    (error) =>
        parentPort.postMessage({
            error: error instanceof Error ? (error.stack ?? error.message) : String(error),
        }),
);
