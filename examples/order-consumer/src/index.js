// The shop's side of flashsale's ORDER_EVENTS queue (docs/events.md): a consumer Worker that
// stores each event once by its id, then acts on it. Deploy it beside flashsale with this
// directory's wrangler.toml. Delivery is at least once: the same event (same id) may come again,
// late or before an event it follows (an order.refunded before its order.confirmed), so:
//   - the id decides: an event whose id is stored is acknowledged and not applied again;
//   - what the shop does with an event must not depend on their order (key by order id).
// A message that fails is retried by the queue (max_retries), then goes to the dead-letter queue.

const SCHEMA = `CREATE TABLE IF NOT EXISTS shop_events (
  id TEXT PRIMARY KEY, type TEXT NOT NULL, sale_id TEXT, order_id TEXT, body TEXT NOT NULL,
  received_at INTEGER NOT NULL, deliveries INTEGER NOT NULL DEFAULT 1)`;

export default {
  async queue(batch, env) {
    await env.SHOP_DB.prepare(SCHEMA).run();
    for (const msg of batch.messages) {
      const event = msg.body; // the event itself: { id, type, version, created, data }
      try {
        // Stored once: a repeat only counts its delivery.
        const r = await env.SHOP_DB.prepare(
          `INSERT INTO shop_events (id, type, sale_id, order_id, body, received_at) VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT (id) DO UPDATE SET deliveries = deliveries + 1 RETURNING deliveries`,
        )
          .bind(event.id, event.type, event.data?.sale_id ?? null, event.data?.order_id ?? null, JSON.stringify(event), Date.now())
          .first();
        if (r.deliveries === 1) await apply(event, env);
        msg.ack();
      } catch (e) {
        console.error(`order event ${event?.id}: ${e}`);
        msg.retry({ delaySeconds: Math.min(300, 2 ** msg.attempts) });
      }
    }
  },

  /** GET /events?sale=<id>: what this shop has received (for a look, or a test). */
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname !== "/events") return new Response("not found", { status: 404 });
    await env.SHOP_DB.prepare(SCHEMA).run();
    const { results } = await env.SHOP_DB.prepare(
      "SELECT id, type, order_id, deliveries, body FROM shop_events WHERE sale_id = ? ORDER BY received_at",
    )
      .bind(url.searchParams.get("sale"))
      .all();
    return Response.json({ events: results.map((r) => ({ ...JSON.parse(r.body), deliveries: r.deliveries })) });
  },
};

/** The shop's own work for a new event: fulfilment, e-mail, the ERP. Here: nothing more. */
async function apply(event, _env) {
  switch (event.type) {
    case "order.confirmed": // ship event.data.qty of event.data.product_id to event.data.user_id
    case "order.refunded": // cancel the shipment of event.data.order_id, if any
    case "sale.sold_out":
    case "sale.ended":
      return;
  }
}
