import { registrations, triggerOf } from '../support/functionsCore';

import { inboundSms, inboundSmsOptions } from '../../functions/inboundSms';
import { voice, voiceOptions } from '../../functions/voice';
import '../../functions/status';
import '../../functions/sendMessage';
import '../../functions/sendCall';
import '../../functions/getMessage';
import '../../functions/listMessages';
import '../../functions/outbound';
import '../../functions/outboundPoison';

describe('queue triggers are pinned', () => {
    it.each([
        ['outbound', '%OUTBOUND_QUEUE%'],
        ['outboundPoison', '%OUTBOUND_QUEUE%-poison'],
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
                'getMessage',
                'inboundSms',
                'listMessages',
                'outbound',
                'outboundPoison',
                'sendCall',
                'sendMessage',
                'status',
                'voice',
            ].sort(),
        );
    });
});

describe('HTTP routes are pinned (a change here is a security review)', () => {
    it.each([
        ['voice', 'voice', ['get', 'post'], 'anonymous'],
        ['inboundSms', 'sms', ['post'], 'anonymous'],
        ['status', 'status', ['post'], 'anonymous'],
        ['sendMessage', 'messages', ['post'], 'function'],
        ['sendCall', 'calls', ['post'], 'function'],
        ['getMessage', 'messages/{id}', ['get'], 'function'],
        ['listMessages', 'messages', ['get'], 'function'],
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
    });
});
