import { z } from "zod";
import { EventStats } from "./events";
import { HoldStatus } from "./hold";
import { RoomStats } from "./room";
import { Count, SaleView, Stock, Timestamp } from "./sale";

/** What the operator API answers (`/admin/...`), besides the sale views. */

const counts = <K extends string>(keys: readonly K[]) =>
  z.strictObject(Object.fromEntries(keys.map((k) => [k, Count])) as Record<K, typeof Count>);

/** A shard's own figures (sharded sales; durable-objects/inventory/shard.ts). */
export const ShardFigures = z.strictObject({
  shard: Count.describe("0 is the object named by the sale id"),
  shards: Count,
  base: Count.describe("the units this shard was given: its share of the stock and of every restock"),
  given: Count.describe("units it gave to shards that ran dry"),
  received: Count.describe("units it received from other shards"),
  asking: Count.describe("transfers it asked for and has not applied yet (its alarm asks again until they are)"),
});
export type ShardFigures = z.infer<typeof ShardFigures>;

/** The product object's figures (`ProductInventory.stats()`). */
export const InventoryStats = z.strictObject({
  sale: SaleView.nullable(),
  stock: Stock.nullable(),
  holds: z.partialRecord(HoldStatus, Count).describe("holds by status (every status is listed)"),
  units: counts(["held", "pending", "confirmed"]).describe("units by hold status"),
  refunds: counts(["pending", "refunded"]),
  waitlist: counts(["waiting", "offered", "skipped"]),
  outbox: z
    .strictObject({
      backlog: Count,
      oldest_age_ms: Count,
      failures: Count,
      batches: Count,
      rows: Count,
      max_batch: Count,
      last_flush_at: Timestamp.nullable(),
      last_lag_ms: Count,
      dead_letters: Count.describe("records D1 refused for what they are, set aside (reconcile resends them after a fix)"),
      last_dead_letter: z.strictObject({ id: z.string(), kind: z.string(), error: z.string(), at: Timestamp }).nullable(),
    })
    .describe("completed orders and refunds on their way to D1"),
  expiry: z.strictObject({ expired: Count, mean_late_ms: Count, max_late_ms: Count }),
  payments: z
    .strictObject({
      queued: Count.describe("payments waiting for their turn under the provider's rate limit (their holds are kept)"),
      rate_limited: Count.describe("the provider's 429 answers (rate limited; retried with backoff and jitter)"),
    })
    .describe("payment pacing (docs/payments.md)"),
  events: EventStats,
  served: z.strictObject({ claims: Count, batches: Count, infos: Count, since: Timestamp }).describe("calls since the object started"),
  alarm_at: Timestamp.nullable(),
  shard: ShardFigures.optional().describe("a shard of a sharded sale: its own figures"),
});
export type InventoryStats = z.infer<typeof InventoryStats>;

/** One shard's row in a sharded sale's stats: its figures, its stock, its holds and its outbox. */
export const ShardRow = ShardFigures.extend({
  stock: Stock,
  holds: InventoryStats.shape.holds,
  outbox: z.strictObject({ backlog: Count, dead_letters: Count }),
  served: z.strictObject({ claims: Count, batches: Count }),
  alarm_at: Timestamp.nullable(),
});
export type ShardRow = z.infer<typeof ShardRow>;

/** D1's view of a sale (what finance sees), or why it could not be read. */
export const D1Counts = z.union([
  z.strictObject({ orders: Count, units: Count, revenue: Count, refunds: Count }),
  z.strictObject({ error: z.string() }),
  z.null(),
]);

const BucketRates = z.strictObject({
  account: z.number(),
  calls: z.number(),
  create: z.number(),
  confirm: z.number(),
  retrieve: z.number(),
  methods: z.number(),
});

/** `GET /admin/payments`: the payment pacer of this Worker's Stripe account (docs/payments.md). */
export const PaymentPacing = z
  .strictObject({
    paced: z.boolean().describe("payments go through the pacer (GATEWAY = stripe); the simulated gateway is not paced"),
    account: z.string().nullable().describe("the pacer's name: STRIPE_ACCOUNT, or a hash of the secret key"),
    headroom: z.number().describe("the fraction of Stripe's limits left for the shop's own traffic and refunds"),
    rates: BucketRates.describe("requests per second the pacer grants per bucket (Stripe's limits less the headroom)"),
    payments_per_s: z.number().describe("payments per second the account clears at those rates"),
    waiting: Count.describe("payments granted a turn that has not come yet (all sales)"),
    line_ms: Count.describe("how far ahead the last granted turn is"),
    granted: z.strictObject({ payment: Count, retry: Count, call: Count, recheck: Count }),
  })
  .meta({ id: "PaymentPacing" });

/** `GET /admin/sales/:id` */
export const SaleStats = InventoryStats.extend({
  queue: RoomStats,
  d1: D1Counts,
  shards: z
    .array(ShardRow)
    .optional()
    .describe("a sharded sale: one row per shard (the figures above are the whole sale's: sums, the latest or the highest)"),
}).meta({ id: "SaleStats" });

const Comparison = z.strictObject({
  ledger: Count,
  d1: Count,
  in_outbox: Count,
  missing: z.array(z.string()).describe("ids D1 lacked: put back in the outbox"),
  unexpected: z.array(z.string()).describe("ids D1 has that the ledger does not"),
});

const Reconciled = z.strictObject({
  orders: Comparison,
  refunds: Comparison,
  re_enqueued: Count,
  dead_letters_resent: Count.describe("dead letters put back in the outbox and sent again"),
  backlog_after: Count,
});

/** `POST /admin/sales/:id/reconcile`: the ledger against D1. */
export const ReconcileReport = Reconciled.extend({
  shards: z
    .array(Reconciled.extend({ shard: Count }))
    .optional()
    .describe("a sharded sale: each shard's ledger against its own orders and refunds in D1 (the figures above are their sums)"),
});
export type ReconcileReport = z.infer<typeof ReconcileReport>;
export const ReconcileAnswer = z.strictObject({ report: ReconcileReport }).meta({ id: "ReconcileAnswer" });

/** `POST /admin/sales`: the sale, and whether this call created it (a repeat is not an error). */
export const SaleCreated = z.strictObject({ sale: SaleView, created: z.boolean() }).meta({ id: "SaleCreated" });
/** How many sales `GET /admin/sales` lists (the newest). */
export const LIST_LIMIT = 100;

/** `GET /admin/sales`: the sales that exist, newest first, each with its status and stock. */
export const SaleList = z
  .strictObject({
    sales: z.array(z.strictObject({ sale: SaleView, stock: Stock, created_at: Timestamp })),
    total: Count.describe(`how many sales exist (the list shows the ${LIST_LIMIT} newest)`),
  })
  .meta({ id: "SaleList" });

/** The sale after an operator's change. */
export const SaleChanged = z.strictObject({ sale: SaleView }).meta({ id: "SaleChanged" });

/** `GET /admin/gateway/ledger`: the simulated payment provider's charges. */
export const Ledger = z
  .strictObject({
    charges: z.array(
      z.strictObject({
        key: z.string(),
        reference: z.string(),
        status: z.enum(["processing", "succeeded", "declined"]),
        charge_id: z.string(),
        amount: Count,
        calls: Count,
        refund_id: z.string().nullable(),
      }),
    ),
  })
  .meta({ id: "Ledger" });
