/**
 * The README's settings table and local.settings.json.example stay in step with what shared/platform/config.ts
 * reads: a setting added to the code without documentation (or documented and no longer read) fails here.
 */

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../support/childProcess';
import { settingsReadByConfig } from '../../support/configSettings';

/** The settings the README's Reference documents: each list item of its "Settings" section names them first. */
function readmeSettings(): string[] {
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    const start = readme.indexOf('\n### Settings');
    if (start === -1) throw new Error('README.md has no "### Settings" section');
    const next = readme.slice(start + 1).search(/\n#{2,3} /);
    const section = readme.slice(start, next === -1 ? undefined : start + 1 + next);
    const names: string[] = [];
    for (const line of section.split('\n')) {
        // "- `NAME` — …" or "- `A`, `B` — …": the names before the dash.
        const head = /^- (.*?) — /.exec(line)?.[1] ?? '';
        for (const match of head.matchAll(/`([A-Za-z_][A-Za-z0-9_]*)`/g)) names.push(match[1] ?? '');
    }
    return [...new Set(names)].sort();
}

function exampleSettings(): string[] {
    const text = readFileSync(join(REPO_ROOT, 'local.settings.json.example'), 'utf8');
    return Object.keys((JSON.parse(text) as { Values: Record<string, string> }).Values).sort();
}

/** Settings the example leaves out on purpose: each is an alternative to one it has, or set by Azure. */
const NOT_IN_EXAMPLE = new Set([
    // Identity-based storage, instead of the example's AzureWebJobsStorage connection string (Azurite).
    'AzureWebJobsStorage__accountName',
    'AzureWebJobsStorage__queueServiceUri',
    'AzureWebJobsStorage__tableServiceUri',
    'AzureWebJobsStorage__blobServiceUri',
    'AzureWebJobsStorage__credential',
    'AzureWebJobsStorage__clientId',
    'AzureWebJobsStorage__managedIdentityResourceId',
    // Set by App Service (Core Tools sets its own), never by the user.
    'WEBSITE_HOSTNAME',
]);

/** Settings of the Functions host or Core Tools in the example, which the app itself does not read. */
const HOST_SETTINGS = new Set(['FUNCTIONS_WORKER_RUNTIME']);

describe('settings documentation', () => {
    const read = settingsReadByConfig();

    it('finds the settings shared/platform/config.ts reads', () => {
        expect(read).toEqual(
            expect.arrayContaining(['TWILIO_ACCOUNT_SID', 'KEY_VAULT_URL', 'AzureWebJobsStorage']),
        );
    });

    it("the README's Settings reference lists every setting the app reads, and no other", () => {
        expect(readmeSettings()).toEqual(read);
    });

    it('local.settings.json.example holds every setting a local run uses, and only those', () => {
        const example = exampleSettings();
        expect(example.filter((name) => !HOST_SETTINGS.has(name))).toEqual(
            read.filter((name) => !NOT_IN_EXAMPLE.has(name)),
        );
    });
});
