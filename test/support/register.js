/**
 * CommonJS require hook that runs the project's TypeScript without a build step, for processes that tests
 * spawn (a child must load the real modules, and jest's transform does not reach other processes):
 *
 *     node -r ./test/support/register.js test/integration/keyVaultChild.ts
 *
 * Each `.ts` file outside node_modules is transpiled on its own with `typescript`'s `transpileModule`
 * (no type check: `tsc --noEmit` and ts-jest do that) using the compiler options of the repo's
 * tsconfig.json, forced to CommonJS. Source maps are inlined and enabled so stack traces name `.ts` lines.
 */
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const ts = require('typescript');

const tsconfigPath = path.resolve(__dirname, '..', '..', 'tsconfig.json');
const tsconfig = ts.readConfigFile(tsconfigPath, ts.sys.readFile);
if (tsconfig.error !== undefined) {
    throw new Error(ts.flattenDiagnosticMessageText(tsconfig.error.messageText, '\n'));
}
const compilerOptions = {
    ...ts.convertCompilerOptionsFromJson(tsconfig.config.compilerOptions ?? {}, path.dirname(tsconfigPath))
        .options,
    module: ts.ModuleKind.CommonJS,
    target: ts.ScriptTarget.ES2022,
    // Without these the map's paths would be relative to dist/, not to the .ts file being run.
    outDir: undefined,
    rootDir: undefined,
    sourceMap: false,
    inlineSourceMap: true,
    inlineSources: true,
    declaration: false,
    noEmit: false,
};

const nodeModules = `${path.sep}node_modules${path.sep}`;
// Node 22.18+ strips types from `.ts` itself; keep its loader (or the plain JS one) for files we skip.
const fallback = require.extensions['.ts'] ?? require.extensions['.js'];

require.extensions['.ts'] = function compileTypeScript(module, filename) {
    if (filename.includes(nodeModules)) {
        fallback(module, filename);
        return;
    }
    const source = fs.readFileSync(filename, 'utf8');
    const { outputText } = ts.transpileModule(source, { fileName: filename, compilerOptions });
    module._compile(outputText, filename);
};

process.setSourceMapsEnabled(true);
