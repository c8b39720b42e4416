import { getExpectedTwilioSignature } from 'twilio/lib/webhooks/webhooks';
import {
    formInputBytes,
    formText,
    parseFormBytes,
    signedParameterBytes,
    type FormBytes,
} from '../../../shared/webhooks/form';
import {
    countParameters,
    groupParams,
    signatureOf,
    sortedParameterString,
} from '../../../shared/webhooks/signature';

const TOKEN = 'f3c0a5b1d2e4f60718293a4b5c6d7e8f';
const URL_ = "https://myapp.azurewebsites.net/api/sms?x=It's";

/** A small deterministic PRNG (mulberry32), so a failure names a reproducible case. */
function random(seed: number): () => number {
    let a = seed;
    return () => {
        a = (a + 0x6d2b79f5) | 0;
        let t = Math.imul(a ^ (a >>> 15), 1 | a);
        t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

// Separators, escapes well- and ill-formed (truncated, non-hex, overlong, surrogates, past U+10FFFF, lone
// continuation bytes, BOM), raw non-ASCII, lone surrogates and plain text.
const FRAGMENTS = [
    '&',
    '&',
    '=',
    '=',
    '+',
    '%',
    '%2',
    '%zz',
    '%4',
    '%41',
    '%2B',
    '%26',
    '%3D',
    '%25',
    '%20',
    '%2b',
    '%C3%B6',
    '%c3%b6',
    '%C3',
    '%B6',
    '%E2%82%AC',
    '%E2%82',
    '%ED%A0%80',
    '%F0%9F%98%80',
    '%F0%9F',
    '%F4%90%80%80',
    '%C0%80',
    '%FF',
    '%EF%BB%BF',
    '\uFEFF',
    'é',
    '😀',
    '\uD800',
    '\uDC00',
    '☎',
    'a',
    'Z',
    'Body',
    'k',
    '__proto__',
    'constructor',
    "'",
    '%27',
    '~',
    '*',
    '10',
    '2',
    ' ',
    'x',
];

function generatedBody(next: () => number): string {
    const length = Math.floor(next() * 40);
    let body = '';
    for (let i = 0; i < length; i++) body += FRAGMENTS[Math.floor(next() * FRAGMENTS.length)] ?? '';
    return body;
}

const entriesOf = (form: FormBytes): [string, string][] =>
    form.names.map((name, i) => [name, formText(form.values[i] ?? new Uint8Array())]);

const bodies = (() => {
    const next = random(8);
    const list = ['', '&', '&&a&&', '=', '=&=', 'a=1&b=2&a=3', '%', 'a%', 'a=%', 'a%2=b%2', '%EF%BB%BFa=b'];
    for (let i = 0; i < 3_000; i++) list.push(generatedBody(next));
    return list;
})();

describe('the byte-level form parse gives exactly what URLSearchParams gives', () => {
    it('for thousands of generated bodies, malformed escapes and lone surrogates included', async () => {
        let malformed = 0;
        for (const body of bodies) {
            const form = await parseFormBytes(Buffer.from(body, 'utf8'));
            expect([body, entriesOf(form)]).toEqual([body, [...new URLSearchParams(body)]]);
            // Names and values are carried as the UTF-8 of those strings, which is what gets signed.
            form.names.forEach((name, i) => {
                expect(Buffer.from(form.nameBytes[i] ?? []).equals(Buffer.from(name, 'utf8'))).toBe(true);
            });
            try {
                decodeURIComponent(body.replace(/\+/g, ' '));
            } catch {
                malformed++;
            }
        }
        // The generator does reach the cases a split-and-decodeURIComponent parse gets wrong.
        expect(malformed).toBeGreaterThan(1_000);
    });

    it('the same when sliced anywhere, pausing between slices', async () => {
        const next = random(27);
        let pauses = 0;
        const pause = () => {
            pauses++;
            return Promise.resolve();
        };
        for (const body of bodies.slice(0, 600)) {
            const sliceBytes = 1 + Math.floor(next() * 7);
            const form = await parseFormBytes(Buffer.from(body, 'utf8'), { pause, sliceBytes });
            expect([body, sliceBytes, entriesOf(form)]).toEqual([
                body,
                sliceBytes,
                [...new URLSearchParams(body)],
            ]);
        }
        expect(pauses).toBeGreaterThan(1_000);
    });

    it('parses the bytes URLSearchParams would see for a body decoded as request.text() does', () => {
        const samples = [
            Buffer.from('a=1&b=%C3%B6', 'utf8'),
            Buffer.from([0xef, 0xbb, 0xbf, 0x61, 0x3d, 0x31]), // BOM, dropped by the decoding
            Buffer.from([0x61, 0x3d, 0xc3, 0x26, 0x62, 0x3d, 0xff, 0xfe]), // invalid UTF-8
            Buffer.from([0x61, 0x3d, 0xed, 0xa0, 0x80]), // an encoded surrogate
        ];
        for (const bytes of samples) {
            const text = new TextDecoder().decode(bytes);
            expect(formInputBytes(bytes, () => text).equals(Buffer.from(text, 'utf8'))).toBe(true);
        }
    });

    it('counts parameters in the bytes as in the text', () => {
        for (const body of bodies.slice(0, 500)) {
            expect([body, countParameters(Buffer.from(body, 'utf8'), 1_000)]).toEqual([
                body,
                countParameters(body, 1_000),
            ]);
        }
    });
});

describe("the signed data and its HMAC in slices are twilio's", () => {
    it('signs the same bytes as sortedParameterString and gets getExpectedTwilioSignature, sliced anywhere', async () => {
        const next = random(99);
        for (const body of bodies.slice(0, 800)) {
            const form = await parseFormBytes(Buffer.from(body, 'utf8'));
            const data = signedParameterBytes(form);
            const entries = [...new URLSearchParams(body)];
            const grouped = groupParams(entries);
            expect([body, data.toString('utf8')]).toEqual([body, sortedParameterString(grouped)]);
            const sliceBytes = 1 + Math.floor(next() * 9);
            const sliced = await signatureOf(TOKEN, URL_, data, () => Promise.resolve(), sliceBytes);
            expect([body, sliced]).toEqual([body, getExpectedTwilioSignature(TOKEN, URL_, grouped)]);
        }
    });

    it('keeps every byte of a surrogate pair whichever slice boundary falls inside it', async () => {
        const body = `Body=${'😀'.repeat(50)}&Emoji=%F0%9F%98%80&%F0%9F%98%80=x`;
        const data = signedParameterBytes(await parseFormBytes(Buffer.from(body, 'utf8')));
        const expected = getExpectedTwilioSignature(TOKEN, URL_, groupParams(new URLSearchParams(body)));
        for (let sliceBytes = 1; sliceBytes <= 8; sliceBytes++) {
            expect(await signatureOf(TOKEN, URL_, data, () => Promise.resolve(), sliceBytes)).toBe(expected);
        }
    });

    it('groups repeated names (values distinct and sorted) and keeps __proto__ as a name', async () => {
        const body = 'Digits=5678&Sid=CA123&Digits=1234&__proto__=p&Digits=1234&SidAccount=AC123';
        const data = signedParameterBytes(await parseFormBytes(Buffer.from(body, 'utf8')));
        expect(data.toString('utf8')).toBe('Digits1234Digits5678SidCA123SidAccountAC123__proto__p');
    });
});
