/**
 * TwiML injection: text full of XML metacharacters (`< > & " '`, `]]>`, `<!--`, `<?xml`, CDATA- and
 * entity-looking text, whole TwiML verbs), control characters (U+0000–U+001F, U+FFFE, U+FFFF) and lone
 * surrogates, on every surface where text becomes TwiML:
 *
 * - `VOICE_GREETING` → `/api/voice` (no `Message`): one `<Say>`;
 * - `SMS_REPLY` → `/api/sms`: one `<Message>`;
 * - an outbound call's `say` → `toCallCreateParams(...).twiml`: one `<Say>`;
 * - an outbound call's `message` list → one `<Say>` / `<Play>` per entry (http(s) URLs played).
 *
 * Every answer must be well-formed XML (test/support/xmlWellFormed.ts, strict XML 1.0) with a `<Response>`
 * root holding exactly the expected elements — no injected element, attribute, comment, processing
 * instruction or CDATA section — each carrying exactly its text minus the characters XML cannot carry.
 * Settings are read trimmed (an empty one is the default); `message` entries are trimmed; a `say` or entry
 * that is empty once those characters are dropped is refused on its field, as is inline TwiML over 4,000
 * characters. At least 1,000 generated cases per surface are checked (`FUZZ_SEED` reproduces a run).
 */

import { HttpRequest, InvocationContext, type HttpResponseInit } from '@azure/functions';
import { inboundSms } from '../../functions/inboundSms';
import { voice } from '../../functions/voice';
import { parseTwiml } from '../../local/sandbox/twiml';
import { DEFAULT_SMS_REPLY, DEFAULT_VOICE_GREETING, parseConfig } from '../../shared/platform/config';
import { createDependencies, setDependencies } from '../../shared/platform/dependencies';
import {
    MAX_TWIML_LENGTH,
    parseOutbound,
    toCallCreateParams,
    type CallRequest,
} from '../../shared/outbound/message';
import { dropNonXmlChars, fuzzSeed, longText, randomText, Rng } from '../support/fuzzRandom';
import { createMemoryLedger } from '../support/memoryLedger';
import { bodyText, twilioSignature } from '../support/webhooks';
import { checkXml, childElements, textContent } from '../support/xmlWellFormed';

const SEED = fuzzSeed();
const CASES_PER_SURFACE = 1_300;
/** For `say` and `message`, cases are generated until this many were checked (refusals not counted). */
const CHECKED_PER_CALL_SURFACE = 1_200;
const MAX_CALL_CASES = 4_000;
const MIN_CHECKED_PER_SURFACE = 1_000;
const TOKEN = new Rng(SEED).fork('token').hex(32);
const URL_TO_PLAY = /^https?:\/\/\S+$/i;
/** The TwiML around the verbs, for length bounds. */
const ENVELOPE = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'.length;
/** The longest escape of one UTF-16 code unit in text (`&amp;`, `&#xD;`). */
const MAX_ESCAPE = 5;

beforeAll(() => {
    console.log(`twimlInjection fuzz: FUZZ_SEED=${String(SEED)}`);
});

afterAll(() => {
    setDependencies();
});

/** Hostile text: mostly markup and controls, some ordinary text around it. */
function hostileText(rng: Rng, maxLength = 120): string {
    return rng.weighted([
        [
            12,
            () =>
                randomText(rng, {
                    minLength: 1,
                    maxLength,
                    pools: {
                        xmlMeta: 6,
                        ascii: 4,
                        controls: 2,
                        loneSurrogates: 1,
                        astral: 1,
                        combining: 1,
                        space: 1,
                    },
                }),
        ],
        [
            3,
            () =>
                randomText(rng, {
                    minLength: 1,
                    maxLength: 40,
                    pools: { controls: 3, loneSurrogates: 2, space: 1 },
                }),
        ],
        [
            2,
            () =>
                rng.pick([
                    '<Response><Hangup/></Response>',
                    ']]>',
                    '<![CDATA[x]]>',
                    '&amp;&#x3C;&#60;',
                    '<?xml version="1.0"?><Response/>',
                    '<!-- --',
                    '\u0000<Say>x</Say>\ufffe',
                    '\ud800]]>\udc00',
                ]),
        ],
        [1, () => longText(rng, 600, 1_500, { pools: { xmlMeta: 3, ascii: 3, controls: 1 } })],
        [1, () => randomText(rng, { minLength: 0, maxLength: 6, pools: { space: 2, controls: 1 } })],
    ])();
}

interface Verb {
    name: 'Say' | 'Play' | 'Message';
    text: string;
}

/** What is wrong with `xml` as TwiML holding exactly `verbs`, or undefined. */
function twimlProblem(xml: string, verbs: readonly Verb[]): string | undefined {
    const checked = checkXml(xml);
    if (!checked.ok)
        return `not well-formed (${checked.error} at ${String(checked.offset)}): ${JSON.stringify(xml.slice(0, 200))}`;
    const { document } = checked;
    if (document.root.name !== 'Response') return `root <${document.root.name}>`;
    if (document.comments + document.processingInstructions + document.cdataSections > 0)
        return 'a comment, PI or CDATA section';
    if (Object.keys(document.root.attributes).length > 0) return 'attributes on <Response>';
    if (document.root.children.some((child) => !('name' in child))) return 'text directly in <Response>';
    const elements = childElements(document.root);
    const got = elements.map((element) => ({
        name: element.name,
        text: textContent(element),
        extra: childElements(element).length + Object.keys(element.attributes).length,
    }));
    const expected = verbs.map((verb) => ({ ...verb, extra: 0 }));
    if (JSON.stringify(got) !== JSON.stringify(expected)) {
        return `got ${JSON.stringify(got).slice(0, 300)}, expected ${JSON.stringify(expected).slice(0, 300)}`;
    }
    return undefined;
}

/** A setting as the app reads it: trimmed, and the default when that leaves nothing. */
const setting = (value: string, fallback: string): string => (value.trim() === '' ? fallback : value.trim());

const quietContext = () => new InvocationContext({ functionName: 'fuzz', logHandler: () => undefined });

interface Tally {
    checked: number;
    /** Refused, as expected, because a text is empty once undrawable characters are dropped. */
    refusedEmpty: number;
    /** Refused, as expected, because the TwiML would be over 4,000 characters. */
    refusedTooLong: number;
    failures: string[];
}

const newTally = (): Tally => ({ checked: 0, refusedEmpty: 0, refusedTooLong: 0, failures: [] });

/** Checks a webhook's TwiML answer against the expected verbs and counts it in `tally`. */
function recordResponse(tally: Tally, label: string, response: HttpResponseInit, expected: Verb[]): void {
    const problem =
        response.status !== 200
            ? `status ${String(response.status)}`
            : twimlProblem(bodyText(response.body), expected);
    if (problem !== undefined) tally.failures.push(`FUZZ_SEED=${String(SEED)} ${label}: ${problem}`);
    tally.checked++;
}

describe(`TwiML injection fuzzing (FUZZ_SEED=${String(SEED)})`, () => {
    it('self-check: the XML checker refuses what is not well-formed XML', () => {
        const bad = [
            '<Response><Say>a</Response>',
            '<Response>&foo;</Response>',
            '<Response>]]></Response>',
            '<Response>\u0001</Response>',
            '<Response>\ud800</Response>',
            '<Response>&#0;</Response>',
            '<Response>&#xD800;</Response>',
            '<Response><!-- a -- b --></Response>',
            '<Response/><Response/>',
            '<!DOCTYPE r [<!ENTITY e "x">]><Response>&e;</Response>',
            '<Response a="1" a="2"/>',
            '<Response a="<"/>',
            '<Response a=1/>',
            '<Response>a & b</Response>',
            'text<Response/>',
            '<Response/><?xml version="1.0"?>',
            '<1Response/>',
            '',
        ];
        for (const xml of bad) expect({ xml, ok: checkXml(xml).ok }).toEqual({ xml, ok: false });
        const good = checkXml(
            '<?xml version="1.0" encoding="UTF-8"?><Response><Say>a &lt;b&gt; &amp;amp; ]]&gt; &#x1F600;&#xD;\r\n</Say><Play/></Response>',
        );
        expect(good.ok && textContent(good.document.root)).toBe('a <b> &amp; ]]> 😀\r\n');
        // And the comparison catches an injected element.
        expect(
            twimlProblem('<Response><Say>x</Say><Hangup/></Response>', [{ name: 'Say', text: 'x' }]),
        ).toMatch(/got/);
    });

    it(`VOICE_GREETING: ${String(CASES_PER_SURFACE)} hostile greetings → one <Say> carrying the text`, async () => {
        const rng = new Rng(SEED).fork('greeting');
        const tally = newTally();
        const url = 'https://myapp.azurewebsites.net/api/voice';
        for (let n = 0; n < CASES_PER_SURFACE; n++) {
            const greeting = hostileText(rng);
            setDependencies(
                createDependencies(parseConfig({ TWILIO_AUTH_TOKEN: TOKEN, VOICE_GREETING: greeting })),
            );
            const request = new HttpRequest({
                method: 'GET',
                url,
                headers: { 'X-Twilio-Signature': twilioSignature(TOKEN, url) },
            });
            const response = await voice(request, quietContext());
            const expected: Verb[] = [
                { name: 'Say', text: dropNonXmlChars(setting(greeting, DEFAULT_VOICE_GREETING)) },
            ];
            recordResponse(tally, `greeting ${String(n)} ${JSON.stringify(greeting)}`, response, expected);
        }
        console.log(`greeting: ${String(tally.checked)} checked`);
        expect(tally.failures.slice(0, 20)).toEqual([]);
        expect(tally.checked).toBeGreaterThanOrEqual(MIN_CHECKED_PER_SURFACE);
    }, 60_000);

    it(`SMS_REPLY: ${String(CASES_PER_SURFACE)} hostile replies → one <Message> carrying the text`, async () => {
        const rng = new Rng(SEED).fork('reply');
        const tally = newTally();
        const url = 'https://myapp.azurewebsites.net/api/sms';
        const ledger = createMemoryLedger({ storeBody: false });
        for (let n = 0; n < CASES_PER_SURFACE; n++) {
            const reply = hostileText(rng);
            setDependencies({
                ...createDependencies(parseConfig({ TWILIO_AUTH_TOKEN: TOKEN, SMS_REPLY: reply })),
                ledger: () => ledger,
            });
            const params = {
                MessageSid: `SM${rng.hex(32)}`,
                From: '+15550100001',
                To: '+15550100002',
                Body: `hi ${rng.alnum(8)}`,
            };
            const request = new HttpRequest({
                method: 'POST',
                url,
                headers: {
                    'Content-Type': 'application/x-www-form-urlencoded',
                    'X-Twilio-Signature': twilioSignature(TOKEN, url, params),
                },
                body: { string: new URLSearchParams(params).toString() },
            });
            const response = await inboundSms(request, quietContext());
            const expected: Verb[] = [
                { name: 'Message', text: dropNonXmlChars(setting(reply, DEFAULT_SMS_REPLY)) },
            ];
            recordResponse(tally, `reply ${String(n)} ${JSON.stringify(reply)}`, response, expected);
        }
        console.log(`reply: ${String(tally.checked)} checked`);
        expect(tally.failures.slice(0, 20)).toEqual([]);
        expect(tally.checked).toBeGreaterThanOrEqual(MIN_CHECKED_PER_SURFACE);
    }, 60_000);

    const callContext = {
        id: 'fuzz-call',
        defaults: { fromNumber: '+15550100002' },
        defaultVoiceUrl: 'https://myapp.azurewebsites.net/api/voice',
        statusCallbackUrl: () => undefined,
    };

    /**
     * One outbound call: refused on `field` when a text is empty once undrawable characters are dropped,
     * or when its TwiML would be over 4,000 characters (the message names the length, which must lie
     * between the unescaped and the fully escaped size); otherwise its `twiml` must be exactly `verbs`.
     */
    async function checkCall(
        input: Record<string, unknown>,
        verbs: Verb[],
        blankFields: string[],
        tally: Tally,
        label: string,
    ) {
        const parsed = parseOutbound({ type: 'call', to: '+15550100001', ...input });
        const fail = (problem: string) =>
            tally.failures.push(
                `FUZZ_SEED=${String(SEED)} ${label} ${JSON.stringify(input).slice(0, 200)}: ${problem}`,
            );
        const textLength = verbs.reduce((sum, verb) => sum + verb.text.length + 2 * verb.name.length + 5, 0);
        const least = ENVELOPE + textLength;
        const most =
            ENVELOPE + textLength + verbs.reduce((sum, verb) => sum + (MAX_ESCAPE - 1) * verb.text.length, 0);
        if (blankFields.length > 0) {
            const fields = parsed.ok
                ? []
                : parsed.errors.filter((e) => e.message === 'must not be empty').map((e) => e.field);
            if (JSON.stringify(fields) !== JSON.stringify(blankFields))
                fail(
                    `expected "must not be empty" on ${blankFields.join(', ')}, got ${JSON.stringify(parsed)}`,
                );
            tally.refusedEmpty++;
            return;
        }
        if (!parsed.ok) {
            const message = parsed.errors.length === 1 ? (parsed.errors[0]?.message ?? '') : '';
            // Text that alone is over the limit is refused before the TwiML is built ("makes over 4000");
            // otherwise the built TwiML's length is named.
            const overBeforeBuilding = message.startsWith(
                `makes over ${String(MAX_TWIML_LENGTH)} characters`,
            );
            const tooLong = /^makes (\d+) characters of TwiML/.exec(message);
            const length = Number(tooLong?.[1]);
            if (overBeforeBuilding) {
                if (least <= MAX_TWIML_LENGTH) fail(`refused before building, but fits: ${message}`);
            } else if (tooLong === null || length <= MAX_TWIML_LENGTH || length < least || length > most)
                fail(`refused: ${JSON.stringify(parsed.errors).slice(0, 300)}`);
            if (least <= MAX_TWIML_LENGTH && most <= MAX_TWIML_LENGTH) fail('refused although it fits');
            tally.refusedTooLong++;
            return;
        }
        if (least > MAX_TWIML_LENGTH) fail('accepted although its TwiML cannot fit in 4000 characters');
        const params = await toCallCreateParams(parsed.value as CallRequest, callContext);
        if (params.url !== undefined || typeof params.twiml !== 'string')
            return fail(`no inline twiml: ${JSON.stringify(params).slice(0, 200)}`);
        if (params.twiml.length > MAX_TWIML_LENGTH)
            fail(`twiml of ${String(params.twiml.length)} characters`);
        const problem = twimlProblem(params.twiml, verbs);
        if (problem !== undefined) fail(problem);
        tally.checked++;
    }

    it(`outbound call say: ${String(CHECKED_PER_CALL_SURFACE)} hostile texts → one <Say> in the call's twiml`, async () => {
        const rng = new Rng(SEED).fork('say');
        const tally = newTally();
        for (let n = 0; tally.checked < CHECKED_PER_CALL_SURFACE && n < MAX_CALL_CASES; n++) {
            const say = rng.bool(0.03)
                ? longText(rng, 3_000, 6_000, { pools: { xmlMeta: 1, ascii: 4 } })
                : hostileText(rng, 200);
            const blank = dropNonXmlChars(say).trim() === '';
            // `say` is said as given (not trimmed), even when it looks like a URL.
            await checkCall(
                { say },
                [{ name: 'Say', text: dropNonXmlChars(say) }],
                blank ? ['say'] : [],
                tally,
                `say ${String(n)}`,
            );
        }
        console.log(
            `say: ${String(tally.checked)} checked; refused as expected: ${String(tally.refusedEmpty)} empty, ${String(tally.refusedTooLong)} over 4000`,
        );
        expect(tally.failures.slice(0, 20)).toEqual([]);
        expect(tally.checked).toBeGreaterThanOrEqual(MIN_CHECKED_PER_SURFACE);
        expect(tally.refusedEmpty).toBeGreaterThan(0);
        expect(tally.refusedTooLong).toBeGreaterThan(0);
    }, 60_000);

    it(`outbound call message: ${String(CHECKED_PER_CALL_SURFACE)} hostile lists → one <Say>/<Play> per entry`, async () => {
        const rng = new Rng(SEED).fork('message');
        const tally = newTally();
        for (let n = 0; tally.checked < CHECKED_PER_CALL_SURFACE && n < MAX_CALL_CASES; n++) {
            const count = rng.weighted([
                [10, rng.int(1, 4)],
                [2, rng.int(5, 20)],
            ] as const);
            const message = Array.from({ length: count }, () =>
                rng.weighted([
                    [8, () => hostileText(rng, 80)],
                    [
                        2,
                        () =>
                            `${rng.pick(['', ' ', '\n'])}https://cdn.example.com/${rng.alnum(6)}.mp3${rng.pick(['', '?a=1&b=<2>', '#x'])}${rng.pick(['', ' ', '\t'])}`,
                    ],
                    [
                        1,
                        () =>
                            rng.pick([
                                'http://a b',
                                'HTTPS://X.EXAMPLE/<y>',
                                'https://\u0001x',
                                'ftp://x',
                                'https://x\ud800',
                            ]),
                    ],
                ])(),
            );
            const blankFields = message.flatMap((entry, i) =>
                dropNonXmlChars(entry).trim() === '' ? [`message[${String(i)}]`] : [],
            );
            const verbs = message.map((entry): Verb => {
                const text = entry.trim();
                return { name: URL_TO_PLAY.test(text) ? 'Play' : 'Say', text: dropNonXmlChars(text) };
            });
            await checkCall({ message }, verbs, blankFields, tally, `message ${String(n)}`);
        }
        console.log(
            `message: ${String(tally.checked)} checked; refused as expected: ${String(tally.refusedEmpty)} empty, ${String(tally.refusedTooLong)} over 4000`,
        );
        expect(tally.failures.slice(0, 20)).toEqual([]);
        expect(tally.checked).toBeGreaterThanOrEqual(MIN_CHECKED_PER_SURFACE);
    }, 60_000);
});

describe('the Twilio sandbox reads the TwiML the app writes', () => {
    it('accepts a <Say> whose text contains "]]>" (escaped as ]]&gt;)', async () => {
        const parsed = parseOutbound({
            type: 'call',
            to: '+15550100001',
            from: '+15550100002',
            say: 'press ]]> to continue',
        });
        if (!parsed.ok) throw new Error('the call should be valid');
        const { twiml } = await toCallCreateParams(parsed.value as CallRequest, callContextFor());
        if (typeof twiml !== 'string') throw new Error('expected inline TwiML');
        expect(twiml).toContain(']]&gt;');
        expect(checkXml(twiml).ok).toBe(true);
        expect(parseTwiml(twiml)).toMatchObject({ ok: true });
    });
});

function callContextFor() {
    return {
        id: 'x',
        defaults: { fromNumber: '+15550100002' },
        defaultVoiceUrl: undefined,
        statusCallbackUrl: () => undefined,
    };
}
