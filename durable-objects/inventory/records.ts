/**
 * What a product object's outbox carries to D1, and the one statement that writes each kind.
 * Every statement is idempotent, so a flush repeated after a crash (or by reconcile) writes
 * nothing twice.
 */
export type OrderRecord = {
  id: string;
  sale_id: string;
  hold_id: string;
  user_id: string;
  product_id: string;
  qty: number;
  amount: number;
  currency: string;
  charge_id: string;
  held_at: string;
  confirmed_at: string;
};

export type RefundRecord = {
  id: string;
  sale_id: string;
  hold_id: string;
  user_id: string;
  charge_id: string;
  refund_ref: string;
  amount: number;
  currency: string;
  reason: string;
  refunded_at: string;
};

export type SaleRecord = {
  id: string;
  product_id: string;
  product_name: string;
  price: number;
  currency: string;
  stock_total: number;
  starts_at: string;
  ends_at: string;
  release_policy: string;
  state: string;
  config: string;
  version: number;
  updated_at: string;
};

export type OutboxRecord =
  | { kind: "order"; body: OrderRecord }
  | { kind: "refund"; body: RefundRecord }
  | { kind: "sale"; body: SaleRecord };

function insert(db: D1Database, table: string, row: Record<string, unknown>, onConflict: string) {
  const cols = Object.keys(row);
  return db
    .prepare(`INSERT INTO ${table} (${cols.join(", ")}) VALUES (${cols.map(() => "?").join(", ")}) ${onConflict}`)
    .bind(...Object.values(row));
}

export function statementFor(db: D1Database, rec: OutboxRecord): D1PreparedStatement {
  switch (rec.kind) {
    case "order":
      return insert(db, "orders", rec.body, "ON CONFLICT (id) DO NOTHING");
    case "refund":
      return insert(db, "refunds", rec.body, "ON CONFLICT (id) DO NOTHING");
    case "sale": {
      const updates = Object.keys(rec.body)
        .filter((c) => c !== "id")
        .map((c) => `${c} = excluded.${c}`)
        .join(", ");
      // A snapshot only replaces an older one: flushes of two versions may arrive out of order.
      return insert(db, "sales", rec.body, `ON CONFLICT (id) DO UPDATE SET ${updates} WHERE excluded.version > sales.version`);
    }
  }
}
