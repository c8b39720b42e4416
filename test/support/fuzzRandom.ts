/**
 * Seeded randomness for the fuzz tests: a tiny PRNG (mulberry32), the seed (`FUZZ_SEED` to reproduce a
 * run), and generators of awkward text.
 */

import { createHash, randomBytes } from 'node:crypto';

/** mulberry32: a 32-bit state, uniform floats in [0, 1). Small and good enough for test data. */
export function mulberry32(seed: number): () => number {
    let state = seed >>> 0;
    return () => {
        state = (state + 0x6d2b79f5) >>> 0;
        let t = state;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

/**
 * The run's seed: `FUZZ_SEED` (a whole number 0–4294967295) when set, otherwise a fresh random one. The
 * tests print it, so a failing run can be repeated with `FUZZ_SEED=<seed> npx jest <file>`.
 */
export function fuzzSeed(): number {
    const text = process.env.FUZZ_SEED?.trim();
    if (text === undefined || text === '') return randomBytes(4).readUInt32LE(0);
    const seed = Number(text);
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
        throw new Error(`FUZZ_SEED must be a whole number from 0 to 4294967295, got ${JSON.stringify(text)}`);
    }
    return seed;
}

export class Rng {
    private readonly next: () => number;

    constructor(readonly seed: number) {
        this.next = mulberry32(seed);
    }

    /** An independent stream for `label`, so adding draws to one stream does not shift another. */
    fork(label: string): Rng {
        const digest = createHash('sha256')
            .update(`${String(this.seed)}:${label}`)
            .digest();
        return new Rng(digest.readUInt32LE(0));
    }

    float(): number {
        return this.next();
    }

    /** A whole number from `min` to `max`, both included. */
    int(min: number, max: number): number {
        return min + Math.floor(this.next() * (max - min + 1));
    }

    bool(probability = 0.5): boolean {
        return this.next() < probability;
    }

    pick<T>(items: readonly T[]): T {
        if (items.length === 0) throw new Error('pick from an empty list');
        return items[Math.floor(this.next() * items.length)] as T;
    }

    /** One of `entries`, chosen with probability proportional to its weight. */
    weighted<T>(entries: readonly (readonly [number, T])[]): T {
        const total = entries.reduce((sum, [weight]) => sum + weight, 0);
        let point = this.next() * total;
        for (const [weight, value] of entries) {
            point -= weight;
            if (point < 0) return value;
        }
        const last = entries[entries.length - 1];
        if (last === undefined) throw new Error('weighted pick from an empty list');
        return last[1];
    }

    shuffle<T>(items: readonly T[]): T[] {
        const copy = [...items];
        for (let i = copy.length - 1; i > 0; i--) {
            const j = Math.floor(this.next() * (i + 1));
            [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
        }
        return copy;
    }

    hex(length: number): string {
        let out = '';
        for (let i = 0; i < length; i++) out += '0123456789abcdef'[this.int(0, 15)] ?? '0';
        return out;
    }

    /** Letters and digits. */
    alnum(length: number): string {
        const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
        let out = '';
        for (let i = 0; i < length; i++) out += chars[this.int(0, chars.length - 1)] ?? 'x';
        return out;
    }
}

// ---------------------------------------------------------------------------------------------------------
// Text

const range = (from: number, to: number): string[] => {
    const out: string[] = [];
    for (let code = from; code <= to; code++) out.push(String.fromCharCode(code));
    return out;
};

// prettier-ignore
export const POOLS = {
    ascii: range(0x20, 0x7e),
    /** Characters with a meaning in URLs and forms. */
    urlMeta: ['+', '%', '&', '=', '?', '#', '/', '\\', ';', ':', '@', '[', ']', '%20', '%2B', '%%', '%zz', '+%2B'],
    latin: ['é', 'ü', 'ñ', 'ß', 'Ø', 'Å', 'ç', 'œ', 'Ğ', 'ł', '¿', '¡', '€', '£', '©', '«»'],
    bmp: ['中文字', 'مرحبا', 'שלום', 'नमस्ते', 'Привет', 'Ελληνικά', 'สวัสดี', '한국어', 'ｶﾀｶﾅ', '☃', '✓', '∑∞'],
    astral: ['😀', '👩\u200d👩\u200d👧', '🇺🇸', '𝄞', '𠀋', '🏳️\u200d🌈', '🧪', '𝔘𝔫𝔦', '\u{10FFFD}', '\u{1F9D1}\u{1F3FD}'],
    combining: ['e\u0301', 'a\u0308', 'n\u0303', 'o\u0323\u0302', 'Z\u0351\u0352\u0357\u035b\u0300\u0301', '\u20dd', 'A\u030a', '\u0301'],
    space: [' ', '  ', '\t', '\n', '\r\n', '\r', '\u00a0', '\u2028', '\u3000', '\u200b', '\ufeff', '\u2029'],
    /** Characters XML markup is made of, and text that looks like markup. */
    xmlMeta: [
        '<', '>', '&', '"', "'", ']]>', '<!--', '-->', '--', '<?xml version="1.0"?>', '<?php ?>', '<![CDATA[', ']]',
        '&amp;', '&#x3C;', '&#60;', '&lt;', '&gt;', '&quot;', '&apos;', '&#0;', '&#xD800;', '&bogus;', '&#x1F600;',
        '</Say>', '<Say>', '<Play>https://evil.example.com/x.mp3</Play>', '</Response><Response>', '<Hangup/>',
        '</Message><Message>', '<Redirect>https://evil.example.com</Redirect>', '<!DOCTYPE r [<!ENTITY e "x">]>',
        '&e;', '<a href="x">', "<b attr='1'>", '<![CDATA[<Hangup/>]]>', '\\u003c',
    ],
    /** Characters XML 1.0 cannot carry at all (C0 controls but tab, LF, CR; U+FFFE, U+FFFF) and C1 controls. */
    controls: [
        ...range(0x00, 0x08),
        '\u000b',
        '\u000c',
        ...range(0x0e, 0x1f),
        '\u007f',
        '\u0085',
        '\u009f',
        '\ufffe',
        '\uffff',
    ],
    loneSurrogates: ['\ud800', '\udbff', '\udc00', '\udfff', '\ud83d', '\ude00'],
} as const;

export type PoolName = keyof typeof POOLS;

export interface TextOptions {
    /** Target length in UTF-16 code units (pieces may overshoot a little). */
    minLength?: number;
    maxLength?: number;
    /** Relative weights of the pools used; default a mix without controls or lone surrogates. */
    pools?: Partial<Record<PoolName, number>>;
}

const DEFAULT_POOLS: Partial<Record<PoolName, number>> = {
    ascii: 10,
    urlMeta: 2,
    latin: 2,
    bmp: 2,
    astral: 2,
    combining: 1,
    space: 2,
};

/** Random text from the weighted pools. */
export function randomText(rng: Rng, options: TextOptions = {}): string {
    const target = rng.int(options.minLength ?? 0, options.maxLength ?? 24);
    const pools = Object.entries(options.pools ?? DEFAULT_POOLS).filter(([, w]) => w > 0) as [
        PoolName,
        number,
    ][];
    const entries = pools.map(([name, weight]) => [weight, POOLS[name]] as const);
    let out = '';
    while (out.length < target) out += rng.pick(rng.weighted(entries));
    return out;
}

/** A very long value (thousands of code units), built by repeating a random chunk with variations. */
export function longText(rng: Rng, minLength: number, maxLength: number, options: TextOptions = {}): string {
    const target = rng.int(minLength, maxLength);
    const chunk = randomText(rng, { ...options, minLength: 16, maxLength: 64 });
    let out = '';
    while (out.length < target) out += rng.bool(0.9) ? chunk : randomText(rng, { ...options, maxLength: 8 });
    return out;
}

// ---------------------------------------------------------------------------------------------------------
// XML characters, written from the XML 1.0 Char production (not from the app's regex)

/** Whether code point `cp` is a `Char` of XML 1.0 (fifth edition, §2.2). */
export function isXmlChar(cp: number): boolean {
    return (
        cp === 0x9 ||
        cp === 0xa ||
        cp === 0xd ||
        (cp >= 0x20 && cp <= 0xd7ff) ||
        (cp >= 0xe000 && cp <= 0xfffd) ||
        (cp >= 0x10000 && cp <= 0x10ffff)
    );
}

/** `text` without the characters an XML document cannot carry (lone surrogates included). */
export function dropNonXmlChars(text: string): string {
    let out = '';
    for (let i = 0; i < text.length; i++) {
        const unit = text.charCodeAt(i);
        const next = i + 1 < text.length ? text.charCodeAt(i + 1) : -1;
        if (unit >= 0xd800 && unit <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
            out += text[i] ?? '';
            out += text[i + 1] ?? '';
            i++;
            continue;
        }
        if (isXmlChar(unit)) out += text[i] ?? '';
    }
    return out;
}
