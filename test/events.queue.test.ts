import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ShopEvent } from "../domain/schemas/events";
import { confirmOrders, d1OrderIds, eventually } from "./support/events";
import { createSale } from "./support/sales";
import { admin, stats } from "./support/worker";

/**
 * The Cloudflare Queue pipe (ORDER_EVENTS), on miniflare's local queue, consumed by the example
 * consumer Worker (examples/order-consumer/, an auxiliary worker in vitest.config.ts) which
 * stores each event once by id in its own D1.
 */
type Got = { events: (ShopEvent & { deliveries: number })[] };
const consumed = async (sale: string): Promise<Got> => (await env.ORDER_CONSUMER!.fetch(`http://consumer/events?sale=${sale}`)).json();

describe("the order events queue", () => {
  it("carries every order, refund and sale event to the consumer, in batches, once by id", async () => {
    const sale = await createSale({ stock_total: 12, per_user_limit: 1 });
    // Ten orders, then two more on a card over the per-shopper limit (known only with the charge):
    // one of them is confirmed, the other refunded (order.refunded with no order).
    const orders = await confirmOrders(sale, 10);
    await confirmOrders(sale, 1, () => "tok_ok.late-card-q1").catch(() => {});
    await confirmOrders(sale, 1, () => "tok_ok.late-card-q1").catch(() => {});
    await eventually(async () => (await stats(sale)).refunds.refunded === 1);
    expect((await admin("POST", `/sales/${sale}/close`)).status).toBe(200);
    const d1 = await d1OrderIds(sale);
    expect(d1.length).toBe(11);
    expect(d1).toEqual(expect.arrayContaining(orders));
    await eventually(async () => {
      const q = (await stats(sale)).events.queue;
      return !!q && q.pending === 0 && q.delivered === 13;
    });
    await eventually(async () => (await consumed(sale)).events.length === 13);
    const got = (await consumed(sale)).events;
    for (const e of got) expect(ShopEvent.safeParse(stripDeliveries(e)).error).toBeUndefined();
    expect(
      got
        .filter((e) => e.type === "order.confirmed")
        .map((e) => e.id)
        .sort(),
    ).toEqual(d1.map((id) => `order.confirmed:${id}`).sort());
    const refund = got.find((e) => e.type === "order.refunded")!;
    expect(refund.data).toMatchObject({ sale_id: sale, order_id: null, reason: expect.stringMatching(/limit/) });
    expect(got.filter((e) => e.type === "sale.ended").map((e) => e.id)).toEqual([`sale.ended:${sale}`]);
    expect(got.every((e) => e.deliveries === 1)).toBe(true);
    const s = (await stats(sale)).events;
    expect(s).toMatchObject({ recorded: 13, queue: { pending: 0, delivered: 13, failures: 0 } });
  });
});

function stripDeliveries(e: Record<string, unknown>) {
  const { deliveries: _n, ...rest } = e;
  return rest;
}
