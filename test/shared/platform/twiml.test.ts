import {
    isTwilioHandledKeyword,
    smsReplyTwiml,
    toXmlText,
    twimletMessages,
    voiceTwiml,
} from '../../../shared/platform/twiml';

const XML = '<?xml version="1.0" encoding="UTF-8"?>';

describe('voiceTwiml', () => {
    it('says the greeting when the request carries no message', async () => {
        expect(await voiceTwiml('Hello World', [])).toBe(`${XML}<Response><Say>Hello World</Say></Response>`);
    });

    it('says text and plays http(s) URLs, in order', async () => {
        expect(await voiceTwiml('ignored', ['Hello', 'https://example.com/a.mp3?x=1&y=2', 'Bye'])).toBe(
            `${XML}<Response><Say>Hello</Say><Play>https://example.com/a.mp3?x=1&amp;y=2</Play><Say>Bye</Say></Response>`,
        );
    });

    it('escapes XML metacharacters so the text cannot inject TwiML', async () => {
        expect(await voiceTwiml(`</Say><Dial>+15551234567</Dial><Say>'"&`, [])).toBe(
            `${XML}<Response><Say>&lt;/Say&gt;&lt;Dial&gt;+15551234567&lt;/Dial&gt;&lt;Say&gt;'"&amp;</Say></Response>`,
        );
    });

    it('drops characters XML cannot carry and keeps the rest', async () => {
        expect(await voiceTwiml('a\u0000b\u0007c\uFFFEd\uD800e\tf', [])).toBe(
            `${XML}<Response><Say>abcde\tf</Say></Response>`,
        );
    });
});

describe('twimletMessages', () => {
    it('orders Message first, then Message[n] by index, skipping empty values', () => {
        const query = new URLSearchParams(
            'Message%5B10%5D=ten&Message%5B2%5D=two&Message=plain&Message%5B0%5D=&x=1',
        );
        const form = new URLSearchParams('Message%5B1%5D=one&CallSid=CA1');
        expect(twimletMessages([query, form])).toEqual(['plain', 'one', 'two', 'ten']);
    });

    it('accepts the seeds-style twimlets URL', () => {
        const url = new URL('http://twimlets.com/message?Message[0]=Hello%20World');
        expect(twimletMessages([url.searchParams])).toEqual(['Hello World']);
    });

    it('ignores keys that only look like Message', () => {
        expect(twimletMessages([new URLSearchParams('Messages=a&message=b&Message[x]=c')])).toEqual([]);
    });
});

describe('smsReplyTwiml', () => {
    it('replies with the configured text', async () => {
        expect(await smsReplyTwiml('Hey, thanks for the ping! Twilio and Azure rock!', 'hello')).toBe(
            `${XML}<Response><Message>Hey, thanks for the ping! Twilio and Azure rock!</Message></Response>`,
        );
    });

    it('escapes the reply', async () => {
        expect(await smsReplyTwiml('<b>"Tom" & \'Jerry\'</b>', 'hi')).toBe(
            `${XML}<Response><Message>&lt;b&gt;"Tom" &amp; 'Jerry'&lt;/b&gt;</Message></Response>`,
        );
    });

    it.each([
        'STOP',
        'stop',
        '  Stop  ',
        'STOPALL',
        'UNSUBSCRIBE',
        'CANCEL',
        'END',
        'QUIT',
        'START',
        'UNSTOP',
        'HELP',
    ])('answers the keyword %p with an empty response', async (keyword) => {
        expect(await smsReplyTwiml('reply', keyword)).toBe(`${XML}<Response/>`);
    });

    it('replies to messages that merely contain a keyword', async () => {
        expect(isTwilioHandledKeyword('please stop')).toBe(false);
        expect(isTwilioHandledKeyword(undefined)).toBe(false);
        expect(await smsReplyTwiml('reply', 'please stop')).toBe(
            `${XML}<Response><Message>reply</Message></Response>`,
        );
    });
});

describe('toXmlText', () => {
    it('keeps tab, newline, carriage return and astral characters', () => {
        expect(toXmlText('a\tb\nc\rd 😀')).toBe('a\tb\nc\rd 😀');
    });
});
