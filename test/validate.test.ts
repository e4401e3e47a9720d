import { describe, expect, it } from "vitest";
import type { z } from "zod";
import { ClaimBody, IdempotencyKey } from "../domain/schemas/hold";
import { QueueBody } from "../domain/schemas/room";
import * as fast from "../src/lib/fast-paths";
import type { FastPath } from "../src/lib/validate";
import { SaleParam } from "../src/routes/sales";

/** A small seeded PRNG (mulberry32): the same cases on every run, many of them. */
function rng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const CHARS = "abz09-_.:~ A/%é\u0000";
function values(r: () => number, depth = 0): unknown {
  const pick = <T>(xs: T[]) => xs[Math.floor(r() * xs.length)]!;
  const str = (max: number) => Array.from({ length: Math.floor(r() * max) }, () => pick([...CHARS])).join("");
  switch (Math.floor(r() * (depth > 1 ? 6 : 8))) {
    case 0:
      return pick([0, 1, 2, 50, 100, 101, -1, 1.5, NaN, Infinity, 2 ** 53]);
    case 1:
      return str(pick([3, 10, 70, 5000]));
    case 2:
      return pick([null, undefined, true, false]);
    case 3:
      return "x".repeat(pick([0, 1, 7, 8, 63, 64, 65, 2048, 2049, 4097]));
    case 4:
      return pick(["sale-1", "a", "-a", "A", "a".repeat(63), "a".repeat(64), "key-12345", "k:1.2_3-4", "bad key!"]);
    case 5:
      return [];
    default: {
      const o: Record<string, unknown> = {};
      const keys = ["id", "qty", "challenge", "solution", "turnstile", "other"];
      for (const k of keys) if (r() < 0.45) o[k] = values(r, depth + 1);
      return o;
    }
  }
}

/** Each FastPath accepts only what its schema accepts, with the schema's own output. */
function holdsTo<T extends z.ZodType>(schema: T, f: FastPath<z.output<T>>, seeds: unknown[]) {
  const r = rng(20261207);
  const cases = [...seeds, ...Array.from({ length: 4_000 }, () => values(r))];
  let fastHits = 0;
  for (const v of cases) {
    const quick = f(v);
    if (quick === undefined) continue;
    fastHits++;
    const parsed = schema.safeParse(v);
    expect(parsed.success, JSON.stringify(v)).toBe(true);
    expect(quick, JSON.stringify(v)).toStrictEqual(parsed.data);
  }
  return fastHits;
}

describe("validators' fast paths give exactly what their schema gives", () => {
  it("the sale id param", () => {
    const seeds = [
      { id: "sale-1" },
      { id: "a" },
      { id: "a".repeat(63) },
      { id: "sale-1", action: "pause" },
      { id: "-x" },
      { id: "Sale" },
      { id: "a".repeat(64) },
      {},
    ];
    expect(holdsTo(SaleParam, fast.saleParam, seeds)).toBeGreaterThan(3);
    expect(fast.saleParam({ id: "sale-1" })).toStrictEqual({ id: "sale-1" });
  });

  it("a claim's body", () => {
    const seeds = [
      {},
      { qty: 1 },
      { qty: 100 },
      { qty: 0 },
      { qty: 101 },
      { qty: 1.5 },
      { qty: "1" },
      { qty: 1, x: 1 },
      { qty: null },
      { qty: undefined },
    ];
    expect(holdsTo(ClaimBody, fast.claimBody, seeds)).toBeGreaterThan(3);
    expect(fast.claimBody({})).toStrictEqual({ qty: 1 });
  });

  it("a join's body", () => {
    const seeds = [
      { challenge: "c", solution: "s" },
      { challenge: "c", solution: "s", turnstile: "t" },
      { challenge: "c", solution: "s", turnstile: undefined },
      { challenge: "c", solution: "s", turnstile: "" },
      { challenge: "", solution: "s" },
      { challenge: "c", solution: "s".repeat(65) },
      { challenge: "c", solution: "s", extra: 1 },
    ];
    expect(holdsTo(QueueBody, fast.queueBody, seeds)).toBeGreaterThan(1);
  });

  it("the Idempotency-Key header", () => {
    const seeds = ["key-12345", "k:1.2_3-4", "1234567", "x".repeat(64), "x".repeat(65), "bad key!", undefined];
    expect(holdsTo(IdempotencyKey, fast.idempotencyKey, seeds)).toBeGreaterThan(2);
  });
});
