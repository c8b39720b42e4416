/**
 * Application settings, read from the environment once and validated as a whole.
 *
 * This is the only module that reads `process.env`. It is hand-validated rather than built on a schema
 * library on purpose: every HTTP function loads it on a cold start, and a schema library costs more to
 * `require` than `@azure/functions` itself.
 */

import { ConfigError } from './errors';

/**
 * Where the Twilio auth token comes from. For Key Vault, `managedIdentityClientId` is the client id of
 * {@link AppConfig.identity}`.keyVault`, the identity the vault is read as (shown in diagnostics).
 */
export type AuthTokenSource =
    | { kind: 'keyVault'; vaultUrl: string; secretName: string; managedIdentityClientId: string | undefined }
    | { kind: 'setting'; token: string }
    | { kind: 'none' };

/**
 * The Twilio API key used for REST calls instead of the auth token (which then only validates webhook
 * signatures): its SID, and where its secret comes from.
 */
export type ApiKeySource =
    | { kind: 'keyVault'; sid: string; vaultUrl: string; secretName: string }
    | { kind: 'setting'; sid: string; secret: string };

/**
 * An Azure identity the app's own clients authenticate as, chosen as the Functions host chooses one for an
 * identity-based connection: `managedIdentity` (`<connection>__credential=managedidentity`) is
 * `ManagedIdentityCredential` for the user-assigned identity named by `clientId` or `resourceId`, or the
 * system-assigned one when neither is given; `default` is `DefaultAzureCredential` (a developer's own
 * sign-in locally), told which managed identity to try when one is named. Two equal values are one
 * identity, and the app builds one credential object for it.
 */
export interface AzureIdentity {
    readonly kind: 'managedIdentity' | 'default';
    readonly clientId: string | undefined;
    readonly resourceId: string | undefined;
}

export interface AppConfig {
    /** `TWILIO_ACCOUNT_SID`; optional for the webhooks, required to call the Twilio REST API. */
    readonly accountSid: string | undefined;
    readonly authToken: AuthTokenSource;
    /** `TWILIO_API_KEY_SID` and its secret: when set, REST calls use it instead of the auth token. */
    readonly apiKey: ApiKeySource | undefined;
    /**
     * Who the app is towards Azure: `storage` for the ledger table and the outbound queue (`undefined` with a
     * connection string), `keyVault` for the secrets.
     */
    readonly identity: { readonly storage: AzureIdentity | undefined; readonly keyVault: AzureIdentity };
    /** How long a token read from Key Vault is trusted before it is read again. */
    readonly secretTtlMs: number;
    /**
     * Origin (and optional path prefix) that Twilio calls, without a trailing slash: `PUBLIC_BASE_URL`, else
     * `https://$WEBSITE_HOSTNAME` in Azure; `undefined` locally, where the request URL is used.
     */
    readonly publicBaseUrl: string | undefined;
    /** `TRUSTED_FORWARDED_HOSTS`, lowercased: the proxies whose `X-Forwarded-Host` / `-Proto` are believed. */
    readonly trustedForwardedHosts: readonly string[];
    readonly webhookValidation: boolean;
    readonly voiceGreeting: string;
    readonly smsReply: string;
    /**
     * `SMS_REPLY_LIMIT` and `SMS_REPLY_WINDOW_SECONDS`: the auto-reply on `/api/sms` stops answering a
     * sender that has written more than `limit` messages within `windowMs` (shared/messaging/replyGuard.ts).
     */
    readonly smsReplyGuard: { readonly limit: number; readonly windowMs: number };
    /** Base URL of a Twilio API stand-in; tests and local runs only. */
    readonly twilioApiUrl: string | undefined;
    /** The storage account holding the outbound queue and the ledger (the Functions host's own). */
    readonly storage: StorageConnection | undefined;
    /** `OUTBOUND_QUEUE`: the queue the `outbound` function reads (`%OUTBOUND_QUEUE%` in its binding). */
    readonly outboundQueue: string;
    /** Default sender for outbound SMS and calls. */
    readonly fromNumber: string | undefined;
    readonly messagingServiceSid: string | undefined;
    readonly ledgerTable: string;
    /** Whether the ledger keeps message bodies (personal data: off by default). */
    readonly ledgerStoreBody: boolean;
    /**
     * `OUTBOUND_MAX_AGE_SECONDS`: how long an outbound message without a `validityPeriod` may go unaccepted
     * by Twilio (rate limits, a full sender queue), from its first attempt, before it ends `failed`.
     */
    readonly outboundMaxAgeMs: number;
    /**
     * Inbound MMS media (shared/media/): `INBOUND_MEDIA_QUEUE`, the queue the `inboundMedia` function reads
     * (`%INBOUND_MEDIA_QUEUE%`, its poison queue `<name>-poison`); `MEDIA_CONTAINER`, the blob container the
     * media are copied to; `DELETE_MEDIA_AFTER_COPY`, whether each copied item is then deleted at Twilio.
     */
    readonly media: {
        readonly queue: string;
        readonly container: string;
        readonly deleteAfterCopy: boolean;
    };
    /** The voicemail twimlet's notification settings (docs/voicemail.md). */
    readonly voicemail: VoicemailSettings;
    /**
     * `EMAIL_ENDPOINT` and `EMAIL_SENDER`: an Azure Communication Services resource that sends e-mail as the
     * app's identity; `undefined` when no e-mail sender is configured.
     */
    readonly email: EmailSettings | undefined;
}

export interface VoicemailSettings {
    /** `VOICEMAIL_NOTIFY_NUMBER`: where the SMS notice goes when the twimlet names no `Notify` number. */
    readonly notifyNumber: string | undefined;
    /** `VOICEMAIL_EMAIL_TO`: the e-mail recipient when the twimlet names no `Email` (lowercased). */
    readonly emailTo: string | undefined;
    /**
     * `VOICEMAIL_EMAIL_ALLOWED`, lowercased: the addresses (`a@b.com`) and domains (`@b.com`) the twimlet's
     * `Email` parameter may name besides `emailTo`. Anything else is refused, so a twimlet URL cannot make
     * the app mail whoever it names.
     */
    readonly emailAllowed: readonly string[];
}

export interface EmailSettings {
    /** `EMAIL_ENDPOINT`: `https://<resource>.communication.azure.com`, without a trailing slash. */
    readonly endpoint: string;
    /** `EMAIL_SENDER`: a MailFrom address of a domain connected to the resource. */
    readonly sender: string;
}

/** How to reach Azure Storage: a connection string, or an account reached with the app's identity. */
export type StorageConnection =
    | { kind: 'connectionString'; connectionString: string }
    | {
          kind: 'identity';
          queueServiceUrl: string;
          tableServiceUrl: string;
          /**
           * `AzureWebJobsStorage__blobServiceUri`, or derived from `__accountName`; `undefined` when only the
           * queue and table URIs are given (the media container then cannot be reached: a ConfigError on use).
           */
          blobServiceUrl: string | undefined;
      };

export const DEFAULT_VOICE_GREETING = 'Hello World';
export const DEFAULT_SMS_REPLY = 'Hey, thanks for the ping! Twilio and Azure rock!';
export const DEFAULT_SECRET_NAME = 'twilio-auth-token';
export const DEFAULT_API_KEY_SECRET_NAME = 'twilio-api-key-secret';
export const DEFAULT_SECRET_TTL_SECONDS = 3600;
export const DEFAULT_OUTBOUND_QUEUE = 'twilio-outbound';
export const DEFAULT_LEDGER_TABLE = 'TwilioLedger';
export const DEFAULT_OUTBOUND_MAX_AGE_SECONDS = 14_400;
export const DEFAULT_INBOUND_MEDIA_QUEUE = 'twilio-inbound-media';
export const DEFAULT_MEDIA_CONTAINER = 'twilio-media';
export const DEFAULT_SMS_REPLY_LIMIT = 10;
export const DEFAULT_SMS_REPLY_WINDOW_SECONDS = 60;

const ACCOUNT_SID = /^AC[0-9a-fA-F]{32}$/;
const API_KEY_SID = /^SK[0-9a-fA-F]{32}$/;
// Key Vault object names: 1-127 characters, letters, digits and dashes.
const SECRET_NAME = /^[0-9a-zA-Z-]{1,127}$/;
const E164 = /^\+[1-9]\d{7,14}$/;
const MESSAGING_SERVICE_SID = /^MG[0-9a-fA-F]{32}$/;
// Azure Storage naming rules for queues and tables.
const QUEUE_NAME = /^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$/;
const TABLE_NAME = /^[A-Za-z][A-Za-z0-9]{2,62}$/;
// A queue whose `-poison` queue is still a queue name (56 + 7 = 63 characters).
const POISONABLE_QUEUE_NAME = /^(?=.{3,56}$)[a-z0-9]+(-[a-z0-9]+)*$/;
// Blob container names: 3-63 lowercase letters, digits and single dashes, starting with a letter or digit.
const CONTAINER_NAME = /^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$/;
// A DNS host name: dot-separated labels of letters, digits and inner dashes.
const HOST_NAME = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;
const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
// An e-mail address as the app accepts one in a setting or a twimlet parameter: a plain local part (no
// quoting, comments or spaces) and a DNS domain with a dot, at most 254 characters (RFC 5321's path limit).
const EMAIL_ADDRESS =
    /^(?=.{3,254}$)[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;
// The ARM id of a user-assigned identity, as `__managedIdentityResourceId` takes it.
const IDENTITY_RESOURCE_ID =
    /^\/subscriptions\/[0-9a-fA-F-]{36}\/resourcegroups\/[-\w._()]{1,90}\/providers\/microsoft\.managedidentity\/userassignedidentities\/[\w-]{3,128}$/i;

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Parses and validates every setting from `env`.
 *
 * @throws ConfigError naming each missing or invalid setting, all at once.
 */
export function parseConfig(env: Env): AppConfig {
    const problems: string[] = [];
    // Core Tools and App Service both pass empty strings for settings left blank.
    const read = (name: string): string | undefined => {
        const value = env[name]?.trim();
        return value === undefined || value === '' ? undefined : value;
    };

    const accountSid = read('TWILIO_ACCOUNT_SID');
    if (accountSid !== undefined && !ACCOUNT_SID.test(accountSid)) {
        problems.push('TWILIO_ACCOUNT_SID must be "AC" followed by 32 hexadecimal characters');
    }

    const vaultUrl = checkUrl(read('KEY_VAULT_URL'), 'KEY_VAULT_URL', problems, ['https:']);
    const secretName = read('TWILIO_AUTH_TOKEN_SECRET_NAME') ?? DEFAULT_SECRET_NAME;
    if (!SECRET_NAME.test(secretName)) {
        problems.push('TWILIO_AUTH_TOKEN_SECRET_NAME must be 1-127 letters, digits or dashes');
    }
    const azureClientId = read('AZURE_CLIENT_ID');
    if (azureClientId !== undefined && !GUID.test(azureClientId)) {
        problems.push('AZURE_CLIENT_ID must be a GUID (the client ID of a user-assigned managed identity)');
    }
    const token = read('TWILIO_AUTH_TOKEN');
    if (token?.startsWith('@Microsoft.KeyVault(')) {
        problems.push(
            'TWILIO_AUTH_TOKEN holds an unresolved Key Vault reference: grant the app identity "get" on the secret, or set KEY_VAULT_URL',
        );
    }
    const storage = storageConnection(read, problems);
    const keyVaultIdentity = keyVaultIdentityFor(
        storage?.identity,
        GUID.test(azureClientId ?? '') ? azureClientId : undefined,
    );
    let authToken: AuthTokenSource;
    if (vaultUrl !== undefined) {
        authToken = {
            kind: 'keyVault',
            vaultUrl,
            secretName,
            managedIdentityClientId: keyVaultIdentity.clientId,
        };
    } else if (token !== undefined) {
        authToken = { kind: 'setting', token };
    } else {
        authToken = { kind: 'none' };
    }
    const apiKey = apiKeySource(
        read,
        { url: vaultUrl, configured: read('KEY_VAULT_URL') !== undefined },
        accountSid,
        problems,
    );

    const ttlSeconds = checkInteger(
        read,
        'SECRET_CACHE_TTL_SECONDS',
        DEFAULT_SECRET_TTL_SECONDS,
        { min: 1, max: 86_400 },
        problems,
    );

    const publicBaseUrl =
        read('PUBLIC_BASE_URL') === undefined
            ? platformOrigin(read('WEBSITE_HOSTNAME'), problems)
            : checkUrl(read('PUBLIC_BASE_URL'), 'PUBLIC_BASE_URL', problems, ['https:', 'http:']);
    const trustedForwardedHosts = hostList(
        read('TRUSTED_FORWARDED_HOSTS'),
        'TRUSTED_FORWARDED_HOSTS',
        problems,
    );
    const twilioApiUrl = checkUrl(read('TWILIO_API_URL'), 'TWILIO_API_URL', problems, ['https:', 'http:']);

    const validation = (read('TWILIO_WEBHOOK_VALIDATION') ?? 'on').toLowerCase();
    if (!['on', 'off', 'true', 'false'].includes(validation)) {
        problems.push('TWILIO_WEBHOOK_VALIDATION must be "on" or "off"');
    }

    const fromNumber = read('TWILIO_FROM_NUMBER');
    if (fromNumber !== undefined && !E164.test(fromNumber)) {
        problems.push('TWILIO_FROM_NUMBER must be an E.164 number such as +15551234567');
    }
    const messagingServiceSid = read('TWILIO_MESSAGING_SERVICE_SID');
    if (messagingServiceSid !== undefined && !MESSAGING_SERVICE_SID.test(messagingServiceSid)) {
        problems.push('TWILIO_MESSAGING_SERVICE_SID must be "MG" followed by 32 hexadecimal characters');
    }
    const outboundQueue = read('OUTBOUND_QUEUE') ?? DEFAULT_OUTBOUND_QUEUE;
    if (!QUEUE_NAME.test(outboundQueue)) {
        problems.push(
            'OUTBOUND_QUEUE must be a storage queue name: 3-63 lowercase letters, digits and single dashes',
        );
    }
    const ledgerTable = read('LEDGER_TABLE') ?? DEFAULT_LEDGER_TABLE;
    if (!TABLE_NAME.test(ledgerTable)) {
        problems.push('LEDGER_TABLE must be a table name: a letter, then 2-62 letters or digits');
    }
    const storeBody = checkBoolean(read, 'LEDGER_STORE_BODY', problems);

    // Up to the queue's default message time-to-live (7 days): a delayed copy must outlive its wait.
    const maxAgeSeconds = checkInteger(
        read,
        'OUTBOUND_MAX_AGE_SECONDS',
        DEFAULT_OUTBOUND_MAX_AGE_SECONDS,
        { min: 60, max: 604_800 },
        problems,
    );

    // Twilio blocks a loop at 30 messages in 30 s (14107): the defaults stop well before it.
    const replyLimit = checkInteger(
        read,
        'SMS_REPLY_LIMIT',
        DEFAULT_SMS_REPLY_LIMIT,
        { min: 1, max: 10_000 },
        problems,
    );
    const replyWindowSeconds = checkInteger(
        read,
        'SMS_REPLY_WINDOW_SECONDS',
        DEFAULT_SMS_REPLY_WINDOW_SECONDS,
        { min: 1, max: 86_400 },
        problems,
    );

    const voicemail = voicemailSettings(read, problems);
    const email = emailSettings(read, problems);

    const media = mediaSettings(read, problems);

    if (problems.length > 0) {
        throw new ConfigError(problems);
    }
    return {
        accountSid,
        authToken,
        apiKey,
        identity: { storage: storage?.identity, keyVault: keyVaultIdentity },
        secretTtlMs: ttlSeconds * 1000,
        publicBaseUrl,
        trustedForwardedHosts,
        webhookValidation: validation === 'on' || validation === 'true',
        voiceGreeting: read('VOICE_GREETING') ?? DEFAULT_VOICE_GREETING,
        smsReply: read('SMS_REPLY') ?? DEFAULT_SMS_REPLY,
        smsReplyGuard: { limit: replyLimit, windowMs: replyWindowSeconds * 1000 },
        twilioApiUrl,
        storage: storage?.connection,
        outboundQueue,
        fromNumber,
        messagingServiceSid,
        ledgerTable,
        ledgerStoreBody: storeBody,
        outboundMaxAgeMs: maxAgeSeconds * 1000,
        media,
        voicemail,
        email,
    };
}

/** Whether `value` is an e-mail address the app accepts (see `EMAIL_ADDRESS`). */
export function isEmailAddress(value: string): boolean {
    return EMAIL_ADDRESS.test(value);
}

/** `VOICEMAIL_NOTIFY_NUMBER`, `VOICEMAIL_EMAIL_TO` and `VOICEMAIL_EMAIL_ALLOWED`. */
function voicemailSettings(
    read: (name: string) => string | undefined,
    problems: string[],
): VoicemailSettings {
    const notifyNumber = read('VOICEMAIL_NOTIFY_NUMBER');
    if (notifyNumber !== undefined && !E164.test(notifyNumber)) {
        problems.push('VOICEMAIL_NOTIFY_NUMBER must be an E.164 number such as +15551234567');
    }
    const emailTo = read('VOICEMAIL_EMAIL_TO');
    if (emailTo !== undefined && !EMAIL_ADDRESS.test(emailTo)) {
        problems.push('VOICEMAIL_EMAIL_TO must be an e-mail address such as voicemail@contoso.com');
    }
    const allowed = (read('VOICEMAIL_EMAIL_ALLOWED') ?? '')
        .split(',')
        .map((entry) => entry.trim().toLowerCase())
        .filter((entry) => entry !== '');
    if (allowed.some((entry) => !EMAIL_ADDRESS.test(entry.startsWith('@') ? `x${entry}` : entry))) {
        problems.push(
            'VOICEMAIL_EMAIL_ALLOWED must be a comma-separated list of e-mail addresses (a@contoso.com) or domains (@contoso.com)',
        );
    }
    return {
        notifyNumber: notifyNumber !== undefined && E164.test(notifyNumber) ? notifyNumber : undefined,
        emailTo: emailTo?.toLowerCase(),
        emailAllowed: [...new Set(allowed)],
    };
}

/**
 * `EMAIL_ENDPOINT` and `EMAIL_SENDER`, set together. The endpoint gets the app's bearer token, so it is
 * https, or http on a loopback host only (a local stand-in).
 */
function emailSettings(
    read: (name: string) => string | undefined,
    problems: string[],
): EmailSettings | undefined {
    const endpointSetting = read('EMAIL_ENDPOINT');
    const sender = read('EMAIL_SENDER');
    if (sender !== undefined && !EMAIL_ADDRESS.test(sender)) {
        problems.push("EMAIL_SENDER must be an e-mail address (a MailFrom address of the resource's domain)");
    }
    if ((endpointSetting === undefined) !== (sender === undefined)) {
        problems.push('EMAIL_ENDPOINT and EMAIL_SENDER must be set together (or neither, for no e-mail)');
        return undefined;
    }
    const endpoint = checkUrl(endpointSetting, 'EMAIL_ENDPOINT', problems, ['https:', 'http:']);
    if (endpoint === undefined || sender === undefined) return undefined;
    const url = new URL(endpoint);
    if (url.protocol === 'http:' && !/^(localhost|127(\.\d{1,3}){3}|\[::1\])$/.test(url.hostname)) {
        problems.push('EMAIL_ENDPOINT must use https (http only on a loopback host, for a local stand-in)');
        return undefined;
    }
    if (url.pathname !== '/' && url.pathname !== '') {
        problems.push(
            'EMAIL_ENDPOINT must be the resource endpoint alone, e.g. https://<resource>.communication.azure.com',
        );
        return undefined;
    }
    return EMAIL_ADDRESS.test(sender) ? { endpoint, sender } : undefined;
}

/** `INBOUND_MEDIA_QUEUE`, `MEDIA_CONTAINER` and `DELETE_MEDIA_AFTER_COPY`. */
function mediaSettings(read: (name: string) => string | undefined, problems: string[]): AppConfig['media'] {
    const queue = read('INBOUND_MEDIA_QUEUE') ?? DEFAULT_INBOUND_MEDIA_QUEUE;
    if (!POISONABLE_QUEUE_NAME.test(queue)) {
        problems.push(
            'INBOUND_MEDIA_QUEUE must be a storage queue name of 3-56 lowercase letters, digits and single dashes (its poison queue adds "-poison")',
        );
    }
    const container = read('MEDIA_CONTAINER') ?? DEFAULT_MEDIA_CONTAINER;
    if (!CONTAINER_NAME.test(container)) {
        problems.push(
            'MEDIA_CONTAINER must be a blob container name: 3-63 lowercase letters, digits and single dashes',
        );
    }
    const deleteAfterCopy = checkBoolean(read, 'DELETE_MEDIA_AFTER_COPY', problems);
    return { queue, container, deleteAfterCopy };
}

/**
 * `AzureWebJobsStorage` as the Functions host reads it: a connection string, or an identity-based
 * connection (`AzureWebJobsStorage__accountName`, or the `__queueServiceUri` and `__tableServiceUri` pair,
 * with `__blobServiceUri` for the media container)
 * with the identity its `__credential`, `__clientId` and `__managedIdentityResourceId` name.
 */
function storageConnection(
    read: (name: string) => string | undefined,
    problems: string[],
): { connection: StorageConnection; identity: AzureIdentity | undefined } | undefined {
    const connectionString = read('AzureWebJobsStorage');
    if (connectionString !== undefined) {
        // As in the host: a value under the connection's own name is a connection string, and the `__`
        // settings beside it are not part of the connection.
        return { connection: { kind: 'connectionString', connectionString }, identity: undefined };
    }
    const identity = storageIdentity(read, problems);
    const account = read('AzureWebJobsStorage__accountName');
    // Bearer tokens are only ever sent over https (the storage SDKs refuse anything else).
    const queueUri = checkUrl(
        read('AzureWebJobsStorage__queueServiceUri'),
        'AzureWebJobsStorage__queueServiceUri',
        problems,
        ['https:'],
    );
    const tableUri = checkUrl(
        read('AzureWebJobsStorage__tableServiceUri'),
        'AzureWebJobsStorage__tableServiceUri',
        problems,
        ['https:'],
    );
    const blobUri = checkUrl(
        read('AzureWebJobsStorage__blobServiceUri'),
        'AzureWebJobsStorage__blobServiceUri',
        problems,
        ['https:'],
    );
    if (account !== undefined) {
        if (!/^[a-z0-9]{3,24}$/.test(account)) {
            problems.push(
                'AzureWebJobsStorage__accountName must be a storage account name (3-24 lowercase letters and digits)',
            );
            return undefined;
        }
        return {
            connection: {
                kind: 'identity',
                queueServiceUrl: queueUri ?? `https://${account}.queue.core.windows.net`,
                tableServiceUrl: tableUri ?? `https://${account}.table.core.windows.net`,
                blobServiceUrl: blobUri ?? `https://${account}.blob.core.windows.net`,
            },
            identity: identity.value,
        };
    }
    const queueSet = read('AzureWebJobsStorage__queueServiceUri') !== undefined;
    const tableSet = read('AzureWebJobsStorage__tableServiceUri') !== undefined;
    if (queueSet || tableSet) {
        if (!queueSet || !tableSet) {
            problems.push(
                'AzureWebJobsStorage__queueServiceUri and AzureWebJobsStorage__tableServiceUri must be set together (or set AzureWebJobsStorage__accountName)',
            );
            return undefined;
        }
        // An invalid URI has its own problem already.
        if (queueUri === undefined || tableUri === undefined) return undefined;
        return {
            connection: {
                kind: 'identity',
                queueServiceUrl: queueUri,
                tableServiceUrl: tableUri,
                blobServiceUrl: blobUri,
            },
            identity: identity.value,
        };
    }
    if (identity.named !== undefined) {
        problems.push(
            `${identity.named} is set but the storage account is not: set AzureWebJobsStorage__accountName (or the service URIs), or AzureWebJobsStorage`,
        );
    }
    return undefined;
}

/**
 * The identity of an identity-based `AzureWebJobsStorage`, by the host's rules: `__credential` =
 * `managedidentity` (any case) means the app's managed identity, the user-assigned one named by
 * `__clientId` or `__managedIdentityResourceId` (never both) or else the system-assigned one; without
 * `__credential`, `DefaultAzureCredential` (the developer's own sign-in locally), given the named identity.
 */
function storageIdentity(
    read: (name: string) => string | undefined,
    problems: string[],
): { value: AzureIdentity; named: string | undefined } {
    const credential = read('AzureWebJobsStorage__credential');
    const clientId = read('AzureWebJobsStorage__clientId');
    const resourceId = read('AzureWebJobsStorage__managedIdentityResourceId');
    if (credential !== undefined && credential.toLowerCase() !== 'managedidentity') {
        problems.push(
            'AzureWebJobsStorage__credential must be "managedidentity", or unset for DefaultAzureCredential (your own sign-in locally)',
        );
    }
    if (clientId !== undefined && !GUID.test(clientId)) {
        problems.push(
            'AzureWebJobsStorage__clientId must be a GUID (the client ID of a user-assigned managed identity)',
        );
    }
    if (resourceId !== undefined && !IDENTITY_RESOURCE_ID.test(resourceId)) {
        problems.push(
            'AzureWebJobsStorage__managedIdentityResourceId must be the resource ID of a user-assigned identity (/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.ManagedIdentity/userAssignedIdentities/<name>)',
        );
    }
    if (clientId !== undefined && resourceId !== undefined) {
        problems.push(
            'AzureWebJobsStorage__clientId and AzureWebJobsStorage__managedIdentityResourceId both name an identity: set one of them',
        );
    }
    const named =
        credential === undefined
            ? clientId === undefined
                ? resourceId === undefined
                    ? undefined
                    : 'AzureWebJobsStorage__managedIdentityResourceId'
                : 'AzureWebJobsStorage__clientId'
            : 'AzureWebJobsStorage__credential';
    return {
        value: { kind: credential === undefined ? 'default' : 'managedIdentity', clientId, resourceId },
        named,
    };
}

/**
 * Key Vault is read as the identity storage uses, so that both share one credential and one token cache;
 * `AZURE_CLIENT_ID` names another user-assigned identity for it (a managed identity in Azure, where storage
 * goes through one; `DefaultAzureCredential`'s managed identity otherwise, as before identity-based storage).
 */
function keyVaultIdentityFor(
    storage: AzureIdentity | undefined,
    azureClientId: string | undefined,
): AzureIdentity {
    if (azureClientId === undefined) {
        return storage ?? { kind: 'default', clientId: undefined, resourceId: undefined };
    }
    return {
        kind: storage?.kind === 'managedIdentity' ? 'managedIdentity' : 'default',
        clientId: azureClientId,
        resourceId: undefined,
    };
}

/**
 * `TWILIO_API_KEY_SID` and where its secret is: Key Vault (`TWILIO_API_KEY_SECRET_NAME`) when a vault is
 * configured, else the `TWILIO_API_KEY_SECRET` setting (local runs). A key that cannot be used is a
 * ConfigError rather than a silent fall-back to the auth token.
 */
function apiKeySource(
    read: (name: string) => string | undefined,
    vault: { url: string | undefined; configured: boolean },
    accountSid: string | undefined,
    problems: string[],
): ApiKeySource | undefined {
    const sid = read('TWILIO_API_KEY_SID');
    const namedSecret = read('TWILIO_API_KEY_SECRET_NAME');
    const secret = read('TWILIO_API_KEY_SECRET');
    if (namedSecret !== undefined && !SECRET_NAME.test(namedSecret)) {
        problems.push('TWILIO_API_KEY_SECRET_NAME must be 1-127 letters, digits or dashes');
    }
    if (secret?.startsWith('@Microsoft.KeyVault(')) {
        problems.push(
            'TWILIO_API_KEY_SECRET holds an unresolved Key Vault reference: grant the app identity "get" on the secret, or set KEY_VAULT_URL',
        );
    }
    if (sid === undefined) {
        // A secret without its key is a key half configured; a secret name alone is as harmless as the default.
        if (secret !== undefined) {
            problems.push(
                'TWILIO_API_KEY_SID must be set with TWILIO_API_KEY_SECRET (the key the secret belongs to)',
            );
        }
        return undefined;
    }
    if (!API_KEY_SID.test(sid)) {
        problems.push('TWILIO_API_KEY_SID must be "SK" followed by 32 hexadecimal characters');
        return undefined;
    }
    if (accountSid === undefined) {
        problems.push(
            'TWILIO_ACCOUNT_SID is required with TWILIO_API_KEY_SID (an API key acts for an account)',
        );
    }
    if (vault.url !== undefined) {
        return {
            kind: 'keyVault',
            sid,
            vaultUrl: vault.url,
            secretName: namedSecret ?? DEFAULT_API_KEY_SECRET_NAME,
        };
    }
    if (secret !== undefined) return { kind: 'setting', sid, secret };
    // An invalid KEY_VAULT_URL has its own problem; this one would only repeat it.
    if (!vault.configured) {
        problems.push(
            'TWILIO_API_KEY_SID needs its secret: set KEY_VAULT_URL (the vault holding TWILIO_API_KEY_SECRET_NAME), or TWILIO_API_KEY_SECRET locally',
        );
    }
    return undefined;
}

/**
 * The public origin App Service gives the app: `https://` + `WEBSITE_HOSTNAME` (the default host name,
 * `<app>.azurewebsites.net`, always served over https). Azure Functions Core Tools sets `WEBSITE_HOSTNAME`
 * too, to `localhost:<port>`, served over http or, with `--useHttps`, https: no scheme is right for every
 * case, and the request URL Core Tools passes is exactly what a local caller used, so a loopback host name
 * is not taken as an origin. Deciding by the host name rather than by another variable only Azure sets
 * keeps the rule to the one variable that says what it means.
 */
function platformOrigin(hostname: string | undefined, problems: string[]): string | undefined {
    if (hostname === undefined) return undefined;
    const [name = '', port, ...more] = hostname.toLowerCase().split(':');
    if (!HOST_NAME.test(name) || more.length > 0 || (port !== undefined && !/^\d{1,5}$/.test(port))) {
        problems.push(
            'WEBSITE_HOSTNAME must be a host name (as App Service sets it); set PUBLIC_BASE_URL to the origin Twilio calls',
        );
        return undefined;
    }
    if (name === 'localhost' || name.endsWith('.localhost') || /^127(\.\d{1,3}){3}$/.test(name))
        return undefined;
    return `https://${hostname}`;
}

/** A comma-separated list of host names (no scheme, port, path or wildcard), lowercased. */
function hostList(value: string | undefined, name: string, problems: string[]): readonly string[] {
    if (value === undefined) return [];
    const hosts = value.split(',').map((host) => host.trim().toLowerCase());
    if (hosts.some((host) => !HOST_NAME.test(host))) {
        problems.push(
            `${name} must be a comma-separated list of host names without scheme, port, path or wildcard, e.g. "www.contoso.com,api.contoso.com"`,
        );
        return [];
    }
    return [...new Set(hosts)];
}

function checkUrl(
    value: string | undefined,
    name: string,
    problems: string[],
    protocols: readonly string[],
): string | undefined {
    if (value === undefined) return undefined;
    let url: URL;
    try {
        url = new URL(value);
    } catch {
        problems.push(`${name} must be an absolute URL (got an unparsable value)`);
        return undefined;
    }
    if (!protocols.includes(url.protocol)) {
        problems.push(`${name} must use ${protocols.join(' or ')}`);
        return undefined;
    }
    if (url.search !== '' || url.hash !== '') {
        problems.push(`${name} must not have a query string or fragment`);
        return undefined;
    }
    // Kept as written (minus a trailing slash): the URL Twilio signs is this text, not a normalised form.
    return value.replace(/\/+$/, '');
}

/** Setting `name` as a whole number in `range`, `fallback` when unset; out of range is a problem. */
function checkInteger(
    read: (name: string) => string | undefined,
    name: string,
    fallback: number,
    range: { min: number; max: number },
    problems: string[],
): number {
    const value = read(name);
    if (value === undefined) return fallback;
    const parsed = /^\d+$/.test(value) ? Number(value) : NaN;
    if (!Number.isSafeInteger(parsed) || parsed < range.min || parsed > range.max) {
        problems.push(`${name} must be a whole number from ${range.min} to ${range.max}`);
        return fallback;
    }
    return parsed;
}

/** Setting `name` as `true` / `false` (any case), false when unset; anything else is a problem. */
function checkBoolean(read: (name: string) => string | undefined, name: string, problems: string[]): boolean {
    const value = (read(name) ?? 'false').toLowerCase();
    if (value !== 'true' && value !== 'false') problems.push(`${name} must be "true" or "false"`);
    return value === 'true';
}

let cached: { config: AppConfig } | { error: ConfigError } | undefined;

/**
 * The process-wide configuration, parsed from `process.env` on first use and cached, including a
 * failure: settings do not change while a worker runs, so a broken configuration is reported the same
 * way on every invocation instead of being re-parsed.
 */
export function getConfig(): AppConfig {
    if (cached === undefined) {
        try {
            cached = { config: parseConfig(process.env) };
        } catch (error) {
            if (!(error instanceof ConfigError)) throw error;
            cached = { error };
        }
    }
    if ('error' in cached) throw cached.error;
    return cached.config;
}

/** Forgets the cached configuration so the next {@link getConfig} reads the environment again. */
export function resetConfig(): void {
    cached = undefined;
}
