import { allowedMethods, answerRestRequest, type IncomingRestRequest } from '../../../local/sandbox/router';
import { generateTestCredentials } from '../../../local/sandbox/sandbox';
import { testSandbox } from './fakes';

const basic = (user: string, password: string) =>
    `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

function sandbox() {
    const test = testSandbox();
    const { accountSid, authToken } = test.credentials;
    const base = `/2010-04-01/Accounts/${accountSid}`;
    const ask = (method: string, path: string, overrides: Partial<IncomingRestRequest> = {}) =>
        answerRestRequest(test.ctx, {
            method,
            path: `${base}${path}`,
            query: new URLSearchParams(),
            form: new URLSearchParams(),
            authorization: basic(accountSid, authToken),
            ...overrides,
        });
    return { ...test, base, ask };
}

describe('sandbox router', () => {
    it('derives each path’s Allow from the handlers of its resource, as Twilio serves them', () => {
        const base = `/2010-04-01/Accounts/${generateTestCredentials().accountSid}`;
        expect(
            Object.fromEntries(
                [
                    '.json',
                    '/Messages.json',
                    '/Messages/SM1.json',
                    '/Calls.json',
                    '/Calls/CA1.json',
                    '/IncomingPhoneNumbers.json',
                    '/IncomingPhoneNumbers/PN1.json',
                    '/Keys.json',
                    '/Keys/SK1.json',
                ].map((path) => [path, allowedMethods(`${base}${path}`)]),
            ),
        ).toEqual({
            '.json': 'GET',
            '/Messages.json': 'GET, POST',
            '/Messages/SM1.json': 'GET, DELETE',
            '/Calls.json': 'GET, POST',
            '/Calls/CA1.json': 'GET, DELETE',
            '/IncomingPhoneNumbers.json': 'GET',
            '/IncomingPhoneNumbers/PN1.json': 'GET, POST, DELETE',
            '/Keys.json': 'GET, POST',
            '/Keys/SK1.json': 'GET, POST, DELETE',
        });
    });

    it('answers a method the path does not serve with 405 (20004), its Allow header and Twilio’s error JSON', () => {
        const { ask, logs, base } = sandbox();
        const answer = ask('PUT', '/Messages.json');

        expect(answer).toEqual({
            status: 405,
            headers: { Allow: 'GET, POST' },
            body: {
                code: 20004,
                message: 'Method not allowed',
                more_info: 'https://www.twilio.com/docs/errors/20004',
                status: 405,
            },
        });
        expect(logs).toEqual([`sandbox: PUT ${base}/Messages.json → 405, error 20004`]);
    });

    it('answers 401 (20003) without credentials, with a wrong token, or for another account’s path', () => {
        const { ask, ctx, credentials } = sandbox();
        const other = generateTestCredentials().accountSid;
        const answers = [
            ask('GET', '/Messages.json', { authorization: undefined }),
            ask('GET', '/Messages.json', { authorization: basic(credentials.accountSid, 'wrong') }),
            answerRestRequest(ctx, {
                method: 'GET',
                path: `/2010-04-01/Accounts/${other}/Messages.json`,
                query: new URLSearchParams(),
                form: new URLSearchParams(),
                authorization: basic(credentials.accountSid, credentials.authToken),
            }),
        ];
        expect(answers.map((a) => [a.status, (a.body as { code: number }).code])).toEqual([
            [401, 20003],
            [401, 20003],
            [401, 20003],
        ]);
    });

    it('keeps a Standard key out of the Account and the Keys, and lets a Main key in', () => {
        const { ask, ctx } = sandbox();
        const standard = ctx.store.addKey();
        const main = ctx.store.addKey({ type: 'main' });
        const as = (key: { key: { sid: string }; secret: string }) => ({
            authorization: basic(key.key.sid, key.secret),
        });

        expect(ask('GET', '.json', as(standard)).status).toBe(401);
        expect(ask('GET', '/Keys.json', as(standard)).status).toBe(401);
        expect(ask('GET', '/Messages.json', as(standard)).status).toBe(200);
        expect(ask('GET', '.json', as(main)).status).toBe(200);
        expect(ask('GET', '/Keys.json', as(main)).status).toBe(200);
    });

    it('answers 404 (20404) for a path it does not serve and a SID it does not hold, masking numbers in the log', () => {
        const { ask, logs, base } = sandbox();

        expect(ask('GET', '/Queues.json').status).toBe(404);
        const answer = ask('GET', '/Messages/+15558675310.json');
        expect(answer.status).toBe(404);
        expect((answer.body as { message: string }).message).toBe(
            `The requested resource ${base}/Messages/+15558675310.json was not found`,
        );
        expect(logs.join('\n')).not.toContain('8675310');
        expect(logs[1]).toMatch(
            /^sandbox: GET \/2010-04-01\/Accounts\/AC[0-9a-f]{32}\/Messages\/\S+\.json → 404, error 20404$/,
        );
    });

    it('routes to the resource’s handlers: create, fetch and delete a message', () => {
        const { ask, ctx } = sandbox();
        const form = new URLSearchParams({ To: '+15558675310', From: '+15005550006', Body: 'hi' });
        const created = ask('POST', '/Messages.json', { form });
        expect(created.status).toBe(201);
        const sid = (created.body as { sid: string }).sid;

        expect(ask('GET', `/Messages/${sid}.json`).body).toMatchObject({ sid, status: 'queued', body: 'hi' });
        expect(ask('DELETE', `/Messages/${sid}.json`)).toEqual({ status: 204 });
        expect(ask('GET', `/Messages/${sid}.json`).status).toBe(404);
        ctx.lifecycles.cancelAll();
    });

    it('answers what Twilio rejects with its code: a message without To is 21604', () => {
        const { ask } = sandbox();
        const answer = ask('POST', '/Messages.json', { form: new URLSearchParams({ Body: 'hi' }) });
        expect(answer.status).toBe(400);
        expect(answer.body).toMatchObject({ code: 21604, status: 400 });
    });
});
