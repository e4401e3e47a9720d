import { env } from "cloudflare:workers";
import { clockShift, freezeClock, now, shiftClock } from "../../domain/clock";

/**
 * The one clock (domain/clock.ts), as tests drive it. The Worker's handler, its Durable Objects
 * and the test run in one isolate here, so moving the clock moves all of them: an expiry, a
 * pass's end, a sale's opening or an edge cache's age is reached at once instead of waited out.
 * It only moves forward; a test reads the time with `now()`, never `Date.now()`, so it agrees
 * with the objects whatever the earlier tests in its file did. Alarms are set on the moved clock
 * and so fire late in real time: a test that moves the clock runs the alarm it needs
 * (`runDurableObjectAlarm`, support/worker's `runAlarm`).
 */
export { now };

/** Moves the clock `ms` forward (negative or zero: not at all). */
export function advanceClock(ms: number): void {
  if (ms > 0) shiftClock(env, clockShift() + Math.ceil(ms));
}

/** Moves the clock to `t` (epoch ms) if it is not there yet. */
export function advanceClockTo(t: number): void {
  advanceClock(t - now());
}

/** Stops the clock (until `thawClock`): only `advanceClock` moves it, so no read races the machine's speed. */
export const stopClock = () => freezeClock(env, true);
/** Lets the clock run again, from the platform's time (never back). */
export const thawClock = () => freezeClock(env, false);
