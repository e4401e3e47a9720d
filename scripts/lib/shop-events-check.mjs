// `npm run rehearse -- --shop-webhook fake|never`: the shop's order events (docs/events.md),
// delivered as signed webhooks to the fake shop (shop-hooks-fake-server.mjs) with faults, checked
// against D1 row by row: every D1 order is exactly one distinct `order.confirmed` id that reached
// the shop at least once, with the order's data, and every D1 refund an `order.refunded`.
import { serveShopHooksFake } from "./shop-hooks-fake-server.mjs";

/** The faults the fake shop answers with (per delivery) for `fake`; `never` never answers. */
export const SHOP_FAULTS = { fake: { 500: 0.1, timeout: 0.05, slow: 0.1, "late-ok": 0.05 }, never: { never: 1 } };
/** Short enough that retries happen within a rehearsal, long enough that a loaded box answers. */
export const SHOP_WEBHOOK = { SHOP_WEBHOOK_TIMEOUT_MS: 2000, SHOP_WEBHOOK_RETRY_MS: 250, SHOP_WEBHOOK_GIVE_UP_S: 300 };

/** Starts the fake shop; returns it with the Worker's vars. */
export async function startShop(mode) {
  const shop = await serveShopHooksFake({ timeoutMs: SHOP_WEBHOOK.SHOP_WEBHOOK_TIMEOUT_MS, rates: SHOP_FAULTS[mode] });
  const vars = {
    SHOP_WEBHOOK_URL: shop.url,
    SHOP_WEBHOOK_SECRET: shop.secret,
    ...Object.fromEntries(Object.entries(SHOP_WEBHOOK).map(([k, v]) => [k, String(v)])),
  };
  return { shop, vars };
}

/** What settle() still waits for: webhook events not yet delivered (not for `never`). */
export const eventsWaiting = (mode) => (stats) => {
  const w = stats.events?.webhook;
  if (mode !== "fake" || !w) return null;
  return w.pending ? `${w.pending} shop events` : null;
};

const orderIdOf = (holdId) => holdId.replace(/_h([0-9a-f]{20})$/, "_o$1");
const check = (name, pass, detail, evidence = []) => ({
  name,
  pass,
  detail,
  evidence: evidence.slice(0, 10),
  more: Math.max(0, evidence.length - 10),
});

/** The check, as one line of the report's invariants. */
export function checkShopEvents({ mode, shop, sale, d1, stats }) {
  const got = shop.fake.of(sale.id);
  const w = stats.events?.webhook ?? { pending: "?", delivered: "?", dead: "?", failures: "?" };
  const copies = got.deliveries.reduce((n, d) => n + d.count, 0);
  const a = shop.fake.counts.answered;
  const figures =
    `${got.events.length} distinct events at the shop, ${copies} deliveries accepted (${got.deliveries.filter((d) => d.count > 1).length} delivered more than once), ` +
    `${shop.fake.counts.deliveries} tries answered 500 ${a["500"]}, timeout ${a.timeout}, slow ${a.slow}, late-ok ${a["late-ok"]}, never ${a.never}; ` +
    `engine: ${w.delivered} delivered, ${w.pending} waiting, ${w.dead} dead, ${w.failures} failed tries`;
  const name = "shop events: each D1 order exactly one distinct order.confirmed id at the shop, each refund an order.refunded";
  if (mode === "never") {
    const ev =
      stats.events?.recorded >= (d1?.orders.length ?? 0)
        ? []
        : [`${stats.events?.recorded} events recorded for ${d1?.orders.length} orders`];
    return check(
      "shop events: recorded while the shop never answers (claims and D1 unaffected)",
      ev.length === 0,
      `${figures}; nothing is expected at the shop`,
      ev,
    );
  }
  if (!d1) return check(name, null, `not checked (no local D1): ${figures}`);
  const ev = [];
  const confirmed = new Map(got.events.filter((e) => e.type === "order.confirmed").map((e) => [e.id, e]));
  const expected = new Set();
  for (const o of d1.orders) {
    const id = `order.confirmed:${orderIdOf(o.hold_id)}`;
    expected.add(id);
    const e = confirmed.get(id);
    if (!e) ev.push(`D1 order of hold ${o.hold_id}: no ${id} at the shop`);
    else if (e.data.hold_id !== o.hold_id || e.data.user_id !== o.user_id || e.data.qty !== o.qty || e.data.charge_id !== o.charge_id) {
      ev.push(`${id}: the event's data ${JSON.stringify(e.data)} is not D1's row ${JSON.stringify(o)}`);
    }
  }
  for (const id of confirmed.keys()) if (!expected.has(id)) ev.push(`${id} reached the shop, but D1 has no such order`);
  const refunds = new Set(got.events.filter((e) => e.type === "order.refunded").map((e) => e.data.charge_id));
  for (const r of d1.refunds)
    if (!refunds.has(r.charge_id)) ev.push(`D1 refund of charge ${r.charge_id} (hold ${r.hold_id}): no order.refunded at the shop`);
  for (const d of got.deliveries) if (new Set(d.bodies).size !== 1) ev.push(`${d.id} was delivered with different bodies`);
  if (w.pending || w.dead) ev.push(`the engine still has ${w.pending} events waiting and ${w.dead} dead`);
  return check(
    name,
    ev.length === 0,
    `${d1.orders.length} D1 orders = ${confirmed.size} distinct order.confirmed ids, ${d1.refunds.length} refunds = ${refunds.size} order.refunded; ${figures}`,
    ev,
  );
}
