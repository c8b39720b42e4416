/**
 * Admission for the expensive part of checking a large webhook: one at a time per process, a bounded
 * line behind it.
 *
 * The Functions Node worker runs every invocation on one thread. A large forged webhook takes several
 * milliseconds of CPU to parse and sign even in slices, and four of them sliced side by side would still
 * take turns with a small request four slices at a time; one at a time, a small request waits for at most
 * one slice. Waiting costs no CPU, and the line is bounded so a flood cannot hold memory without limit.
 */

/** Ends one admitted request's turn, handing it to the next in line. */
export type Release = () => void;

export interface Admission {
    /** A turn, once every earlier one has ended; `undefined` at once when the line is full. */
    acquire(): Promise<Release | undefined>;
    /** How many are waiting for a turn (not counting the one holding it). */
    readonly waiting: number;
}

/** An admission with one turn at a time and at most `maxWaiting` in line. */
export function createAdmission(maxWaiting: number): Admission {
    let busy = false;
    const line: ((release: Release) => void)[] = [];
    const release = () => {
        const next = line.shift();
        // The turn passes straight to the next in line, so a newcomer cannot slip in between.
        if (next === undefined) busy = false;
        else next(once());
    };
    const once = (): Release => {
        let done = false;
        return () => {
            if (done) return;
            done = true;
            release();
        };
    };
    return {
        acquire() {
            if (!busy) {
                busy = true;
                return Promise.resolve(once());
            }
            if (line.length >= maxWaiting) return Promise.resolve(undefined);
            return new Promise<Release>((resolve) => line.push(resolve));
        },
        get waiting() {
            return line.length;
        },
    };
}
