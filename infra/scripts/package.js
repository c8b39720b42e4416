#!/usr/bin/env node
/**
 * Stages the deployment package the way `azd deploy` and `func azure functionapp publish` build it: the
 * project's files that `.funcignore` admits, with production dependencies only, installed from the
 * lockfile. test/infra/package.test.ts loads every `main` entry from the result; the deploy workflow zips it.
 *
 *   node infra/scripts/package.js --out DIR [--dist DIR]
 *
 * `--dist` takes the compiled app from another directory than ./dist (the tests build into a temp dir so
 * they never touch the dist/ other processes use). `.funcignore` is applied to everything, node_modules
 * included, as the publishing tools do.
 */
'use strict';

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const repo = path.resolve(__dirname, '..', '..');
// Never part of the package: version control, the local dependency tree (reinstalled for production),
// the build output (taken from --dist or ./dist) and this project's caches.
const NOT_SOURCE = new Set(['.git', 'node_modules', 'dist', '.cache']);

/** A .gitignore-style rule set, as .funcignore is read. */
function parseIgnore(text) {
    const rules = [];
    for (const raw of text.split(/\r?\n/)) {
        let line = raw.replace(/(?<!\\)\s+$/, '');
        if (line === '' || line.startsWith('#')) continue;
        const negate = line.startsWith('!');
        if (negate) line = line.slice(1);
        const dirOnly = line.endsWith('/');
        if (dirOnly) line = line.slice(0, -1);
        const anchored = line.includes('/');
        if (line.startsWith('/')) line = line.slice(1);
        let source = '';
        for (let i = 0; i < line.length; i++) {
            const ch = line[i];
            if (ch === '*' && line[i + 1] === '*') {
                if (line[i + 2] === '/') {
                    source += '(?:.*/)?';
                    i += 2;
                } else {
                    source += '.*';
                    i += 1;
                }
            } else if (ch === '*') source += '[^/]*';
            else if (ch === '?') source += '[^/]';
            else if (ch === '\\' && i + 1 < line.length) source += escapeRegex(line[++i]);
            else source += escapeRegex(ch);
        }
        rules.push({ negate, dirOnly, regex: new RegExp(`^${anchored ? '' : '(?:.*/)?'}${source}$`) });
    }
    return rules;
}

function escapeRegex(ch) {
    return /[.+^${}()|[\]\\]/.test(ch) ? `\\${ch}` : ch;
}

/** Whether `relative` (POSIX separators) is excluded: an excluded directory excludes everything in it. */
function ignored(rules, relative, isDirectory) {
    const parts = relative.split('/');
    for (let i = 1; i < parts.length; i++) {
        if (matches(rules, parts.slice(0, i).join('/'), true)) return true;
    }
    return matches(rules, relative, isDirectory);
}

function matches(rules, relative, isDirectory) {
    let result = false;
    for (const rule of rules) {
        if (rule.dirOnly && !isDirectory) continue;
        if (rule.regex.test(relative)) result = !rule.negate;
    }
    return result;
}

/** Copies `from` into `to`, skipping what `skip(relative, isDirectory)` says. */
function copyTree(from, to, skip, prefix = '') {
    for (const entry of fs.readdirSync(from, { withFileTypes: true })) {
        const relative = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
        const isDirectory = entry.isDirectory();
        if (skip(relative, isDirectory)) continue;
        const source = path.join(from, entry.name);
        const target = path.join(to, entry.name);
        if (isDirectory) {
            fs.mkdirSync(target, { recursive: true });
            copyTree(source, target, skip, relative);
            // A folder whose files are all ignored is not uploaded either.
            if (fs.readdirSync(target).length === 0) fs.rmdirSync(target);
        } else if (entry.isFile() || entry.isSymbolicLink()) {
            fs.cpSync(source, target, { dereference: false });
        }
    }
}

function run(command, args, cwd) {
    const result = spawnSync(command, args, { cwd, encoding: 'utf8', shell: process.platform === 'win32' });
    if (result.status !== 0) {
        throw new Error(
            `${command} ${args.join(' ')} failed (${result.status}):\n${result.stdout}${result.stderr}`,
        );
    }
}

function main(argv) {
    const options = {};
    for (let i = 0; i < argv.length; i += 2) {
        if (!['--out', '--dist'].includes(argv[i]) || argv[i + 1] === undefined) {
            process.stderr.write('usage: node infra/scripts/package.js --out DIR [--dist DIR]\n');
            return 2;
        }
        options[argv[i].slice(2)] = path.resolve(argv[i + 1]);
    }
    if (options.out === undefined) return main([]);
    const dist = options.dist ?? path.join(repo, 'dist');
    if (!fs.existsSync(path.join(dist, 'functions'))) {
        process.stderr.write(`package: ${dist}/functions does not exist: build first (npm run build)\n`);
        return 1;
    }
    const funcignore = path.join(repo, '.funcignore');
    const rules = fs.existsSync(funcignore) ? parseIgnore(fs.readFileSync(funcignore, 'utf8')) : [];

    // 1. The project as the publishing tool sees it after its build and install steps …
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'package-work-'));
    try {
        copyTree(repo, work, (relative) => NOT_SOURCE.has(relative.split('/')[0]));
        fs.mkdirSync(path.join(work, 'dist'));
        copyTree(dist, path.join(work, 'dist'), () => false);
        run(
            'npm',
            [
                'ci',
                '--omit=dev',
                '--ignore-scripts',
                '--no-audit',
                '--no-fund',
                '--prefer-offline',
                '--loglevel=error',
            ],
            work,
        );
        // 2. … and what it uploads: the files .funcignore admits.
        fs.rmSync(options.out, { recursive: true, force: true });
        fs.mkdirSync(options.out, { recursive: true });
        copyTree(work, options.out, (relative, isDirectory) => ignored(rules, relative, isDirectory));
    } finally {
        fs.rmSync(work, { recursive: true, force: true });
    }
    process.stdout.write(`package: staged the deployment package in ${options.out}\n`);
    return 0;
}

module.exports = { parseIgnore, ignored };

if (require.main === module) {
    process.exitCode = main(process.argv.slice(2));
}
