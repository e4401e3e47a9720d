import { env } from "cloudflare:workers";
import { listDurableObjectIds } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { createSale, expectStockInvariant } from "./support/sales";
import { heldBy, pay, session } from "./support/shoppers";
import { authenticate, deliver, events, holdRow, intentsFor, objectState, sign, stripeApi } from "./support/stripe";
import { call, d1Orders, d1Refunds, stats, until } from "./support/worker";

/**
 * POST /api/webhooks/stripe against events the fake Stripe raised and signed with the Worker's
 * STRIPE_WEBHOOK_SECRET: delivered twice, out of order, after the hold ended, or with a bad
 * signature. A verified event about a hold makes its object ask Stripe where the payment
 * stands, and apply that by the rules of a direct answer, once per event id.
 */
const getHold = async (id: string, token: string) => (await call("GET", `/api/holds/${id}`, { token })).body.hold;
const settled = (sale: string) =>
  until(sale, async () => {
    const s = await stats(sale);
    return s.holds.pending === 0 && s.refunds.pending === 0 && s.outbox.backlog === 0;
  });
const one = async <T>(p: Promise<T[]>) => {
  const xs = await p;
  expect(xs).toHaveLength(1);
  return xs[0]!;
};

/** A hold paid with 3-D Secure, authenticated at Stripe, whose success only a webhook reports. */
async function authenticatedOffline(sale: string, result: "succeeded" | "failed" = "succeeded") {
  const alice = await session();
  const hold = await heldBy(sale, alice.token);
  expect((await pay(hold.id, alice.token, "pm_3ds")).status).toBe(202);
  const intent = (await holdRow(sale, hold.id)).pay_ref!;
  await authenticate(intent, result);
  return { alice, hold, intent };
}

describe("Stripe webhooks", () => {
  it("a success reported only by its webhook confirms the hold; delivered again, it changes nothing", async () => {
    const sale = await createSale({ stock_total: 1 });
    const { alice, hold } = await authenticatedOffline(sale);
    expect((await getHold(hold.id, alice.token)).status).toBe("pending");
    const ev = await one(events(hold.id, "payment_intent.succeeded"));

    const first = await deliver(ev);
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ received: true, applied: true, note: "payment succeeded" });
    expect((await getHold(hold.id, alice.token)).status).toBe("confirmed");
    await settled(sale);
    const before = await objectState(sale);

    const again = await deliver(ev);
    expect(again.body).toMatchObject({ received: true, applied: false, note: expect.stringMatching(/duplicate/) });
    const racing = await Promise.all([deliver(ev), deliver(ev)]);
    for (const r of racing) expect(r.body.applied).toBe(false);
    expect(await objectState(sale)).toEqual(before);
    expect(await d1Orders(sale)).toHaveLength(1);
    expect((await intentsFor(hold.id))[0]!.calls).toBe(1);
  });

  it("out of order: a failure delivered after a later success, or before it, ends with the truth (confirmed, once)", async () => {
    for (const order of ["success first", "failure first"]) {
      const sale = await createSale({ stock_total: 1 });
      const { alice, hold, intent } = await authenticatedOffline(sale, "failed");
      // The shopper tries again on Stripe's side with another card: the same intent succeeds.
      expect((await stripeApi(`/v1/payment_intents/${intent}/confirm`, { payment_method: "pm_ok" })).status).toBe(200);
      const failed = await one(events(hold.id, "payment_intent.payment_failed"));
      const succeeded = await one(events(hold.id, "payment_intent.succeeded"));
      const deliveries = order === "success first" ? [succeeded, failed] : [failed, succeeded];
      for (const ev of deliveries) expect((await deliver(ev)).status, order).toBe(200);
      expect((await getHold(hold.id, alice.token)).status, order).toBe("confirmed");
      await settled(sale);
      expect(await d1Orders(sale), order).toHaveLength(1);
      expect(await d1Refunds(sale), order).toHaveLength(0);
      await expectStockInvariant(sale, expect);
    }
  });

  it("late: a success whose webhook arrives after the hold expired is refunded (Refunds API), and its charge.refunded changes nothing", async () => {
    const sale = await createSale({ stock_total: 1 });
    const alice = await session();
    const hold = await heldBy(sale, alice.token);
    // Processing at Stripe, succeeding 1.5 s later: after PAY_GIVE_UP_S (1 s) has released the hold.
    expect((await pay(hold.id, alice.token, "pm_slow_1500")).status).toBe(202);
    await until(sale, async () => (await getHold(hold.id, alice.token)).status !== "pending");
    expect((await getHold(hold.id, alice.token)).status).toBe("expired");
    const ev = await until(sale, async () => (await events(hold.id, "payment_intent.succeeded")).length > 0).then(() =>
      one(events(hold.id, "payment_intent.succeeded")),
    );

    expect((await deliver(ev)).body).toMatchObject({ applied: true });
    await settled(sale);
    const after = await getHold(hold.id, alice.token);
    expect(after).toMatchObject({ status: "expired", order_id: null, refund: { status: "refunded", amount: 49_900 } });
    const [intent] = await intentsFor(hold.id);
    expect(intent).toMatchObject({ status: "succeeded", refund_id: expect.stringMatching(/^re_/) });
    expect(await d1Refunds(sale)).toEqual([expect.objectContaining({ hold_id: hold.id, charge_id: intent!.charge_id })]);
    expect(await d1Orders(sale)).toHaveLength(0);

    const refunded = await one(events(hold.id, "charge.refunded"));
    const before = await objectState(sale);
    expect((await deliver(refunded)).body.applied).toBe(true);
    const now = await objectState(sale);
    expect(now.refunds).toEqual(before.refunds); // our own refund, already recorded
    expect(await d1Refunds(sale)).toHaveLength(1);
  });

  it("a refund made at Stripe (the dashboard) for an order is recorded as a refund in D1", async () => {
    const sale = await createSale({ stock_total: 1 });
    const alice = await session();
    const hold = await heldBy(sale, alice.token);
    expect((await pay(hold.id, alice.token, "pm_ok.card-w1")).status).toBe(200);
    const intent = (await holdRow(sale, hold.id)).pay_ref!;
    expect((await stripeApi("/v1/refunds", { payment_intent: intent })).status).toBe(200);
    expect((await deliver(await one(events(hold.id, "charge.refunded")))).body).toMatchObject({ applied: true, note: "refund recorded" });
    await settled(sale);
    expect(await d1Refunds(sale)).toEqual([
      expect.objectContaining({ hold_id: hold.id, charge_id: intent, reason: "refunded at the provider" }),
    ]);
    expect(await d1Orders(sale)).toHaveLength(1); // the order stays: the unit was sold
  });

  it("a bad signature is a 400 and writes nothing: another secret, an altered body, an old timestamp, no header", async () => {
    const sale = await createSale({ stock_total: 1 });
    const { hold } = await authenticatedOffline(sale);
    const ev = await one(events(hold.id, "payment_intent.succeeded"));
    const before = await objectState(sale);
    const forged = await sign(ev.payload, "whsec_someone_elses_secret_0123456789");
    const old = await sign(ev.payload, env.STRIPE_WEBHOOK_SECRET, Math.floor(Date.now() / 1000) - 301);
    const altered = { payload: ev.payload.replace('"livemode":false', '"livemode":true'), header: ev.header };
    for (const [what, res] of [
      ["another secret", await deliver(ev, forged)],
      ["an old timestamp", await deliver(ev, old)],
      ["an altered body", await deliver(altered)],
      ["no v1 signature", await deliver(ev, `t=${Math.floor(Date.now() / 1000)}`)],
      ["no header", await call("POST", "/api/webhooks/stripe", { raw: ev.payload, headers: { "content-type": "application/json" } })],
    ] as const) {
      expect({ what, status: res.status, error: res.body.error }).toEqual({ what, status: 400, error: "bad_signature" });
    }
    expect(await objectState(sale)).toEqual(before);
    expect((await stats(sale)).holds.pending).toBe(1);
  });

  it("verifies any of several v1 signatures, and the previous secret during a rotation", async () => {
    const sale = await createSale({ stock_total: 2 });
    const { alice, hold } = await authenticatedOffline(sale);
    const ev = await one(events(hold.id, "payment_intent.succeeded"));
    const t = Math.floor(Date.now() / 1000);
    const wrong = (await sign(ev.payload, "whsec_not_ours_0123456789abcdef", t)).split(",")[1];
    const right = ev.header.split(",")[1];
    expect((await deliver(ev, `t=${t},${wrong},${right}`)).body.applied).toBe(true);
    expect((await getHold(hold.id, alice.token)).status).toBe("confirmed");

    // An event signed with the secret being rotated out (STRIPE_WEBHOOK_SECRET_PREVIOUS) still verifies.
    const second = await authenticatedOffline(sale);
    const ev2 = await one(events(second.hold.id, "payment_intent.succeeded"));
    const previous = await sign(ev2.payload, env.STRIPE_WEBHOOK_SECRET_PREVIOUS);
    expect((await deliver(ev2, previous)).body.applied).toBe(true);
    expect((await getHold(second.hold.id, second.alice.token)).status).toBe("confirmed");
  });

  it("an event for a sale that does not exist, or not about a hold, is acknowledged and reaches no object", async () => {
    const ghost = "never-created-sale";
    const before = (await listDurableObjectIds(env.INVENTORY)).length;
    const payload = JSON.stringify({
      id: "evt_ghost",
      object: "event",
      type: "payment_intent.succeeded",
      created: Math.floor(Date.now() / 1000),
      data: {
        object: { id: "pi_ghost", object: "payment_intent", status: "succeeded", metadata: { hold_id: `${ghost}_h${"0".repeat(20)}` } },
      },
    });
    const res = await deliver({ payload, header: await sign(payload, env.STRIPE_WEBHOOK_SECRET) });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ received: true, applied: false, note: "not applied: no such sale" });
    const other = JSON.stringify({
      id: "evt_other",
      object: "event",
      type: "customer.created",
      created: 1,
      data: { object: { id: "cus_1" } },
    });
    const res2 = await deliver({ payload: other, header: await sign(other, env.STRIPE_WEBHOOK_SECRET) });
    expect(res2.body).toMatchObject({ applied: false, note: expect.stringMatching(/not about a hold/) });
    expect((await listDurableObjectIds(env.INVENTORY)).length).toBe(before);
  });
});
