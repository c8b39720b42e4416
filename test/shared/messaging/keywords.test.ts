import { classifyInbound, keywordAction } from '../../../shared/messaging/keywords';

const form = (params: Record<string, string>) => new URLSearchParams(params);

describe('keywordAction: Twilio default keywords, the whole body, any case', () => {
    it.each([
        'STOP',
        'stopall',
        'Unsubscribe',
        'CANCEL',
        'end',
        'QUIT',
        'optout',
        'REVOKE',
        '  stop\n',
        `${' '.repeat(100)}STOP`,
    ])('%j opts out', (body) => {
        expect(keywordAction(body)).toBe('opt-out');
    });
    it.each(['START', 'yes', 'Unstop'])('%j opts in', (body) => {
        expect(keywordAction(body)).toBe('opt-in');
    });
    it.each(['HELP', 'info'])('%j asks for help', (body) => {
        expect(keywordAction(body)).toBe('help');
    });
    it.each(['stop.', 'STOP!', 'Stop?!', 'quit ,', 'cancel;'])(
        '%j opts out (trailing punctuation)',
        (body) => {
            expect(keywordAction(body)).toBe('opt-out');
        },
    );
    it.each([
        'yes.',
        'Start!',
        'help.',
        'Stop please',
        'please stop',
        'STOP ALL',
        '.stop',
        's t o p',
        '',
        'stop'.repeat(20),
    ])('%j is not a keyword', (body) => {
        expect(keywordAction(body)).toBeUndefined();
    });
});

describe('classifyInbound', () => {
    it("trusts OptOutType over the body (Advanced Opt-Out's custom keywords)", () => {
        expect(classifyInbound(form({ Body: 'ARRET', OptOutType: 'STOP' }))).toEqual({
            action: 'opt-out',
            via: 'OptOutType',
        });
        expect(classifyInbound(form({ Body: 'STOP', OptOutType: 'start' }))).toEqual({
            action: 'opt-in',
            via: 'OptOutType',
        });
        expect(classifyInbound(form({ Body: 'STOP', OptOutType: 'HELP' }))).toEqual({
            action: 'help',
            via: 'OptOutType',
        });
    });
    it('falls back to the body for an OptOutType Twilio does not document, or none', () => {
        expect(classifyInbound(form({ Body: 'stop', OptOutType: 'MAYBE' }))).toEqual({
            action: 'opt-out',
            via: 'keyword',
        });
        expect(classifyInbound(form({ Body: 'hello' }))).toBeUndefined();
        expect(classifyInbound(form({}))).toBeUndefined();
    });
});
