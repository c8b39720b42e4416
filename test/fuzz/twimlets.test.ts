/**
 * The twimlets' parameters, fuzzed: random steps of every twimlet (first steps, `<Dial action>` returns,
 * whispers, menu and pass code attempts) with random parameters — text full of markup, controls and
 * lone surrogates, phone numbers good and bad in every format, URLs inside and outside the app (percent-
 * encoded, dot segments, other schemes), huge values and huge lists — signed and sent by GET or POST
 * with hostile `From`, `Digits` and `DialCallStatus` values, some of them near the 1 MiB body bound.
 * Each answer must be a 200 with well-formed TwiML (strict XML 1.0) made only of the verbs and
 * attributes the twimlets use; every `<Say>` carries one of the app's own texts or a parameter's value
 * (so nothing unescaped, nothing spliced); every next-step URL (`<Gather action>`, `<Dial action>`,
 * `<Number url>`, `<Redirect>` without GET) is on the app's own twimlet route of the same twimlet; every
 * URL from the parameters (`<Redirect method="GET">`, `<Play>`, `waitUrl`) passes the URL rules; numbers
 * dialled are E.164. Some next steps are followed, as Twilio would. `FUZZ_SEED` reproduces a run.
 */

import { parseConfig } from '../../shared/platform/config';
import { createDependencies, setDependencies } from '../../shared/platform/dependencies';
import { flowUrlProblem } from '../../shared/platform/routes';
import { dropNonXmlChars, fuzzSeed, longText, randomText, Rng } from '../support/fuzzRandom';
import { callTwimlet } from '../support/twimlets';
import { allElements, checkXml, childElements, textContent, type XmlElement } from '../support/xmlWellFormed';

const SEED = fuzzSeed();
const CASES = 1_500;
const BASE = 'https://myapp.azurewebsites.net';
const TOKEN = new Rng(SEED).fork('token').hex(32);
const GREETING = 'Thanks for calling';
const NAMES = ['message', 'forward', 'simulring', 'findme', 'menu', 'conference'] as const;
type Name = (typeof NAMES)[number];

/** The texts the app says of its own. */
const OWN_TEXTS = new Set([
    GREETING,
    'Sorry, this line is not set up correctly. Goodbye.',
    'Sorry, something went wrong. Goodbye.',
    'Sorry, you are calling from a restricted number. Good bye.',
    "I'm sorry, that wasn't a valid option.",
    'Goodbye.',
    'You are now entering the conference line.',
    'Please enter your conference pass code',
    'Sorry, that pass code is incorrect.',
]);
const DEFAULT_WHISPER = /^You are receiving a call(?: from \d(?: \d){6,14})?\. Press any key to accept\.$/;
const E164 = /^\+[1-9]\d{7,14}$/;

/** Allowed attributes of each element, and the elements each may hold. */
const SHAPE: Record<string, { attributes: string[]; children: string[] }> = {
    Response: { attributes: [], children: ['Say', 'Play', 'Gather', 'Dial', 'Redirect', 'Hangup'] },
    Say: { attributes: [], children: [] },
    Play: { attributes: [], children: [] },
    Gather: { attributes: ['numDigits', 'action'], children: ['Say', 'Play'] },
    Dial: { attributes: ['action', 'timeout', 'callerId'], children: ['Number', 'Conference'] },
    Number: { attributes: ['url'], children: [] },
    Conference: {
        attributes: ['startConferenceOnEnter', 'endConferenceOnExit', 'waitUrl', 'waitMethod'],
        children: [],
    },
    Redirect: { attributes: ['method'], children: [] },
    Hangup: { attributes: [], children: [] },
};

beforeAll(() => {
    console.log(`twimlets fuzz: FUZZ_SEED=${String(SEED)}`);
    setDependencies(
        createDependencies(
            parseConfig({ TWILIO_AUTH_TOKEN: TOKEN, PUBLIC_BASE_URL: BASE, VOICE_GREETING: GREETING }),
        ),
    );
});
afterAll(() => {
    setDependencies();
});

function hostile(rng: Rng): string {
    return rng.weighted<() => string>([
        [
            6,
            () =>
                randomText(rng, {
                    minLength: 1,
                    maxLength: 60,
                    pools: {
                        xmlMeta: 5,
                        ascii: 4,
                        urlMeta: 2,
                        controls: 1,
                        loneSurrogates: 1,
                        astral: 1,
                        space: 1,
                    },
                }),
        ],
        [
            2,
            () =>
                randomText(rng, {
                    minLength: 0,
                    maxLength: 8,
                    pools: { controls: 2, loneSurrogates: 1, space: 2 },
                }),
        ],
        [0.5, () => longText(rng, 900, 1_100, { pools: { xmlMeta: 2, ascii: 4 } })],
        [0.05, () => longText(rng, 5_000, 60_000, { pools: { ascii: 4, xmlMeta: 1, urlMeta: 1 } })],
    ])();
}

function phone(rng: Rng): string {
    const area = String(rng.int(200, 999));
    const exchange = String(rng.int(200, 999));
    const line = String(rng.int(0, 9999)).padStart(4, '0');
    return rng.weighted<() => string>([
        [3, () => `${area}-${exchange}-${line}`],
        [2, () => `(${area}) ${exchange}-${line}`],
        [2, () => `+1${area}${exchange}${line}`],
        [1, () => `1-${area}-${exchange}-${line}`],
        [1, () => `+44${String(rng.int(1_000_000_000, 9_999_999_999))}`],
        [1, () => ` 1${area}${exchange}${line}`],
        [
            2,
            () =>
                rng.pick([
                    '415-555-121',
                    '1-800-FLOWERS',
                    '+0123456789',
                    'client:alice',
                    'sip:a@b.example',
                    '',
                    '  ',
                    '011442079460000',
                    '+1415555121299999',
                    '4'.repeat(40),
                ]),
        ],
        [1, () => hostile(rng)],
    ])();
}

function url(rng: Rng): string {
    return rng.weighted<() => string>([
        [3, () => `https://example.com/${rng.alnum(6)}.mp3`],
        [1, () => `http://twimlets.com/voicemail?Email=${rng.alnum(4)}%40example.com`],
        [2, () => `${BASE}/api/twimlets/${rng.pick([...NAMES, 'nope'])}?PhoneNumber=4155551212`],
        [1, () => `${BASE}/api/voice?Message=${rng.alnum(4)}`],
        [
            3,
            () =>
                rng.pick([
                    `${BASE}/api/status?id=victim`,
                    `${BASE}/api/sms`,
                    `${BASE}/API/%73tatus`,
                    `${BASE}/api/twimlets/../status`,
                    `${BASE}/api/twimlets/%2e%2e/sms`,
                    `${BASE}/api/twimlets/a%2F..%2F..%2Fstatus`,
                    `${BASE}/api/messages`,
                    `${BASE}/api/recordings/RE1`,
                    `https://MYAPP.azurewebsites.net./api/status`,
                    `${BASE}/api/%E0%A4%A`,
                    'ftp://example.com/a.mp3',
                    'javascript:alert(1)',
                    '/api/status',
                    'https://example.com/a b.mp3',
                    'https://example.com/é.mp3',
                    'https://',
                    `https://example.com/${'a'.repeat(1_200)}`,
                ]),
        ],
        [1, () => `https://example.com/${hostile(rng)}`],
    ])();
}

function value(rng: Rng, key: string): string {
    if (/^(PhoneNumbers?|AllowedCallers|Moderators|CallerId)/.test(key)) return phone(rng);
    if (/^(FailUrl|Options)/.test(key)) return url(rng);
    if (key === 'Music')
        return rng.bool(0.5) ? rng.pick(['classical', 'Rock', 'soft-rock', 'jazz', '']) : url(rng);
    if (key === 'Timeout')
        return rng.pick([
            '',
            '5',
            '20',
            '600',
            '601',
            '0',
            '-1',
            '1e2',
            '30s',
            String(rng.int(0, 99999)),
            hostile(rng),
        ]);
    if (key === 'Password')
        return rng.pick(['1234', '12', '0000000000000000', '12345678901234567', '12a4', hostile(rng)]);
    if (key === 'Attempt') return rng.pick(['1', '2', '3', '4', '5', '6', '0', '999', hostile(rng)]);
    if (key === 'Dial' || key === 'Whisper') return rng.pick(['true', 'gathered', '', hostile(rng)]);
    if (/^(Message|ErrorMessage)/.test(key) && rng.bool(0.3)) return url(rng);
    return hostile(rng);
}

const LIST_KEYS: Record<Name, string[]> = {
    message: ['Message'],
    forward: ['AllowedCallers'],
    simulring: ['PhoneNumbers'],
    findme: ['PhoneNumbers'],
    menu: ['Options'],
    conference: ['Moderators'],
};
const SINGLE_KEYS: Record<Name, string[]> = {
    message: ['Message'],
    forward: ['PhoneNumber', 'CallerId', 'Timeout', 'FailUrl', 'Dial'],
    simulring: ['Message', 'Timeout', 'FailUrl', 'Dial', 'Whisper'],
    findme: ['Message', 'Timeout', 'FailUrl', 'Dial', 'Whisper'],
    menu: ['Message', 'ErrorMessage', 'Attempt'],
    conference: ['Name', 'Password', 'Message', 'Music', 'Attempt'],
};

function query(rng: Rng, name: Name): URLSearchParams {
    const params = new URLSearchParams();
    for (const key of SINGLE_KEYS[name]) if (rng.bool(0.6)) params.append(key, value(rng, key));
    for (const key of LIST_KEYS[name]) {
        const count = rng.weighted<number>([
            [4, rng.int(0, 3)],
            [2, rng.int(4, 12)],
            [0.15, rng.int(40, 300)],
        ]);
        for (let i = 0; i < count; i++) {
            const suffix = rng.weighted<string>([
                [6, `[${String(rng.bool(0.8) ? i : rng.int(0, 20))}]`],
                [2, '[]'],
                [1, ''],
                [1, `[${rng.pick(['x', '-1', '99999999999999999999', ' 1', '1.5'])}]`],
            ]);
            params.append(`${key}${suffix}`, value(rng, key));
        }
    }
    if (rng.bool(0.05))
        params.append(rng.pick(['Foo', 'phonenumber', '__proto__', 'Options[1][2]']), hostile(rng));
    return params;
}

function twilioForm(rng: Rng): Record<string, string> {
    const form: Record<string, string> = { CallSid: `CA${rng.hex(32)}` };
    if (rng.bool(0.9)) form.From = rng.bool(0.7) ? phone(rng) : hostile(rng);
    if (rng.bool(0.5)) form.Digits = rng.pick(['1', '2', '9', '1234', '0', '', '#', '*1', hostile(rng)]);
    if (rng.bool(0.5)) {
        form.DialCallStatus = rng.pick([
            'completed',
            'answered',
            'busy',
            'no-answer',
            'failed',
            'canceled',
            '',
            hostile(rng),
        ]);
    }
    // Now and then a huge posted value, within the 1 MiB body bound.
    if (rng.bool(0.01)) form.Junk = 'x'.repeat(rng.int(100_000, 900_000));
    return form;
}

/** What is wrong with `xml` as a twimlet's answer for `name`, or undefined. */
function problemOf(xml: string, name: Name, allowedTexts: ReadonlySet<string>): string | undefined {
    const checked = checkXml(xml);
    if (!checked.ok) return `not well-formed (${checked.error} at ${String(checked.offset)})`;
    const { document } = checked;
    if (document.root.name !== 'Response') return `root <${document.root.name}>`;
    if (document.comments + document.processingInstructions + document.cdataSections > 0)
        return 'a comment, PI or CDATA';
    const own = `${BASE}/api/twimlets/${name}`;
    const isOwnStep = (u: string) => (u === own || u.startsWith(`${own}?`)) && URL.canParse(u);
    for (const element of allElements(document.root)) {
        const shape = SHAPE[element.name];
        if (shape === undefined) return `element <${element.name}>`;
        for (const attribute of Object.keys(element.attributes)) {
            if (!shape.attributes.includes(attribute)) return `attribute ${attribute} on <${element.name}>`;
        }
        for (const child of element.children) {
            if (
                'name' in child
                    ? !shape.children.includes(child.name)
                    : element.children.length > 0 && shape.children.length > 0 && child.text.trim() !== ''
            )
                return `<${'name' in child ? child.name : '#text'}> in <${element.name}>`;
        }
        const text = textContent(element);
        const a = element.attributes;
        switch (element.name) {
            case 'Say':
                if (!allowedTexts.has(text) && !OWN_TEXTS.has(text) && !DEFAULT_WHISPER.test(text)) {
                    return `<Say> of a text from nowhere: ${JSON.stringify(text.slice(0, 80))}`;
                }
                break;
            case 'Play':
                if (flowUrlProblem(text, [BASE]) !== undefined)
                    return `<Play> of ${JSON.stringify(text.slice(0, 80))}`;
                break;
            case 'Redirect':
                if (a.method === 'GET') {
                    if (flowUrlProblem(text, [BASE]) !== undefined)
                        return `<Redirect> to ${JSON.stringify(text.slice(0, 80))}`;
                } else if (a.method !== undefined || !isOwnStep(text))
                    return `<Redirect> to another route: ${text.slice(0, 80)}`;
                break;
            case 'Gather':
            case 'Dial':
                if (a.action !== undefined && !isOwnStep(a.action))
                    return `${element.name} action ${a.action.slice(0, 80)}`;
                if (element.name === 'Gather' && !/^(?:[1-9]|1[0-6])$/.test(a.numDigits ?? ''))
                    return `numDigits ${String(a.numDigits)}`;
                if (a.timeout !== undefined && !(Number(a.timeout) >= 5 && Number(a.timeout) <= 600))
                    return `timeout ${a.timeout}`;
                if (a.callerId !== undefined && !E164.test(a.callerId)) return `callerId ${a.callerId}`;
                if (element.name === 'Dial' && childElements(element).length > 10)
                    return 'more than 10 numbers';
                break;
            case 'Number':
                if (!E164.test(text)) return `<Number> ${JSON.stringify(text.slice(0, 40))}`;
                if (a.url !== undefined && !isOwnStep(a.url)) return `Number url ${a.url.slice(0, 80)}`;
                break;
            case 'Conference':
                if (text === '') return 'a nameless conference';
                if (a.waitUrl !== undefined && flowUrlProblem(a.waitUrl, [BASE]) !== undefined)
                    return `waitUrl ${a.waitUrl}`;
                break;
        }
    }
    return undefined;
}

/** The next-step URLs of an answer that Twilio would request (own twimlet steps only). */
function nextSteps(xml: string): string[] {
    const checked = checkXml(xml);
    if (!checked.ok) return [];
    const out: string[] = [];
    const visit = (element: XmlElement) => {
        for (const key of ['action', 'url']) {
            const u = element.attributes[key];
            if (u !== undefined) out.push(u);
        }
        if (element.name === 'Redirect' && element.attributes.method === undefined)
            out.push(textContent(element));
        childElements(element).forEach(visit);
    };
    visit(checked.document.root);
    return out;
}

/** The values a `<Say>` may carry: every parameter's value, as the app reads it. */
function textsOf(url: string, form: Record<string, string>): Set<string> {
    const texts = new Set<string>();
    const add = (raw: string) => texts.add(dropNonXmlChars(raw).trim());
    for (const [, v] of new URL(url).searchParams) add(v);
    // The form's values pass through a form body, which makes lone surrogates U+FFFD.
    for (const v of new URLSearchParams(new URLSearchParams(form).toString()).values()) add(v);
    return texts;
}

describe(`twimlets fuzzing (FUZZ_SEED=${String(SEED)})`, () => {
    it('self-check: the checker refuses injected verbs, foreign texts and URLs off the twimlet route', () => {
        const texts = new Set(['hello']);
        const wrap = (inner: string) => `<?xml version="1.0" encoding="UTF-8"?><Response>${inner}</Response>`;
        expect(problemOf(wrap('<Say>hello</Say><Hangup/>'), 'menu', texts)).toBeUndefined();
        for (const bad of [
            '<Say>hello</Say><Sms>x</Sms>',
            '<Say>hello<Play>https://example.com/a.mp3</Play></Say>',
            '<Say>evil</Say>',
            '<Say foo="1">hello</Say>',
            `<Redirect>${BASE}/api/twimlets/forward</Redirect>`,
            `<Redirect method="GET">${BASE}/api/status</Redirect>`,
            `<Gather numDigits="1" action="https://evil.example/api/twimlets/menu"/>`,
            `<Dial action="${BASE}/api/twimlets/menu"><Number>4155551212</Number></Dial>`,
            '<Play>ftp://example.com/a.mp3</Play>',
            '<Say>a & b</Say>',
        ]) {
            expect({ bad, refused: problemOf(wrap(bad), 'menu', texts) !== undefined }).toEqual({
                bad,
                refused: true,
            });
        }
    });

    it(`${String(CASES)} random steps of every twimlet → 200 with well-formed TwiML of the app's own making`, async () => {
        const rng = new Rng(SEED).fork('twimlets');
        const failures: string[] = [];
        const seen = { steps: 0, refused: 0, followed: 0 };
        for (let n = 0; n < CASES && failures.length < 20; n++) {
            const name = rng.pick(NAMES);
            let url = `${BASE}/api/twimlets/${name}?${query(rng, name).toString()}`;
            for (let depth = 0; depth < 3; depth++) {
                const form = twilioForm(rng);
                const method = rng.bool(0.3) ? 'GET' : 'POST';
                const result = await callTwimlet(url, { token: TOKEN, form, method, quiet: true });
                seen.steps++;
                if (depth > 0) seen.followed++;
                const label = `FUZZ_SEED=${String(SEED)} case ${String(n)} depth ${String(depth)} ${method} ${url.slice(0, 160)}`;
                if (result.status !== 200 || result.contentType !== 'text/xml') {
                    failures.push(`${label}: status ${String(result.status)} ${result.body.slice(0, 120)}`);
                    break;
                }
                const requested =
                    method === 'GET'
                        ? `${url}${url.includes('?') ? '&' : '?'}${new URLSearchParams(form).toString()}`
                        : url;
                const problem = problemOf(
                    result.body,
                    name,
                    textsOf(requested, method === 'GET' ? {} : form),
                );
                if (problem !== undefined) {
                    failures.push(`${label}: ${problem}: ${result.body.slice(0, 300)}`);
                    break;
                }
                if (result.body.includes('Sorry, this line is not set up correctly')) seen.refused++;
                const next = nextSteps(result.body);
                if (next.length === 0 || rng.bool(0.4)) break;
                url = rng.pick(next);
            }
        }
        console.log(
            `twimlets: ${String(seen.steps)} steps (${String(seen.followed)} followed from a previous step), ${String(seen.refused)} refused with a spoken error`,
        );
        expect(failures).toEqual([]);
        expect(seen.steps).toBeGreaterThanOrEqual(CASES);
        expect(seen.followed).toBeGreaterThan(100);
        expect(seen.refused).toBeGreaterThan(100);
        expect(seen.steps - seen.refused).toBeGreaterThan(300);
    }, 120_000);
});
