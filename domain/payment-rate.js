// How fast a Stripe account can take payments, and how fast a sale needs them: the pacer's
// arithmetic (durable-objects/payment-pacer.ts), `sale create`'s warning and the dashboard's.
// Plain ESM so the CLI and the pages use it as it is.

/**
 * Stripe's published limits: 25 requests/s per endpoint unless noted otherwise, and for the
 * whole account 100/s in live mode, 25/s in a sandbox (test keys).
 */
export const STRIPE_ENDPOINT_RATE = 25;
export const stripeAccountRate = (live) => (live ? 100 : 25);

/**
 * What a request costs at Stripe, per bucket. A payment: the PaymentMethod read (the card's
 * fingerprint), the PaymentIntent created and confirmed. A retry of an unknown outcome
 * retrieves the intent and may confirm it again. Both go in the payments' lane (`account`).
 * Every other call (the retrieve a webhook prompts, a cancel, a refund) goes in a lane of its
 * own (`calls`, CALL_SHARE of the account's rate), so it never waits behind the queue of
 * payments, and the two lanes together never exceed the account's rate.
 */
export const COST = {
  payment: { account: 3, create: 1, confirm: 1, methods: 1 },
  retry: { account: 2, confirm: 1, retrieve: 1 },
  call: { calls: 1 },
  /** A shopper back from 3-D Secure: the intent retrieved, confirmed again if it never was. */
  recheck: { calls: 2 },
};

/** The account's rate left to calls outside a payment's turn: about one webhook retrieve per payment. */
export const CALL_SHARE = 0.25;

/** The endpoints behind the buckets (for the docs and the operator). */
export const ENDPOINTS = {
  calls: "GET /v1/payment_intents/:id (a webhook's), cancels and refunds",
  create: "POST /v1/payment_intents",
  confirm: "POST /v1/payment_intents/:id/confirm",
  retrieve: "GET /v1/payment_intents/:id",
  methods: "GET /v1/payment_methods/:id",
};

/**
 * The pacer's rates per bucket (requests/s): Stripe's limits less the headroom kept for the
 * shop's own Stripe traffic and refunds (a fraction, 0-0.9).
 */
export function pacerRates({ account, endpoint, headroom }) {
  const keep = 1 - headroom;
  const r = {};
  for (const k of Object.keys(ENDPOINTS)) r[k] = endpoint * keep;
  r.account = account * keep * (1 - CALL_SHARE);
  r.calls = account * keep * CALL_SHARE;
  return r;
}

/** Payments per second the rates allow (the tightest bucket for one payment's cost). */
export function paymentsPerSecond(rates, cost = COST.payment) {
  return Math.min(...Object.entries(cost).map(([k, c]) => rates[k] / c));
}

/**
 * A reservation: the first time at or after `now` when every bucket `cost` names is free, in
 * arrival order (each bucket's next free time only moves forward). Returns the time and the
 * buckets' next free times after it. Spacing each bucket by cost/rate never lets a bucket run
 * above its rate over any second (and banks no burst while idle).
 */
export function reserve(next, rates, cost, now) {
  let at = now;
  for (const k of Object.keys(cost)) at = Math.max(at, next[k] ?? 0);
  const after = { ...next };
  for (const [k, c] of Object.entries(cost)) after[k] = at + (c * 1000) / rates[k];
  return { at, next: after };
}

/**
 * How long to wait before asking again about an unknown outcome: doubling from `retryMs` from
 * the second attempt on, at most `maxMs`; after a 429, scaled by a jitter of 0.5-1.5 (Stripe's
 * advice: exponential backoff with jitter), so retries spread out instead of meeting again.
 */
export function backoffMs(retryMs, attempts, rateLimited, maxMs, random = Math.random) {
  const base = Math.min(maxMs, retryMs * 2 ** Math.max(0, attempts - 2));
  return rateLimited ? base * (0.5 + random()) : base;
}

/**
 * What a sale needs from the payment provider: every unit paid within a hold window, so
 * stock ÷ hold window paid holds a second at the least (each hold one unit: the worst case), and
 * per endpoint as many requests (create and confirm are one each per payment). `clears_s` is how
 * long the account takes to clear the stock's payments at the pacer's rate.
 */
export function paymentNeeds({ stock, hold_ttl_s, rates }) {
  const needed = stock / Math.max(1, hold_ttl_s);
  const capacity = paymentsPerSecond(rates);
  const perEndpoint = needed; // create: 1, confirm: 1 per payment
  const accountRps = needed * (COST.payment.account + 1); // and the retrieve its webhook prompts
  return {
    paid_holds_per_s: needed,
    endpoint_rps: perEndpoint,
    account_rps: accountRps,
    capacity_per_s: capacity,
    clears_s: stock / capacity,
    over: needed > capacity,
    /** The hold window at which the pacer's rate clears the stock (ways out, one). */
    hold_ttl_needed_s: Math.ceil(stock / capacity),
  };
}

/** The longest hold window a sale may have (schemas/sale.ts). */
const MAX_HOLD_TTL_S = 3600;

/** The operator's warning for a sale whose payments the account cannot clear in a hold window, or null. */
export function paymentWarning({ stock, hold_ttl_s, rates, headroom }) {
  const n = paymentNeeds({ stock, hold_ttl_s, rates });
  if (!n.over) return null;
  const f = (x) => (x >= 100 ? Math.round(x).toLocaleString("en") : x.toFixed(1));
  const keep = 1 - headroom;
  return [
    `payments: ${stock.toLocaleString("en")} units in a ${hold_ttl_s} s hold window need ${f(n.paid_holds_per_s)} paid holds/s,`,
    `  i.e. ${f(n.endpoint_rps)} requests/s on each of ${ENDPOINTS.create} and …/confirm and ${f(n.account_rps)}/s for the account;`,
    `  the pacer clears ${f(n.capacity_per_s)} payments/s (account ${f(rates.account + rates.calls)}/s, endpoints ${f(rates.create)}/s after ${Math.round(headroom * 100)}% headroom).`,
    `  Shoppers will queue to pay (their holds are extended while they wait: ~${f(n.clears_s)} s to clear the stock). Ways out:`,
    n.hold_ttl_needed_s <= MAX_HOLD_TTL_S
      ? `  - a longer hold window: --hold-ttl ${n.hold_ttl_needed_s} clears the stock within one window;`
      : `  - a longer hold window: ${n.hold_ttl_needed_s} s would clear it, over the ${MAX_HOLD_TTL_S} s a window may be: with --hold-ttl ${MAX_HOLD_TTL_S}, also one of the below;`,
    `  - a higher limit from Stripe: ${f(n.paid_holds_per_s / keep)}/s per endpoint and ${f(n.account_rps / keep)}/s for the account (ask Stripe support; docs/payments.md);`,
    `  - slower admission: --rate ${Math.max(1, Math.floor(n.capacity_per_s))} admits no faster than payments clear.`,
  ].join("\n");
}
