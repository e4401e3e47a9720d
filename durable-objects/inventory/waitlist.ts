import { statusOf } from "../../domain/clock";
import type { Step } from "../migrations";
import { countBy, type Host } from "./host";
import type { Holds } from "./holds";
import type { Sale } from "./sale";

/** Shoppers waiting for units under the `waitlist` policy, in order of arrival. */
export const WAITLIST_DDL: Step[] = [
  `CREATE TABLE IF NOT EXISTS waitlist (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT NOT NULL UNIQUE, qty INTEGER NOT NULL,
    joined_at INTEGER NOT NULL, status TEXT NOT NULL, hold_id TEXT, identity TEXT)`,
  `CREATE INDEX IF NOT EXISTS waitlist_waiting ON waitlist (seq) WHERE status = 'waiting'`,
  identityColumn,
];

/** A waitlist made before identities gets the column (each place's identity is its owner). */
function identityColumn(sql: SqlStorage): void {
  if (
    !sql
      .exec<{ name: string }>("PRAGMA table_info(waitlist)")
      .toArray()
      .some((c) => c.name === "identity")
  ) {
    sql.exec("ALTER TABLE waitlist ADD COLUMN identity TEXT");
    sql.exec("UPDATE waitlist SET identity = user_id");
  }
}

export interface WaitlistHost extends Host {
  sale: Pick<Sale, "existing" | "config" | "take">;
  holds: Pick<Holds, "insert" | "unitsOf">;
}

/**
 * Under `waitlist` a claim that finds no stock (or others already waiting) joins the line; units
 * that come back (an ended hold, a restock) go to the next in line as a hold with a fresh window.
 */
export class Waitlist {
  private readonly sql: SqlStorage;

  constructor(private readonly host: WaitlistHost) {
    this.sql = host.sql;
  }

  /** How many are waiting (a claim joins behind them rather than jump the line). */
  waiting(): number {
    return this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM waitlist WHERE status = 'waiting'").one().n;
  }

  /** Adds the shopper at the back (or keeps their place) and returns their position. */
  join(user: string, identity: string, qty: number, now: number): number {
    // A shopper whose earlier offer ended (or was skipped) joins again at the back; otherwise the
    // old row would block the insert and they would be told a position they do not have.
    this.sql.exec("DELETE FROM waitlist WHERE user_id = ? AND status != 'waiting'", user);
    this.sql.exec(
      "INSERT INTO waitlist (user_id, identity, qty, joined_at, status) VALUES (?, ?, ?, ?, 'waiting') ON CONFLICT (user_id) DO NOTHING",
      user,
      identity,
      qty,
      now,
    );
    return this.sql
      .exec<{ n: number }>(
        `SELECT COUNT(*) AS n FROM waitlist WHERE status = 'waiting' AND seq <= (SELECT seq FROM waitlist WHERE user_id = ?)`,
        user,
      )
      .one().n;
  }

  /** Takes a waiting shopper off the list (told no unit can come back); an offered place stays. */
  leave(user: string): void {
    this.sql.exec("DELETE FROM waitlist WHERE user_id = ? AND status = 'waiting'", user);
  }

  /** Free units go to the next waiting shoppers, each with a fresh window (inside the caller's transaction). */
  offer(now: number): void {
    for (;;) {
      const row = this.host.sale.existing();
      const cfg = this.host.sale.config(row);
      // A closed sale makes no new offers: the waiting shoppers stay waiting, nobody is charged.
      if (statusOf(row.state, cfg, now) === "closed") return;
      const next = this.sql
        .exec<{ seq: number; user_id: string; identity: string; qty: number }>(
          "SELECT seq, user_id, identity, qty FROM waitlist WHERE status = 'waiting' ORDER BY seq LIMIT 1",
        )
        .toArray()[0];
      if (!next || row.available < next.qty) return;
      if (this.host.holds.unitsOf(next.identity) + next.qty > cfg.per_user_limit) {
        this.sql.exec("UPDATE waitlist SET status = 'skipped' WHERE seq = ?", next.seq);
        continue;
      }
      const hold = this.host.holds.insert(next.user_id, next.identity, `waitlist:${next.seq}`, next.qty, "waitlist", cfg, now);
      this.host.sale.take(next.qty);
      this.sql.exec("UPDATE waitlist SET status = 'offered', hold_id = ? WHERE seq = ?", hold.id, next.seq);
      this.host.log("info", "waitlist_offer", { sale: cfg.id, hold: hold.id, user: next.user_id });
    }
  }

  stats() {
    const waitlist = countBy(this.sql, "SELECT status AS k, COUNT(*) AS n FROM waitlist GROUP BY status");
    return { waiting: waitlist.waiting ?? 0, offered: waitlist.offered ?? 0, skipped: waitlist.skipped ?? 0 };
  }
}
