/**
 * `node scripts/apiDocuments.js [--dist DIR]`, the last step of `npm run build`: writes the HTTP API's
 * documents from the compiled module (dist/shared/api/openapi.js), so they are the ones the app serves,
 * with the placeholder app address (your-function-app.azurewebsites.net):
 *
 * - dist/openapi.json: OpenAPI 3.0.3 (API Management, OpenAPI tools);
 * - dist/connector.swagger.json: Swagger 2.0 for a Logic Apps / Power Automate custom connector.
 *
 * `npm run lint:openapi` lints both. docs/connector.md says how to import them.
 */
'use strict';

const fs = require('node:fs');
const path = require('node:path');

const args = process.argv.slice(2);
const distIndex = args.indexOf('--dist');
const dist = distIndex === -1 ? path.join(__dirname, '..', 'dist') : path.resolve(args[distIndex + 1] ?? '');
const { openApiDocument, connectorDocument } = require(path.join(dist, 'shared', 'api', 'openapi.js'));

for (const [file, document] of [
    ['openapi.json', openApiDocument()],
    ['connector.swagger.json', connectorDocument()],
]) {
    fs.writeFileSync(path.join(dist, file), `${JSON.stringify(document, null, 2)}\n`);
}
