import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isoAt } from "../domain/clock";

describe("isoAt (instants as answers write them)", () => {
  it("is exactly toISOString for any instant a Date holds, across more instants than it keeps", () => {
    const instant = fc.integer({ min: -8.64e15, max: 8.64e15 });
    fc.assert(
      fc.property(fc.array(instant, { minLength: 1, maxLength: 50 }), (ms) => {
        for (const t of ms) expect(isoAt(t)).toBe(new Date(t).toISOString());
      }),
      { numRuns: 300 }, // ~7,500 instants: the kept set is cleared on the way
    );
    // The same instant again, after the clear, is still right.
    expect(isoAt(1_796_676_767_813)).toBe("2026-12-07T20:52:47.813Z");
    expect(() => isoAt(Number.NaN)).toThrow(RangeError);
  });
});
