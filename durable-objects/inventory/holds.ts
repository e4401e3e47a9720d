import { now as clockNow } from "../../domain/clock";
import { newHoldId, orderIdOf } from "../../domain/ids";
import { ok, refuse, type Result } from "../../domain/result";
import type { HoldStatus, HoldView } from "../../domain/schemas/hold";
import type { SaleConfig } from "../../domain/schemas/sale";
import { addColumns, type Step } from "../migrations";
import { countBy, iso, type Host, type Scheduled } from "./host";
import { Meta } from "./meta";
import { noSale, type Sale } from "./sale";

/** A hold row with its payment's turn at the provider (pay-queue.ts: the pacer's slot, kept with its hold). */
export type Paced = HoldRow & { pay_slot?: number | null; pay_gap?: number | null };

/** Where a queued payment stands, for the hold's view: its place in the account's line and when its turn comes. */
export function queueView(h: Paced, now: number): { position: number; eta: string } | null {
  if (h.status !== "pending" || h.pay_attempts !== 0 || h.pay_slot == null) return null;
  const gap = Math.max(1, h.pay_gap ?? 1);
  return { position: Math.max(1, Math.ceil((h.pay_slot - now) / gap)), eta: iso(Math.max(now, h.pay_slot)) };
}

/**
 * `holds` is the ledger: one row per hold, ever. Partial indexes keep the alarm's look-ups (next
 * expiry, next payment re-ask) independent of how many holds have ended.
 */
export const HOLDS_DDL: Step[] = [
  `CREATE TABLE IF NOT EXISTS holds (
    id TEXT PRIMARY KEY, user_id TEXT NOT NULL, idem_key TEXT NOT NULL, qty INTEGER NOT NULL,
    amount INTEGER NOT NULL, status TEXT NOT NULL, source TEXT NOT NULL,
    created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, ended_at INTEGER, reason TEXT,
    pay_method TEXT, pay_attempts INTEGER NOT NULL DEFAULT 0, pay_next_at INTEGER,
    pay_deadline INTEGER, charge_id TEXT, confirmed_at INTEGER, identity TEXT)`,
  `CREATE UNIQUE INDEX IF NOT EXISTS holds_idem ON holds (user_id, idem_key)`,
  // A shopper's holds are found through holds_idem's user_id prefix; a second index on user_id
  // cost every claim another random page in its commit.
  `DROP INDEX IF EXISTS holds_active`,
  `CREATE INDEX IF NOT EXISTS holds_expiry ON holds (expires_at) WHERE status = 'held'`,
  `CREATE INDEX IF NOT EXISTS holds_pay ON holds (pay_next_at) WHERE pay_next_at IS NOT NULL`,
  `CREATE INDEX IF NOT EXISTS holds_confirmed ON holds (confirmed_at) WHERE status = 'confirmed'`,
  // The payment's name at the provider (stored before money can move), the card that pays (the
  // per-card limit counts it), and what the shopper must still do (3-D Secure's client secret).
  addColumns("holds", { pay_ref: "TEXT", pay_fingerprint: "TEXT", pay_action: "TEXT" }),
  `CREATE INDEX IF NOT EXISTS holds_card ON holds (pay_fingerprint) WHERE pay_fingerprint IS NOT NULL`,
  identityColumn,
];

/**
 * The per-user limit counts a hold against its `identity` (the account, or the network in an
 * anonymous sale: src/edge/identity.ts), which may differ from its owner `user_id` (the session
 * that sees and pays it). The column is NULL where the identity is the owner (every account
 * sale's hold), so a ledger made before identities needs only the column added.
 */
function identityColumn(sql: SqlStorage): void {
  const cols = sql.exec<{ name: string }>("PRAGMA table_info(holds)").toArray();
  if (!cols.some((c) => c.name === "identity")) sql.exec("ALTER TABLE holds ADD COLUMN identity TEXT");
  // Only holds whose identity is not their owner (anonymous sales) are indexed by it: an account's
  // claim (identity = owner, stored as NULL) writes no page of this index, which the claim path
  // would pay for on every insert.
  sql.exec("DROP INDEX IF EXISTS holds_identity");
  sql.exec(
    "CREATE INDEX IF NOT EXISTS holds_other_identity ON holds (identity) WHERE identity IS NOT NULL AND status IN ('held', 'pending', 'confirmed')",
  );
}

type HoldFields = {
  id: string;
  user_id: string;
  identity: string | null;
  idem_key: string;
  qty: number;
  amount: number;
  source: "claim" | "waitlist";
  created_at: number;
  expires_at: number;
  ended_at: number | null;
  reason: string | null;
  pay_method: string | null;
  pay_attempts: number;
  pay_next_at: number | null;
  pay_deadline: number | null;
  pay_ref: string | null;
  pay_fingerprint: string | null;
  pay_action: string | null;
};
/** A hold that is paid: only confirmation sets its charge and time (see `Payments.settle`). */
export type ConfirmedHold = HoldFields & { status: "confirmed"; charge_id: string; confirmed_at: number };
export type HoldRow = (HoldFields & { status: Exclude<HoldStatus, "confirmed">; charge_id: null; confirmed_at: null }) | ConfirmedHold;

/** A refund as a hold's view shows it. */
export type RefundBrief = NonNullable<HoldView["refund"]>;

export function holdView(h: HoldRow, cfg: SaleConfig, refund: RefundBrief | undefined): HoldView {
  return {
    id: h.id,
    sale_id: cfg.id,
    status: h.status,
    qty: h.qty,
    amount: h.amount,
    currency: cfg.product.currency,
    created_at: iso(h.created_at),
    expires_at: iso(h.expires_at),
    ended_at: h.ended_at === null ? null : iso(h.ended_at),
    reason: h.reason,
    order_id: h.status === "confirmed" ? orderIdOf(h.id) : null,
    source: h.source,
    refund: refund ? { status: refund.status, amount: refund.amount } : null,
    action: h.status === "pending" && h.pay_action !== null ? { type: "authenticate", client_secret: h.pay_action } : null,
    queue: queueView(h, clockNow()),
  };
}

export interface HoldsHost extends Host {
  sale: Pick<Sale, "row" | "config" | "existingConfig" | "release">;
  /** Units came back to `available` under `waitlist`: offer them to the next in line. */
  offerWaitlist(now: number): void;
  /** The refund of a hold's charge, if one was ever due (for its view). */
  refundOf(holdId: string): RefundBrief | undefined;
  /** What this object's hold ids start with: the sale id, or a shard's name (domain/shards.ts). */
  idPrefix(sale: string): string;
}

/** The holds ledger: reading and ending holds, the shopper's hold RPCs, and expiry by the alarm. */
export class Holds implements Scheduled {
  private readonly sql: SqlStorage;
  private readonly meta: Meta<"expired_n" | "expired_late_sum" | "expired_late_max">;

  constructor(private readonly host: HoldsHost) {
    this.sql = host.sql;
    this.meta = new Meta(host.sql);
  }

  get(id: string): HoldRow | undefined {
    return this.sql.exec<HoldRow>("SELECT * FROM holds WHERE id = ?", id).toArray()[0];
  }

  /**
   * A claim's one look-up: the owner's hold for this key, and the identity's active or paid
   * holds (what the per-user limit counts), newest first. Where the owner is the identity (an
   * account) that is one index range. Sorted here, not by SQL: the rows are a handful, and an
   * ORDER BY opens a sorter on every run (28 µs against 6.5 µs without, in workerd's SQLite:
   * a third of a claim's time in the object).
   */
  mine(user: string, identity: string, key: string): HoldRow[] {
    const query =
      identity === user
        ? "SELECT * FROM holds WHERE user_id = ?1 AND (idem_key = ?3 OR status IN ('held', 'pending', 'confirmed'))"
        : "SELECT * FROM holds WHERE (user_id = ?1 AND idem_key = ?3) OR (identity = ?2 AND status IN ('held', 'pending', 'confirmed'))";
    const rows = this.sql.exec<HoldRow>(query, user, identity, key).toArray();
    return rows.length > 1 ? rows.sort((a, b) => b.created_at - a.created_at) : rows;
  }

  /** Units an identity has in active or paid holds (the per-user limit counts them). */
  unitsOf(identity: string): number {
    return (
      this.sql
        .exec<{ n: number | null }>(
          "SELECT SUM(qty) AS n FROM holds WHERE (identity = ?1 OR (identity IS NULL AND user_id = ?1)) AND status IN ('held', 'pending', 'confirmed')",
          identity,
        )
        .one().n ?? 0
    );
  }

  /** Inserts a hold (the caller moves its units from `available` to `held`) and returns its row. */
  insert(user: string, identity: string, key: string, qty: number, source: HoldRow["source"], cfg: SaleConfig, now: number): HoldRow {
    const h: HoldRow = {
      id: newHoldId(this.host.idPrefix(cfg.id), now),
      user_id: user,
      identity,
      idem_key: key,
      qty,
      amount: qty * cfg.product.price,
      status: "held",
      source,
      created_at: now,
      expires_at: now + cfg.hold_ttl_s * 1000,
      ended_at: null,
      reason: null,
      pay_method: null,
      pay_attempts: 0,
      pay_next_at: null,
      pay_deadline: null,
      pay_ref: null,
      pay_fingerprint: null,
      pay_action: null,
      charge_id: null,
      confirmed_at: null,
    };
    this.sql.exec(
      `INSERT INTO holds (id, user_id, identity, idem_key, qty, amount, status, source, created_at, expires_at)
       VALUES (?, ?, ?, ?, ?, ?, 'held', ?, ?, ?)`,
      h.id,
      user,
      identity === user ? null : identity,
      key,
      qty,
      h.amount,
      source,
      now,
      h.expires_at,
    );
    this.host.want(h.expires_at);
    return h;
  }

  view(h: HoldRow, cfg: SaleConfig): HoldView {
    return holdView(h, cfg, this.host.refundOf(h.id));
  }

  /** Ends an active hold and returns its stock per the sale's policy. False if already ended. */
  end(h: HoldRow, status: "expired" | "cancelled" | "declined", now: number, reason: string): boolean {
    const changed = this.sql
      .exec(
        "UPDATE holds SET status = ?, ended_at = ?, reason = ? WHERE id = ? AND status IN ('held', 'pending') RETURNING id",
        status,
        now,
        reason,
        h.id,
      )
      .toArray().length;
    if (changed === 0) return false;
    this.host.series.add(now, { [status]: 1 });
    const cfg = this.host.sale.existingConfig();
    this.host.sale.release(h.qty, cfg.release_policy);
    if (cfg.release_policy === "waitlist") this.host.offerWaitlist(now);
    this.host.log("info", status === "expired" ? "expire" : status === "cancelled" ? "cancel" : "decline", {
      sale: cfg.id,
      hold: h.id,
      user: h.user_id,
      qty: h.qty,
      reason,
    });
    return true;
  }

  // ---------------------------------------------------------------- the shopper's holds

  /** The shopper's own holds in this sale, newest first (how a client that lost an answer finds its hold). */
  holdsOf(user: string): Result<HoldView[]> {
    const row = this.host.sale.row();
    if (!row) return noSale();
    const cfg = this.host.sale.config(row);
    const rows = this.sql.exec<HoldRow>("SELECT * FROM holds WHERE user_id = ? ORDER BY created_at DESC LIMIT 20", user).toArray();
    return ok(rows.map((h) => this.view(h, cfg)));
  }

  hold(holdId: string, user: string): Result<HoldView> {
    const h = this.get(holdId);
    if (!h || h.user_id !== user) return refuse("not_found", "no such hold");
    return ok(this.view(h, this.host.sale.existingConfig()));
  }

  cancel(holdId: string, user: string): Result<HoldView> {
    const now = this.host.now();
    const r = this.host.transactionSync((): Result<null> => {
      const h = this.get(holdId);
      if (!h || h.user_id !== user) return refuse("not_found", "no such hold");
      if (h.status === "pending")
        return refuse("payment_in_progress", "a payment for this hold is in progress; it cannot be cancelled now");
      if (h.status === "confirmed") return refuse("conflict", "this hold is paid; it is an order now");
      if (h.status === "held") this.end(h, "cancelled", now, "cancelled by the shopper");
      return ok(null);
    });
    this.host.armAlarm();
    return r.ok ? this.hold(holdId, user) : r;
  }

  // ---------------------------------------------------------------- expiry (the alarm)

  nextAlarm(): number | null {
    return this.sql.exec<{ t: number | null }>("SELECT MIN(expires_at) AS t FROM holds WHERE status = 'held'").one().t;
  }

  /** Alarm step: ends the holds whose payment window has passed, 500 per transaction. */
  expireDue(now: number): number {
    let total = 0;
    for (;;) {
      const n = this.host.transactionSync(() => {
        const due = this.sql
          .exec<HoldRow>("SELECT * FROM holds WHERE status = 'held' AND expires_at <= ? ORDER BY expires_at LIMIT 500", now)
          .toArray();
        for (const h of due) {
          if (!this.end(h, "expired", now, "payment window ended")) continue;
          const late = now - h.expires_at;
          this.meta.bump("expired_n", 1);
          this.meta.bump("expired_late_sum", late);
          if (late > (this.meta.get("expired_late_max") ?? 0)) this.meta.set("expired_late_max", late);
          this.host.series.peak(now, { expiry_late_ms: late });
        }
        return due.length;
      });
      total += n;
      if (n < 500) return total;
    }
  }

  stats() {
    const holds = countBy(this.sql, "SELECT status AS k, COUNT(*) AS n FROM holds GROUP BY status");
    const units = countBy(this.sql, "SELECT status AS k, SUM(qty) AS n FROM holds GROUP BY status");
    const m = (k: "expired_n" | "expired_late_sum" | "expired_late_max") => this.meta.get(k) ?? 0;
    return {
      holds: Object.fromEntries(["held", "pending", "confirmed", "expired", "cancelled", "declined"].map((s) => [s, holds[s] ?? 0])),
      units: { held: units.held ?? 0, pending: units.pending ?? 0, confirmed: units.confirmed ?? 0 },
      expiry: {
        expired: m("expired_n"),
        mean_late_ms: m("expired_n") ? Math.round(m("expired_late_sum") / m("expired_n")) : 0,
        max_late_ms: m("expired_late_max"),
      },
    };
  }
}
