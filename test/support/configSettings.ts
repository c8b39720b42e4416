import { parseConfig } from '../../shared/platform/config';

/**
 * Every setting name shared/platform/config.ts reads, seen by handing `parseConfig` environments that record each
 * name asked for: the local defaults, a deployed (identity, Key Vault, API key) configuration and a
 * connection-string one, so settings read on only one branch are seen too. An invalid combination is fine:
 * the names are recorded before validation fails.
 */
export function settingsReadByConfig(): string[] {
    const seen = new Set<string>();
    const envs: Record<string, string>[] = [
        {},
        {
            AzureWebJobsStorage__accountName: 'stapp',
            AzureWebJobsStorage__credential: 'managedidentity',
            AzureWebJobsStorage__clientId: '00000000-0000-0000-0000-000000000001',
            AZURE_CLIENT_ID: '00000000-0000-0000-0000-000000000001',
            KEY_VAULT_URL: 'https://kv.vault.azure.net',
            TWILIO_ACCOUNT_SID: `AC${'0'.repeat(32)}`,
            TWILIO_API_KEY_SID: `SK${'0'.repeat(32)}`,
            WEBSITE_HOSTNAME: 'app.azurewebsites.net',
        },
        {
            AzureWebJobsStorage: 'UseDevelopmentStorage=true',
            TWILIO_AUTH_TOKEN: 'x',
            TWILIO_API_KEY_SID: `SK${'0'.repeat(32)}`,
        },
    ];
    for (const values of envs) {
        const env = new Proxy(values, {
            get(target, name) {
                if (typeof name === 'string') seen.add(name);
                return typeof name === 'string' ? target[name] : undefined;
            },
        });
        try {
            parseConfig(env);
        } catch {
            // Only the names matter here.
        }
    }
    return [...seen].sort();
}
