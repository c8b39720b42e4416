/**
 * Console output for the local host and `npm start`, in the shape Core Tools prints.
 */

import type { LogLevel } from '@azure/functions';

/** Writes one timestamped line per log call; warnings and errors go to stderr. */
export function consoleLogger(level: LogLevel, message: string): void {
    if (level === 'debug' || level === 'trace' || level === 'none') return;
    const line = `[${new Date().toISOString()}] ${message}`;
    if (level === 'error' || level === 'critical' || level === 'warning') console.error(line);
    else console.log(line);
}
