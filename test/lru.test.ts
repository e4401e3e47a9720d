import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LruMap } from "../src/lib/lru";

type Op = { op: "set"; key: number; value: number } | { op: "get"; key: number } | { op: "delete"; key: number };
const ops = (keys: number) =>
  fc.array(
    fc.oneof(
      fc.record({ op: fc.constant("set" as const), key: fc.nat(keys), value: fc.integer() }),
      fc.record({ op: fc.constant("get" as const), key: fc.nat(keys) }),
      fc.record({ op: fc.constant("delete" as const), key: fc.nat(keys) }),
    ),
    { maxLength: 300 },
  );

/** The edge's caches (tokens checked, tokens signed, sales, user agents): bounded, and keeping what is in use. */
describe("LruMap", () => {
  it("never answers a value it was not last given, keeps every key used in the last max/2 writes, holds at most max", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 16 }), ops(40), (max, script: Op[]) => {
        const lru = new LruMap<number, number>(max);
        const truth = new Map<number, number>(); // what was last set and not deleted
        const lastUse = new Map<number, number>(); // key → write count (sets and moves) at its last use
        let writes = 0;
        for (const s of script) {
          if (s.op === "set") {
            lru.set(s.key, s.value);
            truth.set(s.key, s.value);
            lastUse.set(s.key, ++writes);
          } else if (s.op === "delete") {
            lru.delete(s.key);
            truth.delete(s.key);
            expect(lru.get(s.key)).toBeUndefined();
          } else {
            const got = lru.get(s.key);
            if (got !== undefined) {
              expect(got).toBe(truth.get(s.key));
              writes++; // a hit may move the entry: count it as a write (the bound below is then safe)
              lastUse.set(s.key, writes);
            } else if (truth.has(s.key)) {
              // Dropped: only once at least max/2 writes followed its last use.
              expect(writes - lastUse.get(s.key)!).toBeGreaterThanOrEqual(Math.max(1, Math.floor(max / 2)));
            }
          }
        }
        let held = 0;
        for (const k of truth.keys()) if (lru.get(k) !== undefined) held++;
        expect(held).toBeLessThanOrEqual(max);
      }),
      { numRuns: 500 },
    );
  });

  it("a key read all along outlives many writes of others", () => {
    const lru = new LruMap<string, number>(100);
    lru.set("hot", 1);
    for (let i = 0; i < 10_000; i++) {
      lru.set(`cold-${i}`, i);
      expect(lru.get("hot")).toBe(1);
    }
    expect(lru.get("cold-0")).toBeUndefined();
    expect(lru.get("cold-9999")).toBe(9999);
  });
});
