import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import type { HoldRow } from "../durable-objects/inventory/holds";
import { gatewaySim } from "../domain/objects";
import { now } from "./support/clock";
import { createSale, expectStockInvariant } from "./support/sales";
import { admitted, claim, heldBy, pay, session } from "./support/shoppers";
import { call, d1Orders, d1Refunds, ledger, runAlarm, sleep, stats, stub, until } from "./support/worker";

// Test bindings (vitest.config.ts): PAY_TIMEOUT_MS 250, PAY_RETRY_MS 100, PAY_GIVE_UP_S 1,
// GATEWAY_LATE_MS 300. tok_late_<ms> with 250 < ms < 1000 lands while the hold is still pending;
// with ms > 1000 it lands after the object gave up.

/** The product object's holds table, read in the object (the ledger the API summarises). */
const holdRows = (sale: string) =>
  runInDurableObject(stub(sale), (_i, state) => state.storage.sql.exec<HoldRow>("SELECT * FROM holds").toArray());

/** The simulator's ledger rows for one hold (the charge reference is the hold id). */
const chargesFor = async (holdId: string) => (await ledger()).filter((e) => e.reference === holdId);

/** Has the simulator delivered (or given up delivering) every webhook it owes for this hold? */
const webhooksDone = (holdId: string) =>
  runInDurableObject(
    gatewaySim(env),
    (_i, state) =>
      state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM charges WHERE reference = ? AND notify_at IS NOT NULL", holdId).one()
        .n === 0,
  );

const getHold = async (holdId: string, token: string) => (await call("GET", `/api/holds/${holdId}`, { token })).body.hold;

/** Runs alarms until nothing is pending (payments, refunds) and the outbox has reached D1. */
const settled = (sale: string, ms?: number) =>
  until(
    sale,
    async () => {
      const s = await stats(sale);
      return s.holds.pending === 0 && s.refunds.pending === 0 && s.outbox.backlog === 0;
    },
    ms,
  );

/** Invariant 5: D1 holds exactly one order per confirmed hold, with the hold's charge and amount. */
async function expectOneOrderPerConfirmedHold(sale: string) {
  const confirmed = (await holdRows(sale)).filter((h) => h.status === "confirmed");
  const orders = await d1Orders(sale);
  expect(orders.map((o) => o.hold_id).sort()).toEqual(confirmed.map((h) => h.id).sort());
  for (const h of confirmed) {
    const o = orders.find((x) => x.hold_id === h.id)!;
    expect(o.charge_id).toBe(h.charge_id);
    expect(o.amount).toBe(h.amount);
    expect(o.qty).toBe(h.qty);
  }
  return orders;
}

/**
 * Invariants 4 and 5 for single payments, one gateway behaviour per test: each ends with the
 * stock invariant, one D1 order per confirmed hold, and one gateway charge per hold reference.
 */
describe("payments", () => {
  it("tok_ok: 200 confirmed, order readable by its owner only, one D1 order with the hold's amount", async () => {
    const sale = await createSale({ stock_total: 3 });
    const alice = await session();
    const bob = await session();
    const hold = await heldBy(sale, alice.token);

    const res = await pay(hold.id, alice.token, "tok_ok");
    expect(res.status).toBe(200);
    expect(res.body.hold.status).toBe("confirmed");
    const orderId = res.body.order_id as string;
    expect(orderId).toBe(res.body.hold.order_id);

    const mine = await call("GET", `/api/orders/${orderId}`, { token: alice.token });
    expect(mine.status).toBe(200);
    expect(mine.body.order).toMatchObject({ id: orderId, hold_id: hold.id, qty: 1, amount: 49_900, currency: "EUR" });
    const theirs = await call("GET", `/api/orders/${orderId}`, { token: bob.token });
    expect(theirs.status).toBe(404);

    await until(sale, async () => (await d1Orders(sale)).length > 0);
    const [order, ...more] = await expectOneOrderPerConfirmedHold(sale);
    expect(more).toHaveLength(0);
    expect(order).toMatchObject({ id: orderId, amount: 49_900, qty: 1, charge_id: mine.body.order.charge_id });

    const charges = await chargesFor(hold.id);
    expect(charges).toHaveLength(1);
    expect(charges[0]).toMatchObject({ status: "succeeded", charge_id: order!.charge_id, amount: 49_900, calls: 1, refund_id: null });
    const s = await expectStockInvariant(sale, expect);
    expect(s.stock).toMatchObject({ sold: 1, held: 0, available: 2 });
  });

  it("tok_decline: 402, hold declined, its unit goes back on the shelf for another shopper", async () => {
    const sale = await createSale({ stock_total: 1 });
    const alice = await session();
    const bob = await session();
    await admitted(sale, alice, bob); // bob is admitted too (two per unit), and finds the unit held
    const hold = await heldBy(sale, alice.token);
    expect((await claim(sale, bob.token)).status).toBe(409); // the only unit is held

    const res = await pay(hold.id, alice.token, "tok_decline");
    expect(res.status).toBe(402);
    expect(res.body.error).toBe("payment_declined");
    expect(res.body.hold.status).toBe("declined");
    expect((await getHold(hold.id, alice.token)).status).toBe("declined");

    // release policy: the declined unit is claimable again.
    const again = await claim(sale, bob.token);
    expect(again.status).toBe(201);

    await settled(sale);
    expect(await expectOneOrderPerConfirmedHold(sale)).toHaveLength(0);
    const charges = await chargesFor(hold.id);
    expect(charges).toHaveLength(1);
    expect(charges[0]!.status).toBe("declined");
    const s = await expectStockInvariant(sale, expect);
    expect(s.stock).toMatchObject({ sold: 0, held: 1, available: 0 });
    expect(s.holds).toMatchObject({ declined: 1, held: 1 });
  });

  it("timeout then late success: 202 pending, unit unclaimable meanwhile, re-asked by key, confirmed once", async () => {
    const sale = await createSale({ stock_total: 1 });
    const alice = await session();
    const bob = await session();
    const hold = await heldBy(sale, alice.token);

    const res = await pay(hold.id, alice.token, "tok_late_500");
    expect(res.status).toBe(202);
    expect(res.body.hold.status).toBe("pending");

    // Unknown outcome: the unit stays with alice — not claimable, not cancellable.
    const other = await claim(sale, bob.token);
    expect(other.status).toBe(409);
    expect(other.body.error).toBe("sold_out");
    expect((await call("DELETE", `/api/holds/${hold.id}`, { token: alice.token })).status).toBe(409);
    await expectStockInvariant(sale, expect);

    await until(sale, async () => (await getHold(hold.id, alice.token)).status !== "pending");
    expect((await getHold(hold.id, alice.token)).status).toBe("confirmed");
    await settled(sale);
    await until(sale, () => webhooksDone(hold.id)); // the late webhook arrives too; it must change nothing

    const [order, ...more] = await expectOneOrderPerConfirmedHold(sale);
    expect(more).toHaveLength(0);
    const charges = await chargesFor(hold.id);
    expect(charges).toHaveLength(1);
    expect(charges[0]).toMatchObject({ status: "succeeded", charge_id: order!.charge_id, refund_id: null });
    expect(charges[0]!.calls).toBeGreaterThanOrEqual(2); // the object asked again, by the same key
    expect(await d1Refunds(sale)).toHaveLength(0);
    expect((await claim(sale, bob.token)).status).toBe(409);
    const s = await expectStockInvariant(sale, expect);
    expect(s.stock).toMatchObject({ sold: 1, held: 0, available: 0 });
  });

  it("tok_timeout (times out, then lands as a decline after GATEWAY_LATE_MS): hold declined, stock back, no order, no charge", async () => {
    const sale = await createSale({ stock_total: 1 });
    const alice = await session();
    const bob = await session();
    // Both in line before the charge, whose answer lands GATEWAY_LATE_MS later (bob is admitted: two per unit).
    await admitted(sale, alice, bob);
    const hold = await heldBy(sale, alice.token);

    const res = await pay(hold.id, alice.token, "tok_timeout");
    expect(res.status).toBe(202);
    expect((await claim(sale, bob.token)).status).toBe(409); // still unknown: not released

    await until(sale, async () => (await getHold(hold.id, alice.token)).status !== "pending");
    const ended = await getHold(hold.id, alice.token);
    expect(ended.status).toBe("declined");
    expect(ended.refund).toBeNull();
    expect((await claim(sale, bob.token)).status).toBe(201);

    await settled(sale);
    await until(sale, () => webhooksDone(hold.id));
    expect(await expectOneOrderPerConfirmedHold(sale)).toHaveLength(0);
    expect(await d1Refunds(sale)).toHaveLength(0);
    const charges = await chargesFor(hold.id);
    expect(charges).toHaveLength(1);
    expect(charges[0]).toMatchObject({ status: "declined", refund_id: null });
    const s = await expectStockInvariant(sale, expect);
    expect(s.stock).toMatchObject({ sold: 0, held: 1 });
  });

  it("20 concurrent pays for one hold: consistent answers, one charge, one order; paying again changes nothing", async () => {
    const sale = await createSale({ stock_total: 2 });
    const alice = await session();
    const hold = await heldBy(sale, alice.token);

    const answers = await Promise.all(Array.from({ length: 20 }, () => pay(hold.id, alice.token, "tok_ok")));
    for (const a of answers) {
      expect([200, 202]).toContain(a.status);
      expect(a.body.hold.id).toBe(hold.id);
      expect(a.body.hold.status).toBe(a.status === 200 ? "confirmed" : "pending");
    }
    const orderIds = new Set(answers.filter((a) => a.status === 200).map((a) => a.body.order_id));
    expect(orderIds.size).toBe(1);
    const [orderId] = [...orderIds];

    await settled(sale);
    const orders = await expectOneOrderPerConfirmedHold(sale);
    expect(orders.map((o) => o.id)).toEqual([orderId]);
    const charges = await chargesFor(hold.id);
    expect(charges).toHaveLength(1);
    expect(charges[0]).toMatchObject({ status: "succeeded", charge_id: orders[0]!.charge_id, calls: 1 });

    // A late retry of the shopper's pay: same order, the gateway is not even called.
    const again = await pay(hold.id, alice.token, "tok_ok");
    expect(again.status).toBe(200);
    expect(again.body.order_id).toBe(orderId);
    expect((await chargesFor(hold.id))[0]!.calls).toBe(1);
    await settled(sale);
    expect(await expectOneOrderPerConfirmedHold(sale)).toHaveLength(1);
    const s = await expectStockInvariant(sale, expect);
    expect(s.stock).toMatchObject({ sold: 1, held: 0, available: 1 });
  });

  it("tok_duplicate: the success delivered twice makes one order and no refund", async () => {
    const sale = await createSale({ stock_total: 1 });
    const alice = await session();
    const hold = await heldBy(sale, alice.token);

    const res = await pay(hold.id, alice.token, "tok_duplicate");
    expect(res.status).toBe(200);
    await until(sale, () => webhooksDone(hold.id)); // the second delivery has reached the object
    await settled(sale);

    const [order, ...more] = await expectOneOrderPerConfirmedHold(sale);
    expect(more).toHaveLength(0);
    const h = await getHold(hold.id, alice.token);
    expect(h).toMatchObject({ status: "confirmed", refund: null });
    expect((await stats(sale)).refunds).toEqual({ pending: 0, refunded: 0 });
    expect(await d1Refunds(sale)).toHaveLength(0);
    const charges = await chargesFor(hold.id);
    expect(charges).toHaveLength(1);
    expect(charges[0]).toMatchObject({ status: "succeeded", charge_id: order!.charge_id, refund_id: null });
    await expectStockInvariant(sale, expect);
  });

  it("a success that lands after the object gave up is refunded automatically and recorded in D1", async () => {
    const sale = await createSale({ stock_total: 1 });
    const alice = await session();
    const bob = await session();
    const hold = await heldBy(sale, alice.token);

    // Lands 1.5 s after the charge: after PAY_GIVE_UP_S (1 s) has released the hold.
    const res = await pay(hold.id, alice.token, "tok_late_1500");
    expect(res.status).toBe(202);
    await until(sale, async () => (await getHold(hold.id, alice.token)).status !== "pending");
    const given = await getHold(hold.id, alice.token);
    expect(given.status).toBe("expired");
    expect(given.refund).toBeNull();
    // The unit is back on the shelf once the gateway was asked again (and again) without an answer.
    const bobs = await claim(sale, bob.token);
    expect(bobs.status).toBe(201);

    await until(sale, async () => (await d1Refunds(sale)).length > 0);
    await settled(sale);
    const after = await getHold(hold.id, alice.token);
    expect(after).toMatchObject({ status: "expired", order_id: null, refund: { status: "refunded", amount: 49_900 } });

    const charges = await chargesFor(hold.id);
    expect(charges).toHaveLength(1);
    expect(charges[0]!.status).toBe("succeeded");
    expect(charges[0]!.refund_id).toMatch(/^re_/);
    const refunds = await d1Refunds(sale);
    expect(refunds).toHaveLength(1);
    expect(refunds[0]).toMatchObject({ hold_id: hold.id, charge_id: charges[0]!.charge_id });
    expect(await expectOneOrderPerConfirmedHold(sale)).toHaveLength(0);
    const s = await expectStockInvariant(sale, expect);
    expect(s.stock).toMatchObject({ sold: 0, held: 1, available: 0 });
    expect(s.refunds).toEqual({ pending: 0, refunded: 1 });
  });

  it("tok_error (502, nothing charged): pending and re-asked by key until give-up, then released; nothing charged", async () => {
    const sale = await createSale({ stock_total: 1 });
    const alice = await session();
    const bob = await session();
    await admitted(sale, alice, bob);
    const hold = await heldBy(sale, alice.token);

    // A 5xx is an unknown outcome (a real provider may have charged): pending, not declined.
    const res = await pay(hold.id, alice.token, "tok_error");
    expect(res.status).toBe(202);
    expect((await claim(sale, bob.token)).status).toBe(409);

    await until(sale, async () => (await getHold(hold.id, alice.token)).status !== "pending");
    const ended = await getHold(hold.id, alice.token);
    expect(ended.status).toBe("expired");
    expect(ended.reason).toMatch(/unknown/);
    expect((await claim(sale, bob.token)).status).toBe(201);
    const row = (await holdRows(sale)).find((h) => h.id === hold.id)!;
    expect(row.pay_attempts).toBeGreaterThan(2); // it did ask again before giving up
    expect(row.pay_next_at).not.toBeNull(); // and keeps watching for money that may still land

    // Skip the 60 s watch interval: the look-up finds no charge, and the watch ends.
    await runInDurableObject(stub(sale), (_i, state) => {
      state.storage.sql.exec("UPDATE holds SET pay_next_at = ? WHERE id = ?", now(), hold.id);
    });
    await until(sale, async () => (await holdRows(sale)).find((h) => h.id === hold.id)!.pay_next_at === null);

    await settled(sale);
    expect(await chargesFor(hold.id)).toHaveLength(0);
    expect(await expectOneOrderPerConfirmedHold(sale)).toHaveLength(0);
    expect(await d1Refunds(sale)).toHaveLength(0);
    const s = await expectStockInvariant(sale, expect);
    expect(s.stock).toMatchObject({ sold: 0, held: 1 });
  });
});

/**
 * Invariants 1, 4 and 5 together: 60 shoppers race for 30 units, retrying while sold out, and pay
 * with a mix of outcomes (success, decline, late success, timeout) while alarms re-ask and expire.
 * Whatever the interleaving, every charge is an order or a refund and every order is in D1 once.
 */
describe("a mixed payment run", () => {
  it("60 shoppers, 30 units, mixed tokens: no oversell, one order per confirmed hold, every charge accounted", async () => {
    const sale = await createSale({ stock_total: 30 });
    const methods = ["tok_ok", "tok_decline", "tok_late_400", "tok_timeout"];
    const shoppers = await Promise.all(Array.from({ length: 60 }, async (_, i) => ({ ...(await session()), method: methods[i % 4]! })));
    shoppers.sort(() => Math.random() - 0.5);
    // Everyone through the line first (two per unit): the run below is claims and payments.
    await admitted(sale, ...shoppers);

    const stopAt = Date.now() + 4000;
    // The driver's rounds (below): a shopper told "sold out" waits for the next one, in which the
    // alarm may have brought back units held by unknown payments.
    let round = () => {};
    let nextRound = new Promise<void>((r) => (round = r));
    const shop = async (s: (typeof shoppers)[number]) => {
      for (;;) {
        const c = await claim(sale, s.token);
        if (c.status === 201) {
          const p = await pay(c.body.hold.id, s.token, s.method);
          return { ...s, hold: c.body.hold.id as string, payStatus: p.status };
        }
        // Sold out for now, or a shopper over the session's rate (RL_SESSION: a fast machine runs
        // many rounds in the window) is told to slow down: either way, try again next round.
        expect([409, 429]).toContain(c.status);
        expect(c.body.error).toBe(c.status === 409 ? "sold_out" : "rate_limited");
        if (Date.now() > stopAt) return { ...s, hold: null, payStatus: null };
        await nextRound; // sold out for now: units in unknown payments may come back
      }
    };
    let running = true;
    const driver = (async () => {
      try {
        while (running) {
          await runAlarm(sale);
          await expectStockInvariant(sale, expect); // mid-run, not just at the end
          const done = round;
          nextRound = new Promise<void>((r) => (round = r));
          done();
          await sleep(50);
        }
      } finally {
        nextRound = Promise.resolve(); // no more rounds: nobody waits for one
        round();
      }
    })();
    let results: Awaited<ReturnType<typeof shop>>[];
    try {
      results = await Promise.all(shoppers.map(shop));
    } finally {
      running = false; // stop the driver even if a shopper's assertion failed
      await driver;
    }
    await settled(sale, 8000);

    const rows = new Map((await holdRows(sale)).map((h) => [h.id, h]));
    const withHold = results.filter((r) => r.hold !== null);
    expect(rows.size).toBe(withHold.length);
    for (const r of withHold) {
      const h = rows.get(r.hold!)!;
      expect([200, 202, 402, 410]).toContain(r.payStatus);
      // Paid after its hold's window had run out (a busy machine): refused before any charge.
      if (r.payStatus === 410) {
        expect(h.status).toBe("expired");
        expect(await chargesFor(h.id)).toHaveLength(0);
        continue;
      }
      // A decline never confirms; a success never declines (it may only be compensated).
      // (An outcome that came too late on a busy machine, 202, may find the window over: expired.)
      if (r.method === "tok_decline" || r.method === "tok_timeout")
        expect(r.payStatus === 202 ? ["declined", "expired"] : ["declined"]).toContain(h.status);
      else expect(["confirmed", "expired"]).toContain(h.status);
      if (r.payStatus === 200) expect(h.status).toBe("confirmed");
      if (r.payStatus === 402) expect(h.status).toBe("declined");
    }

    const s = await expectStockInvariant(sale, expect);
    expect(s.stock!.sold).toBeLessThanOrEqual(30);
    expect(s.holds.pending).toBe(0);
    expect(s.holds.held).toBe(0); // every winner paid
    expect(s.refunds.pending).toBe(0);
    expect(s.outbox.backlog).toBe(0);
    expect(s.stock!.sold).toBeGreaterThan(0);

    // A late success the simulator delivers after the books settled (its own alarm, GATEWAY_LATE_MS
    // later) makes a refund owed, then a D1 row: the ledger is checked once that has happened.
    await vi.waitFor(
      async () => {
        const orders = await expectOneOrderPerConfirmedHold(sale);
        const refunds = await d1Refunds(sale);
        const orderCharges = new Set(orders.map((o) => o.charge_id));
        const refundCharges = new Set(refunds.map((r) => r.charge_id));
        const charges = (await ledger()).filter((e) => rows.has(e.reference));
        // One charge per hold that was paid, keyed by the hold.
        expect(new Set(charges.map((c) => c.reference)).size).toBe(charges.length);
        for (const c of charges) {
          if (c.status === "succeeded") {
            // Exactly one of: an order, or a recorded refund.
            const accounted = { order: orderCharges.has(c.charge_id), refund: refundCharges.has(c.charge_id) };
            expect(accounted.order !== accounted.refund, `charge ${c.charge_id} of ${c.reference}: ${JSON.stringify(accounted)}`).toBe(
              true,
            );
            if (refundCharges.has(c.charge_id)) expect(c.refund_id).not.toBeNull();
          } else {
            expect(c.status).toBe("declined");
            expect(orderCharges.has(c.charge_id) || refundCharges.has(c.charge_id)).toBe(false);
          }
        }
        for (const o of orders)
          expect(
            charges.some((c) => c.charge_id === o.charge_id && c.status === "succeeded"),
            `order ${o.id}'s charge`,
          ).toBe(true);
        for (const r of refunds) expect(rows.get(r.hold_id)!.status).not.toBe("confirmed");
      },
      // A refund whose call outlasted the 250 ms payment timeout on a busy machine is retried with
      // backoff (1, 2, 4, 8 s): up to half a minute.
      { timeout: 30_000, interval: 250 },
    );
    console.log(
      `mixed run: ${withHold.length} holds, ${s.stock!.sold} sold, ${s.holds.declined} declined, ${(await d1Refunds(sale)).length} refunded`,
    );
  }, 60_000); // the ledger may take up to 30 s to settle (above)
});
