/**
 * The sandbox's Media subresource, over HTTP as the app reaches it: behind Basic auth, the bytes with their
 * type (or Twilio's redirect to a CDN origin), the `.json`, DELETE (204, then 404 for both), the list, and
 * the sandbox-only upload `npm run sms -- --media <file>` uses.
 */

import {
    generateTestCredentials,
    startTwilioSandbox,
    type TwilioSandbox,
} from '../../../local/sandbox/sandbox';

let sandbox: TwilioSandbox;
let auth: string;
const PNG = Buffer.from('89504e470d0a1a0a', 'hex');

beforeAll(async () => {
    sandbox = await startTwilioSandbox({ ...generateTestCredentials(), callbackDelayMs: 0 });
    auth = `Basic ${Buffer.from(`${sandbox.accountSid}:${sandbox.authToken}`).toString('base64')}`;
});

afterAll(async () => {
    await sandbox.close();
});

/**
 * An inbound MMS with two media items, its webhook posted to a port nothing listens on (the sandbox
 * keeps the message and its media all the same): its SID and media URLs.
 */
async function mms(options: { mediaRedirect?: string } = {}): Promise<{ sid: string; urls: string[] }> {
    await expect(
        sandbox.receiveSms({
            appUrl: 'http://127.0.0.1:9/api/sms',
            from: '+15551230000',
            body: '',
            media: [
                { contentType: 'image/png', body: PNG },
                { contentType: 'text/vcard', body: Buffer.from('BEGIN:VCARD') },
            ],
            ...options,
        }),
    ).rejects.toThrow();
    const message = sandbox.messages.find((m) => m.direction === 'inbound');
    if (message === undefined) throw new Error('no inbound message');
    return { sid: message.sid, urls: [...message.mediaUrls] };
}

describe('sandbox: a message’s media', () => {
    it('serves the bytes behind Basic auth, the JSON, the list; DELETE is 204 and then 404', async () => {
        const { sid, urls } = await mms();
        expect(urls).toHaveLength(2);
        const [png = '', vcard = ''] = urls;
        expect(png).toMatch(
            new RegExp(
                `^${sandbox.url}/2010-04-01/Accounts/${sandbox.accountSid}/Messages/${sid}/Media/ME[0-9a-f]{32}$`,
            ),
        );

        expect((await fetch(png)).status).toBe(401);
        const bytes = await fetch(png, { headers: { Authorization: auth } });
        expect([bytes.status, bytes.headers.get('content-type')]).toEqual([200, 'image/png']);
        expect(Buffer.from(await bytes.arrayBuffer()).equals(PNG)).toBe(true);

        const json = (await (
            await fetch(`${vcard}.json`, { headers: { Authorization: auth } })
        ).json()) as Record<string, unknown>;
        expect(json).toMatchObject({
            content_type: 'text/vcard',
            parent_sid: sid,
            account_sid: sandbox.accountSid,
        });
        const list = (await (
            await fetch(
                `${sandbox.url}/2010-04-01/Accounts/${sandbox.accountSid}/Messages/${sid}/Media.json`,
                {
                    headers: { Authorization: auth },
                },
            )
        ).json()) as { media_list: unknown[] };
        expect(list.media_list).toHaveLength(2);

        expect((await fetch(png, { method: 'DELETE', headers: { Authorization: auth } })).status).toBe(405);
        expect(
            (await fetch(`${png}.json`, { method: 'DELETE', headers: { Authorization: auth } })).status,
        ).toBe(204);
        expect((await fetch(`${png}.json`, { headers: { Authorization: auth } })).status).toBe(404);
        expect((await fetch(png, { headers: { Authorization: auth } })).status).toBe(404);
        expect(
            (await fetch(`${png}.json`, { method: 'DELETE', headers: { Authorization: auth } })).status,
        ).toBe(404);
    });

    it('with mediaRedirect, a GET of the bytes is Twilio’s redirect to the CDN origin', async () => {
        const { urls } = await mms({ mediaRedirect: 'http://cdn.example/' });
        const answer = await fetch(urls[0] ?? '', { headers: { Authorization: auth }, redirect: 'manual' });
        expect(answer.status).toBe(302);
        expect(answer.headers.get('location')).toMatch(/^http:\/\/cdn\.example\/media\/ME[0-9a-f]{32}$/);
    });

    it('the sandbox-only upload stores a media item for an MM message, behind Basic auth', async () => {
        const sid = `MM${'a'.repeat(32)}`;
        const collection = `${sandbox.url}/2010-04-01/Accounts/${sandbox.accountSid}/Messages/${sid}/Media.json`;
        const body = new URLSearchParams({
            ContentType: 'image/png',
            Body: PNG.toString('base64'),
        }).toString();
        const form = { 'Content-Type': 'application/x-www-form-urlencoded' };
        expect((await fetch(collection, { method: 'POST', headers: form, body })).status).toBe(401);
        const created = await fetch(collection, {
            method: 'POST',
            headers: { ...form, Authorization: auth },
            body,
        });
        expect(created.status).toBe(201);
        const { uri } = (await created.json()) as { uri: string };
        const bytes = await fetch(`${sandbox.url}${uri.replace(/\.json$/, '')}`, {
            headers: { Authorization: auth },
        });
        expect(Buffer.from(await bytes.arrayBuffer()).equals(PNG)).toBe(true);
        const refused = await fetch(collection.replace(sid, `SM${'a'.repeat(32)}`), {
            method: 'POST',
            headers: { ...form, Authorization: auth },
            body,
        });
        expect(refused.status).toBe(400);
    });
});
