// A sale's configuration (the body of POST /admin/sales), built in one place: `npm start`'s demo
// sale is the default, and every other caller (the tests, the bench, the rehearsal, the browser
// test) states only what differs. Plain ESM so Node scripts use it as it is; the server's
// SaleInput schema (schemas/sale.ts) is what checks it.

const DAY_MS = 86_400_000;

/**
 * The demo sale (100 × Console X, open now for a week, 12-bit proof of work), with `overrides`
 * spread over it as given (an override of `undefined` removes the field; nothing is merged into
 * `product`). `now` is the instant the start and end are computed from: the caller's clock (domain/clock.ts on
 * the Worker side, scripts/lib/clock.mjs on the Node side).
 */
export function saleConfig(overrides, { now }) {
  return {
    id: "demo",
    product: { id: "console-x", name: "Console X", price: 49_900, currency: "EUR" },
    stock_total: 100,
    starts_at: new Date(now).toISOString(),
    ends_at: new Date(now + 7 * DAY_MS).toISOString(),
    hold_ttl_s: 120,
    per_user_limit: 1,
    release_policy: "release",
    admission_rate: 20,
    max_active: 500,
    // ~4,000 hashes: a blink for a browser or the shop script, a cost for a bot farm.
    pow_difficulty: 12,
    ...overrides,
  };
}
