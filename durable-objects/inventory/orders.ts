import { holdIdOf, orderIdOf } from "../../domain/ids";
import { ok, refuse, type Result } from "../../domain/result";
import type { OrderView } from "../../domain/schemas/hold";
import type { SaleConfig } from "../../domain/schemas/sale";
import type { ConfirmedHold, Holds } from "./holds";
import { iso } from "./host";
import type { OrderRecord } from "./records";
import type { Sale } from "./sale";

/**
 * Orders are confirmed holds: no table of their own. This is how one reads as the order D1 gets
 * and as the shopper sees it (payments.ts makes them; reconcile and GET /api/orders read them).
 */

/** The order D1 gets for a paid hold (the same record however often it is sent). */
export function orderRecord(h: ConfirmedHold, cfg: SaleConfig): OrderRecord {
  return {
    id: orderIdOf(h.id),
    sale_id: cfg.id,
    hold_id: h.id,
    user_id: h.user_id,
    product_id: cfg.product.id,
    qty: h.qty,
    amount: h.amount,
    currency: cfg.product.currency,
    charge_id: h.charge_id,
    held_at: iso(h.created_at),
    confirmed_at: iso(h.confirmed_at),
  };
}

export class Orders {
  constructor(private readonly host: { sql: SqlStorage; holds: Pick<Holds, "get">; sale: Pick<Sale, "existingConfig"> }) {}

  /** The shopper's own order, or not_found (another shopper's, unpaid, or none). */
  order(orderId: string, user: string): Result<OrderView> {
    const h = this.host.holds.get(holdIdOf(orderId));
    if (!h || h.user_id !== user || h.status !== "confirmed") return refuse("not_found", "no such order");
    const o = orderRecord(h, this.host.sale.existingConfig());
    return ok({
      id: o.id,
      sale_id: o.sale_id,
      hold_id: o.hold_id,
      qty: o.qty,
      amount: o.amount,
      currency: o.currency,
      charge_id: o.charge_id,
      confirmed_at: o.confirmed_at,
    });
  }

  /** Every paid hold as the order D1 should have (reconcile). */
  all(cfg: SaleConfig): OrderRecord[] {
    return this.host.sql
      .exec<ConfirmedHold>("SELECT * FROM holds WHERE status = 'confirmed'")
      .toArray()
      .map((h) => orderRecord(h, cfg));
  }
}
