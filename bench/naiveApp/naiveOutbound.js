// What a user would write without the ledger: parse the queue message and call messages.create. No claim,
// no record, no idempotency: a redelivered message is sent again. Plain JavaScript, loaded as is by the
// local host; `@azure/functions` and `twilio` resolve from the repository's node_modules.
'use strict';

const { URL } = require('node:url');
const { app } = require('@azure/functions');
const twilio = require('twilio');

let client;

/** The Twilio client, once; its requests go to TWILIO_API_URL (the benchmark's stand-in) when set. */
function getClient() {
    if (client !== undefined) return client;
    const apiUrl = process.env.TWILIO_API_URL;
    let httpClient;
    if (apiUrl) {
        const target = new URL(apiUrl);
        class Redirecting extends twilio.RequestClient {
            request(opts) {
                const uri = new URL(opts.uri);
                return super.request({ ...opts, uri: `${target.origin}${uri.pathname}${uri.search}` });
            }
        }
        httpClient = new Redirecting();
    }
    client = twilio(process.env.TWILIO_ACCOUNT_SID, process.env.TWILIO_AUTH_TOKEN, { httpClient });
    return client;
}

app.storageQueue('naiveOutbound', {
    queueName: '%OUTBOUND_QUEUE%',
    connection: 'AzureWebJobsStorage',
    handler: async (item) => {
        const message = typeof item === 'string' ? JSON.parse(item) : item;
        await getClient().messages.create({
            to: message.to,
            from: process.env.TWILIO_FROM_NUMBER,
            body: message.body,
        });
    },
});
