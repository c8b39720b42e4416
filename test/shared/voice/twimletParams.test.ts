import { e164, indexedEntries, timeoutParam } from '../../../shared/voice/twimlets/params';

describe('e164: phone numbers as twimlets accepts them', () => {
    it.each([
        ['415-555-1212', '+14155551212'],
        ['(415) 555-1212', '+14155551212'],
        ['415.555.1212', '+14155551212'],
        ['4155551212', '+14155551212'],
        ['1-415-555-1212', '+14155551212'],
        ['14155551212', '+14155551212'],
        ['+14155551212', '+14155551212'],
        ['+1 (415) 555-1212', '+14155551212'],
        ['  415 555 1212 ', '+14155551212'],
        // `+` written unencoded in a query string arrives as a space.
        [' 14155551212', '+14155551212'],
        [' 442079460000', '+442079460000'],
        ['+44 20 7946 0000', '+442079460000'],
        ['+8613800138000', '+8613800138000'],
    ])('%j → %s', (raw, expected) => {
        expect(e164(raw)).toBe(expected);
    });

    it.each([
        '',
        '415-555-121',
        '415-555-12123',
        '0155551212', // area codes start at 2
        '4151551212', // so do exchanges
        '+10155551212',
        '+0442079460000',
        '+1234567',
        '+1234567890123456',
        '011442079460000',
        '1-800-FLOWERS',
        '415-555-1212 x12',
        '415-555-1212;ext=1',
        'client:alice',
        'sip:alice@example.com',
        'anonymous',
        '++14155551212',
        '4'.repeat(1000),
    ])('%j is not a number', (raw) => {
        expect(e164(raw)).toBeUndefined();
    });

    it('is undefined for no value', () => {
        expect(e164(undefined)).toBeUndefined();
        expect(e164(null)).toBeUndefined();
    });
});

describe('indexedEntries', () => {
    it('reads Name and Name[] in order, then Name[n] by index (numerically, any length), dropping empties', () => {
        const query = new URLSearchParams(
            'P%5B10%5D=ten&P=plain&P%5B2%5D=two&Q=other&P%5B%5D=bracket&P%5B%5D=&P%5B02%5D=two-again&P%5B99999999999999999999%5D=huge&p=lower&P%5Bx%5D=ignored',
        );
        expect(indexedEntries(query, 'P')).toEqual([
            { parameter: 'P', index: undefined, value: 'plain' },
            { parameter: 'P[]', index: undefined, value: 'bracket' },
            { parameter: 'P[2]', index: '2', value: 'two' },
            { parameter: 'P[02]', index: '02', value: 'two-again' },
            { parameter: 'P[10]', index: '10', value: 'ten' },
            { parameter: 'P[…]', index: '99999999999999999999', value: 'huge' },
        ]);
    });

    it('trims values and drops the characters XML cannot carry (URLSearchParams already made lone surrogates U+FFFD)', () => {
        const query = new URLSearchParams();
        query.append('M', ' a\u0000b\ud800\uffff ');
        query.append('M', '\u0001\u0002');
        expect(indexedEntries(query, 'M')).toEqual([{ parameter: 'M', index: undefined, value: 'ab\ufffd' }]);
    });
});

describe('timeoutParam', () => {
    it.each([
        ['', 20],
        ['Timeout=', 20],
        ['Timeout=5', 5],
        ['Timeout=600', 600],
        ['Timeout=%2030%20', 30],
    ])('%j → %d', (query, seconds) => {
        expect(timeoutParam(new URLSearchParams(query), 20)).toEqual({ ok: true, value: seconds });
    });

    it.each(['Timeout=4', 'Timeout=601', 'Timeout=-5', 'Timeout=1e2', 'Timeout=30s', 'Timeout=99999'])(
        '%j is refused',
        (query) => {
            expect(timeoutParam(new URLSearchParams(query), 20)).toMatchObject({
                ok: false,
                parameter: 'Timeout',
            });
        },
    );
});
