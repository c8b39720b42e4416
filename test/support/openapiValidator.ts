/**
 * JSON Schema validation against the API's documents (shared/api/openapi.ts) with Ajv: a schema from the
 * document, with its `$ref`s into `#/components/schemas/` (OpenAPI 3) or `#/definitions/` (Swagger 2.0)
 * resolved against that document, and the formats the documents use (uri, date, date-time). Strict: a
 * keyword Ajv does not know fails, except the annotations the documents add (`x-ms-*`).
 */

import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';

type Json = Record<string, unknown>;

const DOCUMENT_ID = 'api-document';

function rewriteRefs(value: unknown): unknown {
    if (Array.isArray(value)) return value.map(rewriteRefs);
    if (typeof value !== 'object' || value === null) return value;
    return Object.fromEntries(
        Object.entries(value).map(([key, child]) => [
            key,
            key === '$ref' && typeof child === 'string'
                ? child.replace(/^#\/(?:components\/schemas|definitions)\//, `${DOCUMENT_ID}#/definitions/`)
                : rewriteRefs(child),
        ]),
    );
}

export interface SchemaValidator {
    /** The errors of `value` against `schema` (a schema of the document, or a `$ref` into it); [] when valid. */
    errors(schema: unknown, value: unknown): ErrorObject[];
    /** Whether `value` is valid against `schema`. */
    valid(schema: unknown, value: unknown): boolean;
}

/**
 * A validator for schemas of `document`. `coerceTypes` reads strings as the schema's type, as a query
 * parameter's value is read (`"20"` for an integer).
 */
export function schemaValidator(document: Json, options: { coerceTypes?: boolean } = {}): SchemaValidator {
    const ajv = new Ajv({ allErrors: true, strict: true, coerceTypes: options.coerceTypes ?? false });
    addFormats(ajv, ['uri', 'date', 'date-time']);
    ajv.addKeyword('x-ms-summary');
    ajv.addKeyword('x-ms-visibility');
    const schemas =
        document.swagger === '2.0'
            ? (document.definitions as Json)
            : (document.components as { schemas: Json }).schemas;
    ajv.addSchema({ $id: DOCUMENT_ID, definitions: rewriteRefs(schemas) });
    const compiled = new Map<string, ValidateFunction>();
    const compile = (schema: unknown): ValidateFunction => {
        const key = JSON.stringify(schema);
        let validate = compiled.get(key);
        if (validate === undefined) {
            validate = ajv.compile(rewriteRefs(schema) as Json);
            compiled.set(key, validate);
        }
        return validate;
    };
    const errors = (schema: unknown, value: unknown): ErrorObject[] => {
        const validate = compile(schema);
        // Coercion writes into the value: validate a copy.
        return validate(structuredClone(value)) ? [] : [...(validate.errors ?? [])];
    };
    return { errors, valid: (schema, value) => errors(schema, value).length === 0 };
}
