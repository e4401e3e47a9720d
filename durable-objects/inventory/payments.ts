import type { Settings } from "../../domain/config";
import { holdIdOf, orderIdOf, saleOf } from "../../domain/ids";
import { ok, refuse, type Result } from "../../domain/result";
import type { HoldView, OrderView } from "../../domain/schemas/hold";
import type { SaleConfig } from "../../domain/schemas/sale";
import type { ChargeOutcome, ChargeRequest, LookupOutcome, PaymentGateway } from "../payments/gateway";
import type { ConfirmedHold, HoldRow, Holds } from "./holds";
import { iso, type Host, type Scheduled } from "./host";
import type { OrderRecord, OutboxRecord } from "./records";
import { MAX_BACKOFF_MS, type Refunds } from "./refunds";
import type { Sale } from "./sale";

const WATCH_MS = 60_000; // how often a released hold's unknown payment is looked up again
const WATCH_FOR_MS = 24 * 3600_000; // and for how long

export interface PaymentsHost extends Host {
  settings: Pick<Settings, "PAY_TIMEOUT_MS" | "PAY_RETRY_MS" | "PAY_GIVE_UP_S">;
  sale: Pick<Sale, "existingConfig" | "sell">;
  holds: Pick<Holds, "get" | "end" | "hold">;
  refunds: Pick<Refunds, "due">;
  enqueue(rec: OutboxRecord, now: number): void;
  gateway(): PaymentGateway;
  /** Resolves once every write so far is on disk. */
  sync(): Promise<void>;
}

/** The order D1 gets for a paid hold (the same record however often it is sent). */
export function orderRecord(h: ConfirmedHold, cfg: SaleConfig): OrderRecord {
  return {
    id: orderIdOf(h.id), sale_id: cfg.id, hold_id: h.id, user_id: h.user_id, product_id: cfg.product.id, qty: h.qty,
    amount: h.amount, currency: cfg.product.currency, charge_id: h.charge_id, held_at: iso(h.created_at), confirmed_at: iso(h.confirmed_at),
  };
}

/**
 * Paying for a hold. The hold is marked `pending` (durably) before the gateway is called and no
 * lock is held during the call, so claims keep flowing. An unknown outcome is asked again by the
 * alarm, by the same idempotency key, until it is known; money that lands for a hold that has
 * ended is given back (refunds.ts).
 */
export class Payments implements Scheduled {
  private readonly sql: SqlStorage;
  private readonly s: PaymentsHost["settings"];

  constructor(private readonly host: PaymentsHost) {
    this.sql = host.sql;
    this.s = host.settings;
  }

  /**
   * Charges a held hold. The answer is the hold as it stands afterwards: confirmed, declined, or
   * still pending (the outcome is unknown and the alarm will ask the gateway again).
   */
  async pay(holdId: string, user: string, method: string): Promise<Result<HoldView>> {
    const now = Date.now();
    const start = this.host.transactionSync((): Result<HoldRow | null> => {
      const h = this.host.holds.get(holdId);
      if (!h || h.user_id !== user) return refuse("not_found", "no such hold");
      if (h.status !== "held") return ok(null); // already paying, paid or ended: answer as it stands
      if (h.expires_at <= now) {
        this.host.holds.end(h, "expired", now, "payment window ended");
        return ok(null);
      }
      const s = this.s;
      const paying = {
        ...h, status: "pending" as const, pay_method: method, pay_attempts: 1,
        pay_next_at: now + s.PAY_TIMEOUT_MS + s.PAY_RETRY_MS, pay_deadline: now + s.PAY_GIVE_UP_S * 1000,
      };
      this.sql.exec(
        `UPDATE holds SET status = 'pending', pay_method = ?, pay_attempts = 1, pay_next_at = ?, pay_deadline = ? WHERE id = ?`,
        method, paying.pay_next_at, paying.pay_deadline, holdId,
      );
      this.host.want(paying.pay_next_at);
      return ok(paying);
    });
    this.host.armAlarm();
    if (!start.ok) return start;
    if (start.value) {
      await this.host.sync(); // `pending` is on disk before any money can move
      const h = start.value;
      this.host.log("info", "pay", { sale: saleOf(h.id, "h"), hold: h.id, user, amount: h.amount });
      const outcome = await this.host.gateway().charge(this.chargeRequest(h));
      this.paymentEvent(holdId, outcome);
    }
    return this.host.holds.hold(holdId, user);
  }

  /** Applies a payment outcome, wherever it came from (the pay call, a re-ask, a webhook). */
  paymentEvent(holdId: string, outcome: ChargeOutcome | LookupOutcome): void {
    const now = Date.now();
    this.host.transactionSync(() => {
      const h = this.host.holds.get(holdId);
      if (h) this.settle(h, outcome, now);
    });
    this.host.armAlarm();
  }

  private settle(h: HoldRow, outcome: ChargeOutcome | LookupOutcome, now: number): void {
    const cfg = this.host.sale.existingConfig();
    const stopAsking = () => this.sql.exec("UPDATE holds SET pay_next_at = NULL WHERE id = ?", h.id);
    switch (outcome.status) {
      case "succeeded": {
        stopAsking();
        if (h.status === "pending") {
          this.sql.exec(
            "UPDATE holds SET status = 'confirmed', ended_at = ?, confirmed_at = ?, charge_id = ? WHERE id = ?",
            now, now, outcome.charge_id, h.id,
          );
          this.host.sale.sell(h.qty);
          const paid: ConfirmedHold = { ...h, status: "confirmed", ended_at: now, confirmed_at: now, charge_id: outcome.charge_id, pay_next_at: null };
          this.host.enqueue({ kind: "order", body: orderRecord(paid, cfg) }, now);
          this.host.series.add(now, { paid: 1 });
          this.host.log("info", "confirm", { sale: cfg.id, hold: h.id, user: h.user_id, charge: outcome.charge_id });
        } else if (h.charge_id !== outcome.charge_id) {
          // The hold ended before the money arrived (or this is a second charge): give it back.
          this.host.refunds.due(h, outcome.charge_id, cfg, now);
        }
        return;
      }
      case "declined":
        stopAsking();
        if (h.status === "pending") this.host.holds.end(h, "declined", now, outcome.reason);
        return;
      case "not_found":
        if (h.status !== "pending") return void stopAsking(); // a released hold whose charge never happened
      // a pending hold the provider has not heard of: ask again (charge is idempotent by key)
      // falls through
      case "unknown": {
        if (h.pay_next_at === null) return; // settled already
        const attempts = h.pay_attempts + 1;
        let nextAt: number | null;
        if (h.status !== "pending") {
          // Watching a released hold for a late success; stop after WATCH_FOR_MS.
          const next = now + WATCH_MS;
          nextAt = next < (h.pay_deadline ?? 0) ? next : null;
          this.sql.exec("UPDATE holds SET pay_attempts = ?, pay_next_at = ? WHERE id = ?", attempts, nextAt, h.id);
        } else if (now >= (h.pay_deadline ?? 0)) {
          // Asked again and again without an answer: free the stock, keep watching for money.
          this.host.holds.end(h, "expired", now, `payment outcome unknown after ${attempts - 1} attempts`);
          nextAt = now + WATCH_MS;
          this.sql.exec("UPDATE holds SET pay_attempts = ?, pay_next_at = ?, pay_deadline = ? WHERE id = ?", attempts, nextAt, now + WATCH_FOR_MS, h.id);
        } else {
          const next = now + Math.min(MAX_BACKOFF_MS, this.s.PAY_RETRY_MS * 2 ** (attempts - 2));
          nextAt = Math.min(next, h.pay_deadline ?? next);
          this.sql.exec("UPDATE holds SET pay_attempts = ?, pay_next_at = ? WHERE id = ?", attempts, nextAt, h.id);
        }
        if (nextAt !== null) this.host.want(nextAt);
        this.host.series.add(now, { pay_unknown: 1 });
        this.host.log("warn", "pay_unknown", { sale: cfg.id, hold: h.id, attempts, reason: "reason" in outcome ? outcome.reason : "not_found" });
        return;
      }
    }
  }

  private chargeRequest(h: HoldRow): ChargeRequest {
    const cfg = this.host.sale.existingConfig();
    return { key: `pay_${h.id}`, amount: h.amount, currency: cfg.product.currency, method: h.pay_method ?? "tok_visa", reference: h.id };
  }

  nextAlarm(): number | null {
    return this.sql.exec<{ t: number | null }>("SELECT MIN(pay_next_at) AS t FROM holds WHERE pay_next_at IS NOT NULL").one().t;
  }

  /** Alarm step: ask the gateway again about unknown outcomes (pending holds, watched ones). */
  async reaskDue(now: number): Promise<void> {
    const due = this.sql.exec<HoldRow>("SELECT * FROM holds WHERE pay_next_at <= ? ORDER BY pay_next_at LIMIT 50", now).toArray();
    await Promise.all(
      due.map(async (h) => {
        // A pending hold's charge is re-sent by key (idempotent: it completes or replays it);
        // a released hold is only looked up, so nothing new is ever charged for it.
        const gw = this.host.gateway();
        const outcome = h.status === "pending" ? await gw.charge(this.chargeRequest(h)) : await gw.lookup(`pay_${h.id}`);
        this.paymentEvent(h.id, outcome);
      }),
    );
  }

  order(orderId: string, user: string): Result<OrderView> {
    const h = this.host.holds.get(holdIdOf(orderId));
    if (!h || h.user_id !== user || h.status !== "confirmed") return refuse("not_found", "no such order");
    const o = orderRecord(h, this.host.sale.existingConfig());
    return ok({ id: o.id, sale_id: o.sale_id, hold_id: o.hold_id, qty: o.qty, amount: o.amount, currency: o.currency, charge_id: o.charge_id, confirmed_at: o.confirmed_at });
  }

  /** Every paid hold as the order D1 should have (reconcile). */
  orders(cfg: SaleConfig): OrderRecord[] {
    return this.sql.exec<ConfirmedHold>("SELECT * FROM holds WHERE status = 'confirmed'").toArray().map((h) => orderRecord(h, cfg));
  }
}
