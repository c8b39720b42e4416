import { registrations, triggerOf } from '../support/functionsCore';

import { addOptOut, addOptOutOptions } from '../../functions/addOptOut';
import { getMessage, getMessageOptions } from '../../functions/getMessage';
import { getMessageMedia, getMessageMediaOptions } from '../../functions/getMessageMedia';
import { getRecording, getRecordingOptions } from '../../functions/getRecording';
import { inboundSms, inboundSmsOptions } from '../../functions/inboundSms';
import { listMessages, listMessagesOptions } from '../../functions/listMessages';
import { listOptOuts, listOptOutsOptions } from '../../functions/listOptOuts';
import { openApi, openApiOptions } from '../../functions/openApi';
import { removeOptOut, removeOptOutOptions } from '../../functions/removeOptOut';
import { sendCall, sendCallOptions } from '../../functions/sendCall';
import { sendMessage, sendMessageOptions } from '../../functions/sendMessage';
import { status, statusOptions } from '../../functions/status';
import { twimlets, twimletsOptions } from '../../functions/twimlets';
import { voice, voiceOptions } from '../../functions/voice';
import '../../functions/outbound';
import '../../functions/outboundPoison';
import '../../functions/inboundMedia';
import '../../functions/inboundMediaPoison';
import { appUrl, ROUTES, twimletUrl } from '../../shared/platform/routes';

describe('queue triggers are pinned', () => {
    it.each([
        ['outbound', '%OUTBOUND_QUEUE%'],
        ['outboundPoison', '%OUTBOUND_QUEUE%-poison'],
        ['inboundMedia', '%INBOUND_MEDIA_QUEUE%'],
        ['inboundMediaPoison', '%INBOUND_MEDIA_QUEUE%-poison'],
    ])('%s reads %s through AzureWebJobsStorage', (name, queueName) => {
        expect(triggerOf(name)).toMatchObject({
            type: 'queueTrigger',
            queueName,
            connection: 'AzureWebJobsStorage',
        });
    });

    it('every registered function is pinned here', () => {
        expect(registrations.map((r) => r.metadata.name).sort()).toEqual(
            [
                'addOptOut',
                'listOptOuts',
                'removeOptOut',
                'getMessage',
                'getMessageMedia',
                'inboundMedia',
                'inboundMediaPoison',
                'getRecording',
                'inboundSms',
                'listMessages',
                'openApi',
                'outbound',
                'outboundPoison',
                'sendCall',
                'sendMessage',
                'status',
                'twimlets',
                'voice',
            ].sort(),
        );
    });
});

describe('HTTP routes are pinned (a change here is a security review)', () => {
    it.each([
        ['voice', 'voice', ['get', 'post'], 'anonymous'],
        ['twimlets', 'twimlets/{name}', ['get', 'post'], 'anonymous'],
        ['inboundSms', 'sms', ['post'], 'anonymous'],
        ['status', 'status', ['post'], 'anonymous'],
        ['sendMessage', 'messages', ['post'], 'function'],
        ['sendCall', 'calls', ['post'], 'function'],
        ['getMessage', 'messages/{id}', ['get'], 'function'],
        // A sender's photos: behind the function key, like the record they belong to.
        ['getMessageMedia', 'messages/{id}/media/{n}', ['get'], 'function'],
        ['listMessages', 'messages', ['get'], 'function'],
        // A recording is the caller's voice: behind the function key, like the ledger it belongs to.
        ['getRecording', 'recordings/{sid}', ['get'], 'function'],
        // The API's description only (no data, no secret), so a connector or API Management can import it by URL.
        ['openApi', 'openapi/{document}', ['get'], 'anonymous'],
        // Opt-outs are phone numbers: the list, an addition and a removal are all behind the function key.
        ['listOptOuts', 'opt-outs', ['get'], 'function'],
        ['addOptOut', 'opt-outs/{sender}/{recipient}', ['put'], 'function'],
        ['removeOptOut', 'opt-outs/{sender}/{recipient}', ['delete'], 'function'],
    ])('%s is registered on /api/%s for %j with authLevel %s', (name, route, methods, authLevel) => {
        const trigger = triggerOf(name);
        expect(trigger).toMatchObject({ type: 'httpTrigger', direction: 'in', route, authLevel });
        expect((trigger.methods as string[]).map((m) => m.toLowerCase()).sort()).toEqual(methods);
    });

    it('registers each handler under the name it is exported as', () => {
        expect(registrations.find((r) => r.metadata.name === 'voice')?.callback).toBe(voice);
        expect(registrations.find((r) => r.metadata.name === 'inboundSms')?.callback).toBe(inboundSms);
        expect(voiceOptions).toMatchObject({
            route: 'voice',
            methods: ['GET', 'POST'],
            authLevel: 'anonymous',
        });
        expect(inboundSmsOptions).toMatchObject({ route: 'sms', methods: ['POST'], authLevel: 'anonymous' });
        expect(registrations.find((r) => r.metadata.name === 'twimlets')?.callback).toBe(twimlets);
        expect(twimletsOptions).toMatchObject({
            route: 'twimlets/{name}',
            methods: ['GET', 'POST'],
            authLevel: 'anonymous',
        });
    });
});

describe('every HTTP route comes from ROUTES (shared/platform/routes.ts)', () => {
    const http = [
        ['voice', voice, voiceOptions, ROUTES.voice],
        ['twimlets', twimlets, twimletsOptions, ROUTES.twimlet],
        ['inboundSms', inboundSms, inboundSmsOptions, ROUTES.sms],
        ['status', status, statusOptions, ROUTES.status],
        ['sendMessage', sendMessage, sendMessageOptions, ROUTES.messages],
        ['sendCall', sendCall, sendCallOptions, ROUTES.calls],
        ['getMessage', getMessage, getMessageOptions, ROUTES.message],
        ['getMessageMedia', getMessageMedia, getMessageMediaOptions, ROUTES.messageMedia],
        ['listMessages', listMessages, listMessagesOptions, ROUTES.messages],
        ['getRecording', getRecording, getRecordingOptions, ROUTES.recording],
        ['openApi', openApi, openApiOptions, ROUTES.openApi],
        ['listOptOuts', listOptOuts, listOptOutsOptions, ROUTES.optOuts],
        ['addOptOut', addOptOut, addOptOutOptions, ROUTES.optOut],
        ['removeOptOut', removeOptOut, removeOptOutOptions, ROUTES.optOut],
    ] as const;

    it.each(http)(
        '%s is registered on its ROUTES entry, with its exported handler',
        (name, handler, options, route) => {
            expect(triggerOf(name).route).toBe(route);
            expect(options.route).toBe(route);
            expect(registrations.find((r) => r.metadata.name === name)?.callback).toBe(handler);
        },
    );

    it('covers every registered HTTP function, and every ROUTES entry is served', () => {
        const registered = registrations
            .filter((r) => Object.values(r.metadata.bindings).some((b) => b.type === 'httpTrigger'))
            .map((r) => r.metadata.name);
        expect(registered.sort()).toEqual(http.map(([name]) => name).sort());
        expect(new Set(http.map(([, , , route]) => route))).toEqual(new Set(Object.values(ROUTES)));
    });

    it('the URLs the app builds for itself are the routes its functions serve', () => {
        expect(appUrl('https://app.example.com', ROUTES.message, {}, { id: 'a/b c' })).toBe(
            'https://app.example.com/api/messages/a%2Fb%20c',
        );
        expect(() => appUrl('https://app.example.com', ROUTES.message)).toThrow(/\{id\}/);
        expect(
            twimletUrl('https://app.example.com/twilio', 'findme', [['PhoneNumbers[]', "+1 (415) 'x'"]]),
        ).toBe(
            'https://app.example.com/twilio/api/twimlets/findme?PhoneNumbers%5B%5D=%2B1%20%28415%29%20%27x%27',
        );
    });
});
