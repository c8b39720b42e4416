/**
 * Reading Twilio's form parameters the way its API does: an empty or blank value counts as absent, and
 * a method parameter (`Method`, `StatusCallbackMethod`) is GET or POST, in any case.
 */

import { errors } from './errors';

/** The value, or `null` when it is absent, empty or only whitespace. */
export function nonEmpty(value: string | null): string | null {
    return value === null || value.trim() === '' ? null : value;
}

/** The method parameter `name` (default POST). @throws TwilioApiError 20001 for anything but GET or POST. */
export function httpMethod(form: URLSearchParams, name: string): 'GET' | 'POST' {
    const value = (form.get(name) ?? 'POST').toUpperCase();
    if (value !== 'GET' && value !== 'POST')
        throw errors.invalidParameter(`Invalid ${name}: must be GET or POST`);
    return value;
}
