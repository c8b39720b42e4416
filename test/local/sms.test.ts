import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateRequest } from 'twilio/lib/webhooks/webhooks';
import { SANDBOX_NUMBER } from '../../local/sandbox/resources';
import { generateTestCredentials, startTwilioSandbox } from '../../local/sandbox/sandbox';
import {
    clearSandboxState,
    readSandboxState,
    sandboxStatePath,
    writeSandboxState,
} from '../../local/sandbox/state';
import { appStatePath, clearAppState, readAppState, writeAppState } from '../../local/settings';
import { main, type SmsCliIo } from '../../local/sms';
import { listen } from '../fakes/servers';
import { REPO_ROOT } from '../support/childProcess';

const REPLY = '<?xml version="1.0" encoding="UTF-8"?><Response><Message>Thanks!</Message></Response>';
const { accountSid: SID, authToken: TOKEN } = generateTestCredentials();

interface Received {
    url: string;
    signature: string | undefined;
    form: URLSearchParams;
}

/**
 * A stand-in for the app's `/api/sms`: validates the signature with twilio's validator against
 * `signedFor` (default: its own URL) and `token`, answering TwiML, 403, or whatever `status` says.
 */
let app: { server: Server; url: string; received: Received[] };
let appBehaviour: { token: string; signedFor?: string; status?: number };
let refusedUrl: string;
let dir: string;

beforeAll(async () => {
    const received: Received[] = [];
    const server = createServer((req, res) => {
        void (async () => {
            const chunks: Buffer[] = [];
            for await (const chunk of req) chunks.push(chunk as Buffer);
            const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
            const url = `${app.url}${req.url ?? '/'}`;
            const signature = req.headers['x-twilio-signature'];
            received.push({ url, signature: typeof signature === 'string' ? signature : undefined, form });
            if (appBehaviour.status !== undefined) {
                res.writeHead(appBehaviour.status, { 'Content-Type': 'text/plain' });
                res.end('Something broke');
                return;
            }
            const params: Record<string, string> = Object.fromEntries(form);
            const valid =
                typeof signature === 'string' &&
                validateRequest(appBehaviour.token, signature, appBehaviour.signedFor ?? url, params);
            if (!valid) {
                res.writeHead(403, { 'Content-Type': 'text/plain' });
                res.end('Twilio signature validation failed');
                return;
            }
            res.writeHead(200, { 'Content-Type': 'text/xml' });
            res.end(REPLY);
        })();
    });
    app = { server, url: `http://127.0.0.1:${String(await listen(server))}`, received };

    const closed = createServer();
    refusedUrl = `http://127.0.0.1:${String(await listen(closed))}`;
    await new Promise((resolve) => closed.close(resolve));
});

afterAll(async () => {
    app.server.closeAllConnections();
    await new Promise((resolve) => app.server.close(resolve));
});

beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sms-cli-'));
    writeFileSync(join(dir, 'package.json'), '{}');
    writeFileSync(join(dir, 'host.json'), '{}');
    appBehaviour = { token: TOKEN };
    app.received.length = 0;
});

afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
});

function writeSettings(values: Record<string, string>, port?: number): void {
    const settings = {
        IsEncrypted: false,
        Values: values,
        ...(port === undefined ? {} : { Host: { LocalHttpPort: port } }),
    };
    writeFileSync(join(dir, 'local.settings.json'), JSON.stringify(settings));
}

async function run(
    args: string[],
    env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
    let stdout = '';
    let stderr = '';
    const io: SmsCliIo = {
        cwd: dir,
        env,
        stdout: (text) => (stdout += text),
        stderr: (text) => (stderr += text),
        fetch: globalThis.fetch,
    };
    const code = await main(args, io);
    return { code, stdout, stderr };
}

const SEND = ['--from', '+15551230000', '--body', 'hello there'];

describe('npm run sms', () => {
    it('signs with TWILIO_AUTH_TOKEN from local.settings.json and prints the TwiML reply', async () => {
        writeSettings({ TWILIO_ACCOUNT_SID: SID, TWILIO_AUTH_TOKEN: TOKEN, PUBLIC_BASE_URL: '' });
        const result = await run([...SEND, '--url', `${app.url}/api/sms`]);
        expect(result).toMatchObject({ code: 0, stdout: `${REPLY}\n` });
        expect(result.stderr).toContain('HTTP 200');
        const [request] = app.received;
        expect(Object.fromEntries(request?.form ?? [])).toMatchObject({
            AccountSid: SID,
            From: '+15551230000',
            To: SANDBOX_NUMBER,
            Body: 'hello there',
            NumMedia: '0',
        });
    });

    it('posts to localhost:<LocalHttpPort>/api/sms by default, with --to and --media', async () => {
        const port = Number(new URL(app.url).port);
        writeSettings({ TWILIO_AUTH_TOKEN: TOKEN }, port);
        appBehaviour = { token: TOKEN, signedFor: `http://localhost:${String(port)}/api/sms` };
        const result = await run([...SEND, '--to', '+15557654321', '--media', 'https://example.com/a.jpg']);
        expect(result.code).toBe(0);
        expect(Object.fromEntries(app.received[0]?.form ?? [])).toMatchObject({
            To: '+15557654321',
            NumMedia: '1',
            MediaUrl0: 'https://example.com/a.jpg',
        });
    });

    it('posts to the app npm start runs, whatever its port, from .azurite/app.json', async () => {
        // The settings and PORT name another port: the running app's own URL wins over both.
        writeSettings({ TWILIO_AUTH_TOKEN: TOKEN }, 1);
        writeAppState(join(dir, '.azurite'), { url: app.url, pid: process.pid });
        const result = await run(SEND, { PORT: '2' });
        expect(result.code).toBe(0);
        expect(result.stderr).toContain(`POST ${app.url}/api/sms `);
        expect(app.received).toHaveLength(1);
    });

    it('exits 1 with a clear message when app.json was left by an npm start that is gone, unless --url is given', async () => {
        writeSettings({ TWILIO_AUTH_TOKEN: TOKEN });
        const gone = spawnSync(process.execPath, ['-e', '']).pid;
        writeAppState(join(dir, '.azurite'), { url: 'http://localhost:7181', pid: gone });
        const stale = await run(SEND);
        expect(stale.code).toBe(1);
        expect(stale.stderr).toContain(
            `says the app runs at http://localhost:7181, but the npm start that wrote it (pid ${String(gone)}) is no longer running`,
        );
        expect(stale.stderr).toContain('--url');
        expect(app.received).toHaveLength(0);

        const explicit = await run([...SEND, '--url', `${app.url}/api/sms`]);
        expect(explicit.code).toBe(0);
        expect(app.received).toHaveLength(1);
    });

    it('signs for PUBLIC_BASE_URL when one is set, as the app validates', async () => {
        writeSettings({ TWILIO_AUTH_TOKEN: TOKEN, PUBLIC_BASE_URL: 'https://myapp.example.net/' });
        appBehaviour = { token: TOKEN, signedFor: 'https://myapp.example.net/api/sms?x=1' };
        const result = await run([...SEND, '--url', `${app.url}/api/sms?x=1`]);
        expect(result.code).toBe(0);
    });

    it('lets an environment variable override the file, as Core Tools does', async () => {
        writeSettings({ TWILIO_AUTH_TOKEN: 'stale-token' });
        const result = await run([...SEND, '--url', `${app.url}/api/sms`], { TWILIO_AUTH_TOKEN: TOKEN });
        expect(result.code).toBe(0);
    });

    it('falls back to the sandbox state npm start wrote when the settings have no token', async () => {
        writeSettings({ TWILIO_ACCOUNT_SID: '', TWILIO_AUTH_TOKEN: '' });
        writeSandboxState(join(dir, '.azurite'), {
            accountSid: SID,
            authToken: TOKEN,
            url: 'http://127.0.0.1:1',
            appUrl: 'https://public.test',
        });
        appBehaviour = { token: TOKEN, signedFor: 'https://public.test/api/sms' };
        const result = await run([...SEND, '--url', `${app.url}/api/sms`]);
        expect(result.code).toBe(0);
        expect(result.stderr).toContain('.azurite');
        expect(app.received[0]?.form.get('AccountSid')).toBe(SID);
    });

    it('--media <file>: the sandbox of npm start holds the file and the MMS names its media URL', async () => {
        const sandbox = await startTwilioSandbox({ accountSid: SID, authToken: TOKEN, callbackDelayMs: 0 });
        try {
            writeSettings({ TWILIO_ACCOUNT_SID: '', TWILIO_AUTH_TOKEN: '' });
            writeSandboxState(join(dir, '.azurite'), { accountSid: SID, authToken: TOKEN, url: sandbox.url });
            const png = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
            writeFileSync(join(dir, 'photo.png'), png);
            const result = await run([
                ...SEND,
                '--url',
                `${app.url}/api/sms`,
                '--media',
                join(dir, 'photo.png'),
                '--media',
                'https://example.com/b.gif',
            ]);
            expect(result.code).toBe(0);
            expect(result.stderr).toMatch(
                /photo\.png \(image\/png\) is media ME[0-9a-f]{32} of MM[0-9a-f]{32}/,
            );
            const form = app.received[0]?.form;
            const messageSid = form?.get('MessageSid') ?? '';
            expect(messageSid).toMatch(/^MM[0-9a-f]{32}$/);
            expect(Object.fromEntries(form ?? [])).toMatchObject({
                NumMedia: '2',
                MediaContentType0: 'image/png',
                MediaUrl1: 'https://example.com/b.gif',
                MediaContentType1: 'image/gif',
            });
            const mediaUrl = form?.get('MediaUrl0') ?? '';
            expect(
                mediaUrl.startsWith(
                    `${sandbox.url}/2010-04-01/Accounts/${SID}/Messages/${messageSid}/Media/ME`,
                ),
            ).toBe(true);
            const auth = `Basic ${Buffer.from(`${SID}:${TOKEN}`).toString('base64')}`;
            const served = await fetch(mediaUrl, { headers: { Authorization: auth } });
            expect(Buffer.from(await served.arrayBuffer()).equals(png)).toBe(true);
        } finally {
            await sandbox.close();
        }
    });

    it('--media <file> without the sandbox of npm start exits 1 and says why', async () => {
        writeSettings({ TWILIO_AUTH_TOKEN: TOKEN });
        writeFileSync(join(dir, 'photo.png'), 'x');
        const result = await run([...SEND, '--url', `${app.url}/api/sms`, '--media', join(dir, 'photo.png')]);
        expect(result.code).toBe(1);
        expect(result.stderr).toContain('--media <file> needs the Twilio sandbox of npm start');
        expect(app.received).toHaveLength(0);
    });

    it('exits 1 with a clear message when there is no token to sign with', async () => {
        writeSettings({ TWILIO_AUTH_TOKEN: '' });
        const result = await run([...SEND, '--url', `${app.url}/api/sms`]);
        expect(result.code).toBe(1);
        expect(result.stderr).toMatch(/No auth token to sign the webhook with.*npm start/s);
        expect(app.received).toHaveLength(0);
    });

    it('exits 1 when the app rejects the signature, and says why', async () => {
        writeSettings({ TWILIO_AUTH_TOKEN: 'f'.repeat(32) });
        const result = await run([...SEND, '--url', `${app.url}/api/sms`]);
        expect(result.code).toBe(1);
        expect(result.stdout).toBe('');
        expect(result.stderr).toContain('The app answered HTTP 403: Twilio signature validation failed');
        expect(result.stderr).toContain('rejected the signature');
    });

    it('exits 1 on a server error', async () => {
        writeSettings({ TWILIO_AUTH_TOKEN: TOKEN });
        appBehaviour = { token: TOKEN, status: 500 };
        const result = await run([...SEND, '--url', `${app.url}/api/sms`]);
        expect(result.code).toBe(1);
        expect(result.stderr).toContain('The app answered HTTP 500: Something broke');
    });

    it('exits 1 when the app is not running', async () => {
        writeSettings({ TWILIO_AUTH_TOKEN: TOKEN });
        const result = await run([...SEND, '--url', `${refusedUrl}/api/sms`]);
        expect(result.code).toBe(1);
        expect(result.stderr).toMatch(/Could not reach .* \(ECONNREFUSED.*Is the app running\?/);
    });

    it.each([
        ['no --from', ['--body', 'x']],
        ['no --body', ['--from', '+15551230000']],
        ['an unknown option', [...SEND, '--frm', 'x']],
        ['a --from that is not E.164', ['--from', '555-1234', '--body', 'x']],
        ['a --media that is not a URL', [...SEND, '--media', 'cat.jpg']],
    ])('exits 2 with the usage on %s', async (_what, args) => {
        writeSettings({ TWILIO_AUTH_TOKEN: TOKEN });
        const result = await run(args);
        expect(result.code).toBe(2);
        expect(result.stderr).toContain('Usage: npm run sms');
    });

    it('prints the usage with --help', async () => {
        const result = await run(['--help']);
        expect(result).toMatchObject({ code: 0, stderr: '' });
        expect(result.stdout).toContain('Usage: npm run sms');
    });

    it('runs as a script with the exit status as its process exit code', async () => {
        writeSettings({ TWILIO_AUTH_TOKEN: TOKEN });
        const runScript = (args: string[]) =>
            new Promise<{ code: number | null; stdout: string }>((resolve, reject) => {
                const child = spawn(
                    process.execPath,
                    [
                        '-r',
                        join(REPO_ROOT, 'test', 'support', 'register.js'),
                        join(REPO_ROOT, 'local', 'sms.ts'),
                        ...args,
                    ],
                    { cwd: dir, env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] },
                );
                let stdout = '';
                child.stdout.setEncoding('utf8');
                child.stdout.on('data', (chunk: string) => (stdout += chunk));
                child.on('error', reject);
                child.on('close', (code) => {
                    resolve({ code, stdout });
                });
            });
        await expect(runScript([...SEND, '--url', `${app.url}/api/sms`])).resolves.toEqual({
            code: 0,
            stdout: `${REPLY}\n`,
        });
        await expect(runScript([...SEND, '--url', `${refusedUrl}/api/sms`])).resolves.toMatchObject({
            code: 1,
        });
    });
});

describe('sandbox state file', () => {
    it('round-trips, owner-readable only, and is cleared', () => {
        const state = {
            accountSid: SID,
            authToken: TOKEN,
            url: 'http://127.0.0.1:5000',
            appUrl: 'http://localhost:7071',
        };
        writeSandboxState(dir, state);
        const path = sandboxStatePath(dir);
        expect(path).toBe(join(dir, 'sandbox.json'));
        expect(readSandboxState(dir)).toEqual(state);
        if (process.platform !== 'win32') expect(statSync(path).mode & 0o777).toBe(0o600);
        expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual(state);
        clearSandboxState(dir);
        expect(readSandboxState(dir)).toBeUndefined();
        expect(() => clearSandboxState(dir)).not.toThrow();
    });

    it('names the file when it is not a valid state', () => {
        writeSandboxState(dir, { accountSid: SID, authToken: TOKEN, url: 'http://127.0.0.1:5000' });
        const path = sandboxStatePath(dir);
        writeFileSync(path, '{not json');
        expect(() => readSandboxState(dir)).toThrow(`${path} is not valid JSON`);
        writeFileSync(path, JSON.stringify({ accountSid: 'nope', authToken: TOKEN, url: 'x' }));
        expect(() => readSandboxState(dir)).toThrow(path);
    });
});

describe('app state file', () => {
    it('round-trips, and is cleared only by the process that wrote it', () => {
        expect(readAppState(dir)).toBeUndefined();
        writeAppState(dir, { url: 'http://localhost:7181', pid: process.pid, appPid: 4242 });
        expect(appStatePath(dir)).toBe(join(dir, 'app.json'));
        expect(readAppState(dir)).toEqual({ url: 'http://localhost:7181', pid: process.pid, appPid: 4242 });
        clearAppState(dir, process.pid + 1);
        expect(readAppState(dir)).toBeDefined();
        clearAppState(dir);
        expect(readAppState(dir)).toBeUndefined();
        expect(() => clearAppState(dir)).not.toThrow();
    });

    it('names the file when it is not a valid state', () => {
        writeFileSync(appStatePath(dir), '{not json');
        expect(() => readAppState(dir)).toThrow(`${appStatePath(dir)} is not valid JSON`);
        writeFileSync(appStatePath(dir), JSON.stringify({ url: 'not a url', pid: 1 }));
        expect(() => readAppState(dir)).toThrow(appStatePath(dir));
    });
});
