/**
 * One cold start, in a fresh process: `node bench/coldStartChild.js app|functions|naive`.
 *
 * The `@azure/functions-core` shim is installed first, as the Node.js worker does before it loads an app
 * (the compiled local host's createFunctionsCore/installFunctionsCore), then only the requires of the
 * variant are timed with process.hrtime:
 *
 * - `app`: every file matched by package.json `main` (dist/functions/*.js), in the worker's order;
 * - `functions`: `require('@azure/functions')` alone;
 * - `naive`: what an app that loads its SDKs eagerly pays: `@azure/functions`, `twilio`,
 *   `@azure/identity` and `@azure/keyvault-secrets`.
 *
 * Plain JavaScript on purpose: no TypeScript hook is loaded into the measured process. Prints one JSON line.
 */
'use strict';

const { readFileSync } = require('node:fs');
const { createRequire } = require('node:module');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const variant = process.argv[2];
const { createFunctionsCore, installFunctionsCore } = require(
    path.join(root, 'dist', 'local', 'host', 'functionsCore.js'),
);
const { globFiles } = require(path.join(root, 'dist', 'local', 'host', 'loader.js'));

installFunctionsCore(createFunctionsCore(() => undefined));
const appRequire = createRequire(path.join(root, 'package.json'));

let targets;
if (variant === 'app') {
    const main = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).main;
    targets = globFiles(root, main);
} else if (variant === 'functions') {
    targets = ['@azure/functions'];
} else if (variant === 'naive') {
    targets = ['@azure/functions', 'twilio', '@azure/identity', '@azure/keyvault-secrets'];
} else {
    throw new Error(`Unknown variant ${String(variant)}`);
}

const before = new Set(Object.keys(require.cache));
const started = process.hrtime.bigint();
for (const target of targets) appRequire(target);
const elapsed = process.hrtime.bigint() - started;

// What the timed requires loaded: files per package (the app's own files count as "app").
const loaded = {};
for (const file of Object.keys(require.cache)) {
    if (before.has(file)) continue;
    const match = /node_modules[\\/]((?:@[^\\/]+[\\/])?[^\\/]+)[\\/]/.exec(file);
    const name = match === null ? 'app' : match[1].replace(/\\/g, '/');
    loaded[name] = (loaded[name] || 0) + 1;
}
process.stdout.write(
    `${JSON.stringify({ variant, ms: Number(elapsed) / 1e6, entries: targets.length, loaded })}\n`,
);
