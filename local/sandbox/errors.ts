/**
 * Twilio's REST error responses, as api.twilio.com sends them: HTTP status plus a JSON body
 * `{ code, message, more_info, status }`. The SDK turns these into a `RestException` with the same
 * `status` and `code`, so code written against the sandbox handles real Twilio errors the same way.
 *
 * Messages follow Twilio's error catalogue (https://www.twilio.com/docs/api/errors).
 */

export interface TwilioErrorBody {
    code: number;
    message: string;
    more_info: string;
    status: number;
}

/** An error the sandbox answers a REST request with. */
export class TwilioApiError extends Error {
    override readonly name = 'TwilioApiError';
    readonly status: number;
    readonly code: number;

    constructor(code: number, message: string, status = 400) {
        super(message);
        this.code = code;
        this.status = status;
    }

    toJSON(): TwilioErrorBody {
        return {
            code: this.code,
            message: this.message,
            more_info: `https://www.twilio.com/docs/errors/${this.code}`,
            status: this.status,
        };
    }
}

/** Error codes the sandbox uses, by what they mean. */
export const ErrorCode = {
    invalidParameter: 20001,
    authenticate: 20003,
    methodNotAllowed: 20004,
    notFound: 20404,
    /** HTTP 429: the account sent too many requests; nothing was created (the sandbox's `rateLimit`). */
    tooManyRequests: 20429,
    callToMissing: 21201,
    callUrlInvalid: 21205,
    invalidTo: 21211,
    /** The `From` is not a valid phone number, for calls and messages alike (`+15005550001`). */
    callFromInvalid: 21212,
    callFromMissing: 21213,
    /** Calls: Twilio cannot route to the `To` number (test number `+15005550002`). */
    callToUnreachable: 21214,
    /** Calls: the account's geographic permissions do not allow the `To` number (`+15005550003`). */
    callToNotPermitted: 21215,
    /** Calls: the `To` number is blocked for the account (`+15005550004`). */
    callToBlocked: 21216,
    /** Calls: the `To` number is not a valid phone number (`+15005550001`). */
    callToInvalid: 21217,
    invalidApplicationSid: 21218,
    /** Messages: the region of the `To` number is not enabled for the account (`+15005550003`). */
    messageRegionNotPermitted: 21408,
    /** A phone number's Voice or Messaging URL (or fallback URL) is not a valid URL. */
    phoneNumberUrlInvalid: 21402,
    /** A phone number's VoiceMethod, SmsMethod, … is neither GET nor POST. */
    phoneNumberMethodInvalid: 21403,
    /** A phone number's StatusCallback is not a valid URL. */
    callbackUrlInvalid: 21502,
    messageBodyMissing: 21602,
    messageFromMissing: 21603,
    messageToMissing: 21604,
    messageFromInvalid: 21606,
    statusCallbackInvalid: 21609,
    /** Messages: the recipient is blocked for the account or replied STOP (`+15005550004`). */
    messageToBlocked: 21610,
    /** Messages: the sender's queue is full (`+15005550008` as `From`); it drains, so a retry may pass. */
    messageQueueFull: 21611,
    /** Messages: the `To` number cannot be reached from the `From` number (`+15005550002`). */
    messageToUnreachable: 21612,
    /** Messages: the `To` number cannot receive SMS (`+15005550009`). */
    messageToNotMobile: 21614,
    messageBodyTooLong: 21617,
    mediaUrlInvalid: 21620,
    tooManyMedia: 21623,
    messagingServiceSidInvalid: 21701,
    /** Debugger: the TwiML URL could not be fetched (connection failure or non-2xx answer). */
    httpRetrievalFailure: 11200,
    /** Debugger: the TwiML document is not well-formed XML or has no `<Response>` root. */
    documentParseFailure: 12100,
    /** Debugger: the TwiML URL answered with a content type Twilio cannot use. */
    invalidContentType: 12300,
} as const;

export const errors = {
    authenticate: () => new TwilioApiError(ErrorCode.authenticate, 'Authenticate', 401),
    notFound: (path: string) =>
        new TwilioApiError(ErrorCode.notFound, `The requested resource ${path} was not found`, 404),
    methodNotAllowed: () => new TwilioApiError(ErrorCode.methodNotAllowed, 'Method not allowed', 405),
    tooManyRequests: () => new TwilioApiError(ErrorCode.tooManyRequests, 'Too Many Requests', 429),
    invalidParameter: (message: string) => new TwilioApiError(ErrorCode.invalidParameter, message),

    messageToMissing: () =>
        new TwilioApiError(ErrorCode.messageToMissing, "A 'To' phone number is required."),
    invalidTo: (to: string) =>
        new TwilioApiError(ErrorCode.invalidTo, `The 'To' number ${to} is not a valid phone number.`),
    messageFromMissing: () =>
        new TwilioApiError(
            ErrorCode.messageFromMissing,
            "A 'From' or 'MessagingServiceSid' parameter is required to send a message",
        ),
    messageFromInvalid: (from: string) =>
        new TwilioApiError(
            ErrorCode.messageFromInvalid,
            `The From phone number ${from} is not a valid message-capable Twilio phone number for this destination/account`,
        ),
    messageBodyMissing: () =>
        new TwilioApiError(
            ErrorCode.messageBodyMissing,
            'Message body is required. The Body or MediaUrl parameter is required to send a message.',
        ),
    messageBodyTooLong: () =>
        new TwilioApiError(
            ErrorCode.messageBodyTooLong,
            'The concatenated message body exceeds the 1600 character limit',
        ),
    mediaUrlInvalid: (url: string) =>
        new TwilioApiError(
            ErrorCode.mediaUrlInvalid,
            `Media urls: ${url} are invalid. Please use only valid http and https urls`,
        ),
    tooManyMedia: () =>
        new TwilioApiError(
            ErrorCode.tooManyMedia,
            'Number of media files exceeds allowed limit. You may send up to 10 media files in a single message.',
        ),
    messagingServiceSidInvalid: (sid: string) =>
        new TwilioApiError(
            ErrorCode.messagingServiceSidInvalid,
            `The Messaging Service Sid ${sid} is invalid.`,
        ),
    statusCallbackInvalid: (url: string) =>
        new TwilioApiError(ErrorCode.statusCallbackInvalid, `Invalid StatusCallback url: ${url}`),

    // The texts of Twilio's test-credential answers (testNumbers.ts), as Twilio words them.
    messageFromNotANumber: (from: string) =>
        new TwilioApiError(
            ErrorCode.callFromInvalid,
            `The 'From' number ${from} is not a valid phone number, shortcode, or alphanumeric sender ID.`,
        ),
    messageFromNotOwned: (from: string) =>
        new TwilioApiError(
            ErrorCode.messageFromInvalid,
            `The From phone number ${from} is not a valid, SMS-capable inbound phone number or short code for your account.`,
        ),
    messageQueueFull: () => new TwilioApiError(ErrorCode.messageQueueFull, 'SMS queue is full.'),
    messageToUnreachable: (to: string, from: string) =>
        new TwilioApiError(
            ErrorCode.messageToUnreachable,
            `The 'To' phone number: ${to}, is not currently reachable using the 'From' phone number: ${from} via SMS.`,
        ),
    messageRegionNotPermitted: (to: string) =>
        new TwilioApiError(
            ErrorCode.messageRegionNotPermitted,
            `Permission to send an SMS has not been enabled for the region indicated by the 'To' number: ${to}.`,
        ),
    messageToBlocked: () =>
        new TwilioApiError(ErrorCode.messageToBlocked, 'The message From/To pair violates a blacklist rule.'),
    messageToNotMobile: (to: string) =>
        new TwilioApiError(ErrorCode.messageToNotMobile, `To number: ${to}, is not a mobile number`),

    callToMissing: () => new TwilioApiError(ErrorCode.callToMissing, "No 'To' number is specified"),
    callFromMissing: () => new TwilioApiError(ErrorCode.callFromMissing, "No 'From' number is specified"),
    callFromInvalid: (from: string) =>
        new TwilioApiError(
            ErrorCode.callFromInvalid,
            `The source phone number provided, ${from}, is not valid.`,
        ),
    callToInvalid: (to: string) =>
        new TwilioApiError(
            ErrorCode.callToInvalid,
            `The phone number you are attempting to call, ${to}, is not valid.`,
        ),
    callToUnreachable: (to: string) =>
        new TwilioApiError(ErrorCode.callToUnreachable, `'To' phone number cannot be reached: ${to}`),
    callToNotPermitted: (to: string) =>
        new TwilioApiError(
            ErrorCode.callToNotPermitted,
            `Account not authorized to call ${to}. Perhaps you need to enable some international permissions: https://www.twilio.com/console/voice/calls/geo-permissions/low-risk`,
        ),
    callToBlocked: (to: string) =>
        new TwilioApiError(ErrorCode.callToBlocked, `Account not allowed to call ${to}`),
    callUrlMissing: () => new TwilioApiError(ErrorCode.callUrlInvalid, 'Url parameter is required.'),
    callUrlInvalid: (url: string) =>
        new TwilioApiError(ErrorCode.callUrlInvalid, `Url is not a valid URL: ${url}`),
    invalidApplicationSid: () =>
        new TwilioApiError(
            ErrorCode.invalidApplicationSid,
            'ApplicationSid is not valid: the sandbox has no TwiML applications; pass Url or Twiml instead',
        ),

    phoneNumberUrlInvalid: (name: string, url: string) =>
        new TwilioApiError(ErrorCode.phoneNumberUrlInvalid, `${name} is not valid: ${url}`),
    phoneNumberMethodInvalid: (name: string, method: string) =>
        new TwilioApiError(
            ErrorCode.phoneNumberMethodInvalid,
            `${name} is not valid: ${method}. Valid values are GET or POST`,
        ),
    callbackUrlInvalid: (url: string) =>
        new TwilioApiError(ErrorCode.callbackUrlInvalid, `StatusCallback is not valid: ${url}`),
    phoneNumberApplicationSid: (name: string) =>
        new TwilioApiError(
            ErrorCode.invalidApplicationSid,
            `${name} is not valid: the sandbox has no TwiML applications; set the URLs instead`,
        ),
} as const;
