import { iso } from "./host";
import type { Holds } from "./holds";
import type { Outbox } from "./outbox";
import type { PayQueue } from "./pay-queue";
import type { Refunds } from "./refunds";
import type { Sale } from "./sale";
import type { Waitlist } from "./waitlist";

/** What the object has served since it started (in memory: a restart starts them again). */
export type Served = { claims: number; batches: number; infos: number; since: number };

export interface StatsSources {
  sale: Pick<Sale, "row" | "view">;
  holds: Pick<Holds, "stats">;
  refunds: Pick<Refunds, "stats">;
  waitlist: Pick<Waitlist, "stats">;
  outbox: Pick<Outbox, "stats">;
  payQueue: Pick<PayQueue, "stats">;
  served: Served;
  alarmAt: number | null;
  now: number;
}

/** The operators' view of one sale's object: stock, the ledger by status, the outbox, the alarm. */
export function inventoryStats(src: StatsSources) {
  const row = src.sale.row();
  const { holds, units, expiry } = src.holds.stats();
  const refunds = src.refunds.stats();
  const waitlist = src.waitlist.stats();
  const now = src.now;
  return {
    sale: row ? src.sale.view(row, now) : null,
    stock: row
      ? { stock_total: row.stock_total, available: row.available, held: row.held, sold: row.sold, withdrawn: row.withdrawn }
      : null,
    holds,
    units,
    refunds,
    waitlist,
    outbox: src.outbox.stats(now),
    expiry,
    payments: src.payQueue.stats(),
    served: { ...src.served, since: iso(src.served.since) },
    alarm_at: src.alarmAt === null ? null : iso(src.alarmAt),
  };
}

export type InventoryStats = ReturnType<typeof inventoryStats>;
