import type { SaleConfig, SaleState } from "../../domain/schemas/sale";
import type { HoldStatus, HoldView } from "../../domain/schemas/hold";
import { orderIdOf } from "../../domain/ids";

/**
 * The product object's own SQLite tables. `sale.available + held + sold + withdrawn =
 * stock_total` is kept by every transaction; `holds` is the ledger (one row per hold, ever).
 * Partial indexes keep the alarm's look-ups (next expiry, next payment re-ask) independent of
 * how many holds have ended.
 */
export const DDL = [
  `CREATE TABLE IF NOT EXISTS sale (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    sale_id TEXT NOT NULL, config TEXT NOT NULL, state TEXT NOT NULL, version INTEGER NOT NULL,
    stock_total INTEGER NOT NULL, available INTEGER NOT NULL CHECK (available >= 0),
    held INTEGER NOT NULL CHECK (held >= 0), sold INTEGER NOT NULL CHECK (sold >= 0),
    withdrawn INTEGER NOT NULL CHECK (withdrawn >= 0),
    CHECK (available + held + sold + withdrawn = stock_total))`,
  `CREATE TABLE IF NOT EXISTS holds (
    id TEXT PRIMARY KEY, user_id TEXT NOT NULL, idem_key TEXT NOT NULL, qty INTEGER NOT NULL,
    amount INTEGER NOT NULL, status TEXT NOT NULL, source TEXT NOT NULL,
    created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, ended_at INTEGER, reason TEXT,
    pay_method TEXT, pay_attempts INTEGER NOT NULL DEFAULT 0, pay_next_at INTEGER,
    pay_deadline INTEGER, charge_id TEXT, confirmed_at INTEGER)`,
  `CREATE UNIQUE INDEX IF NOT EXISTS holds_idem ON holds (user_id, idem_key)`,
  // A shopper's holds are found through holds_idem's user_id prefix; a second index on user_id
  // cost every claim another random page in its commit.
  `DROP INDEX IF EXISTS holds_active`,
  `CREATE INDEX IF NOT EXISTS holds_expiry ON holds (expires_at) WHERE status = 'held'`,
  `CREATE INDEX IF NOT EXISTS holds_pay ON holds (pay_next_at) WHERE pay_next_at IS NOT NULL`,
  `CREATE INDEX IF NOT EXISTS holds_confirmed ON holds (confirmed_at) WHERE status = 'confirmed'`,
  `CREATE TABLE IF NOT EXISTS waitlist (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT NOT NULL UNIQUE, qty INTEGER NOT NULL,
    joined_at INTEGER NOT NULL, status TEXT NOT NULL, hold_id TEXT)`,
  `CREATE INDEX IF NOT EXISTS waitlist_waiting ON waitlist (seq) WHERE status = 'waiting'`,
  `CREATE TABLE IF NOT EXISTS refunds (
    id TEXT PRIMARY KEY, hold_id TEXT NOT NULL, charge_id TEXT NOT NULL UNIQUE, amount INTEGER NOT NULL,
    reason TEXT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER,
    refund_ref TEXT, created_at INTEGER NOT NULL, refunded_at INTEGER)`,
  `CREATE INDEX IF NOT EXISTS refunds_hold ON refunds (hold_id)`,
  `CREATE INDEX IF NOT EXISTS refunds_due ON refunds (next_at) WHERE status = 'pending'`,
  // Records on their way to D1; AUTOINCREMENT so a flush can delete "everything up to seq N".
  `CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL,
    body TEXT NOT NULL, created_at INTEGER NOT NULL)`,
  // Counters and timers that are not worth a table each (flush backoff, lateness, faults).
  `CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v NUMERIC)`,
];

export type SaleRow = {
  sale_id: string;
  config: string;
  state: SaleState;
  version: number;
  stock_total: number;
  available: number;
  held: number;
  sold: number;
  withdrawn: number;
};

export type HoldRow = {
  id: string;
  user_id: string;
  idem_key: string;
  qty: number;
  amount: number;
  status: HoldStatus;
  source: "claim" | "waitlist";
  created_at: number;
  expires_at: number;
  ended_at: number | null;
  reason: string | null;
  pay_method: string | null;
  pay_attempts: number;
  pay_next_at: number | null;
  pay_deadline: number | null;
  charge_id: string | null;
  confirmed_at: number | null;
};

export type RefundRow = {
  id: string;
  hold_id: string;
  charge_id: string;
  amount: number;
  reason: string;
  status: "pending" | "refunded";
  attempts: number;
  next_at: number | null;
  refund_ref: string | null;
  created_at: number;
  refunded_at: number | null;
};

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function holdView(h: HoldRow, cfg: SaleConfig, refund: RefundRow | undefined): HoldView {
  return {
    id: h.id,
    sale_id: cfg.id,
    status: h.status,
    qty: h.qty,
    amount: h.amount,
    currency: cfg.product.currency,
    created_at: iso(h.created_at)!,
    expires_at: iso(h.expires_at)!,
    ended_at: iso(h.ended_at),
    reason: h.reason,
    order_id: h.status === "confirmed" ? orderIdOf(h.id) : null,
    source: h.source,
    refund: refund ? { status: refund.status, amount: refund.amount } : null,
  };
}
