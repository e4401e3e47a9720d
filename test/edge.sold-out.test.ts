import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { SOLD_OUT_FOR_NOW } from "../domain/schemas/hold";
import { advanceClockTo, now, stopClock, thawClock } from "./support/clock";
import { counters, EDGE_CACHE_MS, expectRefused, poll, roomStats } from "./support/edge";
import { createSale } from "./support/sales";
import { admitted, claim, enqueue, idemKey, passFor, session } from "./support/shoppers";
import { call, stats, stub } from "./support/worker";

const withoutPass = (sale: string, token: string, key = idemKey()) =>
  call("POST", `/api/sales/${sale}/claim`, { token, body: {}, headers: { "idempotency-key": key } });

/**
 * The sold-out fast path: once this isolate has heard "sold out" from the object, claims without
 * a valid pass are answered 409 from its cache without a hop (the object's claim count does not
 * move), and a unit that comes back in the object without this isolate being told is claimable
 * again once the cache lapses (EDGE_CACHE_MS): stale for at most that long, never longer.
 */
describe("sold-out fast path and edge caching", () => {
  // Where a test stops the clock, "right after" is right after on any machine, and an edge cache
  // lapses only when the test moves the clock past EDGE_CACHE_MS.
  afterEach(thawClock);

  /**
   * A sold-out sale, its holders, the shopper who heard "sold out" from the object (admitted
   * before the sell-out: two per unit), and the crowd without a pass (`next`).
   */
  async function soldOut(stock: number, waiting: number) {
    const sale = await createSale({ stock_total: stock });
    const holders = await Promise.all(Array.from({ length: stock }, () => session()));
    const next = await Promise.all(Array.from({ length: waiting }, () => session()));
    // A turn carries a unit: only as many are admitted as the sale allows per unit (two here).
    await Promise.all([...holders, next[0]!].map((s) => passFor(sale, s.token)));
    stopClock(); // everyone is in: from here on, only the test moves the clock
    const holds = [];
    for (const h of holders) {
      const r = await claim(sale, h.token);
      expect(r.status).toBe(201);
      holds.push({ id: r.body.hold.id as string, ...h });
    }
    // The first claim after the sell-out reaches the object, which says so: the edge remembers.
    const heard = await claim(sale, next[0]!.token);
    expectRefused(heard, 409, "sold_out");
    const heardAt = now();
    return { sale, holds, next: next.slice(1), heard: next[0]!, heardAt };
  }

  /** The crowd: claims without a pass (or with one that is not valid for this sale). */
  async function fastPathClaims(sale: string, shoppers: { token: string }[]) {
    const before = { served: (await stats(sale)).served.claims, fast: (await counters(sale)).sold_out_fast_path };
    const res = await Promise.all(shoppers.map((s) => withoutPass(sale, s.token)));
    for (const r of res) {
      expectRefused(r, 409, "sold_out");
      expect(r.body).toMatchObject({ message: SOLD_OUT_FOR_NOW, available: 0 });
    }
    expect((await stats(sale)).served.claims).toBe(before.served);
    expect((await counters(sale)).sold_out_fast_path).toBe(before.fast + shoppers.length);
  }

  it("answers N claims 409 without the object; a hold cancelled inside the object is claimable again after the TTL", async () => {
    const { sale, holds, next, heard, heardAt } = await soldOut(2, 7);
    await fastPathClaims(sale, next.slice(0, 5));

    // Cancelled in the object directly: this isolate is not told (the API route would tell it).
    const cancelled = await stub(sale).cancel(holds[0]!.id, holds[0]!.user);
    expect(cancelled).toMatchObject({ ok: true, value: { status: "cancelled" } });
    expect((await stats(sale)).stock).toMatchObject({ available: 1, held: 1 });
    // Right after, the edge still says sold out from its cache…
    await fastPathClaims(sale, [next[5]!]);
    // …and once its entry lapses, the unit can be claimed (by the admitted shopper who lost the race).
    advanceClockTo(heardAt + EDGE_CACHE_MS + 100);
    const back = await claim(sale, heard.token);
    expect(back.status).toBe(201);
    expect((await stats(sale)).stock).toMatchObject({ available: 0, held: 2 });
  });

  it("a hold expired by the object's alarm (not via the edge) is claimable again after the TTL", async () => {
    const { sale, holds, next, heard, heardAt } = await soldOut(1, 3);
    await fastPathClaims(sale, [next[0]!]);
    // Make the hold due and run the object's alarm on the stub (not support/worker's runAlarm, which
    // would also clear this isolate's cache).
    await runInDurableObject(stub(sale), (_i, state) => {
      state.storage.sql.exec("UPDATE holds SET expires_at = ? WHERE id = ?", now() - 1, holds[0]!.id);
    });
    expect(await runDurableObjectAlarm(stub(sale))).toBe(true);
    expect((await stats(sale)).holds).toMatchObject({ expired: 1, held: 0 });
    await fastPathClaims(sale, [next[1]!]);
    advanceClockTo(heardAt + EDGE_CACHE_MS + 100);
    expect((await claim(sale, heard.token)).status).toBe(201);
  });

  it("a claim for more than is left does not make the edge say sold out while units remain", async () => {
    const sale = await createSale({ stock_total: 3, per_user_limit: 2 });
    const [a, b, c] = await Promise.all([session(), session(), session()]);
    await admitted(sale, a, b, c);
    expect((await claim(sale, a.token, idemKey(), { qty: 2 })).status).toBe(201);
    // One unit left: B's claim for two is refused by the object…
    const tooMany = await claim(sale, b.token, idemKey(), { qty: 2 });
    expectRefused(tooMany, 409, "sold_out");
    expect(tooMany.body.available).toBe(1);
    // …but the edge must not turn that into "sold out" for everyone: C gets the last unit.
    expect((await claim(sale, c.token)).status).toBe(201);
    expect((await counters(sale)).sold_out_fast_path).toBe(0);
  });

  it("GET /api/sales/:id polls are answered from the cache (the object's info() is not asked per poll)", async () => {
    const sale = await createSale();
    stopClock();
    const infos = async () => (await stats(sale)).served.infos;
    const before = await infos();
    const t0 = now();
    const res = await Promise.all(Array.from({ length: 60 }, () => call("GET", `/api/sales/${sale}`)));
    for (const r of res) {
      expect(r.status).toBe(200);
      expect(r.body.sale).toMatchObject({ id: sale, status: "open" });
      expect(r.headers.get("cache-control")).toBe("public, max-age=1");
    }
    // One load per cache period at most (one here, unless the burst straddled a refresh).
    expect((await infos()) - before).toBeLessThanOrEqual(1 + Math.floor((now() - t0) / EDGE_CACHE_MS));
    // Unknown sales are cached too: a flood of 404s does not hammer an object.
    const ghost = `ghost-${crypto.randomUUID().slice(0, 8)}`;
    for (let i = 0; i < 20; i++) expectRefused(await call("GET", `/api/sales/${ghost}`), 404, "not_found");
    expect((await stats(ghost)).served.infos).toBeLessThanOrEqual(2);
  });

  it("GET /api/sales/:id/queue polls do not reach the waiting room", async () => {
    const sale = await createSale({ admission_rate: 2 });
    const shoppers = await Promise.all(Array.from({ length: 20 }, () => session()));
    const tickets = [];
    for (const s of shoppers) {
      const r = await enqueue(sale, s.token);
      expect(r.status).toBe(201);
      tickets.push({ ...s, ticket: r.body.ticket as string });
    }
    stopClock();
    const before = (await roomStats(sale)).served;
    const t0 = now();
    const polls = await Promise.all(tickets.flatMap((t) => Array.from({ length: 5 }, () => poll(sale, t.token, t.ticket))));
    for (const p of polls) expect(p.status).toBe(200);
    // Still a line: those at the back are told their place, not admitted.
    expect(polls.some((p) => p.body.state === "waiting" && p.body.position > 0)).toBe(true);
    const after = (await roomStats(sale)).served;
    expect(after.reports).toBe(before.reports);
    expect(after.watermarks - before.watermarks).toBeLessThanOrEqual(1 + Math.floor((now() - t0) / EDGE_CACHE_MS));
  });
});
