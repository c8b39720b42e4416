/**
 * Child process for package.test.ts: loads a staged deployment package as the Functions worker would.
 * Installs the `@azure/functions-core` shim, requires every file `package.json` `main` matches (from the
 * package's own node_modules: the package lives outside the repo, so nothing resolves from the repo's
 * dev dependencies), and resolves every package the compiled code requires anywhere (the heavy modules are
 * loaded on first use, not at load). Prints one JSON line.
 */

import { builtinModules } from 'node:module';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createFunctionsCore, installFunctionsCore } from '../../local/host/functionsCore';
import { globFiles } from '../../local/host/loader';

const packageDir = path.resolve(process.argv[2] ?? '');

function jsFiles(dir: string): string[] {
    return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
        const file = path.join(dir, entry.name);
        if (entry.isDirectory()) return jsFiles(file);
        return entry.name.endsWith('.js') ? [file] : [];
    });
}

function main(): void {
    const pkg = JSON.parse(readFileSync(path.join(packageDir, 'package.json'), 'utf8')) as { main: string };
    const entries = globFiles(packageDir, pkg.main);
    const shim = createFunctionsCore(() => undefined);
    installFunctionsCore(shim);
    const failed: { entry: string; error: string }[] = [];
    for (const entry of entries) {
        try {
            // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded as the worker loads entries
            require(entry);
        } catch (error) {
            failed.push({ entry: path.relative(packageDir, entry), error: String(error) });
        }
    }

    const builtins = new Set(builtinModules);
    const unresolved: string[] = [];
    for (const file of jsFiles(path.join(packageDir, 'dist'))) {
        const source = readFileSync(file, 'utf8');
        for (const match of source.matchAll(/\brequire\(\s*["']([^"']+)["']\s*\)/g)) {
            const specifier = match[1] ?? '';
            if (specifier.startsWith('.') || specifier.startsWith('node:') || builtins.has(specifier))
                continue;
            if (specifier === '@azure/functions-core') continue; // the worker provides it
            try {
                const resolved = require.resolve(specifier, { paths: [path.dirname(file)] });
                if (!resolved.startsWith(packageDir + path.sep)) {
                    unresolved.push(`${specifier} (resolved outside the package: ${resolved})`);
                }
            } catch {
                unresolved.push(`${specifier} (required by ${path.relative(packageDir, file)})`);
            }
        }
    }
    console.log(
        JSON.stringify({
            entries: entries.map((e) => path.relative(packageDir, e)),
            functions: shim.functions.map((f) => f.name),
            failed,
            unresolved: [...new Set(unresolved)].sort(),
        }),
    );
}

main();
