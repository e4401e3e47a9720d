import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { activeAt, admissible, admitHeld, advance, burstOf, initialAdmission, type Admission, type Limits } from "../domain/admission";
import { KEY_SPACE, type Place } from "../domain/line";
import type { Watermark } from "../domain/schemas/room";
import { standingOf } from "../src/edge/queue-status";
import { watermarkOf } from "./support/watermark";

/**
 * Issue 19, late places (pure parts): a place reported after the watermark passed it waits for a
 * unit, first among those waiting; the room admits such places first at each tick, within the
 * same budget as everyone (domain/admission.ts `admitHeld`), and the edge answers them from the
 * watermark's late list (src/edge/queue-status.ts).
 */

/** An admission state after a random history of ticks (some admitting, some late). */
const history = fc.record({
  rate: fc.integer({ min: 1, max: 500 }),
  max_active: fc.integer({ min: 1, max: 400 }),
  active_ms: fc.integer({ min: 1000, max: 120_000 }),
  ticks: fc.array(fc.record({ dt: fc.integer({ min: 0, max: 3000 }), line: fc.nat(300) }), { maxLength: 20 }),
});

type History = { rate: number; max_active: number; active_ms: number; ticks: { dt: number; line: number }[] };

function replay(h: History): { a: Admission; now: number; lim: Limits } {
  const lim: Limits = { rate: h.rate, max_active: h.max_active, active_ms: h.active_ms };
  let a = initialAdmission(0);
  let now = 0;
  for (const { dt, line } of h.ticks) {
    now += dt;
    a = advance(a, now, a.upto + line, lim);
  }
  return { a, now, lim };
}

describe("admitting held-back late places (admitHeld)", () => {
  it("admits a prefix of the held places (their order), never more than the tokens, max_active or the units left allow", () => {
    fc.assert(
      fc.property(history, fc.integer({ min: 0, max: 3000 }), fc.integer({ min: -20, max: 300 }), fc.nat(400), (h, dt, units, n) => {
        const { a, now: t0, lim: base } = replay(h);
        const now = t0 + dt;
        const lim = { ...base, units };
        const held: Place[] = Array.from({ length: n }, (_, i) => ({ b: 1, k: i }));
        const { admission, admitted } = admitHeld(a, now, held, lim, { b: 9, k: 9 });
        const m = admitted.length;
        // FIFO: the first m, in order.
        expect(admitted).toEqual(held.slice(0, m));
        // Within every cap.
        const tokens = Math.min(burstOf(lim.rate), a.tokens + (Math.max(0, now - a.at) / 1000) * lim.rate);
        expect(m).toBeLessThanOrEqual(Math.max(0, Math.floor(tokens)));
        expect(m).toBeLessThanOrEqual(Math.max(0, units));
        expect(activeAt(admission, now, lim.active_ms)).toBeLessThanOrEqual(Math.max(lim.max_active, activeAt(a, now, lim.active_ms)));
        // As many as the budget allows: all of it unless the held run out.
        expect(m).toBe(Math.min(n, admissible(a, now, lim)));
        // Counted as admitted, and what is left of the budget is exactly the rest.
        expect(admission.upto).toBe(a.upto + m);
        expect(admissible(admission, now, { ...lim, units: units - m })).toBe(admissible(a, now, lim) - m);
        // The watermark's place does not move.
        if (m > 0) expect(admission.marks.at(-1)?.upto).toEqual({ b: 9, k: 9 });
      }),
    );
  });

  it("held places go first: with a budget of 3 and 2 held, the line gets 1", () => {
    const lim: Limits = { rate: 1000, max_active: 1_000_000, active_ms: 60_000, units: 3 };
    const a: Admission = { ...initialAdmission(0), tokens: 1000 };
    const { admission, admitted } = admitHeld(
      a,
      10,
      [
        { b: 1, k: 5 },
        { b: 1, k: 2 },
      ],
      lim,
      null,
    );
    expect(admitted).toEqual([
      { b: 1, k: 5 },
      { b: 1, k: 2 },
    ]);
    expect(advance(admission, 10, 1_000_000, { ...lim, units: 1 }).upto - admission.upto).toBe(1);
  });
});

const wm = (over: Partial<Watermark> = {}): Watermark =>
  watermarkOf({
    upto: { b: 3, k: KEY_SPACE / 2 },
    marks: [{ t: 900_000, admitted: 10, upto: { b: 3, k: KEY_SPACE / 2 }, from: 899_000 }],
    late: { held: [], admitted: [] },
    waiting: [{ b: 3, n: 30 }],
    at: 1_000_000,
    ...over,
  });

describe("the edge's answer for a late place (standingOf)", () => {
  const now = 1_000_000;
  const mine: Place = { b: 2, k: 77 };

  it("held back: waiting at its place among the held, with no pass, whatever the ticket says", () => {
    const w = wm({ late: { held: [{ b: 1, k: 5 }, mine], admitted: [] } });
    for (const adm of [undefined, 950_000]) {
      const s = standingOf(mine, adm, w, now);
      expect(s.status).toMatchObject({ state: "waiting", position: 2, eta_s: 1 });
      expect(s.passUntil).toBeNull();
      expect(s.admittedAt).toBeNull();
    }
    // The identity joined again without its ticket: its later place is the same held place.
    expect(standingOf({ b: 3, k: 77 }, undefined, w, now).status).toMatchObject({ state: "waiting", position: 2 });
    // The line says no unit can come back: told at once.
    expect(standingOf(mine, undefined, { ...w, sold_out: true }, now).status.state).toBe("sold_out");
    // Without the list, the watermark's marks would have admitted it (the leak).
    expect(standingOf(mine, undefined, wm(), now).status.state).toBe("admitted");
  });

  it("admitted late: its time is the room's for it (not the watermark's mark, nor the ticket's), and its pass runs from then", () => {
    const at = 990_000;
    const w = wm({ late: { held: [], admitted: [{ b: 2, k: 77, at }] } });
    const s = standingOf(mine, 899_000, w, now);
    expect(s.status.state).toBe("admitted");
    expect(s.admittedAt).toBe(at);
    expect(s.passUntil).toBe(at + 120_000);
    expect(s.status.admitted_at).toBe(new Date(at).toISOString());
    // Its pass ends 120 s after then, not after the mark.
    expect(standingOf(mine, undefined, w, at + 120_000).status.state).toBe("expired");
  });

  it("a place this isolate has not yet reported (or had no answer for) waits, even under the cached watermark", () => {
    const s = standingOf(mine, undefined, wm(), now, true);
    expect(s.status.state).toBe("waiting");
    expect(s.passUntil).toBeNull();
    // Once the room has it, the watermark says (here: not late, admitted by the marks).
    expect(standingOf(mine, undefined, wm(), now, false).status.state).toBe("admitted");
    // A place above the watermark is unaffected.
    expect(standingOf({ b: 5, k: 1 }, undefined, wm(), now, true).status).toMatchObject({ state: "waiting", position: 31 });
  });
});
