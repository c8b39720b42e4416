/**
 * The bare Node.js HTTP server of the HTTP throughput comparison: it answers every request with the bytes
 * the app answers `/api/voice` with (status 200, the same Content-Type, the same body), and nothing else.
 *
 * `BENCH_BODY` (base64) and `BENCH_CONTENT_TYPE` come from the environment. Listens on 127.0.0.1 on a free
 * port and prints `{"port":N}`. Plain JavaScript, like the server it stands for.
 */
'use strict';

const { createServer } = require('node:http');

const body = Buffer.from(process.env.BENCH_BODY || '', 'base64');
const contentType = process.env.BENCH_CONTENT_TYPE || 'text/xml';

const server = createServer((req, res) => {
    req.resume();
    res.statusCode = 200;
    res.setHeader('content-type', contentType);
    res.end(body);
});
server.listen(0, '127.0.0.1', () => {
    process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});
process.on('SIGTERM', () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
});
