/**
 * Masks a phone number for logs, keeping the country-code end and the last four digits
 * (`+15551234567` → `+1555***4567`): enough to tell messages apart, not enough to identify a person.
 * Anything that is not a plain number (client identifiers, SIP addresses) is masked whole.
 */
export function maskPhone(value: string | null | undefined): string {
    if (value === null || value === undefined || value === '') return '(none)';
    const match = /^(\+?\d{4})\d*(\d{4})$/.exec(value.trim());
    if (match === null) return '***';
    return `${match[1] ?? ''}***${match[2] ?? ''}`;
}
