/**
 * The twimlets this app hosts at `/api/twimlets/{name}`, by name. Each module loads on its first call,
 * so a cold start of any function pays for none of them. A new twimlet is one module exporting a
 * {@link Twimlet} (contract.ts) and one line here.
 */

import { lazy } from '../../platform/lazy';
import type { Twimlet } from './contract';

const TWIMLETS = new Map<string, () => Promise<Twimlet>>([
    ['message', lazy(async () => (await import('./message')).message)],
    ['forward', lazy(async () => (await import('./forward')).forward)],
    ['simulring', lazy(async () => (await import('./simulring')).simulring)],
    ['findme', lazy(async () => (await import('./findme')).findme)],
    ['menu', lazy(async () => (await import('./menu')).menu)],
    ['conference', lazy(async () => (await import('./conference')).conference)],
    ['voicemail', lazy(async () => (await import('./voicemail')).voicemail)],
]);

/** The loader of the twimlet called `name` (lowercase, as routed), or undefined for no such twimlet. */
export function findTwimlet(name: string): (() => Promise<Twimlet>) | undefined {
    return TWIMLETS.get(name);
}
