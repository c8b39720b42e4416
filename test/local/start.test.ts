import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, isPortFree } from '../../local/azurite';
import { readSandboxState, type SandboxState } from '../../local/sandbox/state';
import { REPO_ROOT } from '../support/childProcess';
import { ProcessOutput } from '../support/processOutput';
import { signedWebhookRequest, twilioSignature } from '../support/webhooks';

const XML = '<?xml version="1.0" encoding="UTF-8"?>';

/**
 * `npm start` end to end, as a new user runs it: build, Azurite, the Twilio sandbox (no account is
 * configured), the app on the local host; then Ctrl-C. The settings file and state folder are redirected
 * to a temporary folder so a developer's own `local.settings.json` is never read or written.
 */
describe('npm start', () => {
    let dir: string;
    let child: ChildProcess;
    let output: ProcessOutput;
    let port: number;
    let env: NodeJS.ProcessEnv;
    let state: SandboxState;
    let azuritePorts: number[];
    let exitCode: number | null | undefined;

    beforeAll(async () => {
        dir = mkdtempSync(path.join(tmpdir(), 'npm-start-'));
        port = await freePort();
        env = {
            PATH: process.env.PATH,
            HOME: process.env.HOME,
            LOCAL_SETTINGS_FILE: path.join(dir, 'local.settings.json'),
            LOCAL_STATE_DIR: path.join(dir, 'state'),
            PORT: String(port),
            // Core Tools may be installed on a developer's machine; this test is about the local host.
            LOCAL_HOST: '1',
        };
        // Detached, so Ctrl-C can be sent to the whole process group as a terminal does.
        child = spawn('npm', ['start'], {
            cwd: REPO_ROOT,
            env,
            detached: true,
            stdio: ['ignore', 'pipe', 'pipe'],
        });
        output = new ProcessOutput(child);
        child.once('exit', (code) => {
            exitCode = code;
        });
        await output.waitFor((l) => l.includes('Press Ctrl+C to stop.'), 1, 120_000);
        const found = readSandboxState(path.join(dir, 'state'));
        if (found === undefined) throw new Error('npm start wrote no sandbox state');
        state = found;
        const azurite = output.matching((l) => l.startsWith('Azurite (from node_modules)'))[0] ?? '';
        azuritePorts = [...azurite.matchAll(/(?:blob|queue|table) (\d+)/g)].map((m) => Number(m[1]));
    }, 150_000);

    afterAll(() => {
        if (exitCode === undefined && child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
        rmSync(dir, { recursive: true, force: true });
    });

    it('creates the settings file from the example and runs on Azurite and the sandbox', () => {
        const settings = JSON.parse(readFileSync(path.join(dir, 'local.settings.json'), 'utf8')) as {
            Values: Record<string, string>;
        };
        expect(settings.Values.AzureWebJobsStorage).toBe('UseDevelopmentStorage=true');
        const text = output.lines.join('\n');
        expect(text).toContain('Created ');
        expect(text).toContain('No TWILIO_ACCOUNT_SID configured: using the Twilio sandbox');
        expect(text).toContain("running the app with the project's local host");
        expect(text).toContain(`voice: [GET,POST] http://localhost:${String(port)}/api/voice`);
        expect(text).toContain(`inboundSms: [POST] http://localhost:${String(port)}/api/sms`);
        expect(azuritePorts).toHaveLength(3);
        // Azurite runs with its data folder under `dir`, which is how the last test finds leftovers.
        expect(processesMentioning(dir).length).toBeGreaterThan(0);
        expect(state.accountSid).toMatch(/^AC[0-9a-f]{32}$/);
    });

    it('serves signed voice webhooks and rejects unsigned (400) and tampered (403) ones', async () => {
        const url = `http://localhost:${String(port)}/api/voice`;
        const params = { CallSid: 'CA0123456789abcdef0123456789abcdef', From: '+15551230000' };
        const signed = signedWebhookRequest(state.authToken, { url, params });
        const ok = await fetch(url, { method: 'POST', headers: signed.headers, body: await signed.text() });
        expect(ok.status).toBe(200);
        expect(ok.headers.get('content-type')).toBe('text/xml');
        expect(await ok.text()).toBe(`${XML}<Response><Say>Hello World</Say></Response>`);

        const get = await fetch(`${url}?Message=Hi`, {
            headers: { 'X-Twilio-Signature': twilioSignature(state.authToken, `${url}?Message=Hi`) },
        });
        expect(await get.text()).toBe(`${XML}<Response><Say>Hi</Say></Response>`);

        expect((await fetch(url, { method: 'POST', body: 'CallSid=CA1' })).status).toBe(400);
        const tampered = await fetch(url, {
            method: 'POST',
            headers: signed.headers,
            body: 'CallSid=CA0123456789abcdef0123456789abcdef&From=%2B15559999999',
        });
        expect(tampered.status).toBe(403);
    });

    it('answers an inbound SMS sent with `npm run sms`', () => {
        const result = spawnSync(
            'npm',
            ['run', '--silent', 'sms', '--', '--from', '+15551230000', '--body', 'hello'],
            {
                cwd: REPO_ROOT,
                env,
                encoding: 'utf8',
            },
        );
        expect(`exit ${String(result.status)}`).toBe('exit 0');
        expect(result.stderr).toContain('HTTP 200');
        expect(result.stdout).toContain('Hey, thanks for the ping! Twilio and Azure rock!');
    });

    it('sends an SMS through the API and the queue: one create at the sandbox, signed callbacks, delivered', async () => {
        const base = `http://localhost:${String(port)}`;
        const post = () =>
            fetch(`${base}/api/messages`, {
                method: 'POST',
                headers: { 'Content-Type': 'application/json', 'Idempotency-Key': 'e2e-sms-1' },
                body: JSON.stringify({ to: '+15557654321', body: 'hello from the e2e test' }),
            });
        const response = await post();
        expect(response.status).toBe(202);
        expect(response.headers.get('location')).toBe(`${base}/api/messages/e2e-sms-1`);
        expect(await response.json()).toEqual({ id: 'e2e-sms-1', status: 'queued' });
        // A retried POST with the same key is recognised, not sent again.
        expect((await post()).status).toBe(202);

        const record = await waitForStatus(base, 'e2e-sms-1', 'delivered');
        expect(record.sid).toMatch(/^SM[0-9a-f]{32}$/);
        expect(record.history.map((h) => h.status)).toEqual(
            expect.arrayContaining(['queued', 'sent', 'delivered']),
        );
        const sandboxView = (await (await fetch(`${state.url}/sandbox/messages`)).json()) as {
            messages: { sid: string }[];
        };
        expect(sandboxView.messages.filter((m) => m.sid === record.sid)).toHaveLength(1);
        expect(sandboxView.messages).toHaveLength(1);

        const list = (await (await fetch(`${base}/api/messages?to=%2B15557654321`)).json()) as {
            messages: { id: string }[];
        };
        expect(list.messages.map((m) => m.id)).toEqual(['e2e-sms-1']);
        expect(output.lines.join('\n')).not.toContain('hello from the e2e test');
    });

    it("places a call that fetches TwiML from the app's own /api/voice and completes", async () => {
        const base = `http://localhost:${String(port)}`;
        const response = await fetch(`${base}/api/calls`, {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify({ to: '+15557654321' }),
        });
        expect(response.status).toBe(202);
        const { id } = (await response.json()) as { id: string };
        const record = await waitForStatus(base, id, 'completed');
        expect(record.sid).toMatch(/^CA[0-9a-f]{32}$/);
        const calls = (await (await fetch(`${state.url}/sandbox/calls`)).json()) as {
            calls: { sid: string; twiml?: string }[];
        };
        expect(calls.calls.find((c) => c.sid === record.sid)?.twiml).toBe(
            '<?xml version="1.0" encoding="UTF-8"?><Response><Say>Hello World</Say></Response>',
        );
    });

    it('logged no auth token, full phone number or message body', () => {
        const text = output.lines.join('\n');
        expect(text).not.toContain(state.authToken);
        for (const number of ['+15557654321', '+15551230000']) expect(text).not.toContain(number);
        for (const body of ['hello from the e2e test', 'hello']) {
            expect(output.lines.filter((l) => l.includes(body) && !l.includes('npm run'))).toEqual([]);
        }
        // The masked form is what identifies a number in the logs.
        expect(text).toContain('+1555***4321');
    });

    it('stops everything it started on Ctrl-C, freeing its ports', async () => {
        const exited = new Promise<void>((resolve) => {
            if (exitCode !== undefined) resolve();
            else child.once('exit', () => resolve());
        });
        process.kill(-(child.pid ?? 0), 'SIGINT');
        await exited;
        await output.waitFor((l) => l.includes('Stopped.')).catch(() => undefined);
        for (const used of [port, ...azuritePorts, Number(new URL(state.url).port)]) {
            expect(await isPortFree(used)).toBe(true);
        }
        expect(processesMentioning(dir)).toEqual([]);
        // The sandbox's credentials are only valid while it runs.
        expect(readSandboxState(path.join(dir, 'state'))).toBeUndefined();
    });
});

/** Command lines of the running processes that mention `text` (Linux /proc; empty elsewhere). */
function processesMentioning(text: string): string[] {
    let pids: string[];
    try {
        pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
    } catch {
        return [];
    }
    const found: string[] = [];
    for (const pid of pids) {
        try {
            const commandLine = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
            if (commandLine.includes(text)) found.push(commandLine);
        } catch {
            // the process ended while we looked
        }
    }
    return found;
}

interface ApiRecord {
    id: string;
    sid?: string;
    status: string;
    history: { status: string }[];
}

/** Polls GET /api/messages/{id} until the record reaches `status` (bounded: a stuck pipeline fails). */
async function waitForStatus(base: string, id: string, status: string): Promise<ApiRecord> {
    let last: unknown;
    for (let i = 0; i < 300; i++) {
        const response = await fetch(`${base}/api/messages/${id}`);
        if (response.status === 200) {
            const record = (await response.json()) as ApiRecord;
            if (record.status === status) return record;
            last = record;
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`${id} never reached ${status}; last seen: ${JSON.stringify(last)}`);
}
