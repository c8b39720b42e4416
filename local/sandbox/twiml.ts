/**
 * A small, strict XML reader for TwiML: enough to tell a well-formed `<Response>` document from a broken
 * one the way Twilio's parser would (error 12100), and to read the verbs in it. It handles the XML
 * declaration, processing instructions, comments, CDATA, attributes and the predefined and numeric
 * character references; DOCTYPE declarations are refused (Twilio does not need them, and they are how XML
 * entity attacks start).
 */

export interface XmlElement {
    readonly name: string;
    readonly attributes: Readonly<Record<string, string>>;
    readonly children: readonly XmlNode[];
}

export type XmlNode = XmlElement | string;

export type TwimlParse = { ok: true; root: XmlElement } | { ok: false; error: string };

class XmlError extends Error {}

const NAME = /[A-Za-z_:][\w.:-]*/y;
const SPACE = /\s*/y;
const REFERENCE = /&(?:(amp|lt|gt|quot|apos)|#(\d{1,7})|#x([0-9a-fA-F]{1,6}));/y;
const PREDEFINED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** Parses `xml` as a TwiML document: well-formed XML whose root element is `<Response>`. */
export function parseTwiml(xml: string): TwimlParse {
    const text = xml.startsWith('\uFEFF') ? xml.slice(1) : xml;
    let pos = 0;

    function fail(message: string): never {
        const line = text.slice(0, pos).split('\n').length;
        throw new XmlError(`line ${line}: ${message}`);
    }
    const match = (pattern: RegExp): string | undefined => {
        pattern.lastIndex = pos;
        const found = pattern.exec(text);
        if (found === null) return undefined;
        pos = pattern.lastIndex;
        return found[0];
    };
    const skipSpace = () => match(SPACE);
    const expect = (literal: string) => {
        if (!text.startsWith(literal, pos)) fail(`expected '${literal}'`);
        pos += literal.length;
    };
    const until = (terminator: string, what: string): string => {
        const end = text.indexOf(terminator, pos);
        if (end === -1) fail(`unterminated ${what}`);
        const content = text.slice(pos, end);
        pos = end + terminator.length;
        return content;
    };
    /** Character data up to the next `<` (or `quote`), with references decoded. */
    const characters = (stop: RegExp): string => {
        let out = '';
        while (pos < text.length) {
            const char = text[pos] ?? '';
            if (stop.test(char)) break;
            if (char === '&') {
                REFERENCE.lastIndex = pos;
                const ref = REFERENCE.exec(text);
                if (ref === null) fail("'&' must start a character reference such as &amp;");
                const [whole, named, decimal, hex] = ref;
                if (named !== undefined) out += PREDEFINED[named] ?? '';
                else {
                    const code = decimal !== undefined ? Number(decimal) : parseInt(hex ?? '', 16);
                    if (code === 0 || code > 0x10ffff) fail(`invalid character reference ${whole}`);
                    out += String.fromCodePoint(code);
                }
                pos += whole.length;
            } else {
                out += char;
                pos += 1;
            }
        }
        return out;
    };
    /** Comments and processing instructions, allowed anywhere outside tags. */
    const misc = (): boolean => {
        if (text.startsWith('<!--', pos)) {
            pos += 4;
            const comment = until('-->', 'comment');
            if (comment.includes('--')) fail("'--' is not allowed inside a comment");
            return true;
        }
        if (text.startsWith('<?', pos)) {
            pos += 2;
            const target = match(NAME) ?? fail('processing instruction without a target');
            if (target.toLowerCase() === 'xml' && pos - target.length - 2 !== 0) {
                fail('the XML declaration must come first');
            }
            until('?>', 'processing instruction');
            return true;
        }
        if (text.startsWith('<!DOCTYPE', pos)) fail('DOCTYPE declarations are not allowed');
        return false;
    };

    const element = (): XmlElement => {
        expect('<');
        const name = match(NAME) ?? fail('expected an element name');
        const attributes: Record<string, string> = {};
        for (;;) {
            const spaced = (skipSpace() ?? '') !== '';
            if (text.startsWith('/>', pos)) {
                pos += 2;
                return { name, attributes, children: [] };
            }
            if (text.startsWith('>', pos)) {
                pos += 1;
                break;
            }
            if (!spaced) fail(`expected whitespace, '>' or '/>' in <${name}>`);
            const attribute = match(NAME) ?? fail(`malformed attribute in <${name}>`);
            skipSpace();
            expect('=');
            skipSpace();
            const quote = text[pos];
            if (quote !== '"' && quote !== "'") fail(`the value of ${attribute} must be quoted`);
            pos += 1;
            const value = characters(quote === '"' ? /["<]/ : /['<]/);
            if (text[pos] !== quote) fail(`'<' is not allowed in the value of ${attribute}`);
            pos += 1;
            if (Object.hasOwn(attributes, attribute)) fail(`duplicate attribute ${attribute} in <${name}>`);
            attributes[attribute] = value;
        }
        const children: XmlNode[] = [];
        for (;;) {
            if (pos >= text.length) fail(`<${name}> is not closed`);
            if (text.startsWith('</', pos)) {
                pos += 2;
                const closing = match(NAME) ?? fail('expected an element name after </');
                if (closing !== name) fail(`</${closing}> does not close <${name}>`);
                skipSpace();
                expect('>');
                return { name, attributes, children };
            }
            if (text.startsWith('<![CDATA[', pos)) {
                pos += 9;
                children.push(until(']]>', 'CDATA section'));
            } else if (misc()) {
                // comment or processing instruction: nothing to keep
            } else if (text.startsWith('<', pos)) {
                children.push(element());
            } else {
                // `]]>` is forbidden as written in the document; `]]&gt;` (decoding to `]]>`) is fine.
                const start = pos;
                const chars = characters(/</);
                if (text.slice(start, pos).includes(']]>')) fail("']]>' is not allowed in text");
                children.push(chars);
            }
        }
    };

    try {
        for (;;) {
            skipSpace();
            if (!misc()) break;
        }
        if (pos >= text.length) fail('the document is empty');
        if (text[pos] !== '<') fail('text is not allowed before the root element');
        const root = element();
        for (;;) {
            skipSpace();
            if (pos >= text.length) break;
            if (!misc()) fail('content is not allowed after the root element');
        }
        if (root.name !== 'Response') {
            return { ok: false, error: `the root element is <${root.name}>; TwiML needs <Response>` };
        }
        return { ok: true, root };
    } catch (error) {
        if (error instanceof XmlError) return { ok: false, error: error.message };
        throw error;
    }
}

/** The text content of an element, its descendants' included. */
export function textOf(node: XmlNode): string {
    return typeof node === 'string' ? node : node.children.map(textOf).join('');
}

/** The direct child elements of `element` named `name`. */
export function childElements(element: XmlElement, name: string): XmlElement[] {
    return element.children.filter(
        (child): child is XmlElement => typeof child !== 'string' && child.name === name,
    );
}
