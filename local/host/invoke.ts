/**
 * Runs one function invocation the way the worker does: a fresh `InvocationContext` whose log calls are
 * written as Core Tools writes them, the handler awaited, and its outcome logged.
 */

import { randomUUID } from 'node:crypto';
import { formatWithOptions } from 'node:util';
import type * as AzureFunctions from '@azure/functions';
import type { CoreBinding, RegisteredFunction } from './functionsCore';

export type FunctionsLibrary = typeof AzureFunctions;

export type HostLogger = (level: AzureFunctions.LogLevel, message: string) => void;

export interface Invocation {
    readonly context: AzureFunctions.InvocationContext;
    readonly result: unknown;
}

/** The function's trigger, return and extra bindings, as the library's `InvocationContext.options` has them. */
export function optionsOf(fn: RegisteredFunction): AzureFunctions.EffectiveFunctionOptions {
    const bindings = Object.entries(fn.metadata.bindings);
    const trigger = bindings.find(([, b]) => b.direction === 'in' && b.type.endsWith('Trigger'));
    if (trigger === undefined) throw new Error(`Function "${fn.name}" has no trigger`);
    const named = ([name, binding]: [string, CoreBinding]) => ({ ...binding, name });
    const returnBinding = bindings.find(([name]) => name === '$return');
    return {
        trigger: named(trigger),
        return: returnBinding === undefined ? undefined : named(returnBinding),
        extraInputs: bindings.filter(([name, b]) => b.direction === 'in' && name !== trigger[0]).map(named),
        extraOutputs: bindings.filter(([name, b]) => b.direction === 'out' && name !== '$return').map(named),
    };
}

/**
 * Invokes `fn` with `args`. The handler's exception propagates after it is logged, so each trigger decides
 * what a failure means (500 for HTTP, a retry for a queue message).
 */
export async function invoke(
    lib: FunctionsLibrary,
    fn: RegisteredFunction,
    trigger: {
        reason: string;
        args: unknown[];
        triggerMetadata?: Record<string, unknown>;
        /** Turns the handler's return value into the trigger's result; throwing fails the invocation. */
        convertResult?: (value: unknown) => unknown;
    },
    log: HostLogger,
): Promise<Invocation> {
    const invocationId = randomUUID();
    const started = process.hrtime.bigint();
    const context = new lib.InvocationContext({
        invocationId,
        functionName: fn.name,
        options: optionsOf(fn),
        triggerMetadata: trigger.triggerMetadata,
        logHandler: (level, ...args) => {
            log(level, `[${fn.name}] ${formatWithOptions({ colors: false }, ...args)}`);
        },
    });
    log('information', `Executing 'Functions.${fn.name}' (Reason='${trigger.reason}', Id=${invocationId})`);
    const elapsed = () => `${Math.round(Number(process.hrtime.bigint() - started) / 1e6)}ms`;
    try {
        const returned = await fn.handler(...trigger.args, context);
        const result = trigger.convertResult === undefined ? returned : trigger.convertResult(returned);
        log(
            'information',
            `Executed 'Functions.${fn.name}' (Succeeded, Id=${invocationId}, Duration=${elapsed()})`,
        );
        return { context, result };
    } catch (error) {
        log(
            'error',
            `Executed 'Functions.${fn.name}' (Failed, Id=${invocationId}, Duration=${elapsed()})\n${formatError(error)}`,
        );
        throw error;
    }
}

function formatError(error: unknown): string {
    return error instanceof Error ? (error.stack ?? `${error.name}: ${error.message}`) : String(error);
}
