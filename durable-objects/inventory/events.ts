import { orderIdOf } from "../../domain/ids";
import { eventId, EVENT_VERSION, type EventStats, type EventType } from "../../domain/schemas/events";
import type { SaleConfig } from "../../domain/schemas/sale";
import { countBy, iso, type Host, type Scheduled } from "./host";
import type { OutboxRecord } from "./records";
import type { Sale, SaleRow } from "./sale";

/**
 * The shop's events (order.confirmed, order.refunded, sale.sold_out, sale.ended), recorded in the
 * transaction of the change each reports, with a delivery state per pipe (delivery.ts). A pipe's
 * state is NULL when it was off as the event was recorded.
 */
export const EVENTS_DDL = [
  `CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, type TEXT NOT NULL, body TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    queue_state TEXT, queue_next_at INTEGER, queue_tries INTEGER NOT NULL DEFAULT 0,
    hook_state TEXT, hook_next_at INTEGER, hook_tries INTEGER NOT NULL DEFAULT 0, hook_since INTEGER,
    hook_error TEXT, hook_done_at INTEGER)`,
  `CREATE INDEX IF NOT EXISTS events_queue_due ON events (queue_next_at) WHERE queue_state = 'pending'`,
  `CREATE INDEX IF NOT EXISTS events_hook_due ON events (hook_next_at) WHERE hook_state = 'pending'`,
];

/** Which pipes are on (set by the bindings; read per event, so a deploy that adds one takes effect). */
export type Pipes = { queue: boolean; webhook: boolean };

export interface EventsHost extends Host {
  pipes(): Pipes;
  /** The wait before the alarm sends new events (FLUSH_DELAY_MS: one alarm sends them with the D1 batch). */
  delayMs: number;
  sale: Pick<Sale, "row" | "config">;
  /** A shard of a sharded sale: sale.* events need the whole sale, which no shard has (docs/events.md). */
  sharded(): boolean;
  /** Figures the delivery part keeps (failures, last errors). */
  deliveryStats(): { queue: { failures: number; last_error: string | null }; webhook: { failures: number; last_error: string | null } };
}

export class Events implements Scheduled {
  private readonly sql: SqlStorage;

  constructor(private readonly host: EventsHost) {
    this.sql = host.sql;
  }

  /**
   * A record on its way to D1 (outbox.ts), seen inside the transaction that wrote it: the events
   * it means are written in the same transaction. A record sent again (reconcile) makes the same
   * ids, which are recorded once.
   */
  observe(rec: OutboxRecord, now: number): void {
    const pipes = this.host.pipes();
    if (!pipes.queue && !pipes.webhook) return;
    switch (rec.kind) {
      case "order": {
        const { id: order_id, ...o } = rec.body;
        this.record(pipes, "order.confirmed", order_id, { order_id, ...o }, now);
        this.soldOut(pipes, now);
        return;
      }
      case "refund": {
        const r = rec.body;
        const hold = this.sql.exec<{ status: string }>("SELECT status FROM holds WHERE id = ?", r.hold_id).toArray()[0];
        const { id: refund_id, ...rest } = r;
        this.record(
          pipes,
          "order.refunded",
          refund_id,
          { refund_id, order_id: hold?.status === "confirmed" ? orderIdOf(r.hold_id) : null, ...rest },
          now,
        );
        return;
      }
      case "sale":
        if (rec.body.state === "closed") this.ended(pipes, "closed", now);
        return;
    }
  }

  /** Every unit sold or withdrawn (nothing held, nothing available): the sale is sold out for good. */
  private soldOut(pipes: Pipes, now: number): void {
    if (this.host.sharded()) return;
    const row = this.host.sale.row();
    if (row?.available !== 0 || row.held !== 0) return;
    const { sale_id, stock_total, sold, withdrawn } = row;
    this.record(pipes, "sale.sold_out", `${sale_id}:${stock_total}`, { sale_id, stock_total, sold, withdrawn }, now);
  }

  private ended(pipes: Pipes, reason: "closed" | "ends_at", now: number, row: SaleRow | undefined = this.host.sale.row()): void {
    if (this.host.sharded() || !row) return;
    this.record(pipes, "sale.ended", row.sale_id, { sale_id: row.sale_id, reason, stock_total: row.stock_total, sold: row.sold }, now);
  }

  private record(pipes: Pipes, type: EventType, subject: string, data: Record<string, unknown>, now: number): void {
    const id = eventId(type, subject);
    const body = JSON.stringify({ id, type, version: EVENT_VERSION, created: iso(now), data });
    const at = now + this.host.delayMs;
    this.sql.exec(
      `INSERT INTO events (id, type, body, created_at, queue_state, queue_next_at, hook_state, hook_next_at, hook_since)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
      id,
      type,
      body,
      now,
      pipes.queue ? "pending" : null,
      pipes.queue ? at : null,
      pipes.webhook ? "pending" : null,
      pipes.webhook ? at : null,
      now,
    );
    this.host.want(at);
  }

  /** The sale's end time, while its sale.ended event is not recorded (the end is told by the alarm). */
  nextAlarm(): number | null {
    const end = this.pendingEnd();
    return end?.cfg.ends_at ?? null;
  }

  /** Alarm step: a sale whose end time has passed gets its sale.ended event. */
  endedDue(now: number): void {
    const end = this.pendingEnd();
    if (!end || end.cfg.ends_at > now) return;
    this.host.transactionSync(() => this.ended(this.host.pipes(), "ends_at", now, end.row));
  }

  private pendingEnd(): { row: SaleRow; cfg: SaleConfig } | null {
    const pipes = this.host.pipes();
    if ((!pipes.queue && !pipes.webhook) || this.host.sharded()) return null;
    const row = this.host.sale.row();
    if (!row || row.state === "closed") return null;
    if (this.sql.exec("SELECT 1 FROM events WHERE id = ?", eventId("sale.ended", row.sale_id)).toArray().length) return null;
    return { row, cfg: this.host.sale.config(row) };
  }

  /** Dead webhook events back in line, each with a fresh retry window. */
  resend(now: number): number {
    const n = this.host.transactionSync(() => {
      const ids = this.sql
        .exec(
          "UPDATE events SET hook_state = 'pending', hook_next_at = ?, hook_tries = 0, hook_since = ?, hook_error = NULL WHERE hook_state = 'dead' RETURNING id",
          now,
          now,
        )
        .toArray();
      if (ids.length) this.host.want(now);
      return ids.length;
    });
    this.host.armAlarm();
    this.host.log(n ? "warn" : "info", "events_resend", { sale: this.host.sale.row()?.sale_id, resent: n });
    return n;
  }

  stats(): EventStats {
    const pipes = this.host.pipes();
    const recorded = this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM events").one().n;
    const d = this.host.deliveryStats();
    const queue = countBy(
      this.sql,
      "SELECT queue_state AS k, COUNT(*) AS n FROM events WHERE queue_state IS NOT NULL GROUP BY queue_state",
    );
    const hook = countBy(this.sql, "SELECT hook_state AS k, COUNT(*) AS n FROM events WHERE hook_state IS NOT NULL GROUP BY hook_state");
    const lastDead = this.sql
      .exec<{ id: string; hook_error: string | null; hook_done_at: number }>(
        "SELECT id, hook_error, hook_done_at FROM events WHERE hook_state = 'dead' ORDER BY hook_done_at DESC LIMIT 1",
      )
      .toArray()[0];
    return {
      recorded,
      queue: pipes.queue || queue.pending ? { pending: queue.pending ?? 0, delivered: queue.delivered ?? 0, ...d.queue } : null,
      webhook:
        pipes.webhook || hook.pending || hook.dead
          ? {
              pending: hook.pending ?? 0,
              delivered: hook.delivered ?? 0,
              dead: hook.dead ?? 0,
              ...d.webhook,
              last_dead: lastDead ? { id: lastDead.id, error: lastDead.hook_error ?? "", at: iso(lastDead.hook_done_at) } : null,
            }
          : null,
    };
  }
}
