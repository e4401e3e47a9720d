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
  upto: number;
  tokens: number;
  at: number;
  /** Watermark history for the active window: `[time, upto]`, oldest first. */
  marks: [number, number][];
};

export type Limits = { rate: number; max_active: number; active_ms: number };

/** Buckets of admission history per active window. */
export const MARKS = 100;

export const burstOf = (rate: number) => rate + 1;

export const initialAdmission = (now: number): Admission => ({ upto: 0, tokens: 0, at: now, marks: [] });

/** Shoppers admitted within the active window at `now`. */
export function activeAt(a: Admission, now: number, activeMs: number): number {
  let before = 0;
  for (const [t, upto] of a.marks) {
    if (t <= now - activeMs) before = upto;
    else break;
  }
  return a.upto - before;
}

/** Advances the watermark to `now` given `ranked` shoppers in line (ranks 1..ranked). */
export function advance(a: Admission, now: number, ranked: number, lim: Limits): Admission {
  const dt = Math.max(0, now - a.at) / 1000;
  let tokens = Math.min(burstOf(lim.rate), a.tokens + dt * lim.rate);
  const room = Math.max(0, lim.max_active - activeAt(a, now, lim.active_ms));
  const n = Math.max(0, Math.min(Math.floor(tokens), ranked - a.upto, room));
  tokens -= n;
  // Keep marks only as far back as the active window needs (plus the one that anchors it).
  const marks = a.marks.filter(([t]) => t > now - lim.active_ms);
  const anchor = a.marks.filter(([t]) => t <= now - lim.active_ms).at(-1);
  const upto = a.upto + n;
  if (n > 0) {
    const bucket = Math.max(1, Math.floor(lim.active_ms / MARKS));
    const end = Math.ceil((now + 1) / bucket) * bucket; // strictly after now
    if (marks.at(-1)?.[0] === end) marks[marks.length - 1] = [end, upto];
    else marks.push([end, upto]);
  }
  return { upto, tokens, at: now, marks: anchor ? [anchor, ...marks] : marks };
}
