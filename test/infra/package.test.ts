/**
 * The deployment package, built the way azd and `func azure functionapp publish` build it (the files
 * .funcignore admits, production dependencies only, from the lockfile), loads: every `main` entry requires
 * from it with the worker's `@azure/functions-core`, every function registers, and every package the
 * compiled code requires (including those loaded on first use) resolves inside the package. A missing file,
 * a dependency listed under devDependencies, or a .funcignore rule that drops a needed file fails here.
 */

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from './bicep';

interface Loaded {
    entries: string[];
    functions: string[];
    failed: { entry: string; error: string }[];
    unresolved: string[];
}

const work = mkdtempSync(path.join(tmpdir(), 'deploy-package-'));
const packageDir = path.join(work, 'package');
let loaded: Loaded;

function run(args: string[], what: string): void {
    const result = spawnSync(process.execPath, args, { cwd: REPO_ROOT, encoding: 'utf8', timeout: 240_000 });
    if (result.status !== 0) {
        throw new Error(
            `${what} failed (${String(result.status ?? result.signal)}):\n${result.stdout}${result.stderr}`,
        );
    }
}

beforeAll(() => {
    // Built into the temp dir, never into the dist/ that other processes use.
    run(
        [
            path.join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'),
            '-p',
            'tsconfig.build.json',
            '--outDir',
            path.join(work, 'dist'),
        ],
        'tsc',
    );
    run(
        [
            path.join(REPO_ROOT, 'infra', 'scripts', 'package.js'),
            '--out',
            packageDir,
            '--dist',
            path.join(work, 'dist'),
        ],
        'package.js',
    );
    const child = spawnSync(
        process.execPath,
        [
            '-r',
            path.join(REPO_ROOT, 'test', 'support', 'register.js'),
            path.join(__dirname, 'packageChild.ts'),
            packageDir,
        ],
        { cwd: REPO_ROOT, encoding: 'utf8', env: { PATH: process.env.PATH ?? '' }, timeout: 60_000 },
    );
    if (child.status !== 0) throw new Error(`loading the package failed:\n${child.stdout}${child.stderr}`);
    loaded = JSON.parse(child.stdout.trim().split('\n').pop() ?? '') as Loaded;
}, 300_000);

afterAll(() => {
    rmSync(work, { recursive: true, force: true });
});

function filesUnder(dir: string, prefix = ''): string[] {
    return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
        const relative = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
        return entry.isDirectory() ? filesUnder(path.join(dir, entry.name), relative) : [relative];
    });
}

test('every main entry loads from the package and registers its function', () => {
    const functionFiles = readdirSync(path.join(REPO_ROOT, 'functions'))
        .filter((f) => f.endsWith('.ts'))
        .map((f) => f.replace(/\.ts$/, ''))
        .sort();
    expect(loaded.failed).toEqual([]);
    expect(loaded.entries.sort()).toEqual(functionFiles.map((name) => `dist/functions/${name}.js`));
    expect(loaded.functions.sort()).toEqual(functionFiles);
});

test('every package the compiled app requires, loaded at start or on first use, is in the package', () => {
    expect(loaded.unresolved).toEqual([]);
});

test('the package holds production dependencies only', () => {
    const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as {
        dependencies: Record<string, string>;
        devDependencies: Record<string, string>;
    };
    for (const name of Object.keys(pkg.dependencies)) {
        expect([name, existsSync(path.join(packageDir, 'node_modules', name, 'package.json'))]).toEqual([
            name,
            true,
        ]);
    }
    const devOnly = Object.keys(pkg.devDependencies).filter((name) =>
        existsSync(path.join(packageDir, 'node_modules', name)),
    );
    expect(devOnly).toEqual([]);
});

test('the package holds what runs and nothing of the sources, tests, local tools, settings or template', () => {
    const files = filesUnder(packageDir).filter((f) => !f.startsWith('node_modules/'));
    expect(files).toEqual(expect.arrayContaining(['host.json', 'package.json']));
    const unexpected = files.filter(
        (f) =>
            !/^dist\/(functions|shared)\/[^/]+(\/[^/]+)*\.js$/.test(f) &&
            !['host.json', 'package.json', 'package-lock.json', '.funcignore'].includes(f),
    );
    expect(unexpected).toEqual([]);
    expect(files.some((f) => f.endsWith('.ts') || f.endsWith('.map'))).toBe(false);
});
