import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createServer, type Server } from 'node:net';
import { freePort, freePorts, isPortFree } from '../../local/azurite';
import { readSandboxState, type SandboxState } from '../../local/sandbox/state';
import { isProcessAlive, readAppState } from '../../local/settings';
import { appNodeArgs, inspectorAddress, parseStartArgs } from '../../local/start';
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
    let inspectorPort: number;

    beforeAll(async () => {
        dir = mkdtempSync(path.join(tmpdir(), 'npm-start-'));
        [port = 0, inspectorPort = 0] = await freePorts(2);
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
        child = spawn('npm', ['start', '--', `--inspect=127.0.0.1:${String(inspectorPort)}`], {
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

    it("writes the app's URL and its own pid to .azurite/app.json while it runs", () => {
        const app = readAppState(path.join(dir, 'state'));
        expect(app?.url).toBe(`http://localhost:${String(port)}`);
        expect(isProcessAlive(app?.pid ?? 0)).toBe(true);
        expect(isProcessAlive(app?.appPid ?? 0)).toBe(true);
    });

    it("opens the inspector (-- --inspect) in the app's process only, not in npm start's, the sandbox's or Azurite's", async () => {
        const targets = (await (
            await fetch(`http://127.0.0.1:${String(inspectorPort)}/json/list`)
        ).json()) as { url: string }[];
        expect(targets.map((t) => t.url)).toEqual([expect.stringMatching(/dist\/local\/host\/main\.js$/)]);
        const app = readAppState(path.join(dir, 'state'));
        // Node options are the arguments before the script; only the app's process has --inspect there.
        const withInspector = nodeProcesses()
            .filter((p) => p.nodeOptions.some((o) => o.startsWith('--inspect')))
            .map((p) => p.pid);
        expect(withInspector).toContain(app?.appPid);
        for (const other of nodeProcesses().filter(
            (p) => p.args.join(' ').includes(dir) || p.pid === app?.pid,
        )) {
            if (other.pid !== app?.appPid) expect(other.nodeOptions.join(' ')).not.toContain('--inspect');
        }
        expect(nodeProcesses().some((p) => p.pid === app?.pid)).toBe(true);
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

    it('answers an inbound SMS sent with `npm run sms`, which finds the port from app.json', () => {
        // No PORT here: without the state file the command would post to 7071.
        const { PORT: _port, ...withoutPort } = env;
        const result = spawnSync(
            'npm',
            ['run', '--silent', 'sms', '--', '--from', '+15551230000', '--body', 'hello'],
            {
                cwd: REPO_ROOT,
                env: withoutPort,
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

    it('plays a call into the running app with `npm run call`, which finds the app and the sandbox from the state files', () => {
        // No PORT here either: the app's URL and the sandbox's come from app.json and sandbox.json.
        const { PORT: _port, ...withoutPort } = env;
        const call = (args: string[]) =>
            spawnSync('npm', ['run', '--silent', 'call', '--', '--from', '+15551230000', ...args], {
                cwd: REPO_ROOT,
                env: withoutPort,
                encoding: 'utf8',
            });
        const greeting = call([]);
        expect(`exit ${String(greeting.status)}`).toBe('exit 0');
        expect(greeting.stderr).toBe('');
        const [heading, ...steps] = greeting.stdout.trimEnd().split('\n');
        expect(heading).toMatch(/^Call CA[0-9a-f]{32} from \+15551230000 to \+15005550006: completed, 1 s$/);
        expect(steps).toEqual([
            `    0s  twiml: POST http://localhost:${String(port)}/api/voice → HTTP 200`,
            '    0s  said "Hello World"',
            '    1s  ended completed after 1 s',
        ]);

        const base = `http://localhost:${String(port)}`;
        const sales = encodeURIComponent(`${base}/api/voice?Message=Sales`);
        const menu = call([
            '--url',
            `${base}/api/twimlets/menu?Message=Press%202%20for%20sales&Options%5B2%5D=${sales}`,
            '--digits',
            '2',
        ]);
        expect(`exit ${String(menu.status)}`).toBe('exit 0');
        expect(menu.stdout.trimEnd().split('\n').slice(1)).toEqual([
            `    0s  twiml: POST ${base}/api/twimlets/menu → HTTP 200`,
            '    0s  said "Press 2 for sales"',
            '    3s  gathered 2',
            `    3s  gather-action: POST ${base}/api/twimlets/menu → HTTP 200`,
            `    3s  redirected to GET ${base}/api/voice?Message=Sales`,
            `    3s  redirect: GET ${base}/api/voice → HTTP 200`,
            '    3s  said "Sales"',
            '    4s  ended completed after 4 s',
        ]);
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
        for (const used of [port, ...azuritePorts, Number(new URL(state.url).port), inspectorPort]) {
            expect(await isPortFree(used)).toBe(true);
        }
        expect(processesMentioning(dir)).toEqual([]);
        // The sandbox's credentials are only valid while it runs, and so is the app's URL.
        expect(readSandboxState(path.join(dir, 'state'))).toBeUndefined();
        expect(readAppState(path.join(dir, 'state'))).toBeUndefined();
    });
});

/**
 * A port already taken: one line naming it and what to do, before anything starts. These run the start
 * script npm start built above (no second build).
 */
describe('npm start with a port in use', () => {
    let dir: string;
    let blocker: Server;
    let taken: number;

    beforeAll(async () => {
        dir = mkdtempSync(path.join(tmpdir(), 'npm-start-taken-'));
        blocker = createServer();
        await new Promise<void>((resolve) => blocker.listen(0, 'localhost', resolve));
        taken = (blocker.address() as { port: number }).port;
    });

    afterAll(async () => {
        await new Promise((resolve) => blocker.close(resolve));
        rmSync(dir, { recursive: true, force: true });
    });

    const start = (extraEnv: Record<string, string>, args: string[] = []) =>
        spawnSync(process.execPath, [path.join(REPO_ROOT, 'dist', 'local', 'start.js'), ...args], {
            cwd: REPO_ROOT,
            env: {
                PATH: process.env.PATH,
                HOME: process.env.HOME,
                LOCAL_SETTINGS_FILE: path.join(dir, 'local.settings.json'),
                LOCAL_STATE_DIR: path.join(dir, 'state'),
                LOCAL_HOST: '1',
                ...extraEnv,
            },
            encoding: 'utf8',
        });
    const errorLines = (stderr: string) => stderr.split('\n').filter((l) => l.trim() !== '');

    it("the app's port: one line with PORT=…, exit 1, nothing left running", () => {
        const result = start({ PORT: String(taken) });
        expect(result.status).toBe(1);
        expect(errorLines(result.stderr)).toEqual([
            `Port ${String(taken)} (the app) is already in use: pick another with PORT=<port> npm start (e.g. PORT=${String(taken + 1)} npm start).`,
        ]);
        expect(result.stdout).not.toContain('Azurite (from node_modules)');
        expect(processesMentioning(dir)).toEqual([]);
        expect(readAppState(path.join(dir, 'state'))).toBeUndefined();
    });

    it('the inspector port of -- --inspect, or of languageWorkers__node__arguments: one line saying where to change it', async () => {
        const free = String(await freePort());
        const cli = start({ PORT: free }, [`--inspect=${String(taken)}`]);
        expect(cli.status).toBe(1);
        expect(errorLines(cli.stderr)).toEqual([
            `Port ${String(taken)} (the app's inspector) is already in use: pick another with npm start -- --inspect=${String(taken + 1)}.`,
        ]);
        const setting = start({ PORT: free, languageWorkers__node__arguments: `--inspect=${String(taken)}` });
        expect(setting.status).toBe(1);
        expect(errorLines(setting.stderr)).toEqual([
            `Port ${String(taken)} (the app's inspector) is already in use: pick another in languageWorkers__node__arguments (e.g. --inspect=${String(taken + 1)}) or with npm start -- --inspect=${String(taken + 1)}.`,
        ]);
        expect(processesMentioning(dir)).toEqual([]);
    });

    it('an unknown argument: the usage, exit 2', () => {
        const result = start({}, ['--inspekt']);
        expect(result.status).toBe(2);
        expect(result.stderr).toContain('Unknown argument --inspekt');
        expect(result.stderr).toContain('Usage: npm start');
    });
});

describe('npm start arguments', () => {
    it('takes --inspect, --inspect-brk (with or without an address) and --watch, and nothing else', () => {
        expect(parseStartArgs(['--inspect', '--inspect-brk=9230', '--watch'])).toEqual({
            inspect: ['--inspect', '--inspect-brk=9230'],
            watch: true,
        });
        expect(() => parseStartArgs(['--port=1'])).toThrow('Unknown argument --port=1');
    });

    it("reads an --inspect option's address with Node's defaults", () => {
        expect(inspectorAddress('--inspect')).toEqual({ host: '127.0.0.1', port: 9229 });
        expect(inspectorAddress('--inspect=9230')).toEqual({ host: '127.0.0.1', port: 9230 });
        expect(inspectorAddress('--inspect-brk=0.0.0.0:9231')).toEqual({ host: '0.0.0.0', port: 9231 });
        expect(inspectorAddress('--inspect=[::1]:9232')).toEqual({ host: '::1', port: 9232 });
        expect(inspectorAddress('--inspect=localhost')).toEqual({ host: 'localhost', port: 9229 });
        expect(inspectorAddress('--enable-source-maps')).toBeUndefined();
    });

    it('gives the app languageWorkers__node__arguments (settings first, then the environment) and then -- --inspect', () => {
        const key = 'languageWorkers__node__arguments';
        expect(appNodeArgs({ [key]: '--inspect=9229  --enable-source-maps' }, {}, [])).toEqual([
            '--inspect=9229',
            '--enable-source-maps',
        ]);
        expect(appNodeArgs({}, { [key]: '--max-old-space-size=512' }, ['--inspect=9300'])).toEqual([
            '--max-old-space-size=512',
            '--inspect=9300',
        ]);
        expect(appNodeArgs({ [key]: '"--title=my app"' }, { [key]: '--prof' }, [])).toEqual([
            '--title=my app',
        ]);
        expect(appNodeArgs({}, {}, [])).toEqual([]);
    });
});

/** Node processes on this machine: their pid, Node options (before the script) and the rest (Linux /proc). */
function nodeProcesses(): { pid: number; nodeOptions: string[]; args: string[] }[] {
    let pids: string[];
    try {
        pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
    } catch {
        return [];
    }
    const found: { pid: number; nodeOptions: string[]; args: string[] }[] = [];
    for (const pid of pids) {
        try {
            const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
                .split('\0')
                .filter((a) => a !== '');
            if (!/(^|\/)node$/.test(argv[0] ?? '')) continue;
            const script = argv.findIndex((a, i) => i > 0 && !a.startsWith('-'));
            found.push({
                pid: Number(pid),
                nodeOptions: script === -1 ? argv.slice(1) : argv.slice(1, script),
                args: script === -1 ? [] : argv.slice(script),
            });
        } catch {
            // the process ended while we looked
        }
    }
    return found;
}

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
