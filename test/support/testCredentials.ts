import twilio, { type Twilio } from 'twilio';
import RestException from 'twilio/lib/base/RestException';
import { startTwilioSandbox, generateTestCredentials, type TwilioSandbox } from '../../local/sandbox/sandbox';
import { createStaticSecretProvider } from '../../shared/platform/secrets';
import { createTwilioClientFactory } from '../../shared/platform/twilioClient';

/**
 * For the tests of Twilio's test-credential numbers that also run against Twilio: with
 * `TWILIO_TEST_ACCOUNT_SID` and `TWILIO_TEST_AUTH_TOKEN` set to an account's *test* credentials, their
 * first block talks to api.twilio.com instead of the sandbox (free: test credentials send and place
 * nothing); the sandbox's own blocks are then skipped ({@link sandboxOnly}).
 */

const TEST_SID = process.env.TWILIO_TEST_ACCOUNT_SID ?? '';
const TEST_TOKEN = process.env.TWILIO_TEST_AUTH_TOKEN ?? '';

/** Whether the test credentials are set: the blocks that Twilio answers alike run against Twilio. */
export const AGAINST_TWILIO = TEST_SID !== '' && TEST_TOKEN !== '';

/** `describe` for the sandbox's own behaviour: skipped when running against Twilio. */
export const sandboxOnly = AGAINST_TWILIO ? describe.skip : describe;

/**
 * A sandbox (callbacks without delay, its requests to `fetch`) and the real `twilio` client the tests
 * create with: on Twilio's test credentials when they are set, else on the sandbox through the app's own
 * client factory.
 */
export async function startTestCredentialSandbox(
    fetch: typeof globalThis.fetch,
): Promise<{ sandbox: TwilioSandbox; client: Twilio }> {
    const sandbox = await startTwilioSandbox({ ...generateTestCredentials(), callbackDelayMs: 0, fetch });
    const client = AGAINST_TWILIO
        ? twilio(TEST_SID, TEST_TOKEN)
        : await createTwilioClientFactory({
              accountSid: sandbox.accountSid,
              secrets: createStaticSecretProvider(sandbox.authToken),
              apiUrl: sandbox.url,
          }).get();
    return { sandbox, client };
}

/** What the create was refused with (fails the test when it succeeded). */
export async function refusal(create: Promise<unknown>): Promise<RestException> {
    const error = await create.then(
        () => undefined,
        (rejected: unknown) => rejected,
    );
    expect(error).toBeInstanceOf(RestException);
    return error as RestException;
}
