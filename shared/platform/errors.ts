/** A setting is missing or invalid; the message names every one at fault. */
export class ConfigError extends Error {
    override readonly name = 'ConfigError';
    readonly problems: readonly string[];

    constructor(problems: readonly string[]) {
        super(`Invalid configuration: ${problems.join('; ')}`);
        this.problems = problems;
    }
}

/** The Twilio auth token could not be obtained (Key Vault unreachable, secret missing, no setting). */
export class SecretUnavailableError extends Error {
    override readonly name = 'SecretUnavailableError';
}
