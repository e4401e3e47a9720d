import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { advanceClockTo, now } from "./support/clock";
import { createSale, expectStockInvariant, saleConfig } from "./support/sales";
import { admitted, claim, heldBy, idemKey, session } from "./support/shoppers";
import { admin, call, stats, until } from "./support/worker";

const publicSale = async (sale: string) => (await call("GET", `/api/sales/${sale}`)).body.sale;

/**
 * A sale only hands out holds while it is open: the clock (starts_at, ends_at) and the operator
 * (pause, resume, close) decide, and every refusal leaves the stock exactly as it was.
 */
describe("sale lifecycle", () => {
  it("before starts_at a claim is refused 425 not_open; once the clock passes it, claims succeed", async () => {
    // A minute ahead: the clock is moved there, so a slow machine cannot open it early.
    const startsAt = now() + 60_000;
    const sale = await createSale({ stock_total: 3, starts_at: new Date(startsAt).toISOString() });
    const a = await session();
    const key = idemKey();
    const early = await claim(sale, a.token, key);
    expect(early.status).toBe(425);
    expect(early.body).toMatchObject({ error: "not_open", starts_at: new Date(startsAt).toISOString() });
    expect((await publicSale(sale)).status).toBe("scheduled");
    let s = await expectStockInvariant(sale, expect);
    expect(s.stock).toMatchObject({ available: 3, held: 0 });
    expect(s.holds.held).toBe(0);

    advanceClockTo(startsAt + 20);
    expect((await publicSale(sale)).status).toBe("open");
    // The refused key left nothing behind: the same key now makes a hold.
    expect((await claim(sale, a.token, key)).status).toBe(201);
    s = await expectStockInvariant(sale, expect);
    expect(s.stock).toMatchObject({ available: 2, held: 1 });
  });

  it("pause refuses new claims (425 not_open), keeps existing holds, and resume reopens", async () => {
    const sale = await createSale({ stock_total: 3 });
    const [a, b] = await Promise.all([session(), session()]);
    const key = idemKey();
    const ha = (await claim(sale, a.token, key)).body.hold;

    const p = await admin("POST", `/sales/${sale}/pause`);
    expect(p.status).toBe(200);
    expect(p.body.sale.status).toBe("paused");
    expect((await publicSale(sale)).status).toBe("paused");

    const refused = await claim(sale, b.token);
    expect(refused.status).toBe(425);
    expect(refused.body).toMatchObject({ error: "not_open", message: "the sale is paused" });
    // A replay still answers the hold A already has.
    const replay = await claim(sale, a.token, key);
    expect(replay.status).toBe(200);
    expect(replay.body.hold).toMatchObject({ id: ha.id, status: "held" });
    let s = await expectStockInvariant(sale, expect);
    expect(s.stock).toMatchObject({ available: 2, held: 1 });

    const r = await admin("POST", `/sales/${sale}/resume`);
    expect(r.status).toBe(200);
    expect(r.body.sale.status).toBe("open");
    expect((await claim(sale, b.token)).status).toBe(201);
    s = await expectStockInvariant(sale, expect);
    expect(s.stock).toMatchObject({ available: 1, held: 2 });
  });

  it("close refuses claims (410 sale_closed) for good: resume and pause cannot reopen it", async () => {
    const sale = await createSale({ stock_total: 3 });
    const [a, b] = await Promise.all([session(), session()]);
    await heldBy(sale, a.token);

    const c = await admin("POST", `/sales/${sale}/close`);
    expect(c.status).toBe(200);
    expect(c.body.sale.status).toBe("closed");
    const refused = await claim(sale, b.token);
    expect(refused.status).toBe(410);
    expect(refused.body.error).toBe("sale_closed");

    for (const action of ["resume", "pause"]) {
      const r = await admin("POST", `/sales/${sale}/${action}`);
      expect(r.status).toBe(410);
      expect(r.body.error).toBe("sale_closed");
    }
    expect((await publicSale(sale)).status).toBe("closed");
    expect((await claim(sale, b.token)).status).toBe(410);
    const s = await expectStockInvariant(sale, expect);
    expect(s.stock).toMatchObject({ available: 2, held: 1 });
  });

  it("once ends_at has passed the sale is closed: claims get 410 sale_closed", async () => {
    const sale = await createSale({ stock_total: 3 });
    const [a, b] = await Promise.all([session(), session()]);
    await heldBy(sale, a.token);
    // ends_at before starts_at is refused and changes nothing.
    const bad = await admin("PATCH", `/sales/${sale}`, { ends_at: new Date(now() - 3600_000).toISOString() });
    expect(bad.status).toBe(400);
    expect((await publicSale(sale)).status).toBe("open");

    const endsAt = now() + 60_000; // reached by moving the clock, not by waiting
    expect((await admin("PATCH", `/sales/${sale}`, { ends_at: new Date(endsAt).toISOString() })).status).toBe(200);
    advanceClockTo(endsAt + 20);
    expect((await publicSale(sale)).status).toBe("closed");
    const refused = await claim(sale, b.token);
    expect(refused.status).toBe(410);
    expect(refused.body.error).toBe("sale_closed");
    const s = await expectStockInvariant(sale, expect);
    expect(s.stock).toMatchObject({ available: 2, held: 1 });
  });
});

/** Restock adds units to both stock_total and available, visible to operators, shoppers and D1. */
describe("restock", () => {
  it("a sold-out sale sells again after a restock, and stats, public info and D1 agree", async () => {
    const sale = await createSale({ stock_total: 1 });
    const [a, b, c] = await Promise.all([session(), session(), session()]);
    await admitted(sale, a, b); // b: admitted, and loses the race for the one unit
    await heldBy(sale, a.token);
    expect((await claim(sale, b.token)).body.error).toBe("sold_out");

    expect((await admin("POST", `/sales/${sale}/restock`, { qty: 0 })).status).toBe(400);
    let s = await expectStockInvariant(sale, expect);
    expect(s.stock).toMatchObject({ stock_total: 1, available: 0 });

    const r = await admin("POST", `/sales/${sale}/restock`, { qty: 2 });
    expect(r.status).toBe(200);
    expect(r.body.sale).toMatchObject({ stock_total: 3, available: 2, sold_out: false });
    const st = await admin("GET", `/sales/${sale}`);
    expect(st.body.stock).toMatchObject({ stock_total: 3, available: 2, held: 1 });
    expect(await publicSale(sale)).toMatchObject({ stock_total: 3, available: 2 });

    expect((await claim(sale, b.token)).status).toBe(201);
    expect((await claim(sale, c.token)).status).toBe(201);
    s = await expectStockInvariant(sale, expect);
    expect(s.stock).toMatchObject({ stock_total: 3, available: 0, held: 3 });

    // The catalog row in D1 follows (via the outbox).
    const d1Stock = async () =>
      (await env.DB.prepare("SELECT stock_total FROM sales WHERE id = ?").bind(sale).first<{ stock_total: number }>())?.stock_total;
    await until(sale, async () => (await d1Stock()) === 3);
  });

  it("under waitlist, restocked units go to the waiting shoppers in order", async () => {
    const sale = await createSale({ stock_total: 1, release_policy: "waitlist" });
    const [a, b, c, d] = await Promise.all([session(), session(), session(), session()]);
    await heldBy(sale, a.token);
    for (const who of [b, c, d]) expect((await claim(sale, who.token)).status).toBe(202);

    expect((await admin("POST", `/sales/${sale}/restock`, { qty: 2 })).status).toBe(200);
    for (const who of [b, c]) {
      const r = await claim(sale, who.token);
      expect(r.status).toBe(200);
      expect(r.body.hold).toMatchObject({ status: "held", source: "waitlist" });
    }
    expect((await claim(sale, d.token)).body).toMatchObject({ waitlisted: true, position: 1 });
    const s = await expectStockInvariant(sale, expect);
    expect(s.stock).toMatchObject({ stock_total: 3, available: 0, held: 3 });
    expect(s.waitlist).toMatchObject({ waiting: 1, offered: 2 });
  });
});

/**
 * Creating a sale is idempotent by id: the same configuration again is a 200 that changes
 * nothing, a different one is a 409 conflict that changes nothing.
 */
describe("admin create", () => {
  it("same config → 200 (however spelled), different config → 409, concurrent creates make one sale", async () => {
    const cfg = saleConfig({ stock_total: 5 });
    const creates = await Promise.all(Array.from({ length: 5 }, () => admin("POST", "/sales", cfg)));
    expect(creates.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 201]);
    for (const r of creates) expect(r.body.created).toBe(r.status === 201);

    const a = await session();
    await heldBy(cfg.id, a.token);
    expect((await admin("POST", `/sales/${cfg.id}/restock`, { qty: 1 })).status).toBe(200);

    // Same config, with defaults spelled out and instants as epoch ms: still the same sale.
    const same = await admin("POST", "/sales", {
      ...cfg,
      starts_at: Date.parse(cfg.starts_at),
      ends_at: Date.parse(cfg.ends_at),
      per_user_limit: 1,
      release_policy: "release",
      pow_difficulty: 0,
    });
    expect(same.status).toBe(200);
    expect(same.body).toMatchObject({ created: false, sale: { id: cfg.id, stock_total: 6, available: 5, held: 1 } });

    const other = await admin("POST", "/sales", { ...cfg, stock_total: 50 });
    expect(other.status).toBe(409);
    expect(other.body.error).toBe("conflict");
    const policy = await admin("POST", "/sales", { ...cfg, release_policy: "undersell" });
    expect(policy.status).toBe(409);

    expect((await call("POST", "/admin/sales", { body: cfg })).status).toBe(401);
    expect((await call("POST", "/admin/sales", { body: cfg, token: "wrong-token-0123456789" })).status).toBe(401);

    const s = await expectStockInvariant(cfg.id, expect);
    expect(s.stock).toMatchObject({ stock_total: 6, available: 5, held: 1 });
    expect(s.sale).toMatchObject({ release_policy: "release" });
    expect((await stats(cfg.id)).holds.held).toBe(1);
  });
});
