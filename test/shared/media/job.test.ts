/**
 * The media job's rules, without storage or network: which URLs are Twilio's media URLs (and so may be
 * fetched with the account's credentials), how a webhook's media parameters become a job, how a queue item
 * is read back, and how the ledger keeps a record's media.
 */

import { knownMedia } from '../../../shared/ledger/rules';
import {
    ACCEPTED_MEDIA_TYPES,
    isAcceptedMediaType,
    mediaUrlProblem,
    parseMediaJob,
    planMediaJob,
} from '../../../shared/media/job';

const ACCOUNT = 'AC0123456789abcdef0123456789abcdef';
const MESSAGE = 'MM0123456789abcdef0123456789abcdef';
const MEDIA = 'ME0123456789abcdef0123456789abcdef';
const policy = { accountSid: ACCOUNT, twilioApiUrl: 'http://127.0.0.1:5058' };
const twilioUrl = `https://api.twilio.com/2010-04-01/Accounts/${ACCOUNT}/Messages/${MESSAGE}/Media/${MEDIA}`;

describe('mediaUrlProblem: only Twilio media URLs of this account and message', () => {
    it.each([
        ['Twilio’s API origin', twilioUrl],
        [
            'the configured stand-in',
            `http://127.0.0.1:5058/2010-04-01/Accounts/${ACCOUNT}/Messages/${MESSAGE}/Media/${MEDIA}`,
        ],
    ])('accepts %s', (_, url) => {
        expect(mediaUrlProblem(url, MESSAGE, policy)).toBeUndefined();
    });

    it.each([
        [
            'another host',
            twilioUrl.replace('api.twilio.com', 'api.twilio.com.evil.example'),
            'the media URL is not on Twilio’s API origin',
        ],
        [
            'plain http to Twilio',
            twilioUrl.replace('https:', 'http:'),
            'the media URL is not on Twilio’s API origin',
        ],
        [
            'another port',
            twilioUrl.replace('api.twilio.com', 'api.twilio.com:8443'),
            'the media URL is not on Twilio’s API origin',
        ],
        ['user info', twilioUrl.replace('https://', 'https://user:pw@'), 'the media URL carries credentials'],
        ['a query', `${twilioUrl}?x=1`, 'the media URL has a query or fragment'],
        ['a fragment', `${twilioUrl}#x`, 'the media URL has a query or fragment'],
        [
            'another account',
            twilioUrl.replace(ACCOUNT, 'AC' + 'f'.repeat(32)),
            'the media URL is under another account',
        ],
        [
            'another message',
            twilioUrl.replace(MESSAGE, 'MM' + 'f'.repeat(32)),
            'the media URL is for another message',
        ],
        [
            'not a media SID',
            twilioUrl.replace(MEDIA, 'RE' + 'f'.repeat(32)),
            'the media URL does not name a media SID',
        ],
        [
            'another resource',
            `https://api.twilio.com/2010-04-01/Accounts/${ACCOUNT}/Recordings/RE${'0'.repeat(32)}`,
            'the media URL is not a message media path',
        ],
        [
            'a dot segment escaping the path',
            `https://api.twilio.com/2010-04-01/Accounts/${ACCOUNT}/Messages/${MESSAGE}/Media/../../../Calls.json`,
            'the media URL is not a message media path',
        ],
        ['not a URL', 'not a url', 'the media URL is not a URL'],
        ['too long', `${twilioUrl}${'a'.repeat(600)}`, 'the media URL is too long'],
    ])('refuses %s', (_, url, problem) => {
        expect(mediaUrlProblem(url, MESSAGE, policy)).toBe(problem);
    });

    it('without a configured stand-in, a loopback URL is foreign', () => {
        const loopback = `http://127.0.0.1:5058/2010-04-01/Accounts/${ACCOUNT}/Messages/${MESSAGE}/Media/${MEDIA}`;
        expect(mediaUrlProblem(loopback, MESSAGE, { accountSid: ACCOUNT, twilioApiUrl: undefined })).toBe(
            'the media URL is not on Twilio’s API origin',
        );
    });
});

describe('planMediaJob: the webhook’s media parameters', () => {
    const form = (entries: Record<string, string>) => new URLSearchParams(entries);

    it('no media: no job', () => {
        expect(planMediaJob(form({}), MESSAGE, policy)).toEqual({ kind: 'none' });
        expect(planMediaJob(form({ NumMedia: '0' }), MESSAGE, policy)).toEqual({ kind: 'none' });
    });

    it.each([
        ['11', 'NumMedia is 11: Twilio sends at most 10 media'],
        ['999', 'NumMedia is 999: Twilio sends at most 10 media'],
        ['-1', 'NumMedia is not a whole number'],
        ['1e3', 'NumMedia is not a whole number'],
        ['10000', 'NumMedia is not a whole number'],
    ])('NumMedia %s is refused as a whole', (numMedia, reason) => {
        expect(planMediaJob(form({ NumMedia: numMedia }), MESSAGE, policy)).toEqual({
            kind: 'refused',
            reason,
        });
    });

    it('each item: its checked URL and type, or its refusal (no foreign URL in the job)', () => {
        const plan = planMediaJob(
            form({
                NumMedia: '4',
                MediaUrl0: twilioUrl,
                MediaContentType0: 'Image/JPEG; charset=binary',
                MediaUrl1: 'https://example.com/cat.png',
                MediaContentType1: 'image/png',
                MediaUrl2: twilioUrl,
                MediaContentType2: 'application/x-msdownload',
            }),
            MESSAGE,
            policy,
        );
        expect(plan).toEqual({
            kind: 'job',
            job: {
                v: 1,
                sid: MESSAGE,
                items: [
                    { index: 0, url: twilioUrl, contentType: 'image/jpeg' },
                    {
                        index: 1,
                        refusal: 'foreign-url',
                        detail: 'the media URL is not on Twilio’s API origin',
                    },
                    {
                        index: 2,
                        refusal: 'content-type',
                        detail: 'application/x-msdownload is not a content type Twilio accepts for MMS',
                    },
                    { index: 3, refusal: 'foreign-url', detail: 'no MediaUrl3 in the webhook' },
                ],
            },
        });
        expect(JSON.stringify(plan)).not.toContain('example.com');
    });
});

describe('parseMediaJob: a queue item is checked like the webhook’s input', () => {
    const job = { v: 1, sid: MESSAGE, items: [{ index: 0, url: twilioUrl, contentType: 'image/png' }] };

    it('reads a job, parsed or as text', () => {
        expect(parseMediaJob(job)).toEqual({ ok: true, job });
        expect(parseMediaJob(JSON.stringify(job))).toEqual({ ok: true, job });
    });

    it.each([
        ['text that is not JSON', '{', 'the queue item is not JSON'],
        ['a number', 12, 'the queue item is not a media job object'],
        ['another version', { ...job, v: 2 }, 'the media job has no known version'],
        ['no SID', { ...job, sid: 'x' }, 'the media job has no message SID'],
        ['no items', { ...job, items: [] }, 'the media job needs 1-10 items'],
        [
            'eleven items',
            {
                ...job,
                items: Array.from({ length: 11 }, (_, index) => ({
                    index,
                    url: twilioUrl,
                    contentType: 'image/png',
                })),
            },
            'the media job needs 1-10 items',
        ],
        [
            'a repeated index',
            { ...job, items: [job.items[0], job.items[0]] },
            'a media item has no index of its own from 0 to 9',
        ],
        [
            'an index out of range',
            { ...job, items: [{ ...job.items[0], index: 10 }] },
            'a media item has no index of its own from 0 to 9',
        ],
        [
            'an item with neither',
            { ...job, items: [{ index: 0 }] },
            'a media item has neither a URL and type nor a refusal',
        ],
        [
            'a refusal the webhook cannot make',
            { ...job, items: [{ index: 0, refusal: 'too-large' }] },
            'a media item has neither a URL and type nor a refusal',
        ],
    ])('refuses %s', (_, item, error) => {
        expect(parseMediaJob(item)).toEqual({ ok: false, error });
    });
});

describe('content types and the record', () => {
    it('the allow-list holds Twilio’s fully supported images and what it accepts, lowercased', () => {
        for (const type of [
            'image/jpeg',
            'image/gif',
            'image/png',
            'video/mp4',
            'audio/mpeg',
            'text/vcard',
            'application/pdf',
        ]) {
            expect(ACCEPTED_MEDIA_TYPES.has(type)).toBe(true);
        }
        expect(isAcceptedMediaType('video/H264')).toBe(true);
        expect(isAcceptedMediaType('text/html')).toBe(false);
        expect(isAcceptedMediaType('image/svg+xml')).toBe(false);
        expect(isAcceptedMediaType(undefined)).toBe(false);
    });

    it('knownMedia keeps the well-formed items once each, with known refusals and cut details', () => {
        expect(
            knownMedia({
                status: 'copied',
                items: [
                    {
                        index: 0,
                        outcome: 'stored',
                        blob: `${MESSAGE}/0`,
                        size: 10,
                        contentType: 'image/png',
                        extra: 1,
                    },
                    { index: 0, outcome: 'refused' },
                    { index: 1, outcome: 'refused', refusal: 'too-large', detail: 'x'.repeat(400) },
                    { index: 2, outcome: 'refused', refusal: 'made-up' },
                    { index: 10, outcome: 'stored' },
                    { index: 3, outcome: 'lost' },
                    'junk',
                ],
                reason: 7,
            }),
        ).toEqual({
            status: 'copied',
            items: [
                { index: 0, outcome: 'stored', blob: `${MESSAGE}/0`, size: 10, contentType: 'image/png' },
                { index: 1, outcome: 'refused', refusal: 'too-large', detail: 'x'.repeat(300) },
                { index: 2, outcome: 'refused' },
            ],
        });
        expect(knownMedia({ status: 'pending', items: [] })).toBeUndefined();
        expect(knownMedia([])).toBeUndefined();
    });
});
