import {
    appUrl,
    defaultVoiceUrl,
    flowUrlProblem,
    messageUrl,
    pointsAtRecordingRoute,
    routeName,
    routeOfUrl,
    ROUTES,
    statusCallbackUrl,
    twimletUrl,
    WEBHOOK_ROUTES,
    webhookBase,
} from '../../../shared/platform/routes';

const BASE = 'https://myapp.azurewebsites.net';

describe('the app URLs', () => {
    it('builds the status callback and voice URLs under /api, percent-encoding the id', () => {
        expect(statusCallbackUrl(BASE, 'order:42 a')).toBe(`${BASE}/api/status?id=order%3A42%20a`);
        expect(defaultVoiceUrl(BASE)).toBe(`${BASE}/api/voice`);
        expect(statusCallbackUrl(undefined, 'x')).toBeUndefined();
        expect(defaultVoiceUrl(undefined)).toBeUndefined();
        expect(appUrl(`${BASE}/twilio`, 'sms')).toBe(`${BASE}/twilio/api/sms`);
    });

    it("builds the API's message URL from its route template, percent-encoding the id", () => {
        expect(messageUrl(BASE, 'order:42/a b')).toBe(`${BASE}/api/messages/order%3A42%2Fa%20b`);
        expect(appUrl(BASE, ROUTES.message, { x: '1' }, { id: 'k' })).toBe(`${BASE}/api/messages/k?x=1`);
        expect(() => appUrl(BASE, ROUTES.message)).toThrow('no value for {id}');
    });
});

describe('routeOfUrl', () => {
    it.each([
        [`${BASE}/api/voice`, 'voice'],
        [`${BASE}/api/SMS?From=%2B15551230000`, 'sms'],
        [`${BASE}/twilio/api/status/#x`, 'status'],
        [`${BASE}/api/messages`, undefined],
        [`${BASE}/api/voice2`, undefined],
        ['not a url', undefined],
        [`${BASE}/api/twimlets/forward?PhoneNumber=%2B14155551212`, 'twimlets/{name}'],
        [`${BASE}/twilio/api/Twimlets/no-such-one`, 'twimlets/{name}'],
        [`${BASE}/api/twimlets`, undefined],
        [`${BASE}/api/twimlets/`, undefined],
        [`${BASE}/api/twimlets/a/b`, undefined],
    ])('%s is %s', (url, route) => {
        expect(routeOfUrl(url, WEBHOOK_ROUTES)).toBe(route);
    });

    it('names a route by its segments before the first parameter, never by request text', () => {
        expect(routeName(ROUTES.twimlet)).toBe('twimlets');
        expect(routeName(ROUTES.message)).toBe('messages');
        expect(routeName(ROUTES.voice)).toBe('voice');
    });
});

describe('the twimlets URLs', () => {
    it.each([
        [`${BASE}/api/twimlets/forward?Dial=true`, BASE],
        [`${BASE}/API/twimlets/forward`, BASE],
        ['https://apim.example.com/twilio/api/twimlets/menu?x=/api/', 'https://apim.example.com/twilio'],
        ['https://apim.example.com/api/v1/api/twimlets/menu', 'https://apim.example.com/api/v1'],
        ['http://localhost:7071/api/twimlets/findme', 'http://localhost:7071'],
        ['https://myapp.azurewebsites.net:8443/other', 'https://myapp.azurewebsites.net:8443'],
    ])('the base of %s is %s', (url, base) => {
        expect(webhookBase(url)).toBe(base);
    });

    it('builds a twimlet URL with its query in order, repeated names kept, every reserved character encoded', () => {
        expect(twimletUrl(BASE, 'findme')).toBe(`${BASE}/api/twimlets/findme`);
        expect(
            twimletUrl(`${BASE}/twilio`, 'findme', [
                ['PhoneNumbers[]', '+14155551212'],
                ['PhoneNumbers[]', '+14155551213'],
                ['Message', "It's (really) *you*! & <me>"],
            ]),
        ).toBe(
            `${BASE}/twilio/api/twimlets/findme?PhoneNumbers%5B%5D=%2B14155551212&PhoneNumbers%5B%5D=%2B14155551213&Message=It%27s%20%28really%29%20%2Ayou%2A%21%20%26%20%3Cme%3E`,
        );
    });
});

describe('flowUrlProblem (URLs in twimlet parameters)', () => {
    const OWN = 'points at this app outside /api/voice and /api/twimlets/{name}';
    const NOT_URL = 'is not an http(s) URL in printable ASCII';

    it.each([
        'https://example.com/please-try-later.mp3',
        'http://twimlets.com/voicemail?Email=a%40example.com',
        'HTTPS://EXAMPLE.COM/a?b=c#d',
        `${BASE}/api/voice`,
        `${BASE}/api/voice?Message=status`,
        `${BASE}/API/Voice/`,
        `${BASE}/api/twimlets/menu?Options%5B1%5D=${encodeURIComponent(`${BASE}/api/status`)}`,
        `${BASE}/api/Twimlets/Forward`,
        `${BASE}/api/twimlets/%66orward`,
        `${BASE}/api/x/../twimlets/forward`,
        'https://otherapp.azurewebsites.net/api/status',
        'https://myapp.azurewebsites.net:8443/api/status',
        'https://myapp.azurewebsites.net.evil.example/api/status',
    ])('allows %s', (url) => {
        expect(flowUrlProblem(url, [BASE])).toBeUndefined();
    });

    it.each([
        `${BASE}/api/status`,
        `${BASE}/api/status?id=victim`,
        `${BASE}/api/sms`,
        `${BASE}/API/Status/`,
        `${BASE}/api/%73tatus`,
        `${BASE}/api/twimlets/../status`,
        `${BASE}/api/twimlets/%2e%2e/status`,
        `${BASE}/api/twimlets/a%2F..%2F..%2Fstatus`,
        `${BASE}/api/twimlets/forward/extra`,
        `${BASE}/api/twimlets/`,
        `${BASE}/api/messages`,
        `${BASE}/api/recordings/RE0123`,
        `${BASE}/api/voice2`,
        `${BASE}/`,
        `${BASE}/admin/host/status`,
        `${BASE}//api//sms`,
        'http://myapp.azurewebsites.net/api/status',
        'https://MyApp.AzureWebsites.net./api/status',
        'https://myapp.azurewebsites.net:443/api/status',
        'https://user:pw@myapp.azurewebsites.net/api/sms#x',
        `${BASE}/api/%E0%A4%A`,
    ])('refuses %s as pointing into the app', (url) => {
        expect(flowUrlProblem(url, [BASE])).toBe(OWN);
    });

    it.each([
        'ftp://example.com/a.mp3',
        'javascript:alert(1)',
        '//example.com/a.mp3',
        '/api/voice',
        'https://exa mple.com/a.mp3',
        'https://example.com/a b.mp3',
        'https://example.com/\u00e9.mp3',
        'https://example.com/\u0000',
        'https://',
        'https://[::1',
        'not a url',
        '',
    ])('refuses %j as no http(s) URL', (url) => {
        expect(flowUrlProblem(url, [BASE])).toBe(NOT_URL);
    });

    it('honours a path prefix on the public base, and loopback names as one host', () => {
        const base = 'https://apim.example.com/twilio';
        expect(flowUrlProblem('https://apim.example.com/twilio/api/status', [base])).toBe(OWN);
        expect(flowUrlProblem('https://apim.example.com/Twilio/api/twimlets/menu', [base])).toBeUndefined();
        expect(flowUrlProblem('https://apim.example.com/twilio', [base])).toBe(OWN);
        expect(flowUrlProblem('https://apim.example.com/other/api/status', [base])).toBeUndefined();
        const local = 'http://localhost:7071';
        expect(flowUrlProblem('http://127.0.0.1:7071/api/sms', [local])).toBe(OWN);
        expect(flowUrlProblem('http://[::1]:7071/api/twimlets/forward', [local])).toBeUndefined();
        expect(flowUrlProblem('http://127.0.0.1:7072/api/sms', [local])).toBeUndefined();
        expect(flowUrlProblem(`${BASE}/api/status`, [])).toBeUndefined();
    });
});

describe('pointsAtRecordingRoute', () => {
    it.each([
        `${BASE}/api/status`,
        `${BASE}/api/status?id=victim`,
        `${BASE}/api/sms`,
        `${BASE}/API/Status/`,
        `${BASE}/api/%73tatus?id=victim`,
        `${BASE}/api/x/../status`,
        `${BASE}//api//sms`,
        `http://myapp.azurewebsites.net/api/status`,
        `https://MyApp.AzureWebsites.net./api/status`,
        `https://myapp.azurewebsites.net:443/api/status`,
        `https://user:pw@myapp.azurewebsites.net/api/sms#x`,
        `${BASE}/api/%E0%A4%A`, // undecodable: no router serves it as anything but ours
    ])('refuses %s', (url) => {
        expect(pointsAtRecordingRoute(url, [BASE])).toBe(true);
    });

    it.each([
        `${BASE}/api/voice`,
        `${BASE}/api/voice?Message=status`,
        `${BASE}/api/statuses`,
        `${BASE}/api/messages`,
        `${BASE}/status`,
        'https://otherapp.azurewebsites.net/api/status',
        'https://myapp.azurewebsites.net.evil.example/api/status',
        'https://myapp.azurewebsites.net:8443/api/status',
        'https://example.com/callback?next=https://myapp.azurewebsites.net/api/status',
        'not a url',
    ])('allows %s', (url) => {
        expect(pointsAtRecordingRoute(url, [BASE])).toBe(false);
    });

    it('honours a path prefix on the public base (API Management, Front Door routes)', () => {
        const base = 'https://apim.example.com/twilio';
        expect(pointsAtRecordingRoute('https://apim.example.com/twilio/api/status?id=1', [base])).toBe(true);
        expect(pointsAtRecordingRoute('https://apim.example.com/Twilio/api/SMS', [base])).toBe(true);
        expect(pointsAtRecordingRoute('https://apim.example.com/other/api/status', [base])).toBe(false);
    });

    it('treats every loopback name as the local host, on the same port', () => {
        const local = 'http://localhost:7071';
        expect(pointsAtRecordingRoute('http://127.0.0.1:7071/api/status', [local])).toBe(true);
        expect(pointsAtRecordingRoute('http://[::1]:7071/api/sms', [local])).toBe(true);
        expect(pointsAtRecordingRoute('http://127.0.0.1:7072/api/status', [local])).toBe(false);
    });

    it('knows no own origin when none is configured', () => {
        expect(pointsAtRecordingRoute(`${BASE}/api/status`, [])).toBe(false);
    });
});
