import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { gatewaySim } from "../domain/objects";
import { simEventId } from "../durable-objects/gateway-simulator";
import { createSale, expectStockInvariant } from "./support/sales";
import { heldBy, pay, session } from "./support/shoppers";
import { d1Refunds, ledger, stats, stub, until } from "./support/worker";

/**
 * Every payment outcome enters the product object by one door (payments.ts `receive`), with one
 * de-duplication: the simulated gateway's deliveries are events with ids, as Stripe's webhooks
 * are, so a delivery repeated is applied once.
 */

type EventRow = { id: string; hold_id: string; type: string; received_at: number };
const eventsOf = (sale: string) =>
  runInDurableObject(stub(sale), (_i, state) => state.storage.sql.exec<EventRow>("SELECT * FROM provider_events").toArray());

/** Has the simulator delivered every outcome it owes for this hold? */
const delivered = (holdId: string) =>
  runInDurableObject(
    gatewaySim(env),
    (_i, state) =>
      state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM charges WHERE reference = ? AND notify_at IS NOT NULL", holdId).one()
        .n === 0,
  );

describe("the simulator's outcomes go through the webhooks' door", () => {
  it("an outcome delivered twice is applied once: the second delivery is a duplicate, even one that says otherwise", async () => {
    const sale = await createSale({ stock_total: 2 });
    const alice = await session();
    const hold = await heldBy(sale, alice.token);
    // Succeeds at once, and the simulator delivers the success again shortly after.
    expect((await pay(hold.id, alice.token, "tok_duplicate")).status).toBe(200);
    await until(sale, () => delivered(hold.id));

    const id = simEventId(`pay_${hold.id}`);
    const first = await eventsOf(sale);
    expect(first).toEqual([{ id, hold_id: hold.id, type: "charge.succeeded", received_at: expect.any(Number) }]);

    // The simulator delivers it again (a retry whose answer was lost): recorded once, unchanged.
    await runInDurableObject(gatewaySim(env), async (_i, state) => {
      state.storage.sql.exec("UPDATE charges SET notify_at = ? WHERE reference = ?", Date.now(), hold.id);
      await state.storage.setAlarm(Date.now());
    });
    await runDurableObjectAlarm(gatewaySim(env));
    await until(sale, () => delivered(hold.id));
    expect(await eventsOf(sale)).toEqual(first);

    // The same event again, carrying another charge: applied, it would refund a "second charge".
    const again = await stub(sale).providerEvent({
      id,
      type: "charge.succeeded",
      hold: hold.id,
      kind: "outcome",
      outcome: { status: "succeeded", charge_id: "ch_replayed" },
    });
    expect(again).toEqual({ ok: true, value: { applied: false, note: "duplicate: this event was applied before" } });

    const s = await stats(sale);
    expect(s.refunds).toEqual({ pending: 0, refunded: 0 });
    expect(s.stock).toMatchObject({ sold: 1, held: 0 });
    expect(await d1Refunds(sale)).toHaveLength(0);
    expect((await ledger()).filter((c) => c.reference === hold.id)).toMatchObject([{ status: "succeeded", refund_id: null }]);
    await expectStockInvariant(sale, expect);
  });

  it("a new event is applied through the same door: a late decline ends the pending hold once", async () => {
    const sale = await createSale({ stock_total: 1 });
    const alice = await session();
    const hold = await heldBy(sale, alice.token);
    // Times out for the object, then lands as a decline, which the simulator delivers.
    expect((await pay(hold.id, alice.token, "tok_timeout")).status).toBe(202);
    await until(sale, async () => (await eventsOf(sale)).length === 1);
    expect(await eventsOf(sale)).toMatchObject([{ id: simEventId(`pay_${hold.id}`), type: "charge.declined" }]);
    await until(sale, async () => (await stats(sale)).holds.pending === 0);
    expect((await stats(sale)).stock).toMatchObject({ available: 1, held: 0, sold: 0 });
    await expectStockInvariant(sale, expect);
  });
});
