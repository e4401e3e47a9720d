import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { placeOf } from "../domain/ids";
import { ReconcileAnswer, SaleList, SaleStats } from "../domain/schemas/admin";
import { SaleSeries } from "../domain/schemas/series";
import { homeShard } from "../domain/shards";
import { advanceClock } from "./support/clock";
import { createSale } from "./support/sales";
import { idemKey } from "./support/shoppers";
import { alarmsUntil, crashAt, everyAlarmUntil, shard, shardStats, signedShopper, sumIdentity } from "./support/shards";
import { admin, api, d1Orders, d1Refunds, sleep } from "./support/worker";

type Shopper = Awaited<ReturnType<typeof signedShopper>>;
const unwrapView = <T>(r: { ok: true; value: T } | { ok: false }) => {
  if (!r.ok) throw new Error("refused");
  return r.value;
};
const claimAs = (sale: string, s: Shopper, key = idemKey()) => api.claim(sale, s.token, { pass: s.pass, key });

/**
 * Stock shards (docs/ARCHITECTURE.md, "Stock shards"): a sale's stock split over N product
 * objects, each shopper served by their home shard, dry shards refilled by crash-safe transfers.
 */
describe("stock shards: claims", () => {
  it("N = 8: 2,000 concurrent claims on 500 units hold exactly 500, at most one per shopper, each at its home shard", {
    timeout: 120_000,
  }, async () => {
    const sale = await createSale({ stock_total: 500, shards: 8 });
    const shoppers = await Promise.all(Array.from({ length: 2000 }, () => signedShopper(sale)));
    const t0 = Date.now();
    const answers = await Promise.all(shoppers.map((s) => claimAs(sale, s).then((r) => ({ s, r }))));
    console.log(`2,000 concurrent claims on 8 shards answered in ${Date.now() - t0} ms`);

    for (const { r } of answers) expect([201, 409], JSON.stringify(r.body)).toContain(r.status);
    const held = answers.filter(({ r }) => r.status === 201);
    expect(held).toHaveLength(500);
    for (const { r } of answers.filter(({ r }) => r.status === 409)) expect(r.body.error).toBe("sold_out");
    expect(new Set(held.map(({ s }) => s.user)).size).toBe(500);
    expect(new Set(held.map(({ r }) => r.body.hold.id)).size).toBe(500);
    // Each hold lives in its shopper's home shard, and its id names that shard.
    for (const { s, r } of held) expect(placeOf(r.body.hold.id, "h")).toEqual({ sale, shard: homeShard(s.user, 8) });

    const all = await shardStats(sale, 8);
    expect(sumIdentity(all)).toEqual({ total: 500, units: 500, inTransit: 0, unbalanced: [] });
    expect(all.reduce((n, s) => n + s.stock!.held, 0)).toBe(500);
    expect(all.reduce((n, s) => n + s.shard!.base, 0)).toBe(500);

    const whole = await admin("GET", `/sales/${sale}`);
    expect(whole.status).toBe(200);
    expect(whole.body.stock).toEqual({ stock_total: 500, available: 0, held: 500, sold: 0, withdrawn: 0, in_transit: 0 });
    expect(whole.body.holds.held).toBe(500);
    expect(whole.body.shards).toHaveLength(8);
    expect(whole.body.sale).toMatchObject({ stock_total: 500, available: 0, sold_out: true });
    // Public availability is the sum, within the edge's cache (an isolate told "sold out" mid-race
    // keeps the held count it loaded then for EDGE_CACHE_MS).
    advanceClock(Number(env.EDGE_CACHE_MS) + 50);
    expect((await api.sale(sale)).body.sale).toMatchObject({ stock_total: 500, available: 0, held: 500 });
  });

  it("sells every unit when all the demand is at two shards of eight: the dry ones take from the rest", { timeout: 60_000 }, async () => {
    const sale = await createSale({ stock_total: 40, shards: 8 });
    const shoppers = await Promise.all(Array.from({ length: 120 }, (_, i) => signedShopper(sale, { home: { shard: i % 2, of: 8 } })));
    const answers = await Promise.all(shoppers.map((s) => claimAs(sale, s)));
    expect(answers.filter((r) => r.status === 201)).toHaveLength(40);
    for (const r of answers.filter((r) => r.status !== 201)) expect(r.body.error).toBe("sold_out");
    const all = await shardStats(sale, 8);
    expect(sumIdentity(all)).toEqual({ total: 40, units: 40, inTransit: 0, unbalanced: [] });
    expect(all.slice(2).map((s) => s.stock!.held)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(all[0]!.stock!.held + all[1]!.stock!.held).toBe(40);
    expect(all.slice(2).map((s) => s.shard!.given)).toEqual([5, 5, 5, 5, 5, 5]);
    // Sold out now, everywhere: the edge knows without asking. An isolate that was answered
    // "sold out" mid-race may show the held count it loaded then until its copy ages out
    // (EDGE_CACHE_MS), so the sum is read once that has passed.
    expect((await api.sale(sale)).body.sale).toMatchObject({ available: 0, sold_out: true });
    advanceClock(Number(env.EDGE_CACHE_MS) + 50);
    expect((await api.sale(sale)).body.sale).toMatchObject({ available: 0, held: 40, sold_out: true });
  });

  it("keeps the sum identity at every sample while claims, cancels, payments, expiries and transfers run", {
    timeout: 60_000,
  }, async () => {
    const N = 4;
    const sale = await createSale({ stock_total: 40, shards: N, hold_ttl_s: 1 });
    const shoppers = await Promise.all(Array.from({ length: 240 }, () => signedShopper(sale)));
    const samples: ReturnType<typeof sumIdentity>[] = [];
    let running = true;
    const sampler = (async () => {
      while (running) {
        samples.push(sumIdentity(await shardStats(sale, N)));
        await sleep(5);
      }
    })();
    // Waves of shoppers; some cancel, some pay, the rest let their hold expire (1 s) and the
    // units come back to their shard, where the next wave's dry shards find them.
    for (let wave = 0; wave < 4; wave++) {
      const mine = shoppers.slice(wave * 60, wave * 60 + 60);
      await Promise.all(
        mine.map(async (s, i) => {
          const r = await claimAs(sale, s);
          if (r.status !== 201) return;
          if (i % 3 === 0) await api.cancel(r.body.hold.id, s.token);
          else if (i % 3 === 1) await api.pay(r.body.hold.id, s.token, "tok_ok");
        }),
      );
      // The holds' window (1 s) passes; each shard's alarm expires what is left.
      advanceClock(1200);
      await everyAlarmUntil(sale, N, async () => (await shardStats(sale, N)).every((x) => x.stock!.held === 0));
    }
    running = false;
    await sampler;
    expect(samples.length).toBeGreaterThan(20);
    for (const x of samples) expect(x).toMatchObject({ total: 40, unbalanced: [] });
    // Transfers did happen while sampling (some samples saw units in transit or received).
    const all = await shardStats(sale, N);
    expect(all.reduce((n, s) => n + s.shard!.received, 0)).toBeGreaterThan(0);
    expect(sumIdentity(all)).toMatchObject({ total: 40, unbalanced: [] });
  });
});

describe("stock shards: a shard restarted in the middle of a transfer", () => {
  /**
   * Two shards of 2 units; shard 1's two units are held, so the next claim there asks shard 0.
   * The claim is made to crash at `fault`; then shard 1's alarm must settle the transfer.
   */
  async function midTransfer(fault: "receiver_after_intent" | "receiver_before_apply" | "giver_after_give") {
    const sale = await createSale({ stock_total: 4, shards: 2 });
    const home1 = () => signedShopper(sale, { home: { shard: 1, of: 2 } });
    const [a, b, c] = await Promise.all([home1(), home1(), home1()]);
    expect((await claimAs(sale, a)).status).toBe(201);
    expect((await claimAs(sale, b)).status).toBe(201);
    await crashAt(sale, fault === "giver_after_give" ? 0 : 1, fault);
    const key = idemKey();
    const crashed = await claimAs(sale, c, key);
    return { sale, c, key, crashed };
  }

  const figures = async (sale: string) => (await shardStats(sale, 2)).map((s) => ({ ...s.shard!, available: s.stock!.available }));

  it("the receiver restarts after recording its intent: nothing was given yet; its alarm asks and applies once", async () => {
    const { sale, c, key, crashed } = await midTransfer("receiver_after_intent");
    expect(crashed.status).toBe(503); // the shard restarted under the claim: retry with the same key
    const [s0, s1] = await figures(sale);
    expect(s0).toMatchObject({ available: 2, given: 0 });
    expect(s1).toMatchObject({ available: 0, received: 0, asking: 1 });
    expect(sumIdentity(await shardStats(sale, 2))).toMatchObject({ total: 4, inTransit: 0, unbalanced: [] });

    await alarmsUntil(sale, 1, async () => (await figures(sale))[1]!.asking === 0);
    const [t0, t1] = await figures(sale);
    expect(t0).toMatchObject({ available: 1, given: 1 });
    expect(t1).toMatchObject({ available: 1, received: 1, asking: 0 });
    expect(sumIdentity(await shardStats(sale, 2))).toMatchObject({ total: 4, inTransit: 0, unbalanced: [] });
    // The retried claim gets the unit that came.
    const again = await claimAs(sale, c, key);
    expect(again.status).toBe(201);
    expect(placeOf(again.body.hold.id, "h")?.shard).toBe(1);
  });

  it("the receiver restarts after the giver granted, before applying: in transit until its alarm applies it, once", async () => {
    const { sale, crashed } = await midTransfer("receiver_before_apply");
    expect(crashed.status).toBe(503);
    const [s0, s1] = await figures(sale);
    expect(s0).toMatchObject({ available: 1, given: 1 });
    expect(s1).toMatchObject({ available: 0, received: 0, asking: 1 });
    expect(sumIdentity(await shardStats(sale, 2))).toMatchObject({ total: 4, inTransit: 1, unbalanced: [] });

    await alarmsUntil(sale, 1, async () => (await figures(sale))[1]!.asking === 0);
    // Asked again, the giver answered the same grant: it gave one unit, not two.
    const [t0, t1] = await figures(sale);
    expect(t0).toMatchObject({ available: 1, given: 1 });
    expect(t1).toMatchObject({ available: 1, received: 1, asking: 0 });
    expect(sumIdentity(await shardStats(sale, 2))).toMatchObject({ total: 4, inTransit: 0, unbalanced: [] });
    // Another alarm run changes nothing.
    await alarmsUntil(sale, 1, async () => true);
    expect(await figures(sale)).toEqual([t0, t1]);
  });

  it("the giver restarts after recording its grant: the receiver asks again and gets the same grant, once", async () => {
    const { sale, c, key, crashed } = await midTransfer("giver_after_give");
    // The receiver's call failed; the claim got no unit this time.
    expect(crashed.status).toBe(409);
    const [s0, s1] = await figures(sale);
    expect(s0).toMatchObject({ available: 1, given: 1 });
    expect(s1).toMatchObject({ available: 0, received: 0, asking: 1 });
    expect(sumIdentity(await shardStats(sale, 2))).toMatchObject({ total: 4, inTransit: 1, unbalanced: [] });

    await alarmsUntil(sale, 1, async () => (await figures(sale))[1]!.asking === 0);
    const [t0, t1] = await figures(sale);
    expect(t0).toMatchObject({ available: 1, given: 1 });
    expect(t1).toMatchObject({ available: 1, received: 1 });
    expect(sumIdentity(await shardStats(sale, 2))).toMatchObject({ total: 4, inTransit: 0, unbalanced: [] });
    expect((await claimAs(sale, c, key)).status).toBe(201);
    // Everything sells: the last unit, at shard 0, goes to a shopper of shard 1 through another transfer.
    const d = await signedShopper(sale, { home: { shard: 1, of: 2 } });
    expect((await claimAs(sale, d)).status).toBe(201);
    const last = await signedShopper(sale);
    expect((await claimAs(sale, last)).status).toBe(409);
    expect(sumIdentity(await shardStats(sale, 2))).toEqual({ total: 4, units: 4, inTransit: 0, unbalanced: [] });
  });
});

describe("stock shards: the edge's sold-out answer", () => {
  it("is given only when no shard has units and none is on its way", async () => {
    const sale = await createSale({ stock_total: 2, shards: 2 });
    const home1 = () => signedShopper(sale, { home: { shard: 1, of: 2 } });
    const [a, b] = await Promise.all([home1(), home1()]);
    expect((await claimAs(sale, a)).status).toBe(201);
    // Shard 1 asks shard 0 for its last unit and restarts before applying it: no shard has a unit
    // available, one is on its way.
    await crashAt(sale, 1, "receiver_before_apply");
    expect((await claimAs(sale, b)).status).toBe(503);
    advanceClock(300); // past the edge's cache (EDGE_CACHE_MS 250 in tests)
    expect((await api.sale(sale)).body.sale).toMatchObject({ available: 0, sold_out: false });
    await alarmsUntil(sale, 1, async () => (await shardStats(sale, 2))[1]!.shard!.asking === 0);
    expect((await api.sale(sale)).body.sale).toMatchObject({ available: 1, sold_out: false });
    expect((await claimAs(sale, b)).status).toBe(201);
    advanceClock(300);
    expect((await api.sale(sale)).body.sale).toMatchObject({ available: 0, held: 2, sold_out: true });
    // Now the crowd without a pass is answered at the edge, by no shard.
    const served = (await shardStats(sale, 2)).map((s) => s.served.claims);
    const c = await signedShopper(sale);
    const crowd = await api.claim(sale, c.token, { key: idemKey() });
    expect(crowd.status).toBe(409);
    expect((await shardStats(sale, 2)).map((s) => s.served.claims)).toEqual(served);
  });
});

describe("stock shards: the sale's routes", () => {
  it("expiry, cancel and pay work on every shard; every shard's orders reach D1; stats, reconcile, restock and pause see the whole sale", {
    timeout: 60_000,
  }, async () => {
    const N = 4;
    const sale = await createSale({ stock_total: 12, shards: N, hold_ttl_s: 2 });
    const people = await Promise.all(Array.from({ length: 3 * N }, (_, i) => signedShopper(sale, { home: { shard: i % N, of: N } })));
    const holds = await Promise.all(
      people.map(async (s, i) => {
        const r = await claimAs(sale, s);
        expect(r.status).toBe(201);
        expect(placeOf(r.body.hold.id, "h")).toEqual({ sale, shard: i % N });
        return { s, id: r.body.hold.id as string, fate: (["pay", "cancel", "expire"] as const)[Math.floor(i / N)]! };
      }),
    );
    for (const h of holds.filter((h) => h.fate === "pay")) expect([200, 202]).toContain((await api.pay(h.id, h.s.token, "tok_ok")).status);
    for (const h of holds.filter((h) => h.fate === "cancel"))
      expect((await api.cancel(h.id, h.s.token)).body.hold.status).toBe("cancelled");
    const statusOf = async (h: (typeof holds)[number]) => (await api.hold(h.id, h.s.token)).body.hold.status;
    const want = { pay: "confirmed", cancel: "cancelled", expire: "expired" };
    await everyAlarmUntil(sale, N, async () =>
      (await Promise.all(holds.map(async (h) => (await statusOf(h)) === want[h.fate]))).every(Boolean),
    );
    await everyAlarmUntil(sale, N, async () => (await d1Orders(sale)).length === N);

    // One order per shard in D1, each under its shard's name; readable by its shopper.
    const orders = await d1Orders(sale);
    expect(orders.map((o) => placeOf(o.id, "o")?.shard).sort()).toEqual([0, 1, 2, 3]);
    const paid = holds.find((h) => h.fate === "pay" && placeOf(h.id, "h")!.shard === 3)!;
    expect((await api.order(paid.id.replace("_h", "_o"), paid.s.token)).body.order).toMatchObject({ hold_id: paid.id, sale_id: sale });
    expect((await api.holds(sale, paid.s.token)).body.holds.map((h: { id: string }) => h.id)).toEqual([paid.id]);

    // The units of cancelled and expired holds went back to their own shard.
    const stats = await admin("GET", `/sales/${sale}`);
    SaleStats.parse(stats.body); // the sums and the rows are what the API says they are
    expect(stats.body.stock).toEqual({ stock_total: 12, available: 8, held: 0, sold: 4, withdrawn: 0, in_transit: 0 });
    expect(stats.body.holds).toMatchObject({ confirmed: 4, cancelled: 4, expired: 4 });
    expect(stats.body.d1).toMatchObject({ orders: 4, units: 4 });
    expect(stats.body.shards.map((r: { stock: { available: number; sold: number } }) => [r.stock.available, r.stock.sold])).toEqual([
      [2, 1],
      [2, 1],
      [2, 1],
      [2, 1],
    ]);
    const rec = await admin("POST", `/sales/${sale}/reconcile`);
    ReconcileAnswer.parse(rec.body);
    expect(rec.body.report.orders).toMatchObject({ ledger: 4, d1: 4, missing: [], unexpected: [] });
    expect(rec.body.report.shards.map((r: { orders: { ledger: number; d1: number } }) => [r.orders.ledger, r.orders.d1])).toEqual([
      [1, 1],
      [1, 1],
      [1, 1],
      [1, 1],
    ]);

    // The list and the series show the sale as one.
    const listed = SaleList.parse((await admin("GET", "/sales")).body).sales.find((x) => x.sale.id === sale)!;
    expect(listed.stock).toEqual({ stock_total: 12, available: 8, held: 0, sold: 4, withdrawn: 0, in_transit: 0 });
    const series = SaleSeries.parse((await admin("GET", `/sales/${sale}/series`)).body);
    const total = (f: "paid" | "cancelled" | "expired") => (series.values[f] ?? []).reduce<number>((n, v) => n + (v ?? 0), 0);
    expect([total("paid"), total("cancelled"), total("expired")]).toEqual([4, 4, 4]);

    // D1's catalogue row is the whole sale's (shard 0 speaks for it), restocks included.
    const restocked = await admin("POST", `/sales/${sale}/restock`, { qty: 5 });
    expect(restocked.body.sale).toMatchObject({ stock_total: 17, available: 13 });
    expect((await shardStats(sale, N)).map((s) => s.shard!.base)).toEqual([5, 4, 4, 4]);
    const catalogRow = () => env.DB.prepare("SELECT stock_total FROM sales WHERE id = ?").bind(sale).first<{ stock_total: number }>();
    await everyAlarmUntil(sale, N, async () => (await catalogRow())?.stock_total === 17);

    // Pause and resume reach every shard.
    expect((await admin("POST", `/sales/${sale}/pause`)).body.sale.status).toBe("paused");
    for (const i of [0, 1, 2, 3]) expect(unwrapView(await shard(sale, i).info()).status).toBe("paused");
    const late = await signedShopper(sale, { home: { shard: 2, of: N } });
    expect((await claimAs(sale, late)).status).toBe(425);
    expect((await admin("POST", `/sales/${sale}/resume`)).body.sale.status).toBe("open");
    expect((await claimAs(sale, late)).status).toBe(201);
  });

  it("a payment outcome the gateway pushes late reaches the hold's own shard (a late success is refunded there)", {
    timeout: 30_000,
  }, async () => {
    const sale = await createSale({ stock_total: 2, shards: 2 });
    const s = await signedShopper(sale, { home: { shard: 1, of: 2 } });
    const hold = (await claimAs(sale, s)).body.hold;
    expect(placeOf(hold.id, "h")?.shard).toBe(1);
    // Lands 1.5 s after the charge, after PAY_GIVE_UP_S (1 s) released the hold: only the
    // gateway's own push (its alarm) can tell the hold's shard within this test.
    expect((await api.pay(hold.id, s.token, "tok_late_1500")).status).toBe(202);
    await everyAlarmUntil(sale, 2, async () => (await d1Refunds(sale)).length === 1, 15_000);
    expect((await api.hold(hold.id, s.token)).body.hold).toMatchObject({ status: "expired", refund: { status: "refunded" } });
    expect((await d1Refunds(sale))[0]).toMatchObject({ hold_id: hold.id });
  });

  it("refuses bad shard counts, a sharded waitlist and a change of shards with a clear 400", async () => {
    const base = {
      id: `bad-${Date.now().toString(36)}`,
      product: { id: "p", name: "P", price: 100, currency: "EUR" },
      stock_total: 10,
      starts_at: new Date().toISOString(),
      ends_at: new Date(Date.now() + 3600_000).toISOString(),
    };
    for (const shards of [0, 65, "x", 2.5]) {
      const r = await admin("POST", "/sales", { ...base, shards });
      expect(r.status, String(shards)).toBe(400);
      expect(r.body.message).toMatch(/shards is a whole number from 1 to 64/);
    }
    const w = await admin("POST", "/sales", { ...base, shards: 8, release_policy: "waitlist" });
    expect(w.status).toBe(400);
    expect(w.body.message).toMatch(/waitlist needs one shard/);

    const sale = await createSale({ stock_total: 10, shards: 4 });
    for (const shards of [8, 1, 4]) {
      const r = await admin("PATCH", `/sales/${sale}`, { shards, hold_ttl_s: 60 });
      expect(r.status).toBe(400);
      expect(r.body.message).toMatch(/shards cannot be changed/);
    }
    // A create of the same id with another number of shards is another configuration.
    const again = await admin("GET", `/sales/${sale}`);
    expect(again.body.shards).toHaveLength(4);
  });

  it("an id naming a shard the sale does not have reaches no object", async () => {
    const { listDurableObjectIds } = await import("cloudflare:test");
    const sale = await createSale({ stock_total: 4, shards: 2 });
    const plain = await createSale({ stock_total: 4 });
    const s = await signedShopper(sale);
    for (const id of [
      `${sale}~2_h${"0".repeat(20)}`,
      `${sale}~9_h${"0".repeat(20)}`,
      `${plain}~1_h${"0".repeat(20)}`,
      `${sale}~0_h${"0".repeat(20)}`,
      `${sale}~1_h${"0".repeat(20)}`,
    ]) {
      const r = await api.hold(id, s.token);
      expect(r.status, id).toBe(404);
      expect((await api.order(id.replace("_h", "_o"), s.token)).status).toBe(404);
    }
    const ids = new Set((await listDurableObjectIds(env.INVENTORY)).map((i) => i.toString()));
    for (const name of [`${sale}~2`, `${sale}~9`, `${plain}~1`, `${sale}~0`])
      expect(ids.has(env.INVENTORY.idFromName(name).toString()), name).toBe(false);
    expect(ids.has(shard(sale, 1).id.toString())).toBe(true);
  });
});
