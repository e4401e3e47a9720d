import type { SaleState, SaleStatus } from "./schemas/sale";

/**
 * The one clock: every time the edge and the objects act on (an expiry, a pass's end, a cache's
 * age, a sale's opening) is read from `now()`, never from `Date.now()` directly
 * (scripts/check-clock.mjs, `npm run check:clock`, keeps it so). In production it is the
 * platform's clock. Tests move it forward (`shiftClock`) to reach a time without waiting for it:
 * the test runner runs the Worker and its objects in one isolate, so one shift moves the edge,
 * every object and the test's own reading at once.
 */
let shiftMs = 0;
/** Tests only: the instant the clock stands still at (null: it runs). */
let frozenAt: number | null = null;

/** Milliseconds since the epoch, on the one clock. */
export const now = (): number => frozenAt ?? Date.now() + shiftMs;

/**
 * Tests only: sets the clock `ms` ahead of the platform's; it only grows (the objects' alarms and
 * expiries were set on it, and test files share a runtime, so it never goes back). Refused unless the
 * deployment is local, like every other local convenience (domain/config.ts): a deployed Worker
 * never calls it, and could not move its clock if it did.
 */
export function shiftClock(env: { DEPLOYMENT?: string }, ms: number): void {
  if (env.DEPLOYMENT !== "local") throw new Error('the clock is moved only in local tests (DEPLOYMENT = "local")');
  if (!Number.isFinite(ms) || ms < shiftMs) throw new Error(`the clock only moves forward: ${ms} ms < ${shiftMs} ms`);
  if (frozenAt !== null) frozenAt += ms - shiftMs;
  shiftMs = ms;
}

/**
 * Tests only (local, as above): stops the clock where it is (`true`), so that "right after" is
 * not a race with the machine's speed; `false` lets it run on from the platform's time (shifted
 * as before, so it never goes back).
 */
export function freezeClock(env: { DEPLOYMENT?: string }, frozen: boolean): void {
  if (env.DEPLOYMENT !== "local") throw new Error('the clock is moved only in local tests (DEPLOYMENT = "local")');
  frozenAt = frozen ? now() : null;
}

/**
 * The runtime fires a Durable Object's alarm on the platform's clock: an alarm wanted at `t` on
 * this one is set at `onPlatform(t)`, so it fires when this clock reaches `t` even once tests
 * have moved it (in production the two are the same). Rounded up to a whole millisecond: the
 * runtime keeps alarms in whole milliseconds, so a time like 27.33 fired at 27, found nothing due
 * yet, asked for 27.33 again, and the runtime, seeing the time of the alarm it had just run,
 * dropped it: the object never woke again (a soak run, seed 465152712, a payment re-ask paced
 * to a fraction of a millisecond). And never at or before the platform's epoch: the runtime
 * refuses such a time (a TypeError, and no alarm at all), where a time long past means "now".
 * (The model test marks a refund due at 0 on a clock tests moved ahead: the refund then waited
 * for good, since nothing woke the object; seed 587392206.)
 */
export const onPlatform = (t: number): number => Math.max(1, Math.ceil(t) - shiftMs);
/** An instant the platform gave (`getAlarm`), on this clock. */
export const fromPlatform = (t: number): number => t + shiftMs;

/** How far tests have moved the clock (0 in production). */
export const clockShift = (): number => shiftMs;

const written = new Map<number, string>();
/**
 * An instant as answers write it (ISO 8601, UTC, milliseconds). A status poll writes the same few
 * instants again and again (a ticket's end moves in 5-minute steps, a pass ends when its turn
 * does), so each is formatted once and kept (a few thousand at most).
 */
export function isoAt(ms: number): string {
  let s = written.get(ms);
  if (s === undefined) {
    if (written.size >= 4096) written.clear();
    written.set(ms, (s = new Date(ms).toISOString()));
  }
  return s;
}

/**
 * The clock's part of a sale's status, one rule for the object, the edge and the page: the
 * operator's switch (live, paused, closed) and the sale's window decide it.
 */
export function statusOf(state: SaleState, window: { starts_at: number; ends_at: number }, now: number): SaleStatus {
  if (state === "closed" || now >= window.ends_at) return "closed";
  if (state === "paused") return "paused";
  return now < window.starts_at ? "scheduled" : "open";
}

const ORDER: Record<SaleStatus, number> = { scheduled: 0, open: 1, paused: 1, closed: 2 };

/**
 * A status that was computed earlier (a cached view, an answer in flight), brought up to `now`:
 * a "scheduled" sale opens on time and an open one closes at its end without asking the object.
 * It only ever moves a status forward, so an answer computed on a clock a little ahead of this
 * one is never turned back.
 */
export function onTheClock<S extends { status: SaleStatus; starts_at: string; ends_at: string }>(sale: S, now: number): S {
  const state: SaleState = sale.status === "closed" ? "closed" : sale.status === "paused" ? "paused" : "live";
  const status = statusOf(state, { starts_at: Date.parse(sale.starts_at), ends_at: Date.parse(sale.ends_at) }, now);
  return ORDER[status] > ORDER[sale.status] ? { ...sale, status } : sale;
}
