import { z } from "zod";
import { Count, Timestamp } from "./sale";

/**
 * What the shop is told (docs/events.md): order and sale events, sent on a Cloudflare Queue and as
 * signed webhooks. An event's `id` is derived from what it reports (`<type>:<subject>`), so the
 * same event always has the same id however often, late or out of order it is delivered: a
 * receiver keeps the ids it has applied and drops a repeat. `version` is the body's shape; a
 * change that is not purely additive gets a new version.
 */
export const EVENT_VERSION = 1;
export const EVENT_TYPES = ["order.confirmed", "order.refunded", "sale.sold_out", "sale.ended"] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** An event's id: its type and the thing it is about (an order, a refund, a sale). */
export const eventId = (type: EventType, subject: string) => `${type}:${subject}`;

const envelope = <T extends EventType, D extends z.ZodType>(type: T, data: D) =>
  z.strictObject({
    id: z.string().min(1).describe(`\`${type}:<subject>\`: the same event always has this id; a receiver drops one it has seen`),
    type: z.literal(type),
    version: z.literal(EVENT_VERSION).describe("the body's shape"),
    created: Timestamp.describe("when the change it reports happened (in the object that made it)"),
    data,
  });

export const OrderConfirmedData = z.strictObject({
  order_id: z.string(),
  sale_id: z.string(),
  hold_id: z.string(),
  user_id: z.string().describe("the shopper's session user (`acct:<account>` for account sales)"),
  product_id: z.string(),
  qty: Count,
  amount: Count.describe("minor units (cents)"),
  currency: z.string(),
  charge_id: z.string().describe("the payment at the provider"),
  held_at: Timestamp,
  confirmed_at: Timestamp,
});

export const OrderRefundedData = z.strictObject({
  refund_id: z.string(),
  order_id: z
    .string()
    .nullable()
    .describe("the order whose hold was charged, or null when the hold never became an order (a charge that landed after it ended)"),
  sale_id: z.string(),
  hold_id: z.string(),
  user_id: z.string(),
  charge_id: z.string().describe("the charge that went back (for a confirmed order, a second charge differs from the order's)"),
  refund_ref: z.string().describe("the refund at the provider"),
  amount: Count,
  currency: z.string(),
  reason: z.string(),
  refunded_at: Timestamp,
});

export const SaleSoldOutData = z.strictObject({
  sale_id: z.string(),
  stock_total: Count,
  sold: Count,
  withdrawn: Count.describe("units not sold under release_policy `undersell`"),
});

export const SaleEndedData = z.strictObject({
  sale_id: z.string(),
  reason: z.enum(["closed", "ends_at"]).describe("the operator closed it, or its end time passed"),
  stock_total: Count,
  sold: Count,
});

export const OrderConfirmed = envelope("order.confirmed", OrderConfirmedData).meta({
  id: "OrderConfirmedEvent",
  description: "A hold was paid: an order. Id `order.confirmed:<order_id>`.",
});
export const OrderRefunded = envelope("order.refunded", OrderRefundedData).meta({
  id: "OrderRefundedEvent",
  description: "Money taken for a hold went back. Id `order.refunded:<refund_id>`.",
});
export const SaleSoldOut = envelope("sale.sold_out", SaleSoldOutData).meta({
  id: "SaleSoldOutEvent",
  description:
    "Every unit is sold (or withdrawn): nothing can come back. Id `sale.sold_out:<sale_id>:<stock_total>` (a restock can sell out again).",
});
export const SaleEnded = envelope("sale.ended", SaleEndedData).meta({
  id: "SaleEndedEvent",
  description: "The sale closed, or its end time passed. Id `sale.ended:<sale_id>`.",
});

export const ShopEvent = z.discriminatedUnion("type", [OrderConfirmed, OrderRefunded, SaleSoldOut, SaleEnded]);
export type ShopEvent = z.infer<typeof ShopEvent>;
export const EVENT_SCHEMAS = {
  "order.confirmed": OrderConfirmed,
  "order.refunded": OrderRefunded,
  "sale.sold_out": SaleSoldOut,
  "sale.ended": SaleEnded,
} as const;

/** A pipe's figures (`GET /admin/sales/:id`, `events`). */
const PipeStats = z.strictObject({
  pending: Count.describe("events waiting for this pipe (sent again after a failure, with backoff)"),
  delivered: Count,
  failures: Count.describe("failed attempts so far"),
  last_error: z.string().nullable(),
});

export const EventStats = z
  .strictObject({
    recorded: Count.describe("events recorded (one per order, refund, sell-out and end)"),
    queue: PipeStats.nullable().describe("the Cloudflare Queue (ORDER_EVENTS), or null when not bound"),
    webhook: PipeStats.extend({
      dead: Count.describe("events given up on after SHOP_WEBHOOK_GIVE_UP_S: `npm run sale -- events resend <sale>` sends them again"),
      last_dead: z.strictObject({ id: z.string(), error: z.string(), at: Timestamp }).nullable(),
    })
      .nullable()
      .describe("signed webhooks to SHOP_WEBHOOK_URL, or null when not set"),
  })
  .describe("order events on their way to the shop (docs/events.md)");
export type EventStats = z.infer<typeof EventStats>;

/** `POST /admin/sales/:id/events/resend`: dead letters put back in line. */
export const EventsResent = z
  .strictObject({ resent: Count.describe("dead webhook events sent again (a fresh retry window each)") })
  .meta({ id: "EventsResent" });

/** A sharded sale's events: each shard's pipes summed (the last error and dead letter: any shard's latest). */
export function sumEventStats(list: EventStats[]): EventStats {
  const sum = <T>(xs: T[], f: (x: T) => number) => xs.reduce((n, x) => n + f(x), 0);
  const queues = list.flatMap((e) => (e.queue ? [e.queue] : []));
  const hooks = list.flatMap((e) => (e.webhook ? [e.webhook] : []));
  const lastDead = hooks
    .map((h) => h.last_dead)
    .reduce<NonNullable<(typeof hooks)[number]["last_dead"]> | null>((a, d) => (d && (!a || d.at > a.at) ? d : a), null);
  return {
    recorded: sum(list, (e) => e.recorded),
    queue: queues.length
      ? {
          pending: sum(queues, (q) => q.pending),
          delivered: sum(queues, (q) => q.delivered),
          failures: sum(queues, (q) => q.failures),
          last_error: queues.find((q) => q.last_error)?.last_error ?? null,
        }
      : null,
    webhook: hooks.length
      ? {
          pending: sum(hooks, (h) => h.pending),
          delivered: sum(hooks, (h) => h.delivered),
          dead: sum(hooks, (h) => h.dead),
          failures: sum(hooks, (h) => h.failures),
          last_error: hooks.find((h) => h.last_error)?.last_error ?? null,
          last_dead: lastDead,
        }
      : null,
  };
}
