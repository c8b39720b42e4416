import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { main, type CallCliIo } from '../../local/call';
import type { AppProcess } from '../../local/host/appProcess';
import { SANDBOX_NUMBER } from '../../local/sandbox/resources';
import type { SandboxCall, TwilioSandbox } from '../../local/sandbox/sandbox';
import { writeSandboxState } from '../../local/sandbox/state';
import { writeAppState } from '../../local/settings';
import { startLocalApp, type LocalApp } from '../support/localApp';

/**
 * The call simulator against the app itself: the local host runs the voice and twimlet functions from
 * source (as npm start runs them) on Azurite and the sandbox, and calls are placed into it with
 * `placeInboundCall` and with `npm run call`'s `main`, which finds the sandbox and the app through the
 * state files npm start writes.
 */

const CALLER = '+15551230000';

let local: LocalApp;
let sandbox: TwilioSandbox;
let app: AppProcess;
let cliDir: string;

beforeAll(async () => {
    local = await startLocalApp({ prefix: 'call-simulator-', functions: ['voice', 'twimlets'] });
    ({ sandbox, app } = local);
    // What npm start leaves for npm run call: the app's and the sandbox's state files.
    cliDir = mkdtempSync(path.join(tmpdir(), 'call-cli-'));
    writeFileSync(path.join(cliDir, 'package.json'), '{}');
    writeFileSync(path.join(cliDir, 'host.json'), '{}');
    mkdirSync(path.join(cliDir, '.azurite'));
    writeAppState(path.join(cliDir, '.azurite'), { url: app.url, pid: process.pid });
    writeSandboxState(path.join(cliDir, '.azurite'), {
        ...local.credentials,
        url: sandbox.url,
        appUrl: app.url,
    });
}, 90_000);

afterAll(async () => {
    await local.stop();
    rmSync(cliDir, { recursive: true, force: true });
});

/** The transcript as `step detail` lines, times and request statuses included. */
const lines = (call: Readonly<SandboxCall>) =>
    call.transcript.map((step) => {
        const { at, step: kind, ...rest } = step;
        if (step.step === 'request')
            return `${String(at)} request ${step.purpose} ${step.method} ${new URL(step.url).pathname} ${String(step.status)}`;
        return `${String(at)} ${kind} ${JSON.stringify(rest)}`;
    });

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    let stdout = '';
    let stderr = '';
    const io: CallCliIo = {
        cwd: cliDir,
        env: {},
        stdout: (text) => (stdout += text),
        stderr: (text) => (stderr += text),
        fetch: globalThis.fetch,
    };
    return { code: await main(args, io), stdout, stderr };
}

describe('placeInboundCall into the app on the local host', () => {
    it('runs /api/voice with Message[n]: the exact transcript', async () => {
        const call = await sandbox.placeInboundCall({
            from: CALLER,
            url: `${app.url}/api/voice?Message[0]=Hello%20there&Message[1]=Goodbye`,
        });
        expect(lines(call)).toEqual([
            '0 request twiml POST /api/voice 200',
            '0 say {"text":"Hello there","loop":1}',
            '1 say {"text":"Goodbye","loop":1}',
            '2 end {"status":"completed","duration":2}',
        ]);
        expect(call).toMatchObject({
            status: 'completed',
            direction: 'inbound',
            to: SANDBOX_NUMBER,
            errorCode: null,
        });
    });

    it('runs a twimlets menu pressed 2 through to the option it redirects to', async () => {
        const option = encodeURIComponent(`${app.url}/api/voice?Message=Sales`);
        const call = await sandbox.placeInboundCall({
            from: CALLER,
            url: `${app.url}/api/twimlets/menu?Message=Press%202%20for%20sales&Options%5B2%5D=${option}`,
            script: { digits: ['2'] },
        });
        const spoken = call.transcript.flatMap((s) => (s.step === 'say' ? [s.text] : []));
        expect(spoken).toEqual(['Press 2 for sales', 'Sales']);
        expect(call.transcript.find((s) => s.step === 'gather')).toMatchObject({ digits: '2' });
        expect(call.transcript.filter((s) => s.step === 'request').every((s) => s.status === 200)).toBe(true);
        expect(call.errorCode).toBeNull();
    });
});

describe('npm run call', () => {
    it('plays a call into the running app’s /api/voice and prints the transcript', async () => {
        const result = await run(['--from', CALLER]);
        expect(result.stderr).toBe('');
        expect(result.code).toBe(0);
        const [heading, ...rest] = result.stdout.trimEnd().split('\n');
        expect(heading).toMatch(/^Call CA[0-9a-f]{32} from \+15551230000 to \+15005550006: completed, 1 s$/);
        expect(rest).toEqual([
            `    0s  twiml: POST ${app.url}/api/voice → HTTP 200`,
            '    0s  said "Hello World"',
            '    1s  ended completed after 1 s',
        ]);
    });

    it('passes --digits and --answer to the call, and --json prints the view', async () => {
        const failUrl = encodeURIComponent(`${app.url}/api/voice?Message=Nobody%20home`);
        const result = await run([
            '--from',
            CALLER,
            '--url',
            `${app.url}/api/twimlets/forward?PhoneNumber=%2B15557770001&FailUrl=${failUrl}`,
            '--answer',
            'busy',
            '--json',
        ]);
        expect(result.code).toBe(0);
        const view = JSON.parse(result.stdout) as {
            transcript: { step: string; text?: string; dialCallStatus?: string }[];
        };
        expect(view.transcript.find((s) => s.step === 'dial')?.dialCallStatus).toBe('busy');
        expect(view.transcript.filter((s) => s.step === 'say').map((s) => s.text)).toContain('Nobody home');
    });

    it('exits 1 when the call ends with a debugger error', async () => {
        const result = await run(['--from', CALLER, '--url', `${app.url}/api/nothing-here`]);
        expect(result.code).toBe(1);
        expect(result.stdout).toContain(
            'Error 11200: HTTP retrieval failure: the TwiML URL answered HTTP 404',
        );
    });

    it.each([
        ['no --from', []],
        ['a --from that is not E.164', ['--from', '555-1234']],
        ['a bad --answer', ['--from', CALLER, '--answer', 'maybe']],
        ['a bad --record', ['--from', CALLER, '--record', 'long']],
        ['a bad --method', ['--from', CALLER, '--method', 'PUT']],
    ])('exits 2 with the usage on %s', async (_what, args) => {
        const result = await run(args);
        expect(result.code).toBe(2);
        expect(result.stderr).toContain('Usage: npm run call');
    });

    it('exits 1 saying so when no sandbox is running', async () => {
        const empty = mkdtempSync(path.join(tmpdir(), 'call-cli-empty-'));
        writeFileSync(path.join(empty, 'package.json'), '{}');
        writeFileSync(path.join(empty, 'host.json'), '{}');
        writeFileSync(
            path.join(empty, 'local.settings.json'),
            JSON.stringify({ Values: { TWILIO_AUTH_TOKEN: 'x' } }),
        );
        let stderr = '';
        const code = await main(['--from', CALLER, '--url', `${app.url}/api/voice`], {
            cwd: empty,
            env: {},
            stdout: () => undefined,
            stderr: (text) => (stderr += text),
            fetch: globalThis.fetch,
        });
        rmSync(empty, { recursive: true, force: true });
        expect(code).toBe(1);
        expect(stderr).toContain('.azurite/sandbox.json is missing');
    });
});
