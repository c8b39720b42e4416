/**
 * TwiML documents, always built with twilio's own TwiML builders so that text from settings or requests
 * is escaped. The builders are imported on first use (they pull in an XML library); the rest of the
 * `twilio` package is never loaded here.
 */

import type { HttpResponseInit } from '@azure/functions';
import type VoiceResponse from 'twilio/lib/twiml/VoiceResponse';
import { lazy } from './lazy';
import { TWILIO_HANDLED_KEYWORDS } from './twilioKeywords';

const loadVoiceResponse = lazy(async () => (await import('twilio/lib/twiml/VoiceResponse')).default);
const loadMessagingResponse = lazy(async () => (await import('twilio/lib/twiml/MessagingResponse')).default);

// Characters XML 1.0 cannot carry at all (C0 controls other than tab/LF/CR, U+FFFE/U+FFFF, lone
// surrogates). The builders throw on them, so they are dropped and the rest of the text is kept.
const NOT_XML_CHAR = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;

/** Removes the characters that cannot appear in an XML document. */
export function toXmlText(text: string): string {
    return text.replace(NOT_XML_CHAR, '');
}

const URL_TO_PLAY = /^https?:\/\/\S+$/i;
const MESSAGE_KEY = /^Message(?:\[(\d*)\])?$/;

/**
 * The twimlets `Message` parameters, in play order: `Message` (and `Message[]`) as they occur, then
 * `Message[0]`, `Message[1]`, … by index. Empty values are skipped.
 */
export function twimletMessages(sources: readonly URLSearchParams[]): string[] {
    const plain: string[] = [];
    const indexed: { index: number; order: number; value: string }[] = [];
    for (const params of sources) {
        for (const [key, raw] of params) {
            const match = MESSAGE_KEY.exec(key);
            const value = raw.trim();
            if (match === null || value === '') continue;
            const index = match[1];
            if (index === undefined || index === '') plain.push(value);
            else indexed.push({ index: Number(index), order: indexed.length, value });
        }
    }
    indexed.sort((a, b) => a.index - b.index || a.order - b.order);
    return [...plain, ...indexed.map((entry) => entry.value)];
}

/**
 * Voice TwiML: each twimlets-style message in order (an http(s) URL is played, any other text is said),
 * or the greeting when the request carries no message.
 */
export async function voiceTwiml(greeting: string, messages: readonly string[]): Promise<string> {
    const VoiceResponse = await loadVoiceResponse();
    const response = new VoiceResponse();
    if (messages.length === 0) {
        response.say(toXmlText(greeting));
    }
    for (const message of messages) {
        if (URL_TO_PLAY.test(message)) response.play(toXmlText(message));
        else response.say(toXmlText(message));
    }
    return response.toString();
}

/**
 * A new, empty Voice `<Response>` from twilio's builder (loaded on first use), for flows that build their
 * own TwiML (shared/voice/twimlets/). Text and attribute values must already be XML text
 * ({@link toXmlText}): the builder throws on the characters XML cannot carry in text, and writes them
 * into attributes as they are.
 */
export async function newVoiceResponse(): Promise<VoiceResponse> {
    const Builder = await loadVoiceResponse();
    return new Builder();
}

/**
 * What a call hears when its flow failed for a reason of ours (a bug, a module that would not load): a
 * constant, so it needs no builder.
 */
export const APOLOGY_TWIML =
    '<?xml version="1.0" encoding="UTF-8"?><Response><Say>Sorry, something went wrong. Goodbye.</Say><Hangup/></Response>';

/** Whether an inbound message body is one of the keywords Twilio answers itself. */
export function isTwilioHandledKeyword(body: string | undefined): boolean {
    return body !== undefined && TWILIO_HANDLED_KEYWORDS.has(body.trim().toUpperCase());
}

/** Messaging TwiML: the reply, or an empty `<Response/>` for a keyword Twilio answers itself. */
export async function smsReplyTwiml(reply: string, inboundBody: string | undefined): Promise<string> {
    const MessagingResponse = await loadMessagingResponse();
    const response = new MessagingResponse();
    if (!isTwilioHandledKeyword(inboundBody)) {
        response.message(toXmlText(reply));
    }
    return response.toString();
}

/** An empty Messaging `<Response/>`: nothing is sent back. */
export async function emptyMessagingTwiml(): Promise<string> {
    const MessagingResponse = await loadMessagingResponse();
    return new MessagingResponse().toString();
}

/** An HTTP 200 carrying a TwiML document. */
export function twimlResponse(xml: string): HttpResponseInit {
    return { status: 200, headers: { 'Content-Type': 'text/xml' }, body: xml };
}
