import { readFileSync } from 'node:fs';
import path from 'node:path';
import { callbackEvent, outcomeLine, sanitiseValue, subjectOf } from '../../../shared/platform/outcomes';

/** The alert rules' extraction (infra/app/alerts.bicep), as KQL's `extract` applies it: the first match. */
const EVENT = /(?:^|\s)event=(\S+)/;

describe('outcomeLine', () => {
    it('writes the fields in the agreed order, whatever order they are given in', () => {
        expect(
            outcomeLine({
                route: 'status',
                attempt: 3,
                code: 30003,
                status: 'undelivered',
                sid: 'SM0123456789abcdef0123456789abcdef',
                id: 'order:42',
                event: 'message.failed',
            }),
        ).toBe(
            'event=message.failed id=order:42 sid=SM0123456789abcdef0123456789abcdef status=undelivered code=30003 attempt=3 route=status',
        );
    });

    it('leaves out fields that do not apply: undefined, null, empty, or an attempt that is not a count', () => {
        expect(outcomeLine({ event: 'webhook.rejected', status: 403, route: 'voice' })).toBe(
            'event=webhook.rejected status=403 route=voice',
        );
        expect(
            outcomeLine({
                event: 'message.sent',
                id: 'a',
                sid: null,
                status: '',
                code: undefined,
                attempt: 1,
            }),
        ).toBe('event=message.sent id=a attempt=1');
        for (const attempt of [NaN, -1, 1.5, Infinity]) {
            expect(outcomeLine({ event: 'call.retrying', id: 'c', attempt })).toBe(
                'event=call.retrying id=c',
            );
        }
        expect(outcomeLine({ event: 'call.retrying', id: 'c', attempt: 0 })).toBe(
            'event=call.retrying id=c attempt=0',
        );
    });

    it('keeps every value in its field: spaces, =, newlines and control characters cannot start another', () => {
        const line = outcomeLine({
            event: 'message.unmatched',
            id: 'x event=message.dead-lettered\nevent=call.failed',
            sid: 'SM1\r\nforged=1',
            status: 'sent\u0000\u001b[31m',
            code: 'a b\tc',
        });
        expect(line).toBe(
            'event=message.unmatched id=x_event_message.dead-lettered_event_call.failed sid=SM1__forged_1 status=sent___31m code=a_b_c',
        );
        // Every character is printable ASCII (control characters are written as `_`).
        expect(line).toMatch(/^[\x20-\x7e]+$/);
        for (const pair of line.split(' ')) expect(pair.split('=')).toHaveLength(2);
        expect(line.split(' ').map((pair) => pair.split('=')[0])).toEqual([
            'event',
            'id',
            'sid',
            'status',
            'code',
        ]);
        expect(EVENT.exec(line)?.[1]).toBe('message.unmatched');
    });

    it('never writes a phone number as one: + and every non-id character become _', () => {
        expect(outcomeLine({ event: 'message.status', id: '+15557654321' })).toBe(
            'event=message.status id=_15557654321',
        );
        expect(sanitiseValue('whatsapp:+15557654321 👋')).toBe('whatsapp:_15557654321___');
    });

    it('caps lengths: an id at 200 characters (the longest the schemas allow), other fields at 64', () => {
        const line = outcomeLine({
            event: 'message.sent',
            id: 'i'.repeat(500),
            sid: 's'.repeat(500),
            code: 'c'.repeat(500),
        });
        expect(line).toBe(
            `event=message.sent id=${'i'.repeat(200)} sid=${'s'.repeat(64)} code=${'c'.repeat(64)}`,
        );
    });
});

describe('the names of outcomes', () => {
    it('an SMS/MMS is a message, a call a call', () => {
        expect(subjectOf('sms')).toBe('message');
        expect(subjectOf('call')).toBe('call');
    });

    it.each([
        ['sms', 'delivered', 'message.delivered'],
        ['sms', 'failed', 'message.failed'],
        ['sms', 'undelivered', 'message.failed'],
        ['sms', 'sent', 'message.status'],
        ['sms', 'read', 'message.status'],
        ['sms', 'completed', 'message.status'],
        ['call', 'completed', 'call.completed'],
        ['call', 'failed', 'call.failed'],
        ['call', 'busy', 'call.unanswered'],
        ['call', 'no-answer', 'call.unanswered'],
        ['call', 'canceled', 'call.unanswered'],
        ['call', 'ringing', 'call.status'],
        ['call', 'delivered', 'call.status'],
    ] as const)('a %s status callback %s is %s', (type, status, event) => {
        expect(callbackEvent(type, status)).toBe(event);
    });
});

describe('a delayed retry', () => {
    it('is its own event, not a retrying line with a status', () => {
        const line = outcomeLine({ event: 'message.delayed', id: 'bp-1', code: '20429', attempt: 1 });
        expect(line).toBe('event=message.delayed id=bp-1 code=20429 attempt=1');
        expect(EVENT.exec(line)?.[1]).toBe('message.delayed');
        expect(outcomeLine({ event: 'call.delayed', id: 'c', attempt: 2 })).toBe(
            'event=call.delayed id=c attempt=2',
        );
    });

    it('counts towards no alert: the rules name their events, and none names a delay or a retry', () => {
        const bicep = readFileSync(path.join(__dirname, '../../../infra/app/alerts.bicep'), 'utf8');
        const named = [...bicep.matchAll(/"((?:message|call|webhook)\.[a-z-]+)"/g)].map((m) => m[1]);
        expect(named.length).toBeGreaterThan(0);
        expect(named.filter((event) => /\.(delayed|retrying)$/.test(event ?? ''))).toEqual([]);
    });
});
