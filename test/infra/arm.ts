/**
 * A small evaluator for the ARM JSON that Bicep compiles `infra/main.bicep` to, so tests can ask what a
 * deployment with given parameters would create: every resource (nested deployments, `copy` loops and
 * `condition`s expanded) with its name, scope and properties, and the template's outputs.
 *
 * Values that only exist after deployment (`reference(...)` of a resource: an identity's client id, the
 * vault URI, the site's host name) are deterministic placeholders of the documented shapes. A function
 * the evaluator does not know is an error, never a guess.
 */

import { createHash } from 'node:crypto';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = Record<string, Json>;

export interface ArmTemplate {
    parameters?: Record<string, { type: string; defaultValue?: Json }>;
    variables?: JsonObject;
    resources: ArmResource[] | Record<string, ArmResource>;
    outputs?: Record<string, { type: string; value: Json }>;
}

interface ArmResource {
    type: string;
    apiVersion: string;
    name: Json;
    condition?: Json;
    scope?: Json;
    resourceGroup?: Json;
    copy?: { name: string; count: Json };
    properties?: Json;
    [key: string]: Json | undefined;
}

/** A resource the deployment creates. */
export interface Deployed {
    readonly type: string;
    /** Full name, e.g. `st123/default/twilio-outbound` for a queue. */
    readonly name: string;
    readonly id: string;
    /** The resource id of the `scope` of an extension resource (a role assignment), when set. */
    readonly scope: string | undefined;
    /** Every other field of the resource, evaluated. */
    readonly body: JsonObject;
    /** The nested deployments it is in, outermost first. */
    readonly deployment: readonly string[];
}

export interface Evaluated {
    readonly resources: readonly Deployed[];
    readonly outputs: Readonly<Record<string, Json>>;
}

export const SUBSCRIPTION_ID = '00000000-0000-4000-8000-000000000001';
export const TENANT_ID = '00000000-0000-4000-8000-000000000002';

/** Evaluates a subscription-scope template deployed with `parameters`. */
export function evaluate(template: ArmTemplate, parameters: Record<string, Json>): Evaluated {
    const resources: Deployed[] = [];
    const scope = new Scope(template, parameters, undefined, [], resources);
    scope.deployAll();
    return { resources, outputs: scope.outputs() };
}

/** A deterministic GUID derived from `parts`, like ARM's `guid()` (not the same values). */
export function placeholderGuid(...parts: string[]): string {
    const hex = createHash('sha256').update(parts.join('|')).digest('hex');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** The runtime properties `reference()` returns for a resource of `type`, as placeholders. */
export function runtimeProperties(type: string, name: string, id: string): JsonObject {
    switch (type.toLowerCase()) {
        case 'microsoft.managedidentity/userassignedidentities':
            return {
                clientId: placeholderGuid('clientId', id),
                principalId: placeholderGuid('principalId', id),
                tenantId: TENANT_ID,
            };
        case 'microsoft.keyvault/vaults':
            return { vaultUri: `https://${name}.vault.azure.net/` };
        case 'microsoft.web/sites':
            // Unique default host names are not derivable from the app name.
            return { defaultHostName: `${name}-h7fgb2c9d3e4a5b6.westus3-01.azurewebsites.net` };
        case 'microsoft.insights/components':
            return {
                ConnectionString: `InstrumentationKey=${placeholderGuid('ikey', id)};IngestionEndpoint=https://westus3-1.in.applicationinsights.azure.com/`,
            };
        case 'microsoft.storage/storageaccounts':
            return {
                primaryEndpoints: {
                    blob: `https://${name}.blob.core.windows.net/`,
                    queue: `https://${name}.queue.core.windows.net/`,
                    table: `https://${name}.table.core.windows.net/`,
                },
            };
        default:
            throw new Error(`arm: no placeholder runtime properties for ${type}`);
    }
}

/** Splits a resource id into its provider type and full name (`/providers/A.B/c/x/d/y` → `A.B/c/d`, `x/y`). */
export function parseResourceId(id: string): { type: string; name: string } {
    const at = id.toLowerCase().lastIndexOf('/providers/');
    if (at === -1) throw new Error(`arm: not a provider resource id: ${id}`);
    const [namespace = '', ...rest] = id.slice(at + '/providers/'.length).split('/');
    const types: string[] = [];
    const names: string[] = [];
    for (let i = 0; i < rest.length; i += 2) {
        types.push(rest[i] ?? '');
        names.push(rest[i + 1] ?? '');
    }
    return { type: [namespace, ...types].join('/'), name: names.join('/') };
}

function resourceIdOf(prefix: string, type: string, names: readonly string[]): string {
    const [namespace = '', ...types] = type.split('/');
    if (types.length !== names.length) {
        throw new Error(`arm: resource id of ${type} needs ${types.length} names, got ${names.length}`);
    }
    return `${prefix}/providers/${namespace}/${types.map((t, i) => `${t}/${names[i] ?? ''}`).join('/')}`;
}

class Scope {
    private readonly variableCache = new Map<string, Json>();
    private readonly deploymentCache = new Map<string, Scope>();
    private readonly parameterValues: Record<string, Json>;
    private copyIndex: number | undefined;

    constructor(
        private readonly template: ArmTemplate,
        given: Record<string, Json>,
        /** The resource group the template deploys into; undefined at subscription scope. */
        private readonly resourceGroup: string | undefined,
        private readonly path: readonly string[],
        private readonly sink: Deployed[],
    ) {
        this.parameterValues = {};
        for (const name of Object.keys(given)) {
            if (template.parameters?.[name] === undefined) throw new Error(`arm: unknown parameter ${name}`);
        }
        for (const [name, definition] of Object.entries(template.parameters ?? {})) {
            if (name in given) {
                this.parameterValues[name] = given[name] ?? null;
            } else if (definition.defaultValue !== undefined) {
                this.parameterValues[name] = this.value(definition.defaultValue);
            } else {
                throw new Error(`arm: parameter ${name} has no value and no default (${path.join('/')})`);
            }
        }
    }

    private get prefix(): string {
        const subscription = `/subscriptions/${SUBSCRIPTION_ID}`;
        return this.resourceGroup === undefined
            ? subscription
            : `${subscription}/resourceGroups/${this.resourceGroup}`;
    }

    private resources(): ArmResource[] {
        const { resources } = this.template;
        return Array.isArray(resources) ? resources : Object.values(resources);
    }

    /** Evaluates every resource of this template (and of the deployments it nests) into the sink. */
    deployAll(): void {
        for (const resource of this.resources()) {
            const count = resource.copy === undefined ? 1 : toNumber(this.value(resource.copy.count));
            for (let index = 0; index < count; index++) {
                this.copyIndex = resource.copy === undefined ? undefined : index;
                if (resource.condition !== undefined && this.value(resource.condition) !== true) continue;
                this.deployOne(resource);
            }
            this.copyIndex = undefined;
        }
    }

    private deployOne(resource: ArmResource): void {
        const name = toText(this.value(resource.name));
        const body: JsonObject = {};
        for (const [key, field] of Object.entries(resource)) {
            if (['name', 'condition', 'copy', 'scope', 'dependsOn'].includes(key) || field === undefined)
                continue;
            body[key] =
                key === 'properties' && resource.type === 'Microsoft.Resources/deployments'
                    ? {}
                    : this.value(field);
        }
        const scope = resource.scope === undefined ? undefined : toText(this.value(resource.scope));
        const id = resourceIdOf(this.prefix, resource.type, name.split('/'));
        this.sink.push({
            type: resource.type,
            name,
            id,
            scope: scope === undefined ? undefined : this.absolute(scope),
            body,
            deployment: this.path,
        });
        if (resource.type === 'Microsoft.Resources/deployments') this.nested(resource, name).deployAll();
    }

    /** Bicep writes an extension resource's scope as `Type/name` or a full id; both become a full id. */
    private absolute(scope: string): string {
        if (scope.startsWith('/')) return scope;
        const parts = scope.split('/');
        const [namespace = '', ...rest] = parts;
        const types = rest.filter((_, i) => i % 2 === 0);
        const names = rest.filter((_, i) => i % 2 === 1);
        return resourceIdOf(this.prefix, [namespace, ...types].join('/'), names);
    }

    private nested(resource: ArmResource, name: string): Scope {
        const cached = this.deploymentCache.get(name);
        if (cached !== undefined) return cached;
        const properties = resource.properties as JsonObject;
        const options = properties.expressionEvaluationOptions as JsonObject | undefined;
        if (options?.scope !== 'inner') throw new Error(`arm: deployment ${name} is not inner-scoped`);
        const given: Record<string, Json> = {};
        for (const [key, entry] of Object.entries(
            (properties.parameters ?? {}) as Record<string, JsonObject>,
        )) {
            given[key] = this.value(entry.value ?? null);
        }
        const group =
            resource.resourceGroup === undefined
                ? this.resourceGroup
                : toText(this.value(resource.resourceGroup));
        const scope = new Scope(
            properties.template as unknown as ArmTemplate,
            given,
            group,
            [...this.path, name],
            this.sink,
        );
        this.deploymentCache.set(name, scope);
        return scope;
    }

    outputs(): Record<string, Json> {
        const result: Record<string, Json> = {};
        for (const [name, output] of Object.entries(this.template.outputs ?? {})) {
            result[name] = this.value(output.value);
        }
        return result;
    }

    /** Deeply evaluates a template value: expression strings anywhere, object keys included. */
    value(input: Json): Json {
        if (typeof input === 'string') return this.expressionString(input);
        if (Array.isArray(input)) return input.map((item) => this.value(item));
        if (input !== null && typeof input === 'object') {
            const result: JsonObject = {};
            for (const [key, item] of Object.entries(input)) {
                result[toText(this.expressionString(key))] = this.value(item);
            }
            return result;
        }
        return input;
    }

    private expressionString(text: string): Json {
        if (text.startsWith('[[')) return text.slice(1);
        if (text.startsWith('[') && text.endsWith(']')) {
            const parser = new Parser(text.slice(1, -1));
            const node = parser.parse();
            return this.run(node);
        }
        return text;
    }

    private run(node: Node): Json {
        switch (node.kind) {
            case 'literal':
                return node.value;
            case 'member': {
                const target = this.run(node.target);
                const key = this.run(node.key);
                if (isListResult(target)) return target;
                if (Array.isArray(target))
                    return target[toNumber(key)] ?? fail(`arm: index ${formatValue(key)} out of range`);
                if (target !== null && typeof target === 'object') {
                    const k = toText(key);
                    if (!Object.prototype.hasOwnProperty.call(target, k))
                        throw new Error(`arm: no property ${k} in ${JSON.stringify(target).slice(0, 200)}`);
                    return target[k];
                }
                throw new Error(`arm: cannot read ${formatValue(key)} of ${JSON.stringify(target)}`);
            }
            case 'call':
                return this.call(node.name.toLowerCase(), node.args);
        }
    }

    private call(name: string, argNodes: readonly Node[]): Json {
        // `if` evaluates only the branch it takes, as ARM does.
        if (name === 'if') {
            const [condition, whenTrue, whenFalse] = argNodes;
            if (condition === undefined || whenTrue === undefined || whenFalse === undefined)
                throw new Error('arm: if() needs 3 arguments');
            return this.run(condition) === true ? this.run(whenTrue) : this.run(whenFalse);
        }
        const args = argNodes.map((arg) => this.run(arg));
        const text = (i: number) => toText(args[i] ?? null);
        switch (name) {
            case 'parameters': {
                const key = text(0);
                if (!(key in this.parameterValues)) throw new Error(`arm: no parameter ${key}`);
                return this.parameterValues[key] ?? null;
            }
            case 'variables':
                return this.variable(text(0));
            case 'copyindex':
                if (this.copyIndex === undefined) throw new Error('arm: copyIndex() outside a copy loop');
                return this.copyIndex + (args[0] === undefined ? 0 : toNumber(args[0]));
            case 'format':
                return text(0).replace(/\{\{|\}\}|\{(\d+)\}/g, (match, index: string | undefined) =>
                    index === undefined ? (match[0] ?? '') : formatValue(args[Number(index) + 1] ?? null),
                );
            case 'concat':
                return args.every(Array.isArray) ? (args as Json[][]).flat() : args.map(formatValue).join('');
            case 'union':
                return args.reduce<JsonObject>((merged, a) => ({ ...merged, ...asObject(a) }), {});
            case 'createobject': {
                const result: JsonObject = {};
                for (let i = 0; i < args.length; i += 2) result[text(i)] = args[i + 1] ?? null;
                return result;
            }
            case 'createarray':
                return args;
            case 'empty': {
                const value = args[0] ?? null;
                if (value === null) return true;
                if (typeof value === 'string' || Array.isArray(value)) return value.length === 0;
                if (typeof value === 'object') return Object.keys(value).length === 0;
                return false;
            }
            case 'not':
                return args[0] !== true;
            case 'and':
                return args.every((a) => a === true);
            case 'or':
                return args.some((a) => a === true);
            case 'equals':
                return JSON.stringify(args[0]) === JSON.stringify(args[1]);
            case 'greater':
                return toNumber(args[0] ?? null) > toNumber(args[1] ?? null);
            case 'less':
                return toNumber(args[0] ?? null) < toNumber(args[1] ?? null);
            case 'length': {
                const value = args[0] ?? null;
                if (typeof value === 'string' || Array.isArray(value)) return value.length;
                return Object.keys(asObject(value)).length;
            }
            case 'sub':
                return toNumber(args[0] ?? null) - toNumber(args[1] ?? null);
            case 'add':
                return toNumber(args[0] ?? null) + toNumber(args[1] ?? null);
            case 'take':
                return text(0).slice(0, Math.max(0, toNumber(args[1] ?? null)));
            case 'endswith':
                return text(0).toLowerCase().endsWith(text(1).toLowerCase());
            case 'startswith':
                return text(0).toLowerCase().startsWith(text(1).toLowerCase());
            case 'tolower':
                return text(0).toLowerCase();
            case 'replace':
                return text(0).split(text(1)).join(text(2));
            case 'string':
                return formatValue(args[0] ?? null);
            case 'uniquestring':
                return createHash('sha256')
                    .update(args.map(formatValue).join('|'))
                    .digest('hex')
                    .slice(0, 13);
            case 'guid':
                return placeholderGuid(...args.map(formatValue));
            case 'subscription':
                return {
                    id: `/subscriptions/${SUBSCRIPTION_ID}`,
                    subscriptionId: SUBSCRIPTION_ID,
                    tenantId: TENANT_ID,
                };
            case 'tenant':
                return { tenantId: TENANT_ID };
            case 'resourcegroup':
                if (this.resourceGroup === undefined)
                    throw new Error('arm: resourceGroup() at subscription scope');
                return { id: this.prefix, name: this.resourceGroup };
            case 'resourceid':
                return resourceIdOf(this.prefix, text(0), args.slice(1).map(formatValue));
            case 'subscriptionresourceid':
                return resourceIdOf(
                    `/subscriptions/${SUBSCRIPTION_ID}`,
                    text(0),
                    args.slice(1).map(formatValue),
                );
            case 'extensionresourceid':
                return resourceIdOf(text(0), text(1), args.slice(2).map(formatValue));
            case 'reference':
                return this.reference(text(0));
            default:
                // listKeys(), listAccountSas(), …: secrets read at deployment. Evaluated to a marker (any member
                // of it is the marker too) so the tests can say where a key would have gone.
                if (name.startsWith('list')) return { [LIST_RESULT]: `<secret from ${name}()>` };
                throw new Error(`arm: the evaluator does not know ${name}()`);
        }
    }

    private variable(name: string): Json {
        if (!this.variableCache.has(name)) {
            const raw = this.template.variables?.[name];
            if (raw === undefined) throw new Error(`arm: no variable ${name}`);
            this.variableCache.set(name, this.value(raw));
        }
        return this.variableCache.get(name) ?? null;
    }

    /** `reference(id)`: a nested deployment's outputs, or a resource's placeholder runtime properties. */
    private reference(id: string): Json {
        const { type, name } = parseResourceId(id);
        if (type === 'Microsoft.Resources/deployments') {
            const resource = this.resources().find(
                (r) => r.type === type && toText(this.value(r.name)) === name,
            );
            if (resource === undefined) throw new Error(`arm: no deployment ${name} to reference`);
            const outputs: JsonObject = {};
            for (const [key, value] of Object.entries(this.nested(resource, name).outputs())) {
                outputs[key] = { value };
            }
            return { outputs };
        }
        return runtimeProperties(type, name.split('/').pop() ?? name, id);
    }
}

function fail(message: string): never {
    throw new Error(message);
}

function asObject(value: Json): JsonObject {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        throw new Error(`arm: expected an object, got ${JSON.stringify(value)}`);
    }
    return value;
}

function toText(value: Json): string {
    if (typeof value !== 'string') throw new Error(`arm: expected a string, got ${JSON.stringify(value)}`);
    return value;
}

function toNumber(value: Json): number {
    if (typeof value !== 'number') throw new Error(`arm: expected a number, got ${JSON.stringify(value)}`);
    return value;
}

const LIST_RESULT = '__armListResult';

function isListResult(value: Json): value is JsonObject {
    return value !== null && typeof value === 'object' && !Array.isArray(value) && LIST_RESULT in value;
}

function formatValue(value: Json): string {
    if (typeof value === 'string') return value;
    if (isListResult(value)) return JSON.stringify(value[LIST_RESULT]);
    if (typeof value === 'number' || typeof value === 'boolean') return String(value);
    return JSON.stringify(value);
}

type Node =
    | { kind: 'literal'; value: Json }
    | { kind: 'call'; name: string; args: Node[] }
    | { kind: 'member'; target: Node; key: Node };

/** Parses ARM's expression language: calls, 'strings' ('' escapes a quote), integers, `.name`, `[index]`. */
class Parser {
    private at = 0;

    constructor(private readonly source: string) {}

    parse(): Node {
        const node = this.expression();
        this.space();
        if (this.at !== this.source.length) this.error('unexpected text');
        return node;
    }

    private expression(): Node {
        this.space();
        let node = this.primary();
        for (;;) {
            this.space();
            const next = this.source[this.at];
            if (next === '.') {
                this.at++;
                node = { kind: 'member', target: node, key: { kind: 'literal', value: this.identifier() } };
            } else if (next === '[') {
                this.at++;
                const key = this.expression();
                this.expect(']');
                node = { kind: 'member', target: node, key };
            } else {
                return node;
            }
        }
    }

    private primary(): Node {
        const next = this.source[this.at];
        if (next === "'") {
            let value = '';
            this.at++;
            for (;;) {
                const ch = this.source[this.at++];
                if (ch === undefined) this.error('unterminated string');
                if (ch === "'") {
                    if (this.source[this.at] === "'") {
                        value += "'";
                        this.at++;
                        continue;
                    }
                    return { kind: 'literal', value };
                }
                value += ch;
            }
        }
        const number = /^-?\d+/.exec(this.source.slice(this.at));
        if (number !== null) {
            this.at += number[0].length;
            return { kind: 'literal', value: Number(number[0]) };
        }
        const name = this.identifier();
        this.space();
        this.expect('(');
        const args: Node[] = [];
        this.space();
        if (this.source[this.at] === ')') {
            this.at++;
        } else {
            for (;;) {
                args.push(this.expression());
                this.space();
                if (this.source[this.at] === ',') {
                    this.at++;
                    continue;
                }
                this.expect(')');
                break;
            }
        }
        if (name.toLowerCase() === 'true' && args.length === 0) return { kind: 'literal', value: true };
        if (name.toLowerCase() === 'false' && args.length === 0) return { kind: 'literal', value: false };
        if (name.toLowerCase() === 'null' && args.length === 0) return { kind: 'literal', value: null };
        return { kind: 'call', name, args };
    }

    private identifier(): string {
        const match = /^[A-Za-z_$][A-Za-z0-9_$]*/.exec(this.source.slice(this.at));
        if (match === null) this.error('expected a name');
        this.at += match[0].length;
        return match[0];
    }

    private space(): void {
        while (this.source[this.at] === ' ') this.at++;
    }

    private expect(ch: string): void {
        if (this.source[this.at] !== ch) this.error(`expected ${ch}`);
        this.at++;
    }

    private error(message: string): never {
        throw new Error(`arm: ${message} at ${this.at} in [${this.source}]`);
    }
}
