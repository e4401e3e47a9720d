// The rehearsal's check of the shop's order events (scripts/lib/shop-events-check.mjs) on a fake
// shop fed by hand: it passes only when D1's orders and the distinct order.confirmed ids match row
// by row and every refund has its order.refunded; and the option is parsed and refused as it says.
import assert from "node:assert/strict";
import { test } from "node:test";
import { signatureHeader } from "../../domain/webhook-signature.js";
import { now } from "../../scripts/lib/clock.mjs";
import { parseOptions } from "../../scripts/lib/rehearsal-options.mjs";
import { checkShopEvents } from "../../scripts/lib/shop-events-check.mjs";
import { createShopHooksFake } from "../../scripts/lib/shop-hooks-fake.mjs";

const SECRET = "node-test-key-0123456789abcdefghijklmnop";
const sale = { id: "rh-1" };
const hold = (n) => `rh-1_h${String(n).padStart(20, "0")}`;
const order = (n) => ({ hold_id: hold(n), n: 1, user_id: `acct:${n}`, qty: 1, charge_id: `ch_${n}` });
const confirmed = (n, over = {}) => ({
  id: `order.confirmed:${hold(n).replace("_h", "_o")}`,
  type: "order.confirmed",
  version: 1,
  created: "2026-12-07T10:00:00.000Z",
  data: {
    order_id: hold(n).replace("_h", "_o"),
    sale_id: "rh-1",
    hold_id: hold(n),
    user_id: `acct:${n}`,
    qty: 1,
    charge_id: `ch_${n}`,
    ...over,
  },
});
const refunded = (charge) => ({
  id: `order.refunded:rf_${charge}`,
  type: "order.refunded",
  version: 1,
  created: "2026-12-07T10:00:00.000Z",
  data: { sale_id: "rh-1", charge_id: charge },
});
const stats = { events: { recorded: 3, webhook: { pending: 0, delivered: 3, dead: 0, failures: 0 } } };

async function shopWith(events, copies = 1) {
  const fake = createShopHooksFake({ secret: SECRET, timeoutMs: 100 });
  for (const e of events) {
    const body = JSON.stringify(e);
    for (let i = 0; i < copies; i++) {
      const res = await fake.handle(
        new Request("http://shop/hooks", {
          method: "POST",
          body,
          headers: { "flashsale-signature": await signatureHeader([SECRET], body, Math.floor(now() / 1000)) },
        }),
      );
      assert.equal(res.status, 200);
    }
  }
  return { fake };
}

test("passes when every D1 order is one distinct order.confirmed id with its data, duplicates or not", async () => {
  const d1 = { orders: [order(1), order(2)], refunds: [{ hold_id: hold(3), charge_id: "ch_9" }] };
  const r = checkShopEvents({ mode: "fake", shop: await shopWith([confirmed(1), confirmed(2), refunded("ch_9")], 2), sale, d1, stats });
  assert.equal(r.pass, true, JSON.stringify(r.evidence));
  assert.match(r.detail, /2 D1 orders = 2 distinct order.confirmed ids, 1 refunds = 1 order.refunded/);
});

test("fails on a missing, an extra or a wrong order.confirmed, a missing order.refunded, or events left waiting", async () => {
  const d1 = { orders: [order(1), order(2)], refunds: [{ hold_id: hold(3), charge_id: "ch_9" }] };
  /** @type {[object[], RegExp][]} */
  const cases = [
    [[confirmed(1), refunded("ch_9")], /no order.confirmed:rh-1_o0+2 at the shop/],
    [[confirmed(1), confirmed(2), confirmed(4), refunded("ch_9")], /reached the shop, but D1 has no such order/],
    [[confirmed(1), confirmed(2, { qty: 2 }), refunded("ch_9")], /is not D1's row/],
    [[confirmed(1), confirmed(2)], /no order.refunded at the shop/],
  ];
  for (const [events, why] of cases) {
    const r = checkShopEvents({ mode: "fake", shop: await shopWith(events), sale, d1, stats });
    assert.equal(r.pass, false);
    assert.ok(
      r.evidence.some((e) => why.test(e)),
      `${why}: ${JSON.stringify(r.evidence)}`,
    );
  }
  const waiting = { events: { recorded: 3, webhook: { pending: 1, delivered: 2, dead: 1, failures: 4 } } };
  const r = checkShopEvents({
    mode: "fake",
    shop: await shopWith([confirmed(1), confirmed(2), refunded("ch_9")]),
    sale,
    d1,
    stats: waiting,
  });
  assert.equal(r.pass, false);
  assert.ok(r.evidence.some((e) => /1 events waiting and 1 dead/.test(e)));
});

test("--shop-webhook is off by default, fake or never, and only with a local server", () => {
  assert.equal(parseOptions([]).opts.shopWebhook, "off");
  assert.equal(parseOptions(["--shop-webhook", "fake"]).opts.shopWebhook, "fake");
  assert.throws(() => parseOptions(["--shop-webhook", "real"]), /--shop-webhook is off, fake or never/);
  assert.throws(
    () => parseOptions(["--shop-webhook", "fake", "--url", "https://x.invalid", "--admin-token", "t", "--shop-secret", "s"]),
    /not with --url/,
  );
});
