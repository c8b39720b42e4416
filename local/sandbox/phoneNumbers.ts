/**
 * The account's phone numbers: Twilio's IncomingPhoneNumbers resource (2010-04-01), with the update
 * rules Twilio applies when a number is pointed at an app (its Voice and Messaging URLs and methods, the
 * status callback), and the resource JSON the `twilio` SDK parses.
 */

import { errors } from './errors';
import { API_VERSION, formatted, isHttpUrl, newSid, rfc2822 } from './resources';

export type WebhookMethod = 'GET' | 'POST';

/** The settings an update may change, by Twilio's parameter name. */
export interface PhoneNumberSettings {
    FriendlyName: string;
    VoiceUrl: string;
    VoiceMethod: WebhookMethod;
    VoiceFallbackUrl: string;
    VoiceFallbackMethod: WebhookMethod;
    StatusCallback: string;
    StatusCallbackMethod: WebhookMethod;
    VoiceCallerIdLookup: boolean;
    SmsUrl: string;
    SmsMethod: WebhookMethod;
    SmsFallbackUrl: string;
    SmsFallbackMethod: WebhookMethod;
}

export interface PhoneNumberUpdate {
    readonly at: Date;
    /** The parameters whose value changed, e.g. `['VoiceUrl', 'SmsUrl']`. */
    readonly changed: readonly (keyof PhoneNumberSettings)[];
}

export interface SandboxPhoneNumber {
    readonly sid: string;
    readonly accountSid: string;
    readonly phoneNumber: string;
    readonly settings: PhoneNumberSettings;
    readonly dateCreated: Date;
    dateUpdated: Date;
    /** Every update that changed something, oldest first. */
    readonly updates: PhoneNumberUpdate[];
}

// An empty value clears a URL, as in Twilio's console.
const URLS = ['VoiceUrl', 'VoiceFallbackUrl', 'SmsUrl', 'SmsFallbackUrl'] as const;
const METHODS = [
    'VoiceMethod',
    'VoiceFallbackMethod',
    'SmsMethod',
    'SmsFallbackMethod',
    'StatusCallbackMethod',
] as const;

/** A number the account owns, not pointed at anything yet. */
export function newPhoneNumber(accountSid: string, phoneNumber: string): SandboxPhoneNumber {
    const now = new Date();
    return {
        sid: newSid('PN'),
        accountSid,
        phoneNumber,
        settings: {
            FriendlyName: formatted(phoneNumber),
            VoiceUrl: '',
            VoiceMethod: 'POST',
            VoiceFallbackUrl: '',
            VoiceFallbackMethod: 'POST',
            StatusCallback: '',
            StatusCallbackMethod: 'POST',
            VoiceCallerIdLookup: false,
            SmsUrl: '',
            SmsMethod: 'POST',
            SmsFallbackUrl: '',
            SmsFallbackMethod: 'POST',
        },
        dateCreated: now,
        dateUpdated: now,
        updates: [],
    };
}

/**
 * Applies an update's form parameters: every value is checked before any is applied, so a rejected
 * update changes nothing. Parameters Twilio accepts but the sandbox does not model (emergency, trunk,
 * address and bundle SIDs, …) are ignored.
 *
 * @returns the parameters whose value changed.
 * @throws TwilioApiError 21402 for a URL that is not an absolute http(s) URL, 21502 for such a
 *   StatusCallback, 21403 for a method other than GET or POST, 21218 for an application SID (the sandbox
 *   has no TwiML applications), 20001 for a VoiceCallerIdLookup that is not a boolean.
 */
export function updatePhoneNumber(number: SandboxPhoneNumber, form: URLSearchParams): PhoneNumberUpdate {
    const next: PhoneNumberSettings = { ...number.settings };
    for (const name of URLS) {
        const value = form.get(name);
        if (value === null) continue;
        const url = value.trim();
        if (url !== '' && !isHttpUrl(url)) throw errors.phoneNumberUrlInvalid(name, value);
        next[name] = url;
    }
    const callback = form.get('StatusCallback');
    if (callback !== null) {
        if (callback.trim() !== '' && !isHttpUrl(callback.trim())) throw errors.callbackUrlInvalid(callback);
        next.StatusCallback = callback.trim();
    }
    for (const name of METHODS) {
        const value = form.get(name);
        if (value === null) continue;
        const method = value.trim().toUpperCase();
        if (method !== 'GET' && method !== 'POST') throw errors.phoneNumberMethodInvalid(name, value);
        next[name] = method;
    }
    for (const name of ['VoiceApplicationSid', 'SmsApplicationSid']) {
        if ((form.get(name) ?? '').trim() !== '') throw errors.phoneNumberApplicationSid(name);
    }
    const lookup = form.get('VoiceCallerIdLookup');
    if (lookup !== null) {
        const value = lookup.trim().toLowerCase();
        if (value !== 'true' && value !== 'false') {
            throw errors.invalidParameter(`VoiceCallerIdLookup is not valid: ${lookup}`);
        }
        next.VoiceCallerIdLookup = value === 'true';
    }
    const friendlyName = form.get('FriendlyName');
    if (friendlyName !== null) next.FriendlyName = friendlyName;

    const changed = (Object.keys(next) as (keyof PhoneNumberSettings)[]).filter(
        (name) => next[name] !== number.settings[name],
    );
    const update: PhoneNumberUpdate = { at: new Date(), changed };
    // Twilio moves date_updated on every accepted update, whether or not a value changed.
    number.dateUpdated = update.at;
    Object.assign(number.settings, next);
    if (changed.length > 0) number.updates.push(update);
    return update;
}

/**
 * The list filters Twilio documents for IncomingPhoneNumbers: `PhoneNumber` (all or part of the number,
 * `*` standing for any one digit; punctuation and the `+` are ignored), `FriendlyName` (exact), `Beta`
 * and `Origin` (the sandbox's numbers are `false` and `twilio`).
 */
export function phoneNumberFilter(query: URLSearchParams): (number: SandboxPhoneNumber) => boolean {
    const checks: ((number: SandboxPhoneNumber) => boolean)[] = [];
    const pattern = query.get('PhoneNumber');
    if (pattern !== null && pattern !== '') {
        const digits = pattern.replace(/[^\d*]/g, '');
        const regexp = new RegExp(digits.replace(/\*/g, '\\d'));
        checks.push((n) => digits !== '' && regexp.test(n.phoneNumber.replace(/\D/g, '')));
    }
    const friendlyName = query.get('FriendlyName');
    if (friendlyName !== null) checks.push((n) => n.settings.FriendlyName === friendlyName);
    const beta = query.get('Beta');
    if (beta !== null) checks.push(() => beta.toLowerCase() === 'false');
    const origin = query.get('Origin');
    if (origin !== null) checks.push(() => origin === 'twilio');
    return (number) => checks.every((check) => check(number));
}

/** The filter parameter names, carried into the list's page URIs. */
export const PHONE_NUMBER_FILTERS = ['PhoneNumber', 'FriendlyName', 'Beta', 'Origin'] as const;

export function phoneNumberUri(accountSid: string, sid: string): string {
    return `/${API_VERSION}/Accounts/${accountSid}/IncomingPhoneNumbers/${sid}.json`;
}

/** The IncomingPhoneNumber resource as Twilio's API returns it. */
export function phoneNumberResource(number: SandboxPhoneNumber): Record<string, unknown> {
    const s = number.settings;
    const uri = phoneNumberUri(number.accountSid, number.sid);
    return {
        account_sid: number.accountSid,
        address_requirements: 'none',
        address_sid: null,
        api_version: API_VERSION,
        beta: false,
        bundle_sid: null,
        capabilities: { voice: true, sms: true, mms: true, fax: false },
        date_created: rfc2822(number.dateCreated),
        date_updated: rfc2822(number.dateUpdated),
        emergency_address_sid: null,
        emergency_address_status: 'unregistered',
        emergency_status: 'Inactive',
        friendly_name: s.FriendlyName,
        identity_sid: null,
        origin: 'twilio',
        phone_number: number.phoneNumber,
        sid: number.sid,
        sms_application_sid: '',
        sms_fallback_method: s.SmsFallbackMethod,
        sms_fallback_url: s.SmsFallbackUrl,
        sms_method: s.SmsMethod,
        sms_url: s.SmsUrl,
        status: 'in-use',
        status_callback: s.StatusCallback,
        status_callback_method: s.StatusCallbackMethod,
        subresource_uris: { assigned_add_ons: uri.replace(/\.json$/, '/AssignedAddOns.json') },
        trunk_sid: null,
        type: /^\+18(00|33|44|55|66|77|88)/.test(number.phoneNumber) ? 'toll-free' : 'local',
        uri,
        voice_application_sid: null,
        voice_caller_id_lookup: s.VoiceCallerIdLookup,
        voice_fallback_method: s.VoiceFallbackMethod,
        voice_fallback_url: s.VoiceFallbackUrl,
        voice_method: s.VoiceMethod,
        voice_receive_mode: 'voice',
        voice_url: s.VoiceUrl,
    };
}
