import { describe, expect, it } from "vitest";
import { admittedAt, bucketAt, KEY_SPACE, lineKey, sealedBucket } from "../domain/line";
import type { Watermark } from "../domain/schemas/room";
import {
  activeAt,
  admitLate,
  advance,
  burstOf,
  initialAdmission,
  MARKS,
  unitsRoom,
  type Admission,
  type Limits,
} from "../domain/admission";
import { standingOf } from "../src/edge/queue-status";
import { watermarkOf } from "./support/watermark";

/** A small seeded PRNG (mulberry32): irregular tick patterns that replay identically. */
function prng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Tick = { t: number; upto: number; n: number; ranked: number; active: number };

/**
 * Drives `advance` on an injected clock from t = 0 to `until` ms: `next(t)` gives the gap to
 * the next tick, `ranked(t)` how many are in line, `limits(t)` the limits in force. Records
 * every tick and checks, at each one, the two things that must hold whatever the pattern:
 * the watermark never passes the line, and `activeAt` agrees with an independent count.
 */
function run(opts: { until: number; next: (t: number) => number; ranked: (t: number) => number; limits: (t: number) => Limits }) {
  let a: Admission = initialAdmission(0);
  const ticks: Tick[] = [{ t: 0, upto: 0, n: 0, ranked: opts.ranked(0), active: 0 }];
  for (let t = opts.next(0); t <= opts.until; t += opts.next(t)) {
    const lim = opts.limits(t);
    const ranked = opts.ranked(t);
    const before = a.upto;
    a = advance(a, t, ranked, lim);
    expect(a.upto).toBeLessThanOrEqual(ranked);
    expect(a.upto).toBeGreaterThanOrEqual(before);
    // Active = admitted at a tick less than active_ms ago (the same rule as a pass's lifetime).
    // The room's count may run up to one history bucket long, never short.
    const n = a.upto - before;
    const admittedSince = (from: number) => ticks.filter((k) => k.t > from).reduce((s, k) => s + k.n, 0) + n;
    const active = admittedSince(t - lim.active_ms);
    expect(activeAt(a, t, lim.active_ms)).toBeGreaterThanOrEqual(active);
    expect(activeAt(a, t, lim.active_ms)).toBeLessThanOrEqual(admittedSince(t - lim.active_ms - lim.active_ms / MARKS));
    expect(active).toBeLessThanOrEqual(lim.max_active);
    ticks.push({ t, upto: a.upto, n, ranked, active });
  }
  return { ticks, last: ticks.at(-1)!, state: a };
}

/** The bound from the doc comment over every pair of ticks: admitted ≤ rate·Δt + burst. */
function expectRateBound(ticks: Tick[], rate: number) {
  let worst = -Infinity;
  for (let i = 0; i < ticks.length; i++) {
    for (let j = i + 1; j < ticks.length; j++) {
      const excess = ticks[j]!.upto - ticks[i]!.upto - (rate * (ticks[j]!.t - ticks[i]!.t)) / 1000;
      if (excess > worst) worst = excess;
    }
  }
  // A tiny epsilon for floating-point token sums.
  expect(worst).toBeLessThanOrEqual(burstOf(rate) + 1e-9);
}

const BIG_LINE = () => 10_000_000;
const open = (rate: number, max_active = 10_000_000, active_ms = 120_000): Limits => ({ rate, max_active, active_ms });

const PATTERNS: Record<string, (seed: number) => (t: number) => number> = {
  "every 50 ms": () => () => 50,
  "every 250 ms": () => () => 250,
  "irregular 1-400 ms": (seed) => {
    const r = prng(seed);
    return () => 1 + Math.floor(r() * 400);
  },
  "irregular with 1 s gaps": (seed) => {
    const r = prng(seed);
    return () => (r() < 0.1 ? 1000 : 1 + Math.floor(r() * 300));
  },
};

/**
 * Invariant 7, the rate half, on an injected clock: however the room is ticked (often, rarely,
 * irregularly, with the longest gap a tick may have), a busy line admits between 95 % of
 * rate·T and rate·T + burst, and no window of any length admits more than rate·Δt + burst.
 */
describe("admission rate (token bucket)", () => {
  const T = 60_000;
  for (const rate of [0.5, 1, 7, 20, 50, 333.3]) {
    for (const [name, pattern] of Object.entries(PATTERNS)) {
      it(`rate ${rate}/s ticked ${name}: ≥ 0.95·R·T and ≤ R·Δt + burst in every window`, () => {
        const { ticks, last } = run({ until: T, next: pattern(Math.round(rate * 1000)), ranked: BIG_LINE, limits: () => open(rate) });
        const elapsed = last.t / 1000;
        expect(last.upto).toBeLessThanOrEqual(rate * elapsed + burstOf(rate));
        expect(last.upto).toBeGreaterThanOrEqual(0.95 * rate * elapsed);
        expectRateBound(ticks, rate);
      });
    }
  }

  it("an idle room saves at most one burst: a crowd arriving later gets burst at once, then the rate", () => {
    const rate = 20;
    // Nobody in line for 10 s, then 1000 arrive at once.
    const { ticks } = run({ until: 15_000, next: () => 50, ranked: (t) => (t < 10_000 ? 0 : 1000), limits: () => open(rate) });
    expect(ticks.filter((k) => k.t < 10_000).every((k) => k.upto === 0)).toBe(true);
    const first = ticks.find((k) => k.t >= 10_000)!;
    expect(first.n).toBe(burstOf(rate));
    const end = ticks.at(-1)!;
    expect(end.upto - first.upto).toBeLessThanOrEqual((rate * (end.t - first.t)) / 1000 + 1);
    expectRateBound(ticks, rate);
  });

  it("never admits past the last rank handed out, and the line is served as it grows", () => {
    const rate = 50;
    // Arrivals trickle in slower than the rate, in waves: the watermark tracks the line.
    const r = prng(7);
    let line = 0;
    const { ticks } = run({
      until: 20_000,
      next: () => 1 + Math.floor(r() * 200),
      ranked: (t) => (line += t % 3000 < 1000 ? Math.floor(r() * 4) : 0),
      limits: () => open(rate),
    });
    for (const k of ticks) expect(k.upto).toBeLessThanOrEqual(k.ranked);
    // Slower arrivals than the rate: the line is empty again within a second of each arrival.
    const end = ticks.at(-1)!;
    expect(end.upto).toBe(end.ranked);
    expect(end.upto).toBeGreaterThan(0);
    expectRateBound(ticks, rate);
  });

  it("a rate change takes effect at the next tick, both up and down", () => {
    const rateAt = (t: number) => (t <= 10_000 ? 10 : t <= 20_000 ? 100 : 2);
    const { ticks } = run({ until: 30_000, next: () => 100, ranked: BIG_LINE, limits: (t) => open(rateAt(t)) });
    const at = (t: number) => ticks.find((k) => k.t === t)!;
    // The first tick under 100/s admits a tenth of a second's worth of it (not of 10/s).
    expect(at(10_100).n).toBeGreaterThanOrEqual(9);
    // The first tick under 2/s admits at most its burst (tokens saved at 100/s are capped).
    expect(at(20_100).n).toBeLessThanOrEqual(burstOf(2));
    const phases: [number, number, number][] = [
      [0, 10_000, 10],
      [10_000, 20_000, 100],
      [20_000, 30_000, 2],
    ];
    for (const [from, to, rate] of phases) {
      const admitted = at(to).upto - at(from).upto;
      const secs = (to - from) / 1000;
      expect(admitted).toBeLessThanOrEqual(rate * secs + burstOf(rate));
      expect(admitted).toBeGreaterThanOrEqual(0.95 * rate * secs);
      expectRateBound(
        ticks.filter((k) => k.t >= from + 100 && k.t <= to),
        rate,
      );
    }
  });
});

/**
 * Invariant 7, the max_active half: never more than max_active admitted within the active
 * window (checked at every tick by run()), and admission resumes as old admissions age out.
 */
describe("admission max_active", () => {
  it("stops at max_active and resumes as the active window passes", () => {
    const lim = open(50, 30, 2000);
    const { ticks, last } = run({ until: 10_000, next: () => 50, ranked: BIG_LINE, limits: () => lim });
    const full = ticks.find((k) => k.active === lim.max_active)!;
    expect(full).toBeDefined();
    // Right after filling up nothing more gets in for a while…
    expect(ticks.filter((k) => k.t > full.t && k.t < full.t + 1000).every((k) => k.n === 0)).toBe(true);
    // …and once the first admissions are older than the window, it admits again.
    const resumed = ticks.find((k) => k.t > full.t && k.n > 0)!;
    expect(resumed.t).toBeGreaterThanOrEqual(ticks.find((k) => k.n > 0)!.t + lim.active_ms);
    // Over 10 s with a 2 s window, about five windows' worth got in (rate-limited at first).
    expect(last.upto).toBeGreaterThanOrEqual(4 * lim.max_active);
    expect(last.upto).toBeLessThanOrEqual(Math.ceil(10_000 / lim.active_ms) * lim.max_active);
  });

  it("holds with irregular ticks and a rate far above max_active", () => {
    const r = prng(42);
    const lim = open(1000, 25, 1500);
    const { last } = run({
      until: 12_000,
      next: () => (r() < 0.1 ? 1000 : 1 + Math.floor(r() * 120)),
      ranked: BIG_LINE,
      limits: () => lim,
    });
    // run() asserted active ≤ 25 at every tick; admission kept going window after window.
    expect(last.upto).toBeGreaterThanOrEqual(25 * 6);
  });

  it("the marks history stays bounded (only the active window plus one anchor)", () => {
    const lim = open(20, 1_000_000, 1000);
    const { state, last } = run({ until: 30_000, next: () => 50, ranked: BIG_LINE, limits: () => lim });
    expect(state.marks.length).toBeLessThanOrEqual(1000 / 50 + 2);
    expect(activeAt(state, last.t, lim.active_ms)).toBeLessThanOrEqual(20 + burstOf(20));
  });

  it("admitting on every join (a tick per millisecond) keeps at most MARKS buckets per window", () => {
    const lim = open(100_000, 10_000_000, 120_000);
    let a = initialAdmission(0);
    for (let t = 1; t <= 130_000; t++) a = advance(a, t, t, lim); // one shopper joins each ms, admitted at once
    expect(a.upto).toBe(130_000);
    expect(a.marks.length).toBeLessThanOrEqual(MARKS + 2);
    expect(activeAt(a, 130_000, lim.active_ms)).toBeGreaterThanOrEqual(120_000);
  });
});

const K = KEY_SPACE / 4; // a key a quarter of the way through a bucket
const wm = (over: Partial<Watermark> = {}): Watermark =>
  withDraw(
    watermarkOf({
      upto: { b: 3, k: K },
      queued: 2000,
      marks: [
        { t: 0, admitted: 0, upto: null },
        { t: 900_000, admitted: 10, upto: { b: 3, k: K } },
      ],
      waiting: [
        { b: 3, n: 30 },
        { b: 4, n: 100 },
        { b: 5, n: 400 },
      ],
      ...over,
    }),
    over,
  );
/** No lottery window unless the test says: the draw is at the opening. */
const withDraw = (w: Watermark, over: Partial<Watermark>): Watermark => ({ ...w, draw_at: over.draw_at ?? w.starts_at });

/**
 * What a shopper is told, from their ticket's place and the cached watermark: admitted iff the
 * watermark passed the place and the pass lifetime since then has not run out; expired after
 * that (never a pass again); otherwise the count ahead, an ETA and a sane refresh.
 */
describe("standingOf", () => {
  const now = 1_000_000;

  it("admits exactly the places at or under the watermark, with a pass until admission + pass_ttl_s", () => {
    for (const place of [
      { b: 0, k: 5 },
      { b: 2, k: KEY_SPACE - 1 },
      { b: 3, k: 0 },
      { b: 3, k: K },
    ]) {
      const s = standingOf(place, undefined, wm(), now);
      expect(s.status).toMatchObject({ state: "admitted", position: 0, eta_s: 0, inWaitingRoom: false, refreshIntervalSeconds: 0 });
      expect(s.admittedAt).toBe(900_000);
      expect(s.passUntil).toBe(900_000 + 120_000);
    }
    expect(standingOf({ b: 3, k: K + 1 }, undefined, wm(), now).status).toMatchObject({ state: "waiting", inWaitingRoom: true });
    expect(standingOf({ b: 4, k: 0 }, undefined, wm(), now).status.state).toBe("waiting");
  });

  it("an admission's time is over after pass_ttl_s: expired, no pass, from the ticket or from the marks", () => {
    // Signed into the ticket: 121 s ago.
    const late = standingOf({ b: 3, k: 1 }, now - 121_000, wm(), now);
    expect(late.status.state).toBe("expired");
    expect(late.passUntil).toBeNull();
    // Passed before the oldest mark (the window's anchor): over too.
    const old = wm({
      marks: [
        { t: 700_000, admitted: 10, upto: { b: 3, k: K } },
        { t: 950_000, admitted: 12, upto: { b: 3, k: K + 5 } },
      ],
    });
    expect(standingOf({ b: 3, k: 1 }, undefined, old, now).status.state).toBe("expired");
    // Still inside its time: admitted, with the same end whenever it polls.
    const s1 = standingOf({ b: 3, k: 1 }, now - 60_000, wm(), now);
    const s2 = standingOf({ b: 3, k: 1 }, now - 60_000, wm(), now + 30_000);
    expect(s1.passUntil).toBe(now + 60_000);
    expect(s2.passUntil).toBe(now + 60_000);
  });

  it("position counts who waits ahead (buckets before, the share of the own bucket below the key); ETA follows the rate", () => {
    // Bucket 4, key at a quarter: 30 (rest of bucket 3) + a quarter of 100.
    expect(standingOf({ b: 4, k: K }, undefined, wm(), now).status).toMatchObject({ position: 30 + 25 + 1, eta_s: 12, refresh_s: 3 });
    // Bucket 5, last key: everyone ahead.
    expect(standingOf({ b: 5, k: KEY_SPACE - 1 }, undefined, wm(), now).status.position).toBe(30 + 100 + 399 + 1);
    for (let b = 3; b <= 6; b++) {
      const s = standingOf({ b, k: KEY_SPACE / 2 }, undefined, wm(), now).status;
      expect(s.refresh_s).toBeGreaterThanOrEqual(1);
      expect(s.refresh_s).toBeLessThanOrEqual(15);
      expect(s.refreshIntervalSeconds).toBe(s.refresh_s);
      expect(s.waitTime).toBe(Math.ceil(s.eta_s! / 60));
    }
  });

  it("with no rate the wait is unknown, not infinite or NaN", () => {
    expect(standingOf({ b: 4, k: 0 }, undefined, wm({ rate: 0 }), now).status).toMatchObject({
      state: "waiting",
      position: 31,
      eta_s: null,
      waitTimeKnown: false,
      waitTime: 0,
      refresh_s: 8,
    });
  });

  it("a pre-queue place waits for the draw (the opening, plus the reports) whatever the watermark says", () => {
    const before = wm({ starts_at: now + 95_000, upto: null, sealed: -1, marks: [] });
    expect(standingOf({ b: 0, k: 5 }, undefined, before, now).status).toMatchObject({
      state: "waiting",
      position: null,
      eta_s: null,
      opens_in_s: 95,
      refresh_s: 24,
      waitTimeKnown: false,
      inWaitingRoom: true,
    });
    expect(standingOf({ b: 0, k: 5 }, undefined, wm({ starts_at: now + 400_000, upto: null, sealed: -1 }), now).status.refresh_s).toBe(30);
    // Opened, but the pre-queue's reports are not all in: poll again soon.
    expect(standingOf({ b: 0, k: 5 }, undefined, wm({ starts_at: now - 500, upto: null, sealed: -1 }), now).status).toMatchObject({
      opens_in_s: 0,
      refresh_s: 1,
    });
    // Drawn: a place by key.
    const drawn = wm({ starts_at: now - 5000, upto: null, sealed: 40, waiting: [{ b: 0, n: 200 }] });
    expect(standingOf({ b: 0, k: KEY_SPACE / 2 }, undefined, drawn, now).status.position).toBe(101);
  });
});

/** Places reported after the watermark passed them are admitted at once: the rate pays for them. */
describe("late places", () => {
  it("are debited from the rate and counted active, so admitted − late stays within R·t + burst and the total catches up", () => {
    const lim: Limits = { rate: 10, max_active: 1_000_000, active_ms: 60_000 };
    let a = advance(initialAdmission(0), 1000, 1_000_000, lim); // the first second's budget, spent
    const spent = a.upto;
    expect(spent).toBeLessThanOrEqual(10 * 1 + burstOf(10));
    a = admitLate(a, 1000, 25, lim); // 25 late places at t = 1 s
    expect(a.upto).toBe(spent + 25);
    expect(activeAt(a, 1000, lim.active_ms)).toBeGreaterThanOrEqual(spent + 25);
    // The next admissions wait for them: by t = 3 s the total is back within the rule's bound.
    const at3 = advance(a, 3000, 1_000_000, lim);
    expect(at3.upto).toBeLessThanOrEqual(10 * 3 + burstOf(10));
    // And admitted − late never exceeds the bound at any tick.
    for (let t = 1100; t <= 5000; t += 100)
      expect(advance(a, t, 1_000_000, lim).upto - 25).toBeLessThanOrEqual((10 * t) / 1000 + burstOf(10));
    // Without late places the line would have had more of its own admissions by 3 s.
    expect(advance(advance(initialAdmission(0), 1000, 1_000_000, lim), 3000, 1_000_000, lim).upto).toBeGreaterThan(at3.upto - 25);
  });
});

/** Issue 19: a turn carries a unit; the lottery window; admission times never in the future. */
describe("units, the draw and admission times", () => {
  it("admits no more than the units left: per unit × available, less the turns out and unused", () => {
    expect(unitsRoom(1, 50, 0, 0)).toBe(50);
    expect(unitsRoom(1, 50, 30, 0)).toBe(20); // 30 admitted, none claimed yet: their units are kept
    expect(unitsRoom(1, 40, 30, 10)).toBe(20); // 10 of them claimed (available went down by as many)
    expect(unitsRoom(1, 0, 5, 0)).toBe(-5); // more turns out than units (late places): none may be admitted
    expect(unitsRoom(2, 50, 0, 0)).toBe(100);
    expect(unitsRoom(1.5, 3, 0, 0)).toBe(4);
    // The rule's cap: advance admits min(tokens, line, max_active room, units).
    const lim: Limits = { rate: 1000, max_active: 1_000_000, active_ms: 60_000, units: 7 };
    expect(advance({ ...initialAdmission(0), tokens: 1000 }, 10, 500, lim).upto).toBe(7);
    expect(advance({ ...initialAdmission(0), tokens: 1000 }, 10, 500, { ...lim, units: -3 }).upto).toBe(0);
  });

  it("arrivals before the draw (opening + lottery_s) are bucket 0, later ones keep their time since the opening; bucket 0 is sealed after the draw", () => {
    const open = 1_000_000;
    const draw = open + 10_000;
    expect(bucketAt(open - 5000, open, draw)).toBe(0);
    expect(bucketAt(open + 9999, open, draw)).toBe(0);
    expect(bucketAt(open + 10_000, open, draw)).toBe(101);
    expect(bucketAt(open + 50, open)).toBe(1); // no window: first come, first served from the opening
    expect(sealedBucket(draw + 1400, open, 1000, 500, draw)).toBe(-1);
    expect(sealedBucket(draw + 1500, open, 1000, 500, draw)).toBe(100);
  });

  it("a place's admission time is never after the tick that admitted it, whatever the ticks (random runs)", () => {
    for (let run = 0; run < 50; run++) {
      const activeMs = 1000 + Math.floor(Math.random() * 200_000);
      const lim: Limits = { rate: 1 + Math.random() * 200, max_active: 1_000_000, active_ms: activeMs };
      let a = initialAdmission(0);
      let now = 0;
      const admittedBy: number[] = []; // rank → the time of the tick that admitted it
      for (let tick = 0; tick < 200; tick++) {
        now += 1 + Math.floor(Math.random() * 400);
        const before = a.upto;
        // Ranks stand for places: rank r is the place { b: r, k: 0 }.
        const b = advance(a, now, before + 1000, lim);
        a = advance(a, now, before + 1000, lim, b.upto > before ? { b: b.upto, k: 0 } : null);
        for (let r = before + 1; r <= a.upto; r++) admittedBy[r] = now;
        // Every place still in the window: its admission time, from the marks, is at or before its tick.
        for (let r = Math.max(1, a.upto - 50); r <= a.upto; r++) {
          const at = admittedAt(a.marks, { b: r, k: 0 });
          if (at !== null && admittedBy[r]! > now - activeMs) expect(at).toBeLessThanOrEqual(admittedBy[r]!);
        }
      }
    }
  });
});

describe("line keys", () => {
  it("one key per identity and salt, the same when drawn again (remembered), another under another salt", async () => {
    const [s1, s2] = ["a1".repeat(16), "b2".repeat(16)];
    const ids = Array.from({ length: 200 }, (_, i) => `acct:key-${i}`);
    const first = await Promise.all(ids.map((id) => lineKey(s1, id)));
    const again = await Promise.all(ids.map((id) => lineKey(s1, id)));
    const other = await Promise.all(ids.map((id) => lineKey(s2, id)));
    expect(again).toEqual(first);
    expect(new Set(first).size).toBe(ids.length);
    for (const [i, k] of first.entries()) {
      expect(Number.isInteger(k) && k >= 0 && k < KEY_SPACE).toBe(true);
      expect(other[i]).not.toBe(k);
    }
    // HMAC-SHA256(salt, identity), first 48 bits: computed here independently.
    const key = await crypto.subtle.importKey("raw", new Uint8Array(16).fill(0xa1), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(ids[7]!)));
    expect(first[7]).toBe(mac.slice(0, 6).reduce((n, b) => n * 256 + b, 0));
  });
});
