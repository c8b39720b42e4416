/**
 * One jest project per kind of test, each a folder of test/ that says what it holds; `npm test` (and
 * `jest --ci`) runs them all, `npm run test:<project>` one.
 *
 * - unit: test/shared (mirrors shared/) and test/functions (the function handlers, called in process):
 *   no servers, no child processes, no Azurite.
 * - integration: test/integration, real infrastructure on loopback: Azurite, the Twilio sandbox, fake
 *   Twilio / Key Vault / identity servers, child processes for what a fresh process must show.
 * - fuzz: test/fuzz, seeded random workloads (FUZZ_SEED) against the webhooks, the ledger and the logs.
 * - faults: test/faults, crashes and storage faults injected into the outbound pipeline.
 * - local: test/local, the local host, the Twilio sandbox and the npm start / npm run sms commands.
 * - infra: test/infra, the Bicep template, the deployment scripts and the deployed package.
 */

const { readdirSync } = require('node:fs');
const path = require('node:path');

/** @type {import('jest').Config} */
const common = {
    testEnvironment: 'node',
    testMatch: ['**/*.test.ts'],
    // tsconfig.json, each file transpiled on its own: the type check is `npm run lint`'s (tsc covers test/
    // too), and skipping it here makes a cold run of the unit tests about three times faster.
    transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: { isolatedModules: true } }] },
    setupFilesAfterEnv: ['<rootDir>/test/support/jestSetup.ts'],
    testTimeout: 30000,
};

/** @type {(name: string, folders: string[]) => import('jest').Config} */
const project = (name, folders) => ({
    ...common,
    displayName: name,
    roots: folders.map((folder) => `<rootDir>/test/${folder}`),
});

const PROJECTS = {
    unit: ['shared', 'functions'],
    integration: ['integration'],
    fuzz: ['fuzz'],
    faults: ['faults'],
    local: ['local'],
    infra: ['infra'],
};
/** Folders of test/ that hold no tests of their own. */
const HELPERS = ['support', 'fakes', 'fixtures'];

// A new folder of tests that no project lists would never run, silently: refuse it instead.
const assigned = new Set([...Object.values(PROJECTS).flat(), ...HELPERS]);
const unassigned = readdirSync(path.join(__dirname, 'test'), { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && !assigned.has(entry.name))
    .map((entry) => `test/${entry.name}`);
if (unassigned.length > 0) {
    throw new Error(`jest.config.js: add ${unassigned.join(', ')} to a project (or to HELPERS)`);
}

/** @type {import('jest').Config} */
module.exports = {
    testTimeout: common.testTimeout,
    projects: Object.entries(PROJECTS).map(([name, folders]) => project(name, folders)),
};
