/**
 * The rule "function files import no heavy module at load", as `npm run lint` reports it: ESLint with the
 * repo's config on function files written the way Twilio's docs write them and the way this app does.
 * test/integration/moduleLoad.test.ts measures what loading the function files really loads.
 */

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../support/childProcess';
import { lintTexts, type LintMessage } from '../support/lint';

const RULE = '@typescript-eslint/no-restricted-imports';
const SAMPLE = 'functions/sendReminder.ts';

// A new function, as a user writes it from Twilio's Node.js quickstart.
const AS_TWILIO_DOCS_SHOW = `import { app, type HttpRequest, type HttpResponseInit } from '@azure/functions';
import twilio from 'twilio';

export async function sendReminder(request: HttpRequest): Promise<HttpResponseInit> {
    const client = twilio(request.headers.get('x-account') ?? '', request.headers.get('x-token') ?? '');
    const message = await client.messages.create({ to: '+15557654321', from: '+15551230000', body: 'Hi' });
    return { status: 200, jsonBody: { sid: message.sid } };
}

app.http('sendReminder', { methods: ['POST'], authLevel: 'function', handler: sendReminder });
`;

// The same function, loading twilio where it is first used.
const LAZY = `import { app, type HttpRequest, type HttpResponseInit } from '@azure/functions';
import type { Twilio } from 'twilio';
import { lazy } from '../shared/platform/lazy';

const twilioModule = lazy(() => import('twilio'));

export async function sendReminder(request: HttpRequest): Promise<HttpResponseInit> {
    const { default: twilio } = await twilioModule();
    const client: Twilio = twilio(request.headers.get('x-account') ?? '', request.headers.get('x-token') ?? '');
    const message = await client.messages.create({ to: '+15557654321', from: '+15551230000', body: 'Hi' });
    return { status: 200, jsonBody: { sid: message.sid } };
}

app.http('sendReminder', { methods: ['POST'], authLevel: 'function', handler: sendReminder });
`;

const importing = (statement: string) => `${statement}\n\nexport const used = [value];\n`;

const FORBIDDEN = [
    "import value from 'twilio';",
    "import { Twilio as value } from 'twilio';",
    "import value = require('twilio');",
    "import value from 'twilio/lib/rest/Twilio';",
    "import { DefaultAzureCredential as value } from '@azure/identity';",
    "import { SecretClient as value } from '@azure/keyvault-secrets';",
    "import { TableClient as value } from '@azure/data-tables';",
    "import { QueueClient as value } from '@azure/storage-queue';",
    "import { BlobClient as value } from '@azure/storage-blob';",
    "import { z as value } from 'zod';",
    "import { sendMessage as value } from '../shared/api/send';",
    "import { getMessage as value } from '../shared/api/read';",
    "import { createLedger as value } from '../shared/ledger/table';",
    "import { processOutbound as value } from '../shared/outbound/pipeline';",
    "import { parseOutbound as value } from '../shared/outbound/message';",
    "import { recordStatusCallback as value } from '../shared/webhooks/statusCallback';",
    "import { recordInboundMessage as value } from '../shared/webhooks/inboundMessage';",
    "export { z as value } from 'zod';",
];

const ALLOWED = [
    "import { app as value } from '@azure/functions';",
    "import { lazy as value } from '../shared/platform/lazy';",
    "import { getDependencies as value } from '../shared/platform/dependencies';",
    "import { receiveTwilioWebhook as value } from '../shared/webhooks/receive';",
    "import { OUTBOUND_MAX_DEQUEUE_COUNT as value } from '../shared/outbound/settings';",
    "import type { Twilio as value } from 'twilio';",
    "import { type Twilio as value } from 'twilio';",
    "import type { SendDependencies as value } from '../shared/api/send';",
    "import type { Ledger as value } from '../shared/ledger/table';",
];

let docsStyle: LintMessage[];
let lazyStyle: LintMessage[];
let forbidden: LintMessage[][];
let allowed: LintMessage[][];
let elsewhere: LintMessage[];
let functionFiles: { file: string; messages: LintMessage[] }[];

beforeAll(async () => {
    const files = readdirSync(join(REPO_ROOT, 'functions')).filter((f) => f.endsWith('.ts'));
    const texts = [
        { path: SAMPLE, text: AS_TWILIO_DOCS_SHOW },
        { path: SAMPLE, text: LAZY },
        ...FORBIDDEN.map((statement) => ({ path: SAMPLE, text: importing(statement) })),
        ...ALLOWED.map((statement) => ({ path: SAMPLE, text: importing(statement) })),
        { path: 'shared/platform/sample.ts', text: importing(FORBIDDEN[0] ?? '') },
        ...files.map((file) => ({
            path: `functions/${file}`,
            text: readFileSync(join(REPO_ROOT, 'functions', file), 'utf8'),
        })),
    ];
    const results = await lintTexts(texts);
    [docsStyle = [], lazyStyle = []] = results;
    forbidden = results.slice(2, 2 + FORBIDDEN.length);
    allowed = results.slice(2 + FORBIDDEN.length, 2 + FORBIDDEN.length + ALLOWED.length);
    elsewhere = results[2 + FORBIDDEN.length + ALLOWED.length] ?? [];
    functionFiles = files.map((file, i) => ({
        file,
        messages: results[3 + FORBIDDEN.length + ALLOWED.length + i] ?? [],
    }));
}, 60_000);

const restricted = (messages: readonly LintMessage[]) => messages.filter((m) => m.ruleId === RULE);

describe('npm run lint on a function file', () => {
    it("refuses `import twilio from 'twilio'`, saying why and what to do instead", () => {
        expect(restricted(docsStyle).map(({ line }) => line)).toEqual([2]);
        const [{ message } = { message: '' }] = restricted(docsStyle);
        expect(message).toContain("'twilio' import is restricted");
        expect(message).toContain('cold start of every function, the webhooks included');
        expect(message).toContain("const x = lazy(() => import('…'))");
        expect(message).toContain('import type');
    });

    it('passes the same function loading twilio lazily (and its types with import type)', () => {
        expect(lazyStyle).toEqual([]);
    });

    it.each(FORBIDDEN.map((statement, i) => [statement, i] as const))('refuses %s', (_, i) => {
        expect(restricted(forbidden[i] ?? [])).toHaveLength(1);
    });

    it.each(ALLOWED.map((statement, i) => [statement, i] as const))('allows %s', (_, i) => {
        expect(allowed[i]).toEqual([]);
    });

    it('leaves shared/ alone: its modules are the ones loaded lazily', () => {
        expect(restricted(elsewhere)).toEqual([]);
    });

    it("finds nothing in the app's own function files", () => {
        expect(functionFiles.length).toBeGreaterThanOrEqual(9);
        for (const { file, messages } of functionFiles)
            expect({ file, messages: restricted(messages) }).toEqual({ file, messages: [] });
    });
});
