// The Node side's one clock (scripts, the rehearsal, the bench, the CLI): real time, which is
// what they measure and schedule by. The Worker and its objects read domain/clock.ts instead,
// which tests can move; `npm run check:clock` keeps every other file off `Date.now()`.

/** Milliseconds since the epoch. */
export const now = () => Date.now();

/** The current instant as a Date (for printing). */
export const nowDate = () => new Date(now());
