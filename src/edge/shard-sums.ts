import type { InventoryStats, ReconcileReport, ShardFigures, ShardRow } from "../../domain/schemas/admin";
import { sumEventStats } from "../../domain/schemas/events";
import type { SaleView, Stock } from "../../domain/schemas/sale";

/**
 * A sharded sale as a whole, from its shards' answers (domain/shards.ts): counts are summed,
 * times and lags are the latest or the highest, and the stock total is the sum of what each
 * shard was given (`base`), so `available + held + sold + withdrawn + in_transit = stock_total`
 * however far apart in time the shards were read (durable-objects/inventory/shard.ts).
 */

const sum = <T>(xs: T[], f: (x: T) => number) => xs.reduce((n, x) => n + f(x), 0);
const max = <T>(xs: T[], f: (x: T) => number) => xs.reduce((n, x) => Math.max(n, f(x)), 0);
/** The latest of some ISO times (they sort as text), or null. */
const latest = (ts: (string | null)[]) => ts.reduce<string | null>((a, t) => (t !== null && (a === null || t > a) ? t : a), null);
const earliest = (ts: (string | null)[]) => ts.reduce<string | null>((a, t) => (t !== null && (a === null || t < a) ? t : a), null);
const sumRecords = <K extends string>(rs: Partial<Record<K, number>>[]) => {
  const out: Partial<Record<K, number>> = {};
  for (const r of rs) for (const [k, v] of Object.entries(r) as [K, number][]) out[k] = (out[k] ?? 0) + v;
  return out;
};

/** The sale as shoppers see it: shard 0's view, with the stock summed. Sold out only when no shard has units, none on their way. */
export function sumViews(shards: { sale: SaleView; base: number; asking: number }[]): SaleView {
  const available = sum(shards, (s) => s.sale.available);
  return {
    ...shards[0]!.sale,
    stock_total: sum(shards, (s) => s.base),
    available,
    held: sum(shards, (s) => s.sale.held),
    sold_out: available === 0 && shards.every((s) => s.asking === 0),
  };
}

type ShardStats = InventoryStats & { shard: ShardFigures };

/** The stock of a sharded sale, from each shard's stock and figures read together. */
export function sumStock(shards: { stock: Stock; shard: ShardFigures }[]): Stock {
  return {
    stock_total: sum(shards, (s) => s.shard.base),
    available: sum(shards, (s) => s.stock.available),
    held: sum(shards, (s) => s.stock.held),
    sold: sum(shards, (s) => s.stock.sold),
    withdrawn: sum(shards, (s) => s.stock.withdrawn),
    in_transit: sum(shards, (s) => s.shard.given - s.shard.received),
  };
}

/** `GET /admin/sales/:id` of a sharded sale (without the room and D1): the whole, and a row per shard. */
export function sumStats(list: InventoryStats[]): InventoryStats & { shards?: ShardRow[] } {
  if (list.length === 1 && !list[0]!.shard) return list[0]!;
  const shards = list as ShardStats[];
  const first = shards[0]!;
  const withStock = shards.filter((s): s is ShardStats & { stock: Stock } => s.stock !== null);
  const stock = withStock.length === shards.length ? sumStock(withStock) : null;
  const outbox = shards.map((s) => s.outbox);
  const lastFlush = latest(outbox.map((o) => o.last_flush_at));
  const expired = sum(shards, (s) => s.expiry.expired);
  const deadLetters = outbox.map((o) => o.last_dead_letter).filter((d) => d !== null);
  return {
    sale:
      first.sale && stock
        ? {
            ...first.sale,
            stock_total: stock.stock_total,
            available: stock.available,
            held: stock.held,
            sold_out: stock.available === 0 && shards.every((s) => s.shard.asking === 0),
          }
        : null,
    stock,
    holds: sumRecords(shards.map((s) => s.holds)),
    units: {
      held: sum(shards, (s) => s.units.held),
      pending: sum(shards, (s) => s.units.pending),
      confirmed: sum(shards, (s) => s.units.confirmed),
    },
    refunds: { pending: sum(shards, (s) => s.refunds.pending), refunded: sum(shards, (s) => s.refunds.refunded) },
    waitlist: {
      waiting: sum(shards, (s) => s.waitlist.waiting),
      offered: sum(shards, (s) => s.waitlist.offered),
      skipped: sum(shards, (s) => s.waitlist.skipped),
    },
    outbox: {
      backlog: sum(outbox, (o) => o.backlog),
      oldest_age_ms: max(outbox, (o) => o.oldest_age_ms),
      failures: max(outbox, (o) => o.failures),
      batches: sum(outbox, (o) => o.batches),
      rows: sum(outbox, (o) => o.rows),
      max_batch: max(outbox, (o) => o.max_batch),
      last_flush_at: lastFlush,
      last_lag_ms: outbox.find((o) => o.last_flush_at === lastFlush)?.last_lag_ms ?? 0,
      dead_letters: sum(outbox, (o) => o.dead_letters),
      last_dead_letter: deadLetters.reduce<(typeof deadLetters)[number] | null>((a, d) => (a === null || d.at > a.at ? d : a), null),
    },
    expiry: {
      expired,
      mean_late_ms: expired ? Math.round(sum(shards, (s) => s.expiry.mean_late_ms * s.expiry.expired) / expired) : 0,
      max_late_ms: max(shards, (s) => s.expiry.max_late_ms),
    },
    payments: { queued: sum(shards, (s) => s.payments.queued), rate_limited: sum(shards, (s) => s.payments.rate_limited) },
    events: sumEventStats(shards.map((s) => s.events)),
    served: {
      claims: sum(shards, (s) => s.served.claims),
      batches: sum(shards, (s) => s.served.batches),
      infos: sum(shards, (s) => s.served.infos),
      since: earliest(shards.map((s) => s.served.since))!,
    },
    alarm_at: earliest(shards.map((s) => s.alarm_at)),
    shards: shards.map((s) => ({
      ...s.shard,
      stock: s.stock ?? { stock_total: 0, available: 0, held: 0, sold: 0, withdrawn: 0 },
      holds: s.holds,
      outbox: { backlog: s.outbox.backlog, dead_letters: s.outbox.dead_letters },
      served: { claims: s.served.claims, batches: s.served.batches },
      alarm_at: s.alarm_at,
    })),
  };
}

/** The stock a list of sales shows for a sharded sale (each shard's overview carries its figures). */
export function sumOverviews(
  list: ({ sale: SaleView; stock: Stock; shard?: ShardFigures } | null)[],
): { sale: SaleView; stock: Stock } | null {
  if (list.length === 1) return list[0] ? { sale: list[0].sale, stock: list[0].stock } : null;
  if (list.some((o) => o === null || !o.shard)) return null;
  const shards = list as { sale: SaleView; stock: Stock; shard: ShardFigures }[];
  const stock = sumStock(shards);
  const sale = sumViews(shards.map((s) => ({ sale: s.sale, base: s.shard.base, asking: s.shard.asking })));
  return { sale, stock };
}

type Reconciled = Omit<ReconcileReport, "shards">;

/** `POST /admin/sales/:id/reconcile` of a sharded sale: each shard against its own rows in D1, and the sums. */
export function sumReconciles(list: Reconciled[]): ReconcileReport {
  if (list.length === 1) return list[0]!;
  const comparison = (k: "orders" | "refunds") => ({
    ledger: sum(list, (r) => r[k].ledger),
    d1: sum(list, (r) => r[k].d1),
    in_outbox: sum(list, (r) => r[k].in_outbox),
    missing: list.flatMap((r) => r[k].missing),
    unexpected: list.flatMap((r) => r[k].unexpected),
  });
  return {
    orders: comparison("orders"),
    refunds: comparison("refunds"),
    re_enqueued: sum(list, (r) => r.re_enqueued),
    dead_letters_resent: sum(list, (r) => r.dead_letters_resent),
    backlog_after: sum(list, (r) => r.backlog_after),
    shards: list.map((r, shard) => ({ shard, ...r })),
  };
}
