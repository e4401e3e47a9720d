import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { HoldView } from "../domain/schemas/hold";
import { advanceClockTo, now } from "./support/clock";
import { createSale, expectStockInvariant } from "./support/sales";
import { admitted, claim, heldBy, idemKey, passFor, pay, session } from "./support/shoppers";
import { admin, call, runAlarm, stub, untilDue } from "./support/worker";

// hold_ttl_s has a schema minimum of 1 s: the shortest real payment window a test can wait out.
const TTL = 1;

const getHold = (id: string, token: string) => call("GET", `/api/holds/${id}`, { token });
const cancel = (id: string, token: string) => call("DELETE", `/api/holds/${id}`, { token });
const statusOf = async (id: string, token: string): Promise<HoldView["status"]> => (await getHold(id, token)).body.hold.status;

/** Runs the alarm, the clock moved to its time, until the hold has left `held` (the real alarm may get there first). */
const untilEnded = (sale: string, id: string, token: string) => untilDue(sale, async () => (await statusOf(id, token)) !== "held");

/** The object's whole ledger, straight from its SQLite tables (for before/after comparisons). */
const snapshot = (sale: string) =>
  runInDurableObject(stub(sale), (_inst, state) => {
    const all = (q: string) => state.storage.sql.exec(q).toArray();
    return {
      sale: all("SELECT * FROM sale"),
      holds: all("SELECT * FROM holds ORDER BY id"),
      waitlist: all("SELECT * FROM waitlist ORDER BY seq"),
    };
  });

/**
 * Invariant 3 through the alarm: an unpaid hold ends as `expired` exactly once when its window
 * passes, and its unit goes where the sale's release policy says (shelf, nowhere, next in line).
 */
/** A waitlisted shopper claiming again sees the hold offered to them (200, from the waitlist). */
async function offerFor(sale: string, token: string): Promise<HoldView> {
  const res = await claim(sale, token);
  expect(res.status).toBe(200);
  expect(res.body.hold).toMatchObject({ status: "held", source: "waitlist" });
  return res.body.hold as HoldView;
}

describe("hold expiry by policy", () => {
  it("release: the expired unit can be claimed by another shopper", async () => {
    const sale = await createSale({ stock_total: 1, hold_ttl_s: TTL, release_policy: "release" });
    const [a, b] = await Promise.all([session(), session()]);
    await admitted(sale, a, b);
    const key = idemKey();
    const first = await claim(sale, a.token, key);
    expect(first.status).toBe(201);
    const h = first.body.hold as HoldView;
    await expectStockInvariant(sale, expect);

    const early = await claim(sale, b.token);
    expect(early.status).toBe(409);
    expect(early.body.error).toBe("sold_out");

    await untilEnded(sale, h.id, a.token);
    const ended = (await getHold(h.id, a.token)).body.hold as HoldView;
    expect(ended).toMatchObject({ status: "expired", reason: "payment window ended" });
    expect(Date.parse(ended.ended_at!)).toBeGreaterThanOrEqual(Date.parse(h.expires_at));
    let s = await expectStockInvariant(sale, expect);
    expect(s.stock).toMatchObject({ available: 1, held: 0, withdrawn: 0 });
    expect(s.holds.expired).toBe(1);

    const second = await claim(sale, b.token);
    expect(second.status).toBe(201);
    expect(second.body.hold.id).not.toBe(h.id);
    // A's replay answers its (expired) hold; a fresh claim from A finds nothing left.
    const replay = await claim(sale, a.token, key);
    expect(replay.status).toBe(200);
    expect(replay.body.hold).toMatchObject({ id: h.id, status: "expired" });
    expect((await claim(sale, a.token)).body.error).toBe("sold_out");
    s = await expectStockInvariant(sale, expect);
    expect(s.stock).toMatchObject({ available: 0, held: 1, withdrawn: 0 });
    expect(s.holds).toMatchObject({ held: 1, expired: 1 });
  });

  it("undersell: an expired unit is withdrawn, never relisted", async () => {
    const sale = await createSale({ stock_total: 2, hold_ttl_s: TTL, release_policy: "undersell" });
    const [a, b, c] = await Promise.all([session(), session(), session()]);
    await admitted(sale, a, b, c);
    const h = await heldBy(sale, a.token);
    await expectStockInvariant(sale, expect);

    await untilEnded(sale, h.id, a.token);
    expect(await statusOf(h.id, a.token)).toBe("expired");
    let s = await expectStockInvariant(sale, expect);
    expect(s.stock).toMatchObject({ stock_total: 2, available: 1, held: 0, withdrawn: 1 });

    // The one unit never held is still sold; the withdrawn one is not offered to anyone.
    expect((await claim(sale, b.token)).status).toBe(201);
    const late = await claim(sale, c.token);
    expect(late.status).toBe(409);
    expect(late.body.error).toBe("sold_out");
    expect((await claim(sale, a.token)).body.error).toBe("sold_out");
    s = await expectStockInvariant(sale, expect);
    expect(s.stock).toMatchObject({ available: 0, held: 1, withdrawn: 1 });
    expect((await call("GET", `/api/sales/${sale}`)).body.sale).toMatchObject({ sold_out: true, available: 0 });
  });

  it("waitlist: ended holds (expiry and cancel) go to waiting shoppers in FIFO order, each with a fresh window", async () => {
    const sale = await createSale({ stock_total: 1, hold_ttl_s: TTL, release_policy: "waitlist" });
    const [a, b, c, d, e] = await Promise.all([session(), session(), session(), session(), session()]);
    // Everyone through the line first: the claims below must all fall inside a's short window.
    await Promise.all([a, b, c, d, e].map((x) => passFor(sale, x.token)));
    const ha = await heldBy(sale, a.token);

    for (const [who, pos] of [
      [b, 1],
      [c, 2],
      [d, 3],
    ] as const) {
      const r = await claim(sale, who.token);
      expect(r.status).toBe(202);
      expect(r.body).toMatchObject({ waitlisted: true, position: pos });
    }
    // Asking again keeps one place in line.
    expect((await claim(sale, b.token)).body.position).toBe(1);
    let s = await expectStockInvariant(sale, expect);
    expect(s.waitlist).toMatchObject({ waiting: 3, offered: 0 });

    // Offers made from now on get a long window, so B's hold stays put while we look at it.
    expect((await admin("PATCH", `/sales/${sale}`, { hold_ttl_s: 300 })).status).toBe(200);
    await untilEnded(sale, ha.id, a.token);
    expect(await statusOf(ha.id, a.token)).toBe("expired");

    const hb = await offerFor(sale, b.token);
    // Fresh window: starts when the unit came back, not when B joined the line.
    expect(Date.parse(hb.created_at)).toBeGreaterThanOrEqual(Date.parse(ha.expires_at));
    expect(Date.parse(hb.expires_at) - Date.parse(hb.created_at)).toBe(300_000);
    expect((await getHold(hb.id, b.token)).body.hold.id).toBe(hb.id);
    // C is now first in line; a newcomer queues behind D.
    expect((await claim(sale, c.token)).body).toMatchObject({ waitlisted: true, position: 1 });
    expect((await claim(sale, e.token)).body).toMatchObject({ waitlisted: true, position: 3 });
    s = await expectStockInvariant(sale, expect);
    expect(s.stock).toMatchObject({ available: 0, held: 1 });
    expect(s.waitlist).toMatchObject({ waiting: 3, offered: 1 });

    // Cancel path: B gives up, C gets a short window (then the next offer gets a long one again).
    await admin("PATCH", `/sales/${sale}`, { hold_ttl_s: TTL });
    expect((await cancel(hb.id, b.token)).body.hold.status).toBe("cancelled");
    await admin("PATCH", `/sales/${sale}`, { hold_ttl_s: 300 });
    const hc = await offerFor(sale, c.token);
    s = await expectStockInvariant(sale, expect);
    expect(s.stock).toMatchObject({ available: 0, held: 1 });

    // Expiry path again: C lets the window pass, D is next.
    await untilEnded(sale, hc.id, c.token);
    expect(await statusOf(hc.id, c.token)).toBe("expired");
    const hd = await offerFor(sale, d.token);
    expect(Date.parse(hd.created_at)).toBeGreaterThanOrEqual(Date.parse(hc.expires_at));

    const paid = await pay(hd.id, d.token);
    expect(paid.status).toBe(200);
    expect(paid.body.hold.status).toBe("confirmed");

    s = await expectStockInvariant(sale, expect);
    expect(s.stock).toMatchObject({ available: 0, held: 0, sold: 1, withdrawn: 0 });
    expect(s.holds).toMatchObject({ held: 0, confirmed: 1, expired: 2, cancelled: 1 });
    expect(s.waitlist).toMatchObject({ waiting: 1, offered: 3 });
    // Each of A..D has exactly one hold, in the order they lined up.
    const { holds } = await snapshot(sale);
    const users = [a, b, c, d].map((x) => x.user);
    expect(holds.map((h) => h.user_id).sort()).toEqual([...users].sort());
    const byUser = new Map(holds.map((h) => [h.user_id, h]));
    const created = users.map((u) => byUser.get(u)!.created_at as number);
    expect([...created].sort((x, y) => x - y)).toEqual(created);
    // E has no hold, and none can come back now (all sold, nothing held): the final answer.
    expect((await claim(sale, e.token)).body).toMatchObject({ error: "sold_out", available: 0, held: 0 });
  });

  it("waitlist: once no unit can come back, a claim is told sold out for good and leaves the list; a restock goes to those still on it", async () => {
    const sale = await createSale({ stock_total: 1, hold_ttl_s: 300, release_policy: "waitlist" });
    const [a, b, c, d] = await Promise.all([session(), session(), session(), session()]);
    await Promise.all([a, b, c, d].map((x) => passFor(sale, x.token)));
    const ha = await heldBy(sale, a.token);
    // While A's unit may come back, B and C wait for it.
    expect((await claim(sale, b.token)).body).toMatchObject({ waitlisted: true, position: 1 });
    expect((await claim(sale, c.token)).body).toMatchObject({ waitlisted: true, position: 2 });
    expect((await pay(ha.id, a.token)).status).toBe(200);

    // Sold, nothing held: B asking again is told so, for good, not "waitlisted" without end.
    const told = await claim(sale, b.token);
    expect(told.status).toBe(409);
    expect(told.body).toMatchObject({ error: "sold_out", message: "sold out", available: 0, held: 0 });
    // A newcomer does not join a list nothing can reach either.
    expect((await claim(sale, d.token)).body).toMatchObject({ error: "sold_out", held: 0 });
    let s = await expectStockInvariant(sale, expect);
    expect(s.waitlist).toMatchObject({ waiting: 1, offered: 0 }); // C, who has not asked since

    // Units come back (a restock): the list moves again, to C first.
    expect((await admin("POST", `/sales/${sale}/restock`, { qty: 1 })).status).toBe(200);
    const hc = await offerFor(sale, c.token);
    expect(hc.qty).toBe(1);
    s = await expectStockInvariant(sale, expect);
    expect(s.stock).toMatchObject({ available: 0, held: 1, sold: 1 });
    expect(s.waitlist).toMatchObject({ waiting: 0, offered: 1 });
  });

  it("waitlist: a shopper whose offer lapsed is told the truth when claiming again", async () => {
    const sale = await createSale({ stock_total: 1, hold_ttl_s: TTL, release_policy: "waitlist" });
    const [a, b, c] = await Promise.all([session(), session(), session()]);
    const ha = await heldBy(sale, a.token);
    expect((await claim(sale, b.token)).status).toBe(202);
    await untilEnded(sale, ha.id, a.token);
    const hb = (await claim(sale, b.token)).body.hold as HoldView;
    expect(hb.source).toBe("waitlist");
    expect((await claim(sale, c.token)).body.position).toBe(1);
    await untilEnded(sale, hb.id, b.token);
    const hc = (await claim(sale, c.token)).body.hold as HoldView;
    expect(hc.source).toBe("waitlist");

    // B's offer lapsed and the unit went to C: B asks again and must really be in line (behind
    // nobody but those waiting), and A (whose own hold lapsed) likewise.
    const again = await claim(sale, b.token);
    expect(again.status).toBe(202);
    expect(again.body.position).toBe(1);
    expect((await claim(sale, a.token)).body.position).toBe(2);
    let s = await expectStockInvariant(sale, expect);
    expect(s.waitlist.waiting).toBe(2);

    // And the line is real: when C's window ends, B gets the unit.
    await untilEnded(sale, hc.id, c.token);
    const next = await claim(sale, b.token);
    expect(next.status).toBe(200);
    expect(next.body.hold).toMatchObject({ status: "held", source: "waitlist" });
    s = await expectStockInvariant(sale, expect);
    expect(s.stock).toMatchObject({ available: 0, held: 1 });
  });
});

/**
 * Invariant 3 against repeats: the alarm re-reads state in a transaction, so running it again,
 * concurrently, or after the hold already ended some other way changes nothing; a lapsed hold
 * can never be paid.
 */
describe("alarm idempotence", () => {
  it("extra alarm runs after an expiry change nothing; paying the expired hold answers 410", async () => {
    const sale = await createSale({ stock_total: 4, hold_ttl_s: TTL });
    const [a, b, c] = await Promise.all([session(), session(), session()]);
    const [ha, hb, hc] = await Promise.all([heldBy(sale, a.token), heldBy(sale, b.token), heldBy(sale, c.token)]);
    expect((await cancel(hb.id, b.token)).body.hold.status).toBe("cancelled");
    expect((await pay(hc.id, c.token)).body.hold.status).toBe("confirmed");
    await untilEnded(sale, ha.id, a.token);

    const before = await snapshot(sale);
    const statsBefore = await expectStockInvariant(sale, expect);
    expect(statsBefore.stock).toMatchObject({ available: 3, held: 0, sold: 1 });
    expect(statsBefore.holds).toMatchObject({ expired: 1, cancelled: 1, confirmed: 1 });
    expect(statsBefore.expiry.expired).toBe(1);

    // Scheduled runs (if any is set), then forced runs, some at once.
    for (let i = 0; i < 3; i++) await runAlarm(sale);
    await runInDurableObject(stub(sale), (inst) => Promise.all([inst.alarm(), inst.alarm(), inst.alarm()]));
    await runInDurableObject(stub(sale), (inst) => inst.alarm());

    const pa = await pay(ha.id, a.token);
    expect(pa.status).toBe(410);
    expect(pa.body).toMatchObject({ error: "hold_ended", hold: { id: ha.id, status: "expired" } });
    expect((await pay(ha.id, a.token)).status).toBe(410);
    // Cancelling an expired hold is a no-op that reports where it ended.
    expect((await cancel(ha.id, a.token)).body.hold.status).toBe("expired");

    const after = await snapshot(sale);
    expect(after).toEqual(before);
    const statsAfter = await expectStockInvariant(sale, expect);
    expect(statsAfter.stock).toEqual(statsBefore.stock);
    expect(statsAfter.expiry.expired).toBe(1);
    // Nothing was charged for the expired hold.
    const charges = (await admin("GET", "/gateway/ledger")).body.charges as { reference: string }[];
    expect(charges.filter((x) => x.reference === ha.id)).toHaveLength(0);
  });

  it("a hold that lapsed before the alarm ran is expired by pay, once; the alarm then finds nothing", async () => {
    // A long ttl keeps the real alarm far away; the window is then ended by moving expires_at back.
    const sale = await createSale({ stock_total: 1, hold_ttl_s: 300 });
    const [a, b] = await Promise.all([session(), session()]);
    const ha = await heldBy(sale, a.token);
    await runInDurableObject(stub(sale), (_i, state) => {
      state.storage.sql.exec("UPDATE holds SET expires_at = ? WHERE id = ?", now() - 1, ha.id);
    });

    const pa = await pay(ha.id, a.token);
    expect(pa.status).toBe(410);
    expect(pa.body.hold).toMatchObject({ status: "expired", reason: "payment window ended" });
    let s = await expectStockInvariant(sale, expect);
    expect(s.stock).toMatchObject({ available: 1, held: 0 });

    const before = await snapshot(sale);
    await runAlarm(sale);
    await runInDurableObject(stub(sale), (inst) => Promise.all([inst.alarm(), inst.alarm()]));
    expect(await snapshot(sale)).toEqual(before);
    s = await expectStockInvariant(sale, expect);
    expect(s.stock).toMatchObject({ available: 1, held: 0 });
    expect(s.holds.expired).toBe(1);
    expect((await claim(sale, b.token)).status).toBe(201);
  });

  it("cancel racing the expiry alarm ends the hold once and returns one unit", async () => {
    const sale = await createSale({ stock_total: 1, hold_ttl_s: TTL });
    const a = await session();
    const ha = await heldBy(sale, a.token);
    // Wait out the window without running the alarm ourselves (the runtime's may still fire).
    advanceClockTo(Date.parse(ha.expires_at) + 50);
    const [c1, , c2] = await Promise.all([cancel(ha.id, a.token), runAlarm(sale), cancel(ha.id, a.token), runAlarm(sale)]);
    expect(c1.status).toBe(200);
    expect(c2.status).toBe(200);
    const final = (await getHold(ha.id, a.token)).body.hold as HoldView;
    expect(["expired", "cancelled"]).toContain(final.status);
    expect(c1.body.hold.status).toBe(final.status);
    expect(c2.body.hold.status).toBe(final.status);
    const s = await expectStockInvariant(sale, expect);
    expect(s.stock).toMatchObject({ available: 1, held: 0, withdrawn: 0 });
    expect(s.holds.expired! + s.holds.cancelled!).toBe(1);
  });
});

/**
 * Cancelling (DELETE /api/holds/:id) ends a hold once and returns its stock per policy; only the
 * shopper who holds it can see or cancel it.
 */
describe("cancel", () => {
  it("release: returns the unit once, even when cancelled twice", async () => {
    const sale = await createSale({ stock_total: 1, release_policy: "release" });
    const [a, b] = await Promise.all([session(), session()]);
    await admitted(sale, a, b);
    const ha = await heldBy(sale, a.token);
    expect((await claim(sale, b.token)).body.error).toBe("sold_out");

    const first = await cancel(ha.id, a.token);
    expect(first.status).toBe(200);
    expect(first.body.hold).toMatchObject({ id: ha.id, status: "cancelled" });
    let s = await expectStockInvariant(sale, expect);
    expect(s.stock).toMatchObject({ available: 1, held: 0 });

    const second = await cancel(ha.id, a.token);
    expect(second.status).toBe(200);
    expect(second.body.hold).toEqual(first.body.hold); // same end, same ended_at
    s = await expectStockInvariant(sale, expect);
    expect(s.stock).toMatchObject({ available: 1, held: 0 });
    expect(s.holds).toMatchObject({ cancelled: 1, held: 0 });

    expect((await claim(sale, b.token)).status).toBe(201);
    s = await expectStockInvariant(sale, expect);
    expect(s.stock).toMatchObject({ available: 0, held: 1 });
  });

  it("undersell: a cancelled unit is withdrawn", async () => {
    const sale = await createSale({ stock_total: 1, release_policy: "undersell" });
    const [a, b] = await Promise.all([session(), session()]);
    const ha = await heldBy(sale, a.token);
    expect((await cancel(ha.id, a.token)).body.hold.status).toBe("cancelled");
    expect((await cancel(ha.id, a.token)).status).toBe(200);
    const s = await expectStockInvariant(sale, expect);
    expect(s.stock).toMatchObject({ available: 0, held: 0, withdrawn: 1 });
    expect((await claim(sale, b.token)).body.error).toBe("sold_out");
  });

  it("another shopper can neither see nor cancel a hold; nor can anyone without a session", async () => {
    const sale = await createSale({ stock_total: 2 });
    const [a, b] = await Promise.all([session(), session()]);
    const ha = await heldBy(sale, a.token);
    await heldBy(sale, b.token);

    const peek = await getHold(ha.id, b.token);
    expect(peek.status).toBe(404);
    expect(peek.body.error).toBe("not_found");
    const steal = await cancel(ha.id, b.token);
    expect(steal.status).toBe(404);
    expect((await call("DELETE", `/api/holds/${ha.id}`)).status).toBe(401);
    expect((await cancel(`${sale}_h${"0".repeat(20)}`, a.token)).status).toBe(404);
    expect((await cancel("not-a-hold-id", a.token)).status).toBe(404);

    expect(await statusOf(ha.id, a.token)).toBe("held");
    const s = await expectStockInvariant(sale, expect);
    expect(s.stock).toMatchObject({ available: 0, held: 2 });
  });

  it("a paid hold cannot be cancelled", async () => {
    const sale = await createSale({ stock_total: 1 });
    const a = await session();
    const ha = await heldBy(sale, a.token);
    expect((await pay(ha.id, a.token)).status).toBe(200);
    const r = await cancel(ha.id, a.token);
    expect(r.status).toBe(409);
    expect(r.body.error).toBe("conflict");
    const s = await expectStockInvariant(sale, expect);
    expect(s.stock).toMatchObject({ available: 0, held: 0, sold: 1 });
    expect(await statusOf(ha.id, a.token)).toBe("confirmed");
  });
});
