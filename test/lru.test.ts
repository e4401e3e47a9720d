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
  it("never answers a value it was not last given, keeps a key while fewer than max/2 others are used after it, holds at most max", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 16 }), ops(40), (max, script: Op[]) => {
        const lru = new LruMap<number, number>(max);
        const truth = new Map<number, number>(); // what was last set and not deleted
        const lastUse = new Map<number, number>(); // key → uses count at its last use
        let uses = 0; // sets and hits, of any key
        for (const s of script) {
          if (s.op === "set") {
            lru.set(s.key, s.value);
            truth.set(s.key, s.value);
            lastUse.set(s.key, ++uses);
          } else if (s.op === "delete") {
            lru.delete(s.key);
            truth.delete(s.key);
            expect(lru.get(s.key)).toBeUndefined();
          } else {
            const got = lru.get(s.key);
            if (got !== undefined) {
              expect(got).toBe(truth.get(s.key));
              lastUse.set(s.key, ++uses);
            } else if (truth.has(s.key)) {
              // Dropped: only once at least half of max other uses came after its last one.
              expect(uses - lastUse.get(s.key)!).toBeGreaterThanOrEqual(Math.ceil(max / 2));
            }
          }
        }
        let held = 0;
        for (const k of truth.keys()) if (lru.get(k) !== undefined) held++;
        expect(held).toBeLessThanOrEqual(max);
      }),
      { numRuns: 1000 },
    );
  });

  it("a key never read again stays for max writes, as in an exact LRU", () => {
    const lru = new LruMap<string, number>(1000);
    lru.set("cold", 1);
    for (let i = 0; i < 999; i++) lru.set(`other-${i}`, i);
    expect(lru.get("cold")).toBe(1);
    for (let i = 0; i < 1000; i++) lru.set(`later-${i}`, i);
    expect(lru.get("cold")).toBeUndefined();
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
