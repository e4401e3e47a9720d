import type { SaleConfig } from "../../domain/schemas/sale";
import type { PaymentGateway } from "../payments/gateway";
import type { HoldRow } from "./holds";
import { countBy, iso, type Host, type Scheduled } from "./host";
import type { OutboxRecord, RefundRecord } from "./records";
import type { Sale } from "./sale";

/** Charges that landed for holds that had ended (or a second charge for a paid one), to give back. */
export const REFUNDS_DDL = [
  `CREATE TABLE IF NOT EXISTS refunds (
    id TEXT PRIMARY KEY, hold_id TEXT NOT NULL, charge_id TEXT NOT NULL UNIQUE, amount INTEGER NOT NULL,
    reason TEXT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER,
    refund_ref TEXT, created_at INTEGER NOT NULL, refunded_at INTEGER)`,
  `CREATE INDEX IF NOT EXISTS refunds_hold ON refunds (hold_id)`,
  `CREATE INDEX IF NOT EXISTS refunds_due ON refunds (next_at) WHERE status = 'pending'`,
];

type RefundFields = {
  id: string;
  hold_id: string;
  charge_id: string;
  amount: number;
  reason: string;
  attempts: number;
  next_at: number | null;
  created_at: number;
};
/** Only a completed refund has the provider's reference and its time. */
export type RefundRow =
  | (RefundFields & { status: "pending"; refund_ref: null; refunded_at: null })
  | (RefundFields & { status: "refunded"; refund_ref: string; refunded_at: number });

/** A refund with the shopper of its hold (D1's refund record names them). */
type WithShopper<R> = R & { user_id: string };
const WITH_SHOPPER = "SELECT refunds.*, holds.user_id FROM refunds JOIN holds ON holds.id = refunds.hold_id";

/** The longest wait between two asks of the provider (a payment outcome, a refund). */
export const MAX_BACKOFF_MS = 5 * 60_000;

export interface RefundsHost extends Host {
  sale: Pick<Sale, "existingConfig">;
  enqueue(rec: OutboxRecord, now: number): void;
  gateway(): PaymentGateway;
}

function refundRecord(r: WithShopper<RefundFields>, refundRef: string, refundedAt: number, cfg: SaleConfig): RefundRecord {
  return {
    id: r.id,
    sale_id: cfg.id,
    hold_id: r.hold_id,
    user_id: r.user_id,
    charge_id: r.charge_id,
    refund_ref: refundRef,
    amount: r.amount,
    currency: cfg.product.currency,
    reason: r.reason,
    refunded_at: iso(refundedAt),
  };
}

/** Refunds: recorded when the money lands, sent by the alarm (retried with backoff), each recorded for D1. */
export class Refunds implements Scheduled {
  private readonly sql: SqlStorage;

  constructor(private readonly host: RefundsHost) {
    this.sql = host.sql;
  }

  /** A charge that must go back (once per charge, inside the settling transaction). */
  due(h: HoldRow, chargeId: string, cfg: SaleConfig, now: number, why?: string): void {
    this.sql.exec(
      `INSERT INTO refunds (id, hold_id, charge_id, amount, reason, status, next_at, created_at)
       VALUES (?, ?, ?, ?, ?, 'pending', ?, ?) ON CONFLICT (charge_id) DO NOTHING`,
      `rf_${chargeId}`,
      h.id,
      chargeId,
      h.amount,
      why ?? (h.status === "confirmed" ? "second charge for a paid hold" : `charge landed after the hold was ${h.status}`),
      now,
      now,
    );
    this.host.want(now);
    this.host.log("warn", "refund_due", { sale: cfg.id, hold: h.id, charge: chargeId, status: h.status });
  }

  /** The refund of a hold's charge, if one was ever due (its view shows it). */
  of(holdId: string): RefundRow | undefined {
    return this.sql.exec<RefundRow>("SELECT * FROM refunds WHERE hold_id = ? LIMIT 1", holdId).toArray()[0];
  }

  nextAlarm(): number | null {
    return this.sql.exec<{ t: number | null }>("SELECT MIN(next_at) AS t FROM refunds WHERE status = 'pending'").one().t;
  }

  /** Alarm step: refund charges that landed for ended holds; each refund recorded for D1. */
  async sendDue(now: number): Promise<void> {
    const due = this.sql
      .exec<WithShopper<RefundRow>>(`${WITH_SHOPPER} WHERE refunds.status = 'pending' AND refunds.next_at <= ? LIMIT 50`, now)
      .toArray();
    if (due.length === 0) return;
    const cfg = this.host.sale.existingConfig();
    await Promise.all(
      due.map(async (r) => {
        const res = await this.host
          .gateway()
          .refund({ key: `refund_${r.charge_id}`, charge_id: r.charge_id, amount: r.amount, currency: cfg.product.currency });
        const t = this.host.now();
        this.host.transactionSync(() => {
          if (res.status === "refunded") this.complete(r, res.refund_id, t, cfg);
          else {
            const next = t + Math.min(MAX_BACKOFF_MS, 1000 * 2 ** r.attempts);
            this.sql.exec("UPDATE refunds SET attempts = attempts + 1, next_at = ? WHERE id = ?", next, r.id);
            this.host.log("warn", "refund_retry", { sale: cfg.id, charge: r.charge_id, reason: res.reason });
          }
        });
      }),
    );
  }

  /** Marks a pending refund done and records it for D1 (once: a second completion changes nothing). */
  private complete(r: WithShopper<RefundFields>, refundRef: string, t: number, cfg: SaleConfig): void {
    const done = this.sql
      .exec(
        "UPDATE refunds SET status = 'refunded', refund_ref = ?, refunded_at = ?, next_at = NULL WHERE id = ? AND status = 'pending' RETURNING id",
        refundRef,
        t,
        r.id,
      )
      .toArray().length;
    if (done === 0) return;
    this.host.enqueue({ kind: "refund", body: refundRecord(r, refundRef, t, cfg) }, t);
    this.host.series.add(t, { refunded: 1 });
    this.host.log("info", "refund", { sale: cfg.id, hold: r.hold_id, charge: r.charge_id, amount: r.amount, reason: r.reason });
  }

  /**
   * The provider says a charge was refunded (Stripe's charge.refunded), inside the caller's
   * transaction. Our own refund whose answer was lost is completed; a refund made elsewhere (the
   * provider's dashboard) is recorded too, so D1 shows the money went back.
   */
  refundedAtProvider(h: HoldRow, chargeId: string, refundRef: string, amount: number, cfg: SaleConfig, now: number): void {
    this.sql.exec(
      `INSERT INTO refunds (id, hold_id, charge_id, amount, reason, status, next_at, created_at)
       VALUES (?, ?, ?, ?, 'refunded at the provider', 'pending', NULL, ?) ON CONFLICT (charge_id) DO NOTHING`,
      `rf_${chargeId}`,
      h.id,
      chargeId,
      amount,
      now,
    );
    const r = this.sql.exec<WithShopper<RefundRow>>(`${WITH_SHOPPER} WHERE refunds.charge_id = ?`, chargeId).toArray()[0];
    if (r?.status === "pending") this.complete(r, refundRef, now, cfg);
  }

  /** Every completed refund as the record D1 should have (reconcile). */
  refunded(cfg: SaleConfig): RefundRecord[] {
    return this.sql
      .exec<WithShopper<Extract<RefundRow, { status: "refunded" }>>>(`${WITH_SHOPPER} WHERE refunds.status = 'refunded'`)
      .toArray()
      .map((r) => refundRecord(r, r.refund_ref, r.refunded_at, cfg));
  }

  stats() {
    const refunds = countBy(this.sql, "SELECT status AS k, COUNT(*) AS n FROM refunds GROUP BY status");
    return { pending: refunds.pending ?? 0, refunded: refunds.refunded ?? 0 };
  }
}
