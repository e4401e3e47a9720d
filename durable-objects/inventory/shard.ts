import type { ShardFigures } from "../../domain/schemas/admin";
import { shardName } from "../../domain/shards";
import type { Step } from "../migrations";

/**
 * A sharded sale's shard (docs/ARCHITECTURE.md, "Stock shards"): which shard this object is, the
 * units it was given (`base`: its share of the stock and of each restock), and its two sides of
 * the transfers between shards. An unsharded sale's object has no `shard` row and never touches
 * the transfer tables.
 *
 * A transfer moves units from a giver's `available` to a receiver's, each side in its own
 * transaction, recorded on both sides under one id:
 *  - the receiver records its intent (`transfers_in`, state `asked`) before it asks;
 *  - the giver grants `min(asked, available)` once per id (`transfers_out`): its stock_total and
 *    available go down by the grant, and asking again answers the same grant;
 *  - the receiver applies the grant once (`asked` → `applied`): its stock_total and available go up.
 * Between the grant and the apply the units are in transit: given by one side, not yet applied
 * by the other. Per shard, `stock_total = base − given + received` at every commit, so across
 * shards Σ(available + held + sold + withdrawn) + Σ given − Σ received = Σ base, whatever moment
 * each shard is read at.
 */
export const SHARD_DDL: Step[] = [
  `CREATE TABLE IF NOT EXISTS shard (
    id INTEGER PRIMARY KEY CHECK (id = 1), idx INTEGER NOT NULL, count INTEGER NOT NULL,
    base INTEGER NOT NULL, sale_total INTEGER NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS transfers_out (
    id TEXT PRIMARY KEY, to_shard INTEGER NOT NULL, asked INTEGER NOT NULL, granted INTEGER NOT NULL, at INTEGER NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS transfers_in (
    id TEXT PRIMARY KEY, from_shard INTEGER NOT NULL, asked INTEGER NOT NULL, granted INTEGER, state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER, created_at INTEGER NOT NULL, applied_at INTEGER)`,
  `CREATE INDEX IF NOT EXISTS transfers_in_due ON transfers_in (next_at) WHERE state = 'asked'`,
];

type ShardRow = { idx: number; count: number; base: number; sale_total: number };
export type Intent = { id: string; from_shard: number; asked: number; attempts: number };

/** This object's place in a sharded sale, and its ledger of transfers (all inside the caller's transactions). */
export class ShardLedger {
  private place: { idx: number; count: number } | null;

  constructor(private readonly sql: SqlStorage) {
    this.place = this.row() ?? null;
  }

  private row(): ShardRow | undefined {
    return this.sql.exec<ShardRow>("SELECT idx, count, base, sale_total FROM shard WHERE id = 1").toArray()[0];
  }

  /** This shard's index and the sale's shard count, or null for an unsharded sale's object. */
  get where(): { idx: number; count: number } | null {
    return this.place;
  }

  /** The name of this object (hold ids start with it): the sale id, or `<sale>~<i>`. */
  name(sale: string): string {
    return shardName(sale, this.place?.idx ?? 0);
  }

  /** Records this object as shard `idx` of `count`, given `base` units of a sale of `saleTotal`. */
  configure(idx: number, count: number, base: number, saleTotal: number): void {
    this.sql.exec("INSERT INTO shard (id, idx, count, base, sale_total) VALUES (1, ?, ?, ?, ?)", idx, count, base, saleTotal);
    this.place = { idx, count };
  }

  /** A restock: this shard's share of it, and the sale's new total. */
  restocked(share: number, qty: number): void {
    this.sql.exec("UPDATE shard SET base = base + ?, sale_total = sale_total + ? WHERE id = 1", share, qty);
  }

  /**
   * The stock D1's catalogue row shows for this object's versions of the sale: the sale's (shard
   * 0 speaks for it), none (other shards do not publish), or the object's own (unsharded).
   */
  publishedStock(own: number): number | null {
    if (!this.place) return own;
    return this.place.idx === 0 ? this.row()!.sale_total : null;
  }

  // ---------------------------------------------------------------- the giver's side

  /** The grant already made under this id, or null. */
  granted(id: string): number | null {
    return this.sql.exec<{ granted: number }>("SELECT granted FROM transfers_out WHERE id = ?", id).toArray()[0]?.granted ?? null;
  }

  gave(id: string, to: number, asked: number, granted: number, now: number): void {
    this.sql.exec("INSERT INTO transfers_out (id, to_shard, asked, granted, at) VALUES (?, ?, ?, ?, ?)", id, to, asked, granted, now);
  }

  // ---------------------------------------------------------------- the receiver's side

  /** Records an intent to ask `from` for `n` units, to be asked again from `retryAt` until applied. */
  intend(id: string, from: number, n: number, now: number, retryAt: number): void {
    this.sql.exec(
      "INSERT INTO transfers_in (id, from_shard, asked, state, next_at, created_at) VALUES (?, ?, ?, 'asked', ?, ?)",
      id,
      from,
      n,
      retryAt,
      now,
    );
  }

  /** Marks an intent applied with the giver's grant; false if it was applied already. */
  applied(id: string, granted: number, now: number): boolean {
    return (
      this.sql
        .exec(
          "UPDATE transfers_in SET state = 'applied', granted = ?, applied_at = ?, next_at = NULL WHERE id = ? AND state = 'asked' RETURNING id",
          granted,
          now,
          id,
        )
        .toArray().length > 0
    );
  }

  /** Intents whose answer has not been applied and whose time to ask again has come. */
  due(now: number, limit: number): Intent[] {
    return this.sql
      .exec<Intent>(
        "SELECT id, from_shard, asked, attempts FROM transfers_in WHERE state = 'asked' AND next_at <= ? ORDER BY next_at LIMIT ?",
        now,
        limit,
      )
      .toArray();
  }

  retryAt(id: string, at: number): void {
    this.sql.exec("UPDATE transfers_in SET attempts = attempts + 1, next_at = ? WHERE id = ? AND state = 'asked'", at, id);
  }

  nextAlarm(): number | null {
    if (!this.place) return null;
    return this.sql.exec<{ t: number | null }>("SELECT MIN(next_at) AS t FROM transfers_in WHERE state = 'asked'").one().t;
  }

  /** Intents not yet applied (a transfer may be under way: the sale is not sold out while one is). */
  asking(): number {
    return this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM transfers_in WHERE state = 'asked'").one().n;
  }

  /** What the edge's public view needs of this shard (cheaper than `figures`: no sums over the transfers). */
  brief(): { base: number; asking: number } | null {
    const row = this.row();
    return row ? { base: row.base, asking: this.asking() } : null;
  }

  /** This shard's figures, summed from the transfer rows themselves (not from counters kept beside them). */
  figures(): ShardFigures | null {
    const row = this.row();
    if (!row) return null;
    const given = this.sql.exec<{ n: number | null }>("SELECT SUM(granted) AS n FROM transfers_out").one().n ?? 0;
    const received = this.sql.exec<{ n: number | null }>("SELECT SUM(granted) AS n FROM transfers_in WHERE state = 'applied'").one().n ?? 0;
    return { shard: row.idx, shards: row.count, base: row.base, given, received, asking: this.asking() };
  }
}
