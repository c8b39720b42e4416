/**
 * Masks a phone number for logs, keeping the country-code end and the last four digits of a full-length
 * number (`+15551234567` → `+1555***4567`): enough to tell messages apart, not enough to identify a
 * person. Shorter numbers keep a quarter of their digits at each end, so at least half stay hidden.
 * Anything that is not a plain number (client identifiers, SIP addresses) is masked whole.
 */
export function maskPhone(value: string | null | undefined): string {
    if (value === null || value === undefined || value === '') return '(none)';
    const match = /^(\+?)(\d{6,15})$/.exec(value.trim());
    if (match === null) return '***';
    const [, plus = '', digits = ''] = match;
    const kept = digits.length >= 11 ? 4 : Math.floor(digits.length / 4);
    return `${plus}${digits.slice(0, kept)}***${digits.slice(digits.length - kept)}`;
}
