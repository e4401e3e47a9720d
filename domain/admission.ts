import type { Mark, Place } from "./line";

/**
 * Admission control for one sale's waiting room, as a pure function of time so it can be tested
 * with an injected clock. Shoppers are ranked 1, 2, 3, …; the room admits everyone whose rank is
 * ≤ `upto` (the watermark). The watermark advances by a token bucket:
 *   - tokens accrue at `rate` per second, capped at `burst` = rate + 1 (one second's worth, plus
 *     the fraction a busy line carries between ticks: with a cap of exactly one second's worth,
 *     ticks up to 1 s apart would overflow it and a low rate would admit ~15 % less than set),
 *     so admitted(T) ≤ rate·T + burst over any window;
 *   - it never admits past the last rank handed out, and never makes more than `max_active`
 *     shoppers active at once, where "active" means admitted within the last `active_ms`
 *     (the pass lifetime: after that a shopper must have claimed or queue again).
 * The history behind "active" is kept in at most MARKS buckets per window: an admission is
 * recorded at the end of its bucket, so shoppers count as active up to one bucket longer than
 * they are (never shorter), and the state stays small however many join (it is read and written
 * on every join: a mark per admission made joins O(line)).
 */
export type Admission = {
  /** Shoppers admitted so far (the watermark, as a count). */
  upto: number;
  tokens: number;
  at: number;
  /**
   * Watermark history for the active window, oldest first: by time `t`, `admitted` in all, the
   * last at place `upto` (domain/line.ts; null where the caller keeps no places). The edge reads
   * a shopper's admission time off it.
   */
  marks: Mark[];
};

/**
 * `units`: how many more the room may admit for the units left (undefined: no such cap). The room
 * computes it from the product objects' figures (`unitsRoom`); the rate and max_active stay caps.
 */
export type Limits = { rate: number; max_active: number; active_ms: number; units?: number };

/**
 * How many more shoppers may be admitted for the units left: `perUnit` × the units available,
 * less the turns handed out and not yet used (admitted within the active window, `active`, less
 * those whose pass already made a hold, `used`). With `perUnit` 1 every admitted shopper has a
 * unit waiting for them; negative means more turns are out than units (none may be admitted).
 */
export function unitsRoom(perUnit: number, available: number, active: number, used: number): number {
  return Math.floor(perUnit * available + 1e-9) - Math.max(0, active - used);
}

/** Buckets of admission history per active window. */
export const MARKS = 100;

export const burstOf = (rate: number) => rate + 1;

export const initialAdmission = (now: number): Admission => ({ upto: 0, tokens: 0, at: now, marks: [] });

/** Shoppers admitted within the active window at `now`. */
export function activeAt(a: Admission, now: number, activeMs: number): number {
  let before = 0;
  for (const m of a.marks) {
    if (m.t <= now - activeMs) before = m.admitted;
    else break;
  }
  return a.upto - before;
}

/**
 * Advances the watermark to `now` given `ranked` shoppers in line (ranks 1..ranked); `place` is
 * the place of the last one it may admit (the caller's; recorded in the marks).
 */
export function advance(a: Admission, now: number, ranked: number, lim: Limits, place: Place | null = null): Admission {
  const dt = Math.max(0, now - a.at) / 1000;
  const tokens = Math.min(burstOf(lim.rate), a.tokens + dt * lim.rate);
  const room = Math.max(0, lim.max_active - activeAt(a, now, lim.active_ms));
  const n = Math.max(0, Math.min(Math.floor(tokens), ranked - a.upto, room, lim.units ?? Number.MAX_SAFE_INTEGER));
  return {
    upto: a.upto + n,
    tokens: tokens - n,
    at: now,
    marks: recorded(a.marks, now, n > 0 ? [a.upto + n, place] : null, lim.active_ms),
  };
}

/**
 * Shoppers admitted off the watermark's order: late places (their arrival was reported after the
 * watermark passed their place), through `admitHeld` within the budget, or at once beyond the
 * room's late list. They count as admitted now, against the rate (at once, the tokens may go
 * below zero, so the next admissions wait for them) and against max_active. The watermark's place
 * (`at`, else the last mark's) does not move.
 */
export function admitLate(a: Admission, now: number, n: number, lim: Limits, at?: Place | null): Admission {
  if (n <= 0) return a;
  const b = advance(a, now, a.upto, lim); // the tokens, up to now
  const place = at !== undefined ? at : (b.marks.at(-1)?.upto ?? null);
  return { ...b, upto: b.upto + n, tokens: b.tokens - n, marks: recorded(b.marks, now, [b.upto + n, place], lim.active_ms) };
}

/** How many may be admitted at `now`: the rate's tokens, max_active and the units left allow it. */
export function admissible(a: Admission, now: number, lim: Limits): number {
  return advance(a, now, Number.MAX_SAFE_INTEGER, lim).upto - a.upto;
}

/**
 * Late places held back (reported after the watermark passed them, oldest report first) are
 * admitted before the line moves on, within the same budget as everyone: as many as
 * `admissible` allows, in their order (a prefix of `held`). They count like `admitLate`
 * (against the rate, max_active and the units); the watermark's place (`at`) does not move.
 */
export function admitHeld<T>(a: Admission, now: number, held: readonly T[], lim: Limits, at?: Place | null) {
  const n = Math.min(held.length, admissible(a, now, lim));
  return { admission: admitLate(a, now, n, lim, at), admitted: held.slice(0, n) };
}

/**
 * The marks, pruned to the active window (plus the one that anchors it), with an admission
 * recorded at `now` when there is one: at the end of its history bucket, so shoppers count as
 * active up to one bucket longer than they are, never shorter.
 */
function recorded(all: Mark[], now: number, admitted: [upto: number, place: Place | null] | null, activeMs: number): Mark[] {
  const marks = all.filter((m) => m.t > now - activeMs);
  const anchor = all.filter((m) => m.t <= now - activeMs).at(-1);
  if (admitted) {
    const bucket = Math.max(1, Math.floor(activeMs / MARKS));
    const end = Math.ceil((now + 1) / bucket) * bucket; // strictly after now
    const last = marks.at(-1);
    // The stretch keeps the time of its first admission: no shopper's admission time is later than it was.
    if (last?.t === end) marks[marks.length - 1] = { t: end, admitted: admitted[0], upto: admitted[1], from: last.from ?? now };
    else marks.push({ t: end, admitted: admitted[0], upto: admitted[1], from: now });
  }
  return anchor ? [anchor, ...marks] : marks;
}
