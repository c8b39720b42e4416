/**
 * Child process for moduleLoad.test.ts: loads every function file as the worker would (with the
 * `@azure/functions-core` shim installed first), reports which packages and app modules are loaded, then
 * serves one signed voice webhook and reports again. Prints one JSON line.
 */

import { readdirSync } from 'node:fs';
import path from 'node:path';
import { createFunctionsCore, installFunctionsCore } from '../../local/host/functionsCore';

const root = path.resolve(__dirname, '..', '..');

function loadedPackages(): string[] {
    const names = new Set<string>();
    for (const file of Object.keys(require.cache)) {
        const match = /node_modules[\\/]((?:@[^\\/]+[\\/])?[^\\/]+)[\\/](.*)$/.exec(file);
        if (match === null) continue;
        const [, pkg = '', rest = ''] = match;
        // twilio's light deep modules are reported apart from its REST client.
        if (pkg === 'twilio') names.add(`twilio/${rest.split(/[\\/]/).slice(0, 2).join('/')}`);
        else names.add(pkg.replace(/\\/g, '/'));
    }
    return [...names].sort();
}

/** The app's own modules loaded so far, as repo paths without extension (`shared/api/send`). */
function loadedAppModules(): string[] {
    return Object.keys(require.cache)
        .filter((file) => !file.includes(`${path.sep}node_modules${path.sep}`) && file.startsWith(root))
        .map((file) =>
            path
                .relative(root, file)
                .replace(/\\/g, '/')
                .replace(/\.[jt]s$/, ''),
        )
        .sort();
}

async function main(): Promise<void> {
    const shim = createFunctionsCore(() => undefined);
    installFunctionsCore(shim);
    for (const file of readdirSync(path.join(root, 'functions')).filter((f) => f.endsWith('.ts'))) {
        // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded as the worker loads entries
        require(path.join(root, 'functions', file));
    }
    const atLoad = loadedPackages();
    const appAtLoad = loadedAppModules();

    const { HttpRequest, InvocationContext } = await import('@azure/functions');
    const voice = shim.functions.find((f) => f.name === 'voice');
    if (voice === undefined) throw new Error('voice is not registered');
    const { twilioSignature } = await import('../support/webhooks');
    const url = 'https://example.com/api/voice';
    const request = new HttpRequest({
        method: 'POST',
        url,
        headers: {
            'content-type': 'application/x-www-form-urlencoded',
            'x-twilio-signature': twilioSignature(process.env.TWILIO_AUTH_TOKEN ?? '', url, {
                CallSid: 'CA1',
            }),
        },
        body: { string: 'CallSid=CA1' },
    });
    const response = (await voice.handler(
        request,
        new InvocationContext({ logHandler: () => undefined }),
    )) as {
        status?: number;
    };
    console.log(
        JSON.stringify({
            atLoad,
            appAtLoad,
            afterVoice: loadedPackages(),
            appAfterVoice: loadedAppModules(),
            status: response.status ?? 200,
        }),
    );
}

main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
});
