/**
 * The webhook bodies the `webhooks` phase sends: a 1 MiB form of 1,000 parameters (the largest body the
 * webhooks accept), and the denial-of-service body of 100,000 short parameters.
 */

import { createHmac } from 'node:crypto';

export const ONE_MIB = 1024 * 1024;

/**
 * A form-encoded body of exactly `keys` parameters and at most `maxBytes` bytes, as close to it as the
 * encoding allows. The values are heavy on percent-encoding (spaces, `!`, `ö`), which is the slowest
 * kind of form to parse: the attacker chooses the body.
 */
export function largeForm(keys: number, maxBytes: number): { params: Record<string, string>; body: string } {
    const unit = 'Hello wörld! ';
    const encodedUnit = new URLSearchParams({ v: unit }).toString().length - 2;
    const keyName = (i: number) => `Param${String(i).padStart(5, '0')}`;
    // "name=" + value + "&" per parameter; the last one has no "&".
    const overhead = keys * (keyName(0).length + 2) - 1;
    const perValue = Math.floor((maxBytes - overhead) / keys);
    const params: Record<string, string> = {};
    for (let i = 0; i < keys; i++) {
        let value = unit.repeat(Math.floor(perValue / encodedUnit));
        value += 'x'.repeat(perValue - Math.floor(perValue / encodedUnit) * encodedUnit);
        params[keyName(i)] = value;
    }
    const body = new URLSearchParams(params).toString();
    if (Buffer.byteLength(body) > maxBytes) throw new Error('largeForm: the body came out too large');
    return { params, body };
}

/** The reproduction: `keys` distinct short parameters (100,000 make 889 KB). */
export function manyKeysForm(keys: number): string {
    const parts: string[] = [];
    for (let i = 0; i < keys; i++) parts.push(`k${String(i)}=1`);
    return parts.join('&');
}

/** A well-formed signature (28 base64 characters, as HMAC-SHA1 gives) that matches nothing. */
export function forgedSignature(): string {
    return createHmac('sha1', 'not the auth token').update('forged').digest('base64');
}
