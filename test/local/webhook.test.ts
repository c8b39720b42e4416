/**
 * `npm run webhook`: a signed Twilio webhook to the running app, as the README's walkthrough uses it.
 */

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateRequest } from 'twilio/lib/webhooks/webhooks';
import { writeAppState } from '../../local/settings';
import { main } from '../../local/webhook';
import { closeServer, listen, trackSockets } from '../fakes/servers';

const TOKEN = '0123456789abcdef0123456789abcdef';

interface Seen {
    method: string;
    path: string;
    params: Record<string, string | string[]>;
    valid: boolean;
    signed: boolean;
}

let server: Server;
let origin: string;
let close: () => Promise<void>;
const seen: Seen[] = [];

beforeAll(async () => {
    server = createServer((req, res) => {
        void (async () => {
            const chunks: Buffer[] = [];
            for await (const chunk of req) chunks.push(chunk as Buffer);
            const url = `${origin}${req.url ?? '/'}`;
            const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
            const params: Record<string, string | string[]> = {};
            for (const key of new Set(form.keys())) {
                const values = form.getAll(key);
                params[key] = values.length === 1 ? (values[0] ?? '') : values;
            }
            const signature = req.headers['x-twilio-signature'];
            const valid = typeof signature === 'string' && validateRequest(TOKEN, signature, url, params);
            seen.push({
                method: req.method ?? '',
                path: req.url ?? '',
                params: req.method === 'GET' ? Object.fromEntries(new URL(url).searchParams) : params,
                valid,
                signed: typeof signature === 'string',
            });
            res.writeHead(typeof signature !== 'string' ? 400 : valid ? 200 : 403, {
                'Content-Type': 'text/xml',
            });
            res.end(valid ? '<Response><Say>ok</Say></Response>' : '');
        })();
    });
    const sockets = trackSockets(server);
    origin = `http://127.0.0.1:${String(await listen(server))}`;
    close = () => closeServer(server, sockets);
});
afterAll(async () => close());

function app() {
    const dir = mkdtempSync(join(tmpdir(), 'webhook-cli-'));
    writeFileSync(join(dir, 'package.json'), '{}');
    writeFileSync(join(dir, 'host.json'), '{"version": "2.0"}');
    writeFileSync(
        join(dir, 'local.settings.json'),
        JSON.stringify({ IsEncrypted: false, Values: { TWILIO_AUTH_TOKEN: TOKEN } }),
    );
    writeAppState(join(dir, '.azurite'), { url: origin, pid: process.pid, appPid: process.pid });
    const out: string[] = [];
    const err: string[] = [];
    const io = {
        cwd: dir,
        env: {},
        stdout: (t: string) => out.push(t),
        stderr: (t: string) => err.push(t),
        fetch: globalThis.fetch,
    };
    return { io, out, err, done: () => rmSync(dir, { recursive: true, force: true }) };
}

beforeEach(() => {
    seen.length = 0;
});

describe('npm run webhook', () => {
    it('POSTs the parameters to the route of the running app, signed as Twilio signs, and prints the answer', async () => {
        const { io, out, done } = app();
        try {
            expect(await main(['voice', 'Message=Hello there', 'Digits=1'], io)).toBe(0);
            expect(seen).toEqual([
                {
                    method: 'POST',
                    path: '/api/voice',
                    params: { Message: 'Hello there', Digits: '1' },
                    valid: true,
                    signed: true,
                },
            ]);
            expect(out.join('')).toBe('200 <Response><Say>ok</Say></Response>\n');
        } finally {
            done();
        }
    });

    it('signs a GET with its query', async () => {
        const { io, done } = app();
        try {
            expect(await main(['voice', '--get', 'Message=Hi & bye'], io)).toBe(0);
            expect(seen[0]).toMatchObject({ method: 'GET', params: { Message: 'Hi & bye' }, valid: true });
        } finally {
            done();
        }
    });

    it('sends --unsigned without a signature and --forged with a wrong one; exits 1 on their refusal', async () => {
        const { io, out, done } = app();
        try {
            expect(await main(['voice', '--unsigned'], io)).toBe(1);
            expect(await main(['voice', '--forged'], io)).toBe(1);
            expect(seen.map((s) => [s.signed, s.valid])).toEqual([
                [false, false],
                [true, false],
            ]);
            expect(out.join('')).toBe('400 \n403 \n');
        } finally {
            done();
        }
    });

    it('refuses a missing route, a parameter without =, and both --unsigned and --forged (exit 2)', async () => {
        const { io, done } = app();
        try {
            expect(await main([], io)).toBe(2);
            expect(await main(['voice', 'Message'], io)).toBe(2);
            expect(await main(['voice', '--unsigned', '--forged'], io)).toBe(2);
            expect(seen).toHaveLength(0);
        } finally {
            done();
        }
    });
});
