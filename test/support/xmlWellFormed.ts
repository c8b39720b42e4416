/**
 * A small, strict XML 1.0 well-formedness checker for the fuzz tests, written from the XML 1.0
 * specification (fifth edition): every character must be a `Char` (§2.2), names follow `Name` (§2.3),
 * references are the five predefined entities or character references to a `Char` (§4.1, §4.6), comments
 * may not contain `--` (§2.5), character data may not contain `]]>` (§2.4), attributes are unique and quoted
 * without `<` (§3.1), and there is exactly one root element with only comments, processing instructions and
 * white space around it. End-of-line handling (§2.11) and attribute-value normalisation (§3.3.3) are
 * applied to what is returned. A DOCTYPE is refused: TwiML needs none, and without one no other entity can
 * be declared.
 *
 * What it returns also counts the comments, processing instructions and CDATA sections it met, so a test
 * can tell that none was injected.
 */

import { isXmlChar } from './fuzzRandom';

export interface XmlElement {
    readonly name: string;
    readonly attributes: Readonly<Record<string, string>>;
    readonly children: readonly XmlNode[];
}

export type XmlNode = XmlElement | { readonly text: string; readonly cdata: boolean };

export interface XmlDocument {
    readonly declaration: { version: string; encoding?: string; standalone?: string } | undefined;
    readonly root: XmlElement;
    readonly comments: number;
    readonly processingInstructions: number;
    readonly cdataSections: number;
}

export type XmlCheck = { ok: true; document: XmlDocument } | { ok: false; error: string; offset: number };

class NotWellFormed extends Error {
    constructor(
        message: string,
        readonly offset: number,
    ) {
        super(message);
    }
}

function isNameStartChar(cp: number): boolean {
    return (
        cp === 0x3a || // :
        (cp >= 0x41 && cp <= 0x5a) ||
        cp === 0x5f || // _
        (cp >= 0x61 && cp <= 0x7a) ||
        (cp >= 0xc0 && cp <= 0xd6) ||
        (cp >= 0xd8 && cp <= 0xf6) ||
        (cp >= 0xf8 && cp <= 0x2ff) ||
        (cp >= 0x370 && cp <= 0x37d) ||
        (cp >= 0x37f && cp <= 0x1fff) ||
        (cp >= 0x200c && cp <= 0x200d) ||
        (cp >= 0x2070 && cp <= 0x218f) ||
        (cp >= 0x2c00 && cp <= 0x2fef) ||
        (cp >= 0x3001 && cp <= 0xd7ff) ||
        (cp >= 0xf900 && cp <= 0xfdcf) ||
        (cp >= 0xfdf0 && cp <= 0xfffd) ||
        (cp >= 0x10000 && cp <= 0xeffff)
    );
}

function isNameChar(cp: number): boolean {
    return (
        isNameStartChar(cp) ||
        cp === 0x2d || // -
        cp === 0x2e || // .
        (cp >= 0x30 && cp <= 0x39) ||
        cp === 0xb7 ||
        (cp >= 0x300 && cp <= 0x36f) ||
        (cp >= 0x203f && cp <= 0x2040)
    );
}

const isSpace = (c: string | undefined): boolean => c === ' ' || c === '\t' || c === '\n' || c === '\r';
const PREDEFINED: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** Checks that `xml` is a well-formed XML 1.0 document and returns its tree. */
export function checkXml(xml: string): XmlCheck {
    let pos = 0;
    let comments = 0;
    let processingInstructions = 0;
    let cdataSections = 0;
    const fail = (message: string): never => {
        throw new NotWellFormed(message, pos);
    };

    // §2.2: the whole document is made of Chars (a lone surrogate is no character at all).
    for (let i = 0; i < xml.length; i++) {
        const cp = xml.codePointAt(i) ?? 0;
        if (cp > 0xffff) {
            i++;
            continue;
        }
        if (!isXmlChar(cp)) {
            const code = cp.toString(16).toUpperCase().padStart(4, '0');
            return { ok: false, error: `U+${code} is not an XML character`, offset: i };
        }
    }

    const startsWith = (literal: string): boolean => xml.startsWith(literal, pos);
    const expect = (literal: string): void => {
        if (!startsWith(literal)) fail(`expected ${JSON.stringify(literal)}`);
        pos += literal.length;
    };
    const skipSpace = (): boolean => {
        const start = pos;
        while (isSpace(xml[pos])) pos++;
        return pos > start;
    };
    const name = (): string => {
        const start = pos;
        const first = xml.codePointAt(pos);
        if (first === undefined || !isNameStartChar(first)) fail('expected a name');
        pos += (first ?? 0) > 0xffff ? 2 : 1;
        for (;;) {
            const cp = xml.codePointAt(pos);
            if (cp === undefined || !isNameChar(cp)) break;
            pos += cp > 0xffff ? 2 : 1;
        }
        return xml.slice(start, pos);
    };
    /** §4.1 at `&`: a predefined entity or a character reference to a Char. */
    const reference = (): string => {
        expect('&');
        if (startsWith('#x')) {
            pos += 2;
            const digits =
                /^[0-9a-fA-F]+/.exec(xml.slice(pos, pos + 16))?.[0] ?? fail('malformed &#x reference');
            pos += digits.length;
            expect(';');
            const cp = parseInt(digits, 16);
            if (!isXmlChar(cp)) fail(`&#x${digits}; is not an XML character`);
            return String.fromCodePoint(cp);
        }
        if (startsWith('#')) {
            pos += 1;
            const digits = /^[0-9]+/.exec(xml.slice(pos, pos + 16))?.[0] ?? fail('malformed &# reference');
            pos += digits.length;
            expect(';');
            const cp = parseInt(digits, 10);
            if (!isXmlChar(cp)) fail(`&#${digits}; is not an XML character`);
            return String.fromCodePoint(cp);
        }
        const entity = name();
        expect(';');
        const value = PREDEFINED[entity];
        if (value === undefined) fail(`undeclared entity &${entity};`);
        return value ?? '';
    };
    const comment = (): void => {
        expect('<!--');
        const end = xml.indexOf('--', pos);
        if (end === -1) fail('unterminated comment');
        if (xml[end + 2] !== '>') {
            pos = end;
            fail("'--' inside a comment");
        }
        pos = end + 3;
        comments++;
    };
    const processingInstruction = (atStart: boolean): ReturnType<typeof declaration> | undefined => {
        expect('<?');
        const target = name();
        if (target.toLowerCase() === 'xml') {
            if (!atStart || target !== 'xml') fail('the XML declaration must be first, written <?xml');
            return declaration();
        }
        if (!startsWith('?>')) {
            if (!skipSpace()) fail('expected white space after the processing instruction target');
        }
        const end = xml.indexOf('?>', pos);
        if (end === -1) fail('unterminated processing instruction');
        pos = end + 2;
        processingInstructions++;
        return undefined;
    };
    /** §2.8 after `<?xml`. */
    const declaration = (): { version: string; encoding?: string; standalone?: string } => {
        const pseudo: Record<string, string> = {};
        const order = ['version', 'encoding', 'standalone'];
        let last = -1;
        for (;;) {
            const spaced = skipSpace();
            if (startsWith('?>')) {
                pos += 2;
                break;
            }
            if (!spaced) fail('expected white space in the XML declaration');
            const key = name();
            const index = order.indexOf(key);
            if (index <= last) fail(`unexpected ${key} in the XML declaration`);
            last = index;
            skipSpace();
            expect('=');
            skipSpace();
            const quote = xml[pos];
            if (quote !== '"' && quote !== "'") fail('XML declaration values must be quoted');
            pos++;
            const end = xml.indexOf(quote ?? '"', pos);
            if (end === -1) fail('unterminated XML declaration value');
            pseudo[key] = xml.slice(pos, end);
            pos = end + 1;
        }
        const { version, encoding, standalone } = pseudo;
        if (version === undefined || !/^1\.[0-9]+$/.test(version))
            fail('the XML declaration needs version="1.x"');
        if (encoding !== undefined && !/^[A-Za-z][A-Za-z0-9._-]*$/.test(encoding)) fail('bad encoding name');
        if (standalone !== undefined && standalone !== 'yes' && standalone !== 'no') fail('bad standalone');
        return {
            version: version ?? '',
            ...(encoding === undefined ? {} : { encoding }),
            ...(standalone === undefined ? {} : { standalone }),
        };
    };
    /** Comments, PIs and white space outside the root element. */
    const misc = (): boolean => {
        skipSpace();
        if (startsWith('<!--')) {
            comment();
            return true;
        }
        if (startsWith('<?')) {
            processingInstruction(false);
            return true;
        }
        if (startsWith('<!DOCTYPE')) fail('DOCTYPE declarations are refused');
        return false;
    };
    /** §2.11: CR LF and lone CR become LF in character data read from the document (not from references). */
    const normaliseLineEnds = (raw: string): string => raw.replace(/\r\n?/g, '\n');

    const element = (): XmlElement => {
        expect('<');
        const tag = name();
        const attributes: Record<string, string> = {};
        for (;;) {
            const spaced = skipSpace();
            if (startsWith('/>')) {
                pos += 2;
                return { name: tag, attributes, children: [] };
            }
            if (startsWith('>')) {
                pos++;
                break;
            }
            if (!spaced) fail(`expected white space, '>' or '/>' in <${tag}>`);
            const attribute = name();
            skipSpace();
            expect('=');
            skipSpace();
            const quote = xml[pos];
            if (quote !== '"' && quote !== "'") fail(`the value of ${attribute} must be quoted`);
            pos++;
            let value = '';
            for (;;) {
                const c = xml[pos];
                if (c === undefined) fail('unterminated attribute value');
                if (c === quote) break;
                if (c === '<') fail(`'<' in the value of ${attribute}`);
                if (c === '&') value += reference();
                else if (c === '\r') {
                    // §2.11 then §3.3.3: a line end is one space.
                    pos += xml[pos + 1] === '\n' ? 2 : 1;
                    value += ' ';
                } else {
                    value += isSpace(c) ? ' ' : (c ?? '');
                    pos++;
                }
            }
            pos++;
            if (Object.hasOwn(attributes, attribute)) fail(`duplicate attribute ${attribute} in <${tag}>`);
            attributes[attribute] = value;
        }
        const children: XmlNode[] = [];
        let text = '';
        const flush = () => {
            if (text !== '') children.push({ text, cdata: false });
            text = '';
        };
        for (;;) {
            if (pos >= xml.length) fail(`<${tag}> is not closed`);
            if (startsWith('</')) {
                pos += 2;
                const closing = name();
                if (closing !== tag) fail(`</${closing}> does not close <${tag}>`);
                skipSpace();
                expect('>');
                flush();
                return { name: tag, attributes, children };
            }
            if (startsWith('<![CDATA[')) {
                pos += 9;
                const end = xml.indexOf(']]>', pos);
                if (end === -1) fail('unterminated CDATA section');
                flush();
                children.push({ text: normaliseLineEnds(xml.slice(pos, end)), cdata: true });
                cdataSections++;
                pos = end + 3;
            } else if (startsWith('<!--')) {
                comment();
            } else if (startsWith('<?')) {
                processingInstruction(false);
            } else if (startsWith('<!')) {
                fail('markup declarations are not allowed in content');
            } else if (startsWith('<')) {
                flush();
                children.push(element());
            } else if (startsWith('&')) {
                text += reference();
            } else {
                const start = pos;
                while (pos < xml.length && xml[pos] !== '<' && xml[pos] !== '&') pos++;
                const raw = xml.slice(start, pos);
                const bad = raw.indexOf(']]>');
                if (bad !== -1) {
                    pos = start + bad;
                    fail("']]>' in character data");
                }
                text += normaliseLineEnds(raw);
            }
        }
    };

    try {
        let decl: XmlDocument['declaration'];
        if (startsWith('<?xml') && isSpace(xml[5])) {
            pos = 0;
            decl = processingInstruction(true);
        }
        while (misc()) {
            // comments and processing instructions before the root
        }
        if (pos >= xml.length) fail('no root element');
        if (xml[pos] !== '<') fail('text before the root element');
        const root = element();
        while (misc()) {
            // after the root
        }
        if (pos < xml.length) fail('content after the root element');
        return {
            ok: true,
            document: { declaration: decl, root, comments, processingInstructions, cdataSections },
        };
    } catch (error) {
        if (error instanceof NotWellFormed) return { ok: false, error: error.message, offset: error.offset };
        throw error;
    }
}

/** The concatenated text of a node (CDATA included). */
export function textContent(node: XmlNode): string {
    return 'name' in node ? node.children.map(textContent).join('') : node.text;
}

/** Every element in the tree, depth first, the root included. */
export function allElements(root: XmlElement): XmlElement[] {
    const out: XmlElement[] = [root];
    for (const child of root.children) if ('name' in child) out.push(...allElements(child));
    return out;
}

/** The child elements of `element` (text between them must be white space only, as TwiML writes none). */
export function childElements(element: XmlElement): XmlElement[] {
    return element.children.filter((child): child is XmlElement => 'name' in child);
}
