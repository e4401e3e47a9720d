import { describe, expect, it } from "vitest";
import { newHoldId, orderIdOf, saleOf } from "../domain/ids";
import { createSale, expectStockInvariant } from "./support/sales";
import { claim, idemKey, passFor, session } from "./support/shoppers";
import { call, stats } from "./support/worker";

/**
 * Invariants 1 and 2 under a burst: 500 claims from 200 admitted shoppers (some sending the same
 * request twice, some retrying with a new key) race for 100 units, while a second product is
 * being claimed in the same burst. (A turn carries a unit: a sale admits at most two shoppers
 * per unit, so 200 pass holders for 100 units is the hardest race the edge lets through.)
 */
describe("a burst of claims", () => {
  it("sells exactly the stock, at most one per shopper, same hold on repeat, other product unaffected", async () => {
    const hot = await createSale({ stock_total: 100 });
    const other = await createSale({ stock_total: 50 });
    const shoppers = await Promise.all(Array.from({ length: 200 }, () => session()));
    const otherShoppers = await Promise.all(Array.from({ length: 40 }, () => session()));

    type Shot = { user: string; key: string; kind: "first" | "same-key" | "new-key" };
    const shots: Shot[] = shoppers.map((s) => ({ user: s.token, key: idemKey(), kind: "first" }));
    for (let i = 0; i < 300; i++) {
      const first = shots[(i * 7) % 200]!;
      shots.push(i % 2 ? { user: first.user, key: first.key, kind: "same-key" } : { user: first.user, key: idemKey(), kind: "new-key" });
    }
    // Interleave: repeats are not all at the end.
    shots.sort(() => Math.random() - 0.5);

    // Everyone is admitted first, so the burst below is claims only.
    await Promise.all([...shoppers.map((s) => passFor(hot, s.token)), ...otherShoppers.map((s) => passFor(other, s.token))]);
    const t0 = Date.now();
    const [hotRes, otherRes] = await Promise.all([
      Promise.all(shots.map((s) => claim(hot, s.user, s.key).then((r) => ({ ...s, ...r })))),
      Promise.all(otherShoppers.map((s) => claim(other, s.token))),
    ]);
    const ms = Date.now() - t0;
    console.log(`500 concurrent claims (+40 on a second product) answered in ${ms} ms`);

    for (const r of hotRes) expect([200, 201, 409]).toContain(r.status);
    const holdIds = new Set(hotRes.filter((r) => r.status < 300).map((r) => r.body.hold.id));
    expect(holdIds.size).toBe(100);
    expect(hotRes.filter((r) => r.status === 201)).toHaveLength(100);

    // Per shopper: every hold answered is the same one, and the only other answer is "sold out".
    // A repeat that reached the edge after the sell-out was known there is answered "sold out"
    // without the object (the fast path); the shopper's hold is then listed at /holds.
    const byUser = new Map<string, typeof hotRes>();
    for (const r of hotRes) byUser.set(r.user, [...(byUser.get(r.user) ?? []), r]);
    let repeatsWithHold = 0;
    for (const [token, answers] of byUser) {
      const held = answers.filter((a) => a.status < 300);
      for (const a of answers.filter((a) => a.status >= 300)) expect(a.body.error).toBe("sold_out");
      if (held.length === 0) continue;
      expect(new Set(held.map((a) => a.body.hold.id)).size).toBe(1);
      expect(held.filter((a) => a.status === 201)).toHaveLength(1);
      repeatsWithHold += held.length - 1;
      for (const a of answers.filter((a) => a.status >= 300)) expect(a.body.your_holds).toBe(`/api/sales/${hot}/holds`);
      const mine = await call("GET", `/api/sales/${hot}/holds`, { token });
      expect(mine.body.holds.map((h: { id: string }) => h.id)).toEqual([held[0]!.body.hold.id]);
    }
    expect(repeatsWithHold).toBeGreaterThan(0);

    // The second product kept selling throughout.
    for (const r of otherRes) expect(r.status).toBe(201);

    const s = await expectStockInvariant(hot, expect);
    expect(s.stock).toMatchObject({ stock_total: 100, available: 0, held: 100, sold: 0 });
    expect(s.holds.held).toBe(100);
    expect((await stats(other)).stock).toMatchObject({ available: 10, held: 40 });
  });

  it("never gives a shopper more than the per-user limit, even with many keys at once", async () => {
    const sale = await createSale({ stock_total: 50, per_user_limit: 2 });
    const shopper = await session();
    const answers = await Promise.all(Array.from({ length: 30 }, () => claim(sale, shopper.token)));
    const ids = new Set(answers.filter((a) => a.status < 300).map((a) => a.body.hold.id));
    expect(ids.size).toBe(2);
    expect(answers.filter((a) => a.status === 201)).toHaveLength(2);
    // Once both are held, further claims answer one of the shopper's own holds.
    for (const a of answers) expect(a.status === 201 || a.status === 200).toBe(true);
    const qty = await claim(sale, shopper.token, idemKey(), { qty: 2 });
    expect(qty.status).toBe(200);
    expect(ids.has(qty.body.hold.id)).toBe(true);
    await expectStockInvariant(sale, expect);
    expect((await stats(sale)).stock!.held).toBe(2);
  });
});

/**
 * Hold ids are time-ordered (a new hold lands at the end of the id index, not on a random page)
 * and must still be unique within one group commit, where every claim has the same clock.
 */
describe("hold ids", () => {
  it("are unique within one millisecond, sort by time, and name their sale", () => {
    const now = Date.now();
    const batch = Array.from({ length: 4096 }, () => newHoldId("sale-1", now));
    expect(new Set(batch).size).toBe(batch.length);
    for (const id of batch) expect(saleOf(id, "h")).toBe("sale-1");
    const later = newHoldId("sale-1", now + 1);
    expect(batch.every((id) => id < later)).toBe(true);
    expect(saleOf(orderIdOf(batch[0]!), "o")).toBe("sale-1");
  });
});
