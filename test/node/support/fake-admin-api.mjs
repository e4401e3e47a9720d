// A small fake of the admin API for the operator's CLI tests (test/node/sale-cli.test.mjs): every
// answer is checked with the zod schema the Worker's route answers with, so the fake cannot drift
// from what the Worker answers (an answer that no longer fits is a 500 naming the field).
import { createServer } from "node:http";
import { pacerRates } from "../../../domain/payment-rate.js";
import { PaymentPacing, ReconcileAnswer, SaleChanged, SaleCreated, SaleList, SaleStats } from "../../../domain/schemas/admin.ts";
import { EventsResent } from "../../../domain/schemas/events.ts";

const view = (id, over = {}) => ({
  id,
  product: { id, name: "Console X", price: 49900, currency: "EUR" },
  status: "open",
  starts_at: "2026-12-01T10:00:00.000Z",
  ends_at: "2026-12-01T12:00:00.000Z",
  hold_ttl_s: 300,
  per_user_limit: 1,
  release_policy: "release",
  pow_difficulty: 16,
  identity: "account",
  network_cap: 1,
  lottery_s: 10,
  stock_total: 100,
  available: 97,
  held: 2,
  sold_out: false,
  ...over,
});
const stock = { stock_total: 100, available: 97, held: 2, sold: 1, withdrawn: 0 };
const stats = (id) => ({
  sale: view(id),
  stock,
  holds: { held: 1, pending: 1, confirmed: 1, expired: 0, cancelled: 0, declined: 0 },
  units: { held: 1, pending: 1, confirmed: 1 },
  refunds: { pending: 0, refunded: 0 },
  waitlist: { waiting: 0, offered: 0, skipped: 0 },
  outbox: {
    backlog: 0,
    oldest_age_ms: 0,
    failures: 0,
    batches: 1,
    rows: 2,
    max_batch: 2,
    last_flush_at: "2026-12-01T10:00:01.000Z",
    last_lag_ms: 12,
    dead_letters: 0,
    last_dead_letter: null,
  },
  expiry: { expired: 0, mean_late_ms: 0, max_late_ms: 0 },
  payments: { queued: 0, rate_limited: 0 },
  events: {
    recorded: 3,
    queue: null,
    webhook: {
      pending: 0,
      delivered: 2,
      dead: 1,
      failures: 9,
      last_error: "HTTP 503",
      last_dead: { id: "order.confirmed:drop-1_o1", error: "HTTP 503", at: "2026-12-01T10:05:00.000Z" },
    },
  },
  served: { claims: 3, batches: 2, infos: 1, since: "2026-12-01T09:59:00.000Z" },
  alarm_at: null,
  queue: {
    in_line: 5,
    waiting: 2,
    admitted: 3,
    active: 3,
    opened: true,
    admission_rate: 50,
    max_active: 1000,
    admit_per_unit: 1,
    claimable: { available: 97, held: 2, outstanding: 1, sold_out: false, read_at: "2026-12-01T10:00:05.000Z" },
    counters: { queued: 5, rejected_pow: 1, rejected_turnstile: 0, rejected_rate_limit: 0, rejected_heuristics: 0, sold_out_fast_path: 0 },
    prequeued: 0,
    arrivals: [{ t: "2026-12-01T10:00:00.000Z", n: 5 }],
    served: { reports: 2, reported_places: 6, watermarks: 4, late: 0, late_held: 0, late_over_cap: 0, stock_reads: 3 },
  },
  d1: { orders: 1, units: 1, revenue: 49900, refunds: 0 },
});

/** A sale of two stock shards: the whole, and a row per shard (one unit in transit between them). */
const shardRow = (shard, over) => ({
  shard,
  shards: 2,
  base: 50,
  given: 0,
  received: 0,
  asking: 0,
  stock: { stock_total: 50, available: 48, held: 1, sold: 1, withdrawn: 0 },
  holds: { held: 1, pending: 0, confirmed: 1, expired: 0, cancelled: 0, declined: 0 },
  outbox: { backlog: 0, dead_letters: 0 },
  served: { claims: 2, batches: 2 },
  alarm_at: null,
  ...over,
});
const shardedStats = (id) => ({
  ...stats(id),
  stock: { stock_total: 100, available: 95, held: 2, sold: 2, withdrawn: 0, in_transit: 1 },
  shards: [shardRow(0, { given: 1, stock: { stock_total: 49, available: 47, held: 1, sold: 1, withdrawn: 0 } }), shardRow(1)],
});
const comparison = (n) => ({ ledger: n, d1: n, in_outbox: 0, missing: [], unexpected: [] });
const reconciled = (n) => ({ orders: comparison(n), refunds: comparison(0), re_enqueued: 0, dead_letters_resent: 0, backlog_after: 0 });

/** The fake's answer, checked against the schema the Worker's route answers with. */
export function answer(req, body, token) {
  const { method, url: path } = req;
  if (req.headers.authorization !== `Bearer ${token}` && !req.headers["cf-access-client-id"]) {
    return [401, { error: "unauthorized", message: "the admin token is wrong" }];
  }
  if (method === "GET" && path === "/admin/payments") {
    // A live account's pacer at Stripe's default limits, 20% headroom: 20 payments a second.
    const rates = pacerRates({ account: 100, endpoint: 25, headroom: 0.2 });
    return [
      200,
      PaymentPacing.parse({
        paced: true,
        account: "key:abc",
        headroom: 0.2,
        rates,
        payments_per_s: 20,
        waiting: 0,
        line_ms: 0,
        granted: { payment: 0, retry: 0, call: 0, recheck: 0 },
      }),
    ];
  }
  const m = /^\/admin\/sales(?:\/([a-z0-9-]+)(?:\/(\w+(?:\/\w+)?))?)?$/.exec(path);
  if (!m) return [404, { error: "not_found", message: `no route ${method} ${path}` }];
  const [, id, action] = m;
  if (id === "ghost") return [404, { error: "not_found", message: `no sale ${id}` }];
  if (!id && method === "GET")
    return [200, SaleList.parse({ sales: [{ sale: view("drop-1"), stock, created_at: "2026-11-30T09:00:00.000Z" }], total: 1 })];
  if (!id && method === "POST") {
    if (body.id === "taken") return [409, { error: "conflict", message: "sale taken already exists with another configuration" }];
    return [
      201,
      SaleCreated.parse({
        sale: view(body.id, {
          stock_total: body.stock_total,
          available: body.stock_total,
          held: 0,
          ...(body.hold_ttl_s && { hold_ttl_s: body.hold_ttl_s }),
        }),
        created: true,
      }),
    ];
  }
  if (method === "GET" && !action) return [200, SaleStats.parse(id === "sharded" ? shardedStats(id) : stats(id))];
  if (action === "events/resend") return [200, EventsResent.parse({ resent: 1 })];
  if (action === "reconcile")
    return [
      200,
      ReconcileAnswer.parse({
        report:
          id === "sharded"
            ? {
                ...reconciled(2),
                shards: [
                  { shard: 0, ...reconciled(1) },
                  { shard: 1, ...reconciled(1) },
                ],
              }
            : reconciled(2),
      }),
    ];
  const status = { pause: "paused", resume: "open", close: "closed" }[action];
  return [200, SaleChanged.parse({ sale: view(id, status ? { status } : {}) })];
}

/**
 * Starts the fake on a free port of 127.0.0.1, accepting `token` (or any Cloudflare Access service
 * token): its URL, every request it was sent (method, path, headers, body), and `close`.
 */
export async function startFakeAdminApi(token) {
  /** @type {{ method: string | undefined, path: string | undefined, headers: import("node:http").IncomingHttpHeaders, body: any }[]} */
  const seen = [];
  const server = createServer((req, res) => {
    let text = "";
    req.on("data", (c) => (text += c));
    req.on("end", () => {
      const body = text ? JSON.parse(text) : undefined;
      seen.push({ method: req.method, path: req.url, headers: req.headers, body });
      /** @type {number} */ let status;
      /** @type {unknown} */ let out;
      try {
        [status, out] = /** @type {[number, unknown]} */ (answer(req, body ?? {}, token));
      } catch (e) {
        // The fake's own answer no longer fits the Worker's schema: fail the test, do not hang it.
        [status, out] = [500, { error: "internal", message: `the fake's answer does not fit the schema: ${e.message.slice(0, 300)}` }];
      }
      res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(out));
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", () => r(undefined)));
  const url = `http://127.0.0.1:${/** @type {import("node:net").AddressInfo} */ (server.address()).port}`;
  return { url, seen, close: () => server.close() };
}
