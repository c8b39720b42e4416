import {
    appUrl,
    defaultVoiceUrl,
    messageUrl,
    pointsAtRecordingRoute,
    routeOfUrl,
    ROUTES,
    statusCallbackUrl,
    WEBHOOK_ROUTES,
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
    ])('%s is %s', (url, route) => {
        expect(routeOfUrl(url, WEBHOOK_ROUTES)).toBe(route);
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
