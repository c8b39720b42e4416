/**
 * A stand-in for `@azure/functions-core`, the module the Functions worker provides to `@azure/functions`.
 * Tests install it (as a virtual module) so that `app.http(...)` registers with it, as it does with the
 * real worker, and the registered metadata can be asserted.
 */

export interface Registration {
    metadata: {
        name: string;
        bindings: Record<string, { type: string; direction: string; [key: string]: unknown }>;
        [key: string]: unknown;
    };
    callback: (...args: unknown[]) => unknown;
}

export const registrations: Registration[] = [];

export const functionsCore = {
    version: 'test',
    hostVersion: 'test',
    setProgrammingModel: (): void => undefined,
    registerFunction: (metadata: Registration['metadata'], callback: Registration['callback']) => {
        registrations.push({ metadata, callback });
        return { dispose: () => undefined };
    },
    registerHook: () => ({ dispose: () => undefined }),
    log: (): void => undefined,
};

/** The trigger binding of the function registered as `name`. */
export function triggerOf(name: string): Record<string, unknown> {
    const registration = registrations.find((r) => r.metadata.name === name);
    if (registration === undefined) throw new Error(`No function registered as ${name}`);
    const trigger = Object.values(registration.metadata.bindings).find((b) => b.type.endsWith('Trigger'));
    if (trigger === undefined) throw new Error(`Function ${name} has no trigger binding`);
    return trigger;
}
