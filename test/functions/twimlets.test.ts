/**
 * The `twimlets` function (`/api/twimlets/{name}`) end to end at the function level: real, signed
 * `HttpRequest`s (GET signed with the query, POST with the form) through the webhook front, each flow's
 * documented twimlets.com examples step by step, and each parameter's edge cases, with exact TwiML.
 * Each step after the first requests exactly the URL the previous step's TwiML named, as Twilio would.
 */

import { createHash } from 'node:crypto';
import { setDependencies } from '../../shared/platform/dependencies';
import { useSettings } from '../support/app';
import { callTwimlet, type TwimletResult } from '../support/twimlets';

const TOKEN = '9a8b7c6d5e4f30211203f4e5d6c7b8a9';
const XML = '<?xml version="1.0" encoding="UTF-8"?>';
const BASE = 'https://myapp.azurewebsites.net';
const CALLER = '+16505551212';
const CALL = { CallSid: 'CA0123456789abcdef0123456789abcdef', From: CALLER, To: '+15557654321' };
const REFUSED = `${XML}<Response><Say>Sorry, this line is not set up correctly. Goodbye.</Say><Hangup/></Response>`;

/** `/api/twimlets/<path>` on the app. */
const at = (path: string, base = BASE) => `${base}/api/twimlets/${path}`;
/** A URL as it appears in an attribute or element text: `&` escaped. */
const xml = (url: string) => url.replace(/&/g, '&amp;');

beforeEach(() => {
    useSettings({ TWILIO_AUTH_TOKEN: TOKEN, PUBLIC_BASE_URL: BASE, VOICE_GREETING: 'Hello from <Contoso>' });
});
afterAll(() => {
    setDependencies();
});

/** A signed step: POST with `form` (the call's parameters by default), or GET with them in the query. */
async function step(
    url: string,
    form: Record<string, string> = CALL,
    method: 'GET' | 'POST' = 'POST',
): Promise<TwimletResult> {
    return callTwimlet(url, { token: TOKEN, form, method });
}

/** The TwiML a signed step answers, checking it is a 200 text/xml. */
async function twiml(url: string, form: Record<string, string> = CALL, method: 'GET' | 'POST' = 'POST') {
    const result = await step(url, form, method);
    expect({ status: result.status, contentType: result.contentType }).toEqual({
        status: 200,
        contentType: 'text/xml',
    });
    return result.body;
}

/** The value of the first `attribute="…"` in `xmlText`, unescaped: the URL Twilio would request next. */
function attribute(xmlText: string, name: string, nth = 0): string {
    const values = [...xmlText.matchAll(new RegExp(`${name}="([^"]*)"`, 'g'))].map((m) => m[1] ?? '');
    const value = values[nth];
    if (value === undefined) throw new Error(`no ${name} in ${xmlText}`);
    return value
        .replace(/&amp;/g, '&')
        .replace(/&lt;/g, '<')
        .replace(/&gt;/g, '>')
        .replace(/&quot;/g, '"');
}

describe('the twimlets function', () => {
    it('answers a signed POST and a signed GET (Twilio\u2019s parameters in the query) alike', async () => {
        const expected = `${XML}<Response><Dial action="${xml(at('forward?Dial=true'))}" timeout="20"><Number>+14155551212</Number></Dial></Response>`;
        expect(await twiml(at('forward?PhoneNumber=415-555-1212'))).toBe(expected);
        expect(await twiml(at('forward?PhoneNumber=415-555-1212'), CALL, 'GET')).toBe(expected);
    });

    it('refuses an unsigned step with 400 and a forged one with 403, logging route=twimlets without the query', async () => {
        const url = at(`forward?PhoneNumber=${encodeURIComponent('+14155551212')}`);
        const unsigned = await callTwimlet(url, { token: null, form: CALL });
        expect(unsigned.status).toBe(400);
        const forged = await callTwimlet(url, { token: 'not-the-token', form: CALL });
        expect(forged.status).toBe(403);
        for (const result of [unsigned, forged]) {
            const outcomes = result.logs.filter((l) => l.message.startsWith('event='));
            expect(outcomes.map((l) => `${l.level} ${l.message}`)).toEqual([
                `warning event=webhook.rejected status=${String(result.status)} route=twimlets`,
            ]);
            expect(result.logs.map((l) => l.message).join('\n')).not.toMatch(
                /4155551212|6505551212|PhoneNumber/,
            );
        }
    });

    it('answers 404 without TwiML for an unknown twimlet, after the signature check, never logging its name', async () => {
        for (const name of ['nosuchflow', '__proto__', 'constructor', 'voicemail2', 'whisper']) {
            const result = await step(at(`${name}?PhoneNumber=4155551212`));
            expect({ name, status: result.status, body: result.body, type: result.contentType }).toEqual({
                name,
                status: 404,
                body: 'No such twimlet',
                type: 'text/plain',
            });
            expect(result.logs.map((l) => l.message)).toEqual([
                'No such twimlet on route=twimlets: answered 404',
            ]);
        }
        const unsigned = await callTwimlet(at('nosuchflow'), { token: null, form: CALL });
        expect(unsigned.status).toBe(400);
        expect(unsigned.logs.map((l) => l.message)).toEqual([
            'event=webhook.rejected status=400 route=twimlets',
        ]);
    });

    it('routes names without case, and builds every next URL on the base the step was signed on', async () => {
        expect(await twiml(at('Forward?PhoneNumber=415-555-1212'))).toContain(xml(at('forward?Dial=true')));
        // Behind API Management on https://apim.example.com/twilio: the app sees its own host, Twilio
        // signed the proxy's URL, and every next step is on the proxy's URL.
        const apim = 'https://apim.example.com/twilio';
        useSettings({ TWILIO_AUTH_TOKEN: TOKEN, PUBLIC_BASE_URL: apim });
        const result = await callTwimlet(at('forward?PhoneNumber=415-555-1212'), {
            token: TOKEN,
            form: CALL,
            signedBase: { requested: BASE, signed: apim },
        });
        expect(result.status).toBe(200);
        expect(attribute(result.body, 'action')).toBe(`${apim}/api/twimlets/forward?Dial=true`);
    });

    it('logs nothing but what the flow says about itself on a successful step', async () => {
        const result = await step(at('forward?PhoneNumber=415-555-1212'));
        expect(result.logs).toEqual([]);
    });
});

describe('message', () => {
    it('says and plays Message[n] in order (twimlets.com example)', async () => {
        const url = at(
            'message?Message%5B0%5D=Hello%20World&Message%5B1%5D=http%3A%2F%2Fexample.com%2Fhello.mp3&Message%5B2%5D=a%20%3Cb%3E%20%26%20c',
        );
        expect(await twiml(url)).toBe(
            `${XML}<Response><Say>Hello World</Say><Play>http://example.com/hello.mp3</Play><Say>a &lt;b&gt; &amp; c</Say></Response>`,
        );
    });

    it('says the greeting without a message, as /api/voice does', async () => {
        expect(await twiml(at('message'))).toBe(
            `${XML}<Response><Say>Hello from &lt;Contoso&gt;</Say></Response>`,
        );
    });

    it('refuses a message URL into the app other than a flow, too many messages, and over-long text', async () => {
        const cases: [string, string][] = [
            [
                `message?Message=${encodeURIComponent(`${BASE}/api/status?id=x`)}`,
                'Message points at this app',
            ],
            [
                Array.from({ length: 21 }, (_, i) => `Message%5B${String(i)}%5D=m`).join('&'),
                'Message has more than 20 entries',
            ],
            [`message?Message%5B3%5D=${'x'.repeat(1001)}`, 'Message[3] is over 1000 characters'],
        ];
        for (const [query, logged] of cases) {
            const result = await step(at(query.startsWith('message') ? query : `message?${query}`));
            expect(result.body).toBe(REFUSED);
            expect(result.logs.map((l) => l.message).join('\n')).toContain(
                `Twimlet message: parameter ${logged}`,
            );
        }
        expect(await twiml(at(`message?Message=${encodeURIComponent(`${BASE}/api/voice`)}`))).toBe(
            `${XML}<Response><Play>${BASE}/api/voice</Play></Response>`,
        );
    });
});

describe('forward', () => {
    it('example 1: forwards to 415-555-1212 for 20 s, then hangs up whatever happened without a FailUrl', async () => {
        const body = await twiml(at('forward?PhoneNumber=415-555-1212'));
        expect(body).toBe(
            `${XML}<Response><Dial action="${xml(at('forward?Dial=true'))}" timeout="20"><Number>+14155551212</Number></Dial></Response>`,
        );
        for (const status of ['completed', 'busy', 'no-answer', 'failed']) {
            expect(await twiml(attribute(body, 'action'), { ...CALL, DialCallStatus: status })).toBe(
                `${XML}<Response><Hangup/></Response>`,
            );
        }
    });

    it('example 2: busy or unanswered → the FailUrl, requested with GET; answered → hang up', async () => {
        const failUrl = 'http://myapp.com/please-try-later.mp3';
        const body = await twiml(at(`forward?PhoneNumber=415-555-1212&FailUrl=${failUrl}`));
        const action = at(`forward?Dial=true&FailUrl=${encodeURIComponent(failUrl)}`);
        expect(body).toBe(
            `${XML}<Response><Dial action="${xml(action)}" timeout="20"><Number>+14155551212</Number></Dial></Response>`,
        );
        for (const status of ['busy', 'no-answer', 'failed', 'canceled']) {
            expect(await twiml(action, { ...CALL, DialCallStatus: status })).toBe(
                `${XML}<Response><Redirect method="GET">${failUrl}</Redirect></Response>`,
            );
        }
        expect(await twiml(action, { ...CALL, DialCallStatus: 'completed' })).toBe(
            `${XML}<Response><Hangup/></Response>`,
        );
        // The older DialStatus, and a GET action (Twilio's parameters in its query).
        expect(await twiml(action, { ...CALL, DialStatus: 'answered' })).toBe(
            `${XML}<Response><Hangup/></Response>`,
        );
        expect(await twiml(action, { ...CALL, DialCallStatus: 'busy' }, 'GET')).toContain(
            '<Redirect method="GET">',
        );
    });

    it('example 3: only AllowedCallers are forwarded; others hear the refusal and the call ends', async () => {
        const url = at(
            'forward?PhoneNumber=415-555-1212&AllowedCallers[0]=650-555-1212&AllowedCallers[1]=510-555-1212',
        );
        expect(await twiml(url)).toContain('<Number>+14155551212</Number>');
        expect(await twiml(url, { ...CALL, From: '+15105551212' })).toContain(
            '<Number>+14155551212</Number>',
        );
        const restricted = `${XML}<Response><Say>Sorry, you are calling from a restricted number. Good bye.</Say><Hangup/></Response>`;
        for (const from of ['+14155550000', 'anonymous', 'client:alice', '']) {
            const result = await step(url, { ...CALL, From: from });
            expect(result.body).toBe(restricted);
            expect(result.logs.map((l) => l.message)).toEqual([
                'Twimlet forward: the caller is not one of AllowedCallers; the call ends',
            ]);
        }
        // Twimlets also let a caller through when the number called was listed; this app does not.
        expect(await twiml(url, { ...CALL, From: '+14155550000', To: '+16505551212' })).toBe(restricted);
    });

    it('CallerId and Timeout are normalised and bounded', async () => {
        expect(
            await twiml(at('forward?PhoneNumber=%2B442079460000&CallerId=(415)%20555-1212&Timeout=600')),
        ).toBe(
            `${XML}<Response><Dial action="${xml(at('forward?Dial=true'))}" timeout="600" callerId="+14155551212"><Number>+442079460000</Number></Dial></Response>`,
        );
        expect(await twiml(at('forward?PhoneNumber=4155551212&Timeout=5'))).toContain('timeout="5"');
    });

    it.each([
        ['', 'PhoneNumber is missing'],
        ['PhoneNumber=%20', 'PhoneNumber is missing'],
        ['PhoneNumber=415-555-121', 'PhoneNumber is not a phone number'],
        ['PhoneNumber=1-800-FLOWERS', 'PhoneNumber is not a phone number'],
        ['PhoneNumber=011442079460000', 'PhoneNumber is not a phone number'],
        ['PhoneNumber=4155551212&CallerId=client:bob', 'CallerId is not a phone number'],
        ['PhoneNumber=4155551212&Timeout=abc', 'Timeout is not a whole number of seconds from 5 to 600'],
        ['PhoneNumber=4155551212&Timeout=4', 'Timeout is not a whole number of seconds from 5 to 600'],
        ['PhoneNumber=4155551212&Timeout=601', 'Timeout is not a whole number of seconds from 5 to 600'],
        ['PhoneNumber=4155551212&Timeout=20.5', 'Timeout is not a whole number of seconds from 5 to 600'],
        ['PhoneNumber=4155551212&FailUrl=ftp://example.com/x', 'FailUrl is not an http(s) URL'],
        [
            `PhoneNumber=4155551212&FailUrl=${encodeURIComponent(`${BASE}/api/sms`)}`,
            'FailUrl points at this app',
        ],
        ['PhoneNumber=4155551212&AllowedCallers[2]=12', 'AllowedCallers[2] is not a phone number'],
        [
            `PhoneNumber=4155551212&${Array.from({ length: 51 }, (_, i) => `AllowedCallers[${String(i)}]=4155551212`).join('&')}`,
            'AllowedCallers has more than 50 numbers',
        ],
    ])('refuses forward?%s: %s (a spoken error, the value never logged)', async (query, logged) => {
        const result = await step(at(`forward?${query}`));
        expect(result.status).toBe(200);
        expect(result.body).toBe(REFUSED);
        const lines = result.logs.map((l) => `${l.level} ${l.message}`);
        expect(lines).toHaveLength(1);
        expect(lines[0]).toContain(`warning Twimlet forward: parameter ${logged}`);
        expect(lines[0]).not.toMatch(/555|FLOWERS|client:bob|ftp:|abc/);
    });
});

describe('simulring', () => {
    const whisper = at('simulring?Whisper=true&Message=Press%201%20to%20take%20the%20call');

    it('rings every number at once with the whisper on each, then hangs up or goes to the FailUrl', async () => {
        const url = at(
            'simulring?PhoneNumbers[0]=415-555-1212&PhoneNumbers[1]=415-555-1213&PhoneNumbers[2]=(415)%20555-1212&Message=Press%201%20to%20take%20the%20call&Timeout=30&FailUrl=https://example.com/vm',
        );
        const action = at(`simulring?Dial=true&FailUrl=${encodeURIComponent('https://example.com/vm')}`);
        expect(await twiml(url)).toBe(
            `${XML}<Response><Dial action="${xml(action)}" timeout="30"><Number url="${xml(whisper)}">+14155551212</Number><Number url="${xml(whisper)}">+14155551213</Number></Dial></Response>`,
        );
        expect(await twiml(action, { ...CALL, DialCallStatus: 'completed' })).toBe(
            `${XML}<Response><Hangup/></Response>`,
        );
        expect(await twiml(action, { ...CALL, DialCallStatus: 'no-answer' })).toBe(
            `${XML}<Response><Redirect method="GET">https://example.com/vm</Redirect></Response>`,
        );
    });

    it('the whisper asks the callee for a key: pressed → bridged, nothing → the callee leg hangs up', async () => {
        const callee = { CallSid: 'CA1111', From: CALLER, To: '+14155551212' };
        const body = await twiml(whisper, callee);
        const gathered = at('simulring?Whisper=gathered&Message=Press%201%20to%20take%20the%20call');
        expect(body).toBe(
            `${XML}<Response><Gather numDigits="1" action="${xml(gathered)}"><Say>Press 1 to take the call</Say></Gather><Hangup/></Response>`,
        );
        expect(await twiml(attribute(body, 'action'), { ...callee, Digits: '1' })).toBe(`${XML}<Response/>`);
        expect(await twiml(attribute(body, 'action'), { ...callee, Digits: '' })).toBe(
            `${XML}<Response><Hangup/></Response>`,
        );
    });

    it("the default whisper spells the caller's number, as the funlets say it", async () => {
        const body = await twiml(at('simulring?PhoneNumbers=4155551212'));
        expect(body).toBe(
            `${XML}<Response><Dial action="${xml(at('simulring?Dial=true'))}" timeout="20"><Number url="${xml(at('simulring?Whisper=true'))}">+14155551212</Number></Dial></Response>`,
        );
        expect(await twiml(attribute(body, 'url'), { CallSid: 'CA1', From: CALLER })).toBe(
            `${XML}<Response><Gather numDigits="1" action="${xml(at('simulring?Whisper=gathered'))}"><Say>You are receiving a call from 1 6 5 0 5 5 5 1 2 1 2. Press any key to accept.</Say></Gather><Hangup/></Response>`,
        );
        expect(await twiml(attribute(body, 'url'), { CallSid: 'CA1', From: 'anonymous' })).toContain(
            '<Say>You are receiving a call. Press any key to accept.</Say>',
        );
    });

    it.each([
        ['', 'PhoneNumbers is missing'],
        [
            Array.from({ length: 11 }, (_, i) => `PhoneNumbers[]=41555512${String(10 + i)}`).join('&'),
            'PhoneNumbers has more than 10 numbers',
        ],
        ['PhoneNumbers[]=4155551212&PhoneNumbers[]=x', 'PhoneNumbers[] is not a phone number'],
        ['PhoneNumbers=4155551212&Message=https://example.com/%C3%A9.mp3', 'Message is not an http(s) URL'],
        ['PhoneNumbers=4155551212&Timeout=0', 'Timeout is not a whole number'],
    ])('refuses simulring?%s: %s', async (query, logged) => {
        const result = await step(at(`simulring?${query}`));
        expect(result.body).toBe(REFUSED);
        expect(result.logs.map((l) => l.message).join('\n')).toContain(
            `Twimlet simulring: parameter ${logged}`,
        );
    });
});

describe('findme', () => {
    it('tries each number in turn (60 s each by default), then the FailUrl; an answer ends the search', async () => {
        const failUrl = 'https://example.com/voicemail';
        const first = await twiml(
            at(
                `findme?PhoneNumbers[0]=415-555-1212&PhoneNumbers[1]=415-555-1213&PhoneNumbers[2]=415-555-1214&FailUrl=${failUrl}`,
            ),
        );
        const tail = `Timeout=60&FailUrl=${encodeURIComponent(failUrl)}`;
        const whisper = at('findme?Whisper=true');
        const action1 = at(
            `findme?Dial=true&PhoneNumbers%5B0%5D=%2B14155551213&PhoneNumbers%5B1%5D=%2B14155551214&${tail}`,
        );
        expect(first).toBe(
            `${XML}<Response><Dial action="${xml(action1)}" timeout="60"><Number url="${xml(whisper)}">+14155551212</Number></Dial></Response>`,
        );
        const second = await twiml(attribute(first, 'action'), { ...CALL, DialCallStatus: 'no-answer' });
        const action2 = at(`findme?Dial=true&PhoneNumbers%5B0%5D=%2B14155551214&${tail}`);
        expect(second).toBe(
            `${XML}<Response><Dial action="${xml(action2)}" timeout="60"><Number url="${xml(whisper)}">+14155551213</Number></Dial></Response>`,
        );
        const third = await twiml(attribute(second, 'action'), { ...CALL, DialCallStatus: 'busy' });
        const action3 = at(`findme?Dial=true&${tail}`);
        expect(third).toBe(
            `${XML}<Response><Dial action="${xml(action3)}" timeout="60"><Number url="${xml(whisper)}">+14155551214</Number></Dial></Response>`,
        );
        expect(await twiml(attribute(third, 'action'), { ...CALL, DialCallStatus: 'failed' })).toBe(
            `${XML}<Response><Redirect method="GET">${failUrl}</Redirect></Response>`,
        );
        // An answer at any point ends the search.
        expect(await twiml(attribute(second, 'action'), { ...CALL, DialCallStatus: 'completed' })).toBe(
            `${XML}<Response><Hangup/></Response>`,
        );
    });

    it('carries Timeout and Message to the next number, and hangs up when the last is unanswered without a FailUrl', async () => {
        const first = await twiml(
            at('findme?PhoneNumbers[]=4155551212&PhoneNumbers[]=4155551213&Timeout=15&Message=Hi%21'),
        );
        expect(first).toBe(
            `${XML}<Response><Dial action="${xml(at('findme?Dial=true&PhoneNumbers%5B0%5D=%2B14155551213&Timeout=15&Message=Hi%21'))}" timeout="15"><Number url="${xml(at('findme?Whisper=true&Message=Hi%21'))}">+14155551212</Number></Dial></Response>`,
        );
        const second = await twiml(attribute(first, 'action'), { ...CALL, DialCallStatus: 'no-answer' });
        expect(second).toContain('timeout="15"');
        expect(await twiml(attribute(second, 'action'), { ...CALL, DialCallStatus: 'no-answer' })).toBe(
            `${XML}<Response><Hangup/></Response>`,
        );
        const whisper = await twiml(attribute(first, 'url'), { CallSid: 'CA2', From: CALLER });
        expect(whisper).toBe(
            `${XML}<Response><Gather numDigits="1" action="${xml(at('findme?Whisper=gathered&Message=Hi%21'))}"><Say>Hi!</Say></Gather><Hangup/></Response>`,
        );
    });

    it('refuses a findme without numbers, or with more than 10', async () => {
        expect((await step(at('findme'))).body).toBe(REFUSED);
        const eleven = Array.from({ length: 11 }, (_, i) => `PhoneNumbers[${String(i)}]=4155551212`).join(
            '&',
        );
        const result = await step(at(`findme?${eleven}`));
        expect(result.body).toBe(REFUSED);
        expect(result.logs[0]?.message).toContain('parameter PhoneNumbers has more than 10 numbers');
    });
});

describe('menu', () => {
    const options = `Options[1]=${encodeURIComponent('https://example.com/sales')}&Options[2]=${encodeURIComponent(at('forward?PhoneNumber=4155551212'))}`;
    const menuUrl = at(`menu?Message=Press%201%20for%20sales%2C%202%20for%20support&${options}`);
    const here = (attempt: number) =>
        at(
            `menu?Message=Press%201%20for%20sales%2C%202%20for%20support&Options%5B1%5D=${encodeURIComponent('https://example.com/sales')}&Options%5B2%5D=${encodeURIComponent(at('forward?PhoneNumber=4155551212'))}&Attempt=${String(attempt)}`,
        );
    const play = (attempt: number) =>
        `<Gather numDigits="1" action="${xml(here(attempt))}"><Say>Press 1 for sales, 2 for support</Say></Gather><Redirect>${xml(here(attempt))}</Redirect>`;

    it('gathers a digit while saying the message; a known option redirects to its URL with GET', async () => {
        const body = await twiml(menuUrl);
        expect(body).toBe(`${XML}<Response>${play(1)}</Response>`);
        expect(await twiml(attribute(body, 'action'), { ...CALL, Digits: '2' })).toBe(
            `${XML}<Response><Redirect method="GET">${xml(at('forward?PhoneNumber=4155551212'))}</Redirect></Response>`,
        );
        expect(await twiml(attribute(body, 'action'), { ...CALL, Digits: '1' })).toBe(
            `${XML}<Response><Redirect method="GET">https://example.com/sales</Redirect></Response>`,
        );
    });

    it('an unknown digit says the error and replays the menu; silence replays it; after 5 plays the call ends', async () => {
        expect(await twiml(here(1), { ...CALL, Digits: '9' })).toBe(
            `${XML}<Response><Say>I'm sorry, that wasn't a valid option.</Say>${play(2)}</Response>`,
        );
        expect(await twiml(here(2), CALL)).toBe(`${XML}<Response>${play(3)}</Response>`);
        const last = await step(here(5), { ...CALL, Digits: '#' });
        expect(last.body).toBe(
            `${XML}<Response><Say>I'm sorry, that wasn't a valid option.</Say><Say>Goodbye.</Say><Hangup/></Response>`,
        );
        expect(last.logs.map((l) => l.message)).toEqual([
            'Twimlet menu: no option chosen after 5 plays; the call ends',
        ]);
    });

    it('numDigits is the longest key; ErrorMessage replaces the default; a bare Options is option 0', async () => {
        const url = at(
            `menu?Options=https://example.com/zero&Options[123]=https://example.com/long&ErrorMessage=Nope`,
        );
        const body = await twiml(url);
        const again = at(
            `menu?ErrorMessage=Nope&Options%5B0%5D=${encodeURIComponent('https://example.com/zero')}&Options%5B123%5D=${encodeURIComponent('https://example.com/long')}&Attempt=1`,
        );
        expect(body).toBe(
            `${XML}<Response><Gather numDigits="3" action="${xml(again)}"/><Redirect>${xml(again)}</Redirect></Response>`,
        );
        expect(await twiml(again, { ...CALL, Digits: '0' })).toContain(
            '<Redirect method="GET">https://example.com/zero',
        );
        expect(await twiml(again, { ...CALL, Digits: '12' })).toMatch(
            /^.{38}<Response><Say>Nope<\/Say><Gather numDigits="3"/,
        );
    });

    it('acts on no digits on its first step (a menu reached from another menu, by GET with its Digits)', async () => {
        expect(await twiml(menuUrl, { ...CALL, Digits: '1' }, 'GET')).toBe(
            `${XML}<Response>${play(1)}</Response>`,
        );
    });

    it.each([
        ['Message=hi', 'Options is missing'],
        [`Options[1]=${encodeURIComponent(`${BASE}/api/status`)}`, 'Options[1] points at this app'],
        ['Options[1]=/relative', 'Options[1] is not an http(s) URL'],
        ['Options[123456789]=https://example.com/a', 'Options[…] has a key over 8 digits'],
        [
            'Options[1]=https://example.com/a&Options[01]=https://example.com/b&Options[1]=https://example.com/c',
            'Options[1] is given twice',
        ],
        [
            Array.from({ length: 21 }, (_, i) => `Options[${String(i)}]=https://example.com/`).join('&'),
            'Options has more than 20 options',
        ],
        [
            `Options[1]=https://example.com/a&ErrorMessage=${'e'.repeat(1001)}`,
            'ErrorMessage is over 1000 characters',
        ],
    ])('refuses menu?%s: %s', async (query, logged) => {
        const result = await step(at(`menu?${query}`));
        expect(result.body).toBe(REFUSED);
        expect(result.logs.map((l) => l.message).join('\n')).toContain(`Twimlet menu: parameter ${logged}`);
    });
});

describe('conference', () => {
    it('says the default message and dials the named conference', async () => {
        expect(await twiml(at('conference?Name=Board%20%26%20%22Co%22'))).toBe(
            `${XML}<Response><Say>You are now entering the conference line.</Say><Dial><Conference>Board &amp; "Co"</Conference></Dial></Response>`,
        );
    });

    it('without a Name, names the room from Message and Moderators, as twimlets.com did', async () => {
        const room = `twimlet-${createHash('sha256').update('Welcome\n+14155551212').digest('hex').slice(0, 32)}`;
        expect(await twiml(at('conference?Message=Welcome&Moderators[0]=415-555-1212'))).toBe(
            `${XML}<Response><Say>Welcome</Say><Dial><Conference startConferenceOnEnter="false">${room}</Conference></Dial></Response>`,
        );
    });

    it('moderators start and end the conference; others wait with the Music', async () => {
        const url = at(
            'conference?Name=standup&Moderators[0]=650-555-1212&Music=classical&Message=https://example.com/hi.mp3',
        );
        const wait =
            'waitUrl="https://twimlets.com/holdmusic?Bucket=com.twilio.music.classical" waitMethod="GET"';
        expect(await twiml(url)).toBe(
            `${XML}<Response><Play>https://example.com/hi.mp3</Play><Dial><Conference startConferenceOnEnter="true" endConferenceOnExit="true" ${wait}>standup</Conference></Dial></Response>`,
        );
        expect(await twiml(url, { ...CALL, From: '+14155550000' })).toBe(
            `${XML}<Response><Play>https://example.com/hi.mp3</Play><Dial><Conference startConferenceOnEnter="false" ${wait}>standup</Conference></Dial></Response>`,
        );
        expect(await twiml(at('conference?Name=a&Music=https://example.com/wait.xml'))).toContain(
            '<Conference waitUrl="https://example.com/wait.xml" waitMethod="GET">a</Conference>',
        );
    });

    it('asks for the Password, retries a wrong one at most 3 times, and lets the right one in', async () => {
        const prompt = (attempt: number) => {
            const url = at(`conference?Name=ops&Password=1234&Attempt=${String(attempt)}`);
            return `<Gather numDigits="4" action="${xml(url)}"><Say>Please enter your conference pass code</Say></Gather><Redirect>${xml(url)}</Redirect>`;
        };
        const first = await twiml(at('conference?Name=ops&Password=1234'));
        expect(first).toBe(`${XML}<Response>${prompt(1)}</Response>`);
        expect(await twiml(attribute(first, 'action'), { ...CALL, Digits: '9999' })).toBe(
            `${XML}<Response><Say>Sorry, that pass code is incorrect.</Say>${prompt(2)}</Response>`,
        );
        expect(await twiml(at('conference?Name=ops&Password=1234&Attempt=2'), CALL)).toBe(
            `${XML}<Response>${prompt(3)}</Response>`,
        );
        const last = await step(at('conference?Name=ops&Password=1234&Attempt=3'), {
            ...CALL,
            Digits: '1111',
        });
        expect(last.body).toBe(
            `${XML}<Response><Say>Sorry, that pass code is incorrect.</Say><Say>Goodbye.</Say><Hangup/></Response>`,
        );
        expect(last.logs.map((l) => l.message)).toEqual([
            'Twimlet conference: no valid pass code after 3 prompts; the call ends',
        ]);
        expect(await twiml(attribute(first, 'action'), { ...CALL, Digits: '1234' })).toBe(
            `${XML}<Response><Say>You are now entering the conference line.</Say><Dial><Conference>ops</Conference></Dial></Response>`,
        );
        // Digits on the first step (pressed in a menu that led here) are not the code.
        expect(await twiml(at('conference?Name=ops&Password=1234'), { ...CALL, Digits: '1234' }, 'GET')).toBe(
            `${XML}<Response>${prompt(1)}</Response>`,
        );
        // Short codes still gather 3 digits, as twimlets.com did (# ends the entry early).
        expect(await twiml(at('conference?Name=x&Password=12'))).toContain('<Gather numDigits="3"');
    });

    it.each([
        ['Name=x&Password=12a4', 'Password is not 1 to 16 digits'],
        ['Name=x&Password=12345678901234567', 'Password is not 1 to 16 digits'],
        [`Name=${'n'.repeat(129)}`, 'Name is over 128 characters'],
        [
            'Name=x&Music=jazz',
            'Music is neither a URL nor one of ambient, classical, electronica, guitars, rock, soft-rock',
        ],
        [`Name=x&Music=${encodeURIComponent(`${BASE}/api/sms`)}`, 'Music points at this app'],
        ['Name=x&Moderators[0]=nobody', 'Moderators[0] is not a phone number'],
    ])('refuses conference?%s: %s', async (query, logged) => {
        const result = await step(at(`conference?${query}`));
        expect(result.body).toBe(REFUSED);
        expect(result.logs.map((l) => l.message).join('\n')).toContain(
            `Twimlet conference: parameter ${logged}`,
        );
    });
});
