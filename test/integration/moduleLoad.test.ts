import { spawnTypeScript } from '../support/childProcess';
import { ProcessOutput } from '../support/processOutput';

interface Report {
    atLoad: string[];
    appAtLoad: string[];
    afterVoice: string[];
    appAfterVoice: string[];
    status: number;
}

const HEAVY = [
    'twilio/lib/rest',
    'twilio/lib/base',
    '@azure/identity',
    '@azure/keyvault-secrets',
    '@azure/storage-queue',
    '@azure/storage-blob',
    '@azure/data-tables',
    'zod',
];

/** The app's modules that the functions load on first use (eslint.config.mjs forbids importing them at load). */
const LAZY_APP_MODULES =
    /^shared\/(?:api\/|ledger\/|messaging\/|outbound\/(?!settings$)|media\/(?!settings$)|voice\/(?!twimlets\/(?:contract|registry|step)$)|webhooks\/(?:inboundMessage|statusCallback)$)/;

describe('what the function files load (cold start)', () => {
    let report: Report;

    beforeAll(async () => {
        const child = spawnTypeScript('test/integration/moduleLoadChild.ts', {
            TWILIO_AUTH_TOKEN: 'module-load-test-token',
            KEY_VAULT_URL: '',
        });
        const output = new ProcessOutput(child);
        const [line] = await output.waitFor((l) => l.startsWith('{'));
        report = JSON.parse(line ?? '{}') as Report;
    }, 60_000);

    it('loads neither the Twilio REST client, the Azure SDKs nor the TwiML/validation modules at module load', () => {
        expect(report.atLoad).toContain('@azure/functions');
        for (const heavy of [...HEAVY, 'twilio/lib/twiml', 'twilio/lib/webhooks']) {
            expect(report.atLoad).not.toContain(heavy);
        }
    });

    it("loads none of the app's lazily loaded modules (API, ledger, outbound pipeline) at module load", () => {
        expect(report.appAtLoad).toEqual(expect.arrayContaining(['functions/voice', 'shared/platform/lazy']));
        expect(report.appAtLoad.filter((file) => LAZY_APP_MODULES.test(file))).toEqual([]);
    });

    it('serving a webhook loads only the light twilio modules it needs', () => {
        expect(report.status).toBe(200);
        expect(report.afterVoice).toEqual(
            expect.arrayContaining(['twilio/lib/twiml', 'twilio/lib/webhooks']),
        );
        for (const heavy of HEAVY) expect(report.afterVoice).not.toContain(heavy);
        expect(report.appAfterVoice.filter((file) => LAZY_APP_MODULES.test(file))).toEqual([]);
    });
});
