import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { CARD_LIMIT_REASON } from "../domain/schemas/hold";
import { createSale, expectStockInvariant } from "./support/sales";
import { claim, heldBy, pay, session } from "./support/shoppers";
import { authenticate, holdRow, intentsFor } from "./support/stripe";
import { call, d1Orders, d1Refunds, stats, stub, until } from "./support/worker";

/**
 * The Stripe gateway (GATEWAY = "stripe", the official stripe package on its fetch client) against
 * the fake Stripe with its faults. Bindings: PAY_TIMEOUT_MS 250, PAY_RETRY_MS 100,
 * PAY_GIVE_UP_S 1; the fake's `timeout` answers after 600 ms. Every test ends with the
 * invariants: one intent (one possible charge) per hold, every charge an order or a refund, a D1
 * order for every confirmed hold.
 */
const getHold = async (id: string, token: string) => (await call("GET", `/api/holds/${id}`, { token })).body.hold;
const settled = (sale: string, ms?: number) =>
  until(
    sale,
    async () => {
      const s = await stats(sale);
      return s.holds.pending === 0 && s.refunds.pending === 0 && s.outbox.backlog === 0;
    },
    ms,
  );

/** One intent per hold; each succeeded one is an order or a refund (not both), each order's charge an intent. */
async function expectInvariants(sale: string, holds: string[]) {
  const intents = await intentsFor(...holds);
  expect(new Set(intents.map((i) => i.reference)).size).toBe(intents.length);
  const orders = await d1Orders(sale);
  const refunds = await d1Refunds(sale);
  for (const i of intents.filter((x) => x.status === "succeeded")) {
    const ordered = orders.some((o) => o.charge_id === i.charge_id);
    const refunded = refunds.some((r) => r.charge_id === i.charge_id);
    expect(ordered !== refunded, `intent ${i.charge_id}: order ${ordered}, refund ${refunded}`).toBe(true);
    if (refunded) expect(i.refund_id).toMatch(/^re_/);
  }
  for (const o of orders) expect(intents.some((i) => i.charge_id === o.charge_id && i.status === "succeeded")).toBe(true);
  const s = await expectStockInvariant(sale, expect);
  expect(orders.length).toBe(s.holds.confirmed);
  return { intents, orders, refunds, stats: s };
}

describe("the Stripe gateway", () => {
  it("pays: one intent named by the hold (metadata), stored before it is confirmed, the order's charge is the intent", async () => {
    const sale = await createSale({ stock_total: 3 });
    const alice = await session();
    const hold = await heldBy(sale, alice.token);
    const res = await pay(hold.id, alice.token, "pm_ok.card-a1");
    expect(res.status).toBe(200);
    const row = await holdRow(sale, hold.id);
    expect(row.pay_ref).toMatch(/^pi_/);
    expect(row.charge_id).toBe(row.pay_ref);
    expect(row.pay_fingerprint).toBe("fp_card-a1"); // known before the charge (the PaymentMethod)
    await settled(sale);
    const { intents, orders } = await expectInvariants(sale, [hold.id]);
    expect(intents).toHaveLength(1);
    expect(intents[0]).toMatchObject({ key: `open_${hold.id}`, status: "succeeded", calls: 1, amount: 49_900 });
    expect(orders).toHaveLength(1);
    expect(orders[0]!.charge_id).toBe(row.pay_ref);
  });

  it("a decline (402 card_declined): the hold is declined, its unit back, no order", async () => {
    const sale = await createSale({ stock_total: 1 });
    const alice = await session();
    const hold = await heldBy(sale, alice.token);
    const res = await pay(hold.id, alice.token, "pm_decline");
    expect(res.status).toBe(402);
    expect(res.body.hold).toMatchObject({ status: "declined", reason: "generic_decline" });
    expect((await claim(sale, (await session()).token)).status).toBe(201);
    await settled(sale);
    const { intents, orders } = await expectInvariants(sale, [hold.id]);
    expect(intents[0]!.status).toBe("declined");
    expect(orders).toHaveLength(0);
  });

  it("a 500 before the charge: pending, then settled by retrieving the intent and confirming that same intent", async () => {
    const sale = await createSale({ stock_total: 1 });
    const alice = await session();
    const hold = await heldBy(sale, alice.token);
    const res = await pay(hold.id, alice.token, "pm_error");
    expect(res.status).toBe(202);
    expect(res.body.hold).toMatchObject({ status: "pending", action: null });
    await until(sale, async () => (await getHold(hold.id, alice.token)).status !== "pending");
    expect((await getHold(hold.id, alice.token)).status).toBe("confirmed");
    await settled(sale);
    const { intents, orders } = await expectInvariants(sale, [hold.id]);
    expect(intents).toHaveLength(1); // never a second intent
    expect(intents[0]!.calls).toBe(2); // the lost confirm, then one on the same intent (a new key: Stripe replays a 500)
    expect(orders).toHaveLength(1);
  });

  it("a 500 after the charge, and a client timeout: retrieving finds the success, nothing is confirmed again", async () => {
    const sale = await createSale({ stock_total: 2 });
    const [a, b] = await Promise.all([session(), session()]);
    const [ha, hb] = await Promise.all([heldBy(sale, a.token), heldBy(sale, b.token)]);
    expect((await pay(ha.id, a.token, "pm_error_after")).status).toBe(202);
    expect((await pay(hb.id, b.token, "pm_timeout")).status).toBe(202);
    await until(sale, async () => (await stats(sale)).holds.confirmed === 2);
    await settled(sale);
    const { intents, orders } = await expectInvariants(sale, [ha.id, hb.id]);
    expect(intents.map((i) => i.calls)).toEqual([1, 1]);
    expect(orders).toHaveLength(2);
  });

  it("a 429: nothing happened, the same intent is confirmed on the next try", async () => {
    const sale = await createSale({ stock_total: 1 });
    const alice = await session();
    const hold = await heldBy(sale, alice.token);
    expect((await pay(hold.id, alice.token, "pm_ratelimit")).status).toBe(202);
    await until(sale, async () => (await getHold(hold.id, alice.token)).status === "confirmed");
    await settled(sale);
    const { intents } = await expectInvariants(sale, [hold.id]);
    expect(intents).toHaveLength(1);
    expect(intents[0]).toMatchObject({ status: "succeeded", calls: 2 });
  });

  it("an idempotent replay: an intent whose name was lost before it was stored is opened again by key and is the same intent", async () => {
    const sale = await createSale({ stock_total: 1 });
    const alice = await session();
    const hold = await heldBy(sale, alice.token);
    expect((await pay(hold.id, alice.token, "pm_error")).status).toBe(202);
    const first = (await holdRow(sale, hold.id)).pay_ref;
    // As if the write of the intent's id had been lost (it never is: it is on disk before the confirm).
    await runInDurableObject(stub(sale), (_i, state) => {
      state.storage.sql.exec("UPDATE holds SET pay_ref = NULL, pay_next_at = ? WHERE id = ?", Date.now(), hold.id);
    });
    await until(sale, async () => (await getHold(hold.id, alice.token)).status === "confirmed");
    expect((await holdRow(sale, hold.id)).pay_ref).toBe(first);
    await settled(sale);
    const { intents } = await expectInvariants(sale, [hold.id]);
    expect(intents).toHaveLength(1);
  });

  it("20 concurrent pays for one hold: one intent, one confirm, one order", async () => {
    const sale = await createSale({ stock_total: 1 });
    const alice = await session();
    const hold = await heldBy(sale, alice.token);
    const answers = await Promise.all(Array.from({ length: 20 }, () => pay(hold.id, alice.token, "pm_ok")));
    for (const a of answers) expect([200, 202]).toContain(a.status);
    await settled(sale);
    const { intents, orders } = await expectInvariants(sale, [hold.id]);
    expect(intents).toHaveLength(1);
    expect(intents[0]!.calls).toBe(1);
    expect(orders).toHaveLength(1);
  });
});

describe("3-D Secure (requires_action)", () => {
  it("the hold stays pending with the client secret for the page; once authenticated, paying again confirms it", async () => {
    const sale = await createSale({ stock_total: 1 });
    const alice = await session();
    const hold = await heldBy(sale, alice.token);
    const res = await pay(hold.id, alice.token, "pm_3ds");
    expect(res.status).toBe(202);
    expect(res.body.hold).toMatchObject({
      status: "pending",
      action: { type: "authenticate", client_secret: expect.stringMatching(/^pi_.*_secret_/) },
    });
    expect(res.body.message).toMatch(/authenticate/);
    expect((await getHold(hold.id, alice.token)).action).toEqual(res.body.hold.action); // a reloaded page finds it
    // The unit stays reserved: none is available (a new shopper would not even be admitted: a turn carries a unit).
    expect((await expectStockInvariant(sale, expect)).stock!.available).toBe(0);

    const intent = (await holdRow(sale, hold.id)).pay_ref!;
    await authenticate(intent);
    const again = await pay(hold.id, alice.token, "pm_3ds");
    expect(again.status).toBe(200);
    expect(again.body.hold).toMatchObject({ status: "confirmed", action: null });
    await settled(sale);
    const { intents, orders } = await expectInvariants(sale, [hold.id]);
    expect(intents[0]!.calls).toBe(1);
    expect(orders).toHaveLength(1);
  });

  it("a failed authentication declines the hold", async () => {
    const sale = await createSale({ stock_total: 1 });
    const alice = await session();
    const hold = await heldBy(sale, alice.token);
    expect((await pay(hold.id, alice.token, "pm_3ds")).status).toBe(202);
    await authenticate((await holdRow(sale, hold.id)).pay_ref!, "failed");
    const again = await pay(hold.id, alice.token, "pm_3ds");
    expect(again.status).toBe(402);
    expect(again.body.hold.reason).toBe("payment_intent_authentication_failure");
    await settled(sale);
    await expectInvariants(sale, [hold.id]);
  });

  it("a shopper who never authenticates: the payment window rule ends the hold and the intent is canceled at Stripe", async () => {
    const sale = await createSale({ stock_total: 1 });
    const alice = await session();
    const hold = await heldBy(sale, alice.token);
    expect((await pay(hold.id, alice.token, "pm_3ds")).status).toBe(202);
    await until(sale, async () => (await getHold(hold.id, alice.token)).status !== "pending");
    const ended = await getHold(hold.id, alice.token);
    expect(ended).toMatchObject({ status: "expired", action: null, reason: "the shopper did not complete the payment in time" });
    expect((await claim(sale, (await session()).token)).status).toBe(201);
    await settled(sale);
    const { intents, orders } = await expectInvariants(sale, [hold.id]);
    expect(intents[0]!.status).toBe("declined"); // canceled: it can no longer be completed
    expect(orders).toHaveLength(0);
  });
});

describe("one unit per card with Stripe's fingerprints", () => {
  it("a second use of a card is refused before an intent is even opened", async () => {
    const sale = await createSale({ stock_total: 3 });
    const [a, b] = await Promise.all([session(), session()]);
    const [ha, hb] = await Promise.all([heldBy(sale, a.token), heldBy(sale, b.token)]);
    expect((await pay(ha.id, a.token, "pm_ok.card-s1")).status).toBe(200);
    const refused = await pay(hb.id, b.token, "pm_ok.card-s1");
    expect(refused.status).toBe(409);
    expect(refused.body.error).toBe("card_limit_reached");
    expect(await intentsFor(hb.id)).toHaveLength(0);
    expect((await getHold(hb.id, b.token)).status).toBe("held");
  });

  it("a card known only with the charge (latest_charge's fingerprint): the duplicate is refunded through the Refunds API", async () => {
    const sale = await createSale({ stock_total: 3 });
    const [a, b] = await Promise.all([session(), session()]);
    const [ha, hb] = await Promise.all([heldBy(sale, a.token), heldBy(sale, b.token)]);
    expect((await pay(ha.id, a.token, "pm_ok.card-s2")).status).toBe(200);
    const late = await pay(hb.id, b.token, "pm_ok.late-card-s2");
    expect(late.status).toBe(409);
    expect(late.body.hold).toMatchObject({ status: "declined", reason: CARD_LIMIT_REASON });
    await settled(sale);
    const { refunds, orders } = await expectInvariants(sale, [ha.id, hb.id]);
    expect(orders.map((o) => o.hold_id)).toEqual([ha.id]);
    expect(refunds.map((r) => r.hold_id)).toEqual([hb.id]);
    expect((await getHold(hb.id, b.token)).refund).toEqual({ status: "refunded", amount: 49_900 });
  });
});
