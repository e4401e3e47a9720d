import { statusOf } from "../../domain/clock";
import { ok, refuse, type Refusal, type Result } from "../../domain/result";
import { SaleInput, type SaleConfig, type SaleState, type SaleUpdate, type SaleView } from "../../domain/schemas/sale";
import { iso, type Host } from "./host";
import type { OutboxRecord, SaleRecord } from "./records";

/**
 * One row: the sale. `available + held + sold + withdrawn = stock_total` is kept by every
 * transaction. (Each part declares its own tables; schema.ts lists them as the object's versions.)
 */
export const SALE_DDL = [
  `CREATE TABLE IF NOT EXISTS sale (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    sale_id TEXT NOT NULL, config TEXT NOT NULL, state TEXT NOT NULL, version INTEGER NOT NULL,
    stock_total INTEGER NOT NULL, available INTEGER NOT NULL CHECK (available >= 0),
    held INTEGER NOT NULL CHECK (held >= 0), sold INTEGER NOT NULL CHECK (sold >= 0),
    withdrawn INTEGER NOT NULL CHECK (withdrawn >= 0),
    CHECK (available + held + sold + withdrawn = stock_total))`,
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

export const noSale = (): Refusal => refuse("not_found", "no such sale");

export interface SaleHost extends Host {
  /** Every version of the sale goes to D1's catalog through the outbox. */
  enqueue(rec: OutboxRecord, now: number, delay: number): void;
  /** Units came back to `available` under `waitlist`: offer them to the next in line. */
  offerWaitlist(now: number): void;
  /** The stock D1's catalogue row shows for this version, or null if this object does not publish it (a shard > 0). */
  catalogStock(row: SaleRow): number | null;
}

/**
 * The sale row: its configuration (the checked config as JSON, versioned), the operator's
 * state, and the stock counters. Every statement on the `sale` table is here; the other parts
 * move stock through `take`, `release` and `sell`.
 */
export class Sale {
  private readonly sql: SqlStorage;
  private cached?: { version: number; cfg: SaleConfig };

  constructor(private readonly host: SaleHost) {
    this.sql = host.sql;
  }

  row(): SaleRow | undefined {
    return this.sql.exec<SaleRow>("SELECT * FROM sale WHERE id = 1").toArray()[0];
  }

  /**
   * The row, where the caller's own state proves the sale was configured: a hold, a refund or a
   * waitlist offer exists only after `configure`. Its absence is a broken invariant (a 500),
   * not a missing sale (a 404).
   */
  existing(): SaleRow {
    const row = this.row();
    if (!row) throw new Error("internal: the sale row is missing although this object holds state of the sale");
    return row;
  }

  /** The parsed config, kept while the version is the same (claims read it once per batch). */
  config(row: SaleRow): SaleConfig {
    // Parsed with the schema (once per version): settings added since the sale was stored get
    // their defaults.
    if (this.cached?.version !== row.version) this.cached = { version: row.version, cfg: SaleInput.parse(JSON.parse(row.config)) };
    return this.cached.cfg;
  }

  /** The config of the sale that `existing()` vouches for. */
  existingConfig(): SaleConfig {
    return this.config(this.existing());
  }

  /** Drops the parsed config (after a failed transaction, whose version may not be on disk). */
  forget(): void {
    this.cached = undefined;
  }

  /** The sale id if the config is at hand, without a read (for log lines). */
  cachedId(): string | undefined {
    return this.cached?.cfg.id;
  }

  view(row: SaleRow, now: number): SaleView {
    const cfg = this.config(row);
    return {
      id: cfg.id,
      product: cfg.product,
      status: statusOf(row.state, cfg, now),
      starts_at: iso(cfg.starts_at),
      ends_at: iso(cfg.ends_at),
      hold_ttl_s: cfg.hold_ttl_s,
      per_user_limit: cfg.per_user_limit,
      release_policy: cfg.release_policy,
      pow_difficulty: cfg.pow_difficulty,
      identity: cfg.identity,
      network_cap: cfg.network_cap,
      lottery_s: cfg.lottery_s,
      stock_total: row.stock_total,
      available: row.available,
      held: row.held,
      sold_out: row.available === 0,
    };
  }

  // ---------------------------------------------------------------- stock moves

  /** `qty` units from available into new holds (the caller has checked they are there). */
  take(qty: number): void {
    this.sql.exec("UPDATE sale SET available = available - ?, held = held + ? WHERE id = 1", qty, qty);
  }

  /** An ended hold's units: withdrawn under `undersell`, otherwise available again. */
  release(qty: number, policy: SaleConfig["release_policy"]): void {
    if (policy === "undersell") this.sql.exec("UPDATE sale SET held = held - ?, withdrawn = withdrawn + ? WHERE id = 1", qty, qty);
    else this.sql.exec("UPDATE sale SET held = held - ?, available = available + ? WHERE id = 1", qty, qty);
  }

  /** A paid hold's units. */
  sell(qty: number): void {
    this.sql.exec("UPDATE sale SET held = held - ?, sold = sold + ? WHERE id = 1", qty, qty);
  }

  /** Units leaving (`delta` < 0) or joining (> 0) this shard's stock, to or from another shard (rebalance.ts). */
  transfer(delta: number): void {
    this.sql.exec("UPDATE sale SET stock_total = stock_total + ?, available = available + ? WHERE id = 1", delta, delta);
  }

  // ---------------------------------------------------------------- configuration

  /**
   * Creates the sale (or finds it as it was). A shard of a sharded sale is given its `stock` and
   * records its place `within` the same transaction.
   */
  configure(cfg: SaleConfig, shard?: { stock: number; within: () => void }): Result<{ created: boolean; sale: SaleView }> {
    const now = this.host.now();
    const existing = this.row();
    if (existing) {
      if (existing.config === JSON.stringify(cfg)) return ok({ created: false, sale: this.view(existing, now) });
      return refuse(
        "conflict",
        `sale ${cfg.id} already exists with another configuration; change live settings with PATCH /admin/sales/${cfg.id}`,
      );
    }
    const stock = shard ? shard.stock : cfg.stock_total;
    const row = this.host.transactionSync(() => {
      shard?.within();
      const row = this.sql
        .exec<SaleRow>(
          `INSERT INTO sale (id, sale_id, config, state, version, stock_total, available, held, sold, withdrawn)
         VALUES (1, ?, ?, 'live', 1, ?, ?, 0, 0, 0) RETURNING *`,
          cfg.id,
          JSON.stringify(cfg),
          stock,
          stock,
        )
        .one();
      this.publish(row, now);
      return row;
    });
    this.host.armAlarm();
    this.host.log("info", "sale_created", { sale: cfg.id, stock, policy: cfg.release_policy, ...(shard && { of: cfg.stock_total }) });
    return ok({ created: true, sale: this.view(row, now) });
  }

  update(patch: SaleUpdate): Result<SaleView> {
    return this.mutate("sale_updated", (_row, cfg) => {
      const next = { ...cfg, ...patch };
      if (next.ends_at <= next.starts_at) return refuse("invalid_request", "ends_at must be after starts_at");
      this.sql.exec("UPDATE sale SET config = ? WHERE id = 1", JSON.stringify(next));
    });
  }

  setState(state: SaleState): Result<SaleView> {
    return this.mutate(`sale_${state}`, (row) => {
      if (row.state === "closed" && state !== "closed") return refuse("sale_closed", "a closed sale cannot be reopened");
      this.sql.exec("UPDATE sale SET state = ? WHERE id = 1", state);
    });
  }

  /** Adds `qty` units (a shard: its share of a restock, recorded `within` the same transaction). */
  restock(qty: number, within?: () => void): Result<SaleView> {
    return this.mutate("sale_restocked", (_row, cfg) => {
      within?.();
      this.transfer(qty);
      if (cfg.release_policy === "waitlist") this.host.offerWaitlist(this.host.now());
    });
  }

  /** Puts this version of the sale in the outbox for D1's catalog (inside the caller's transaction). */
  publish(row: SaleRow, now: number): void {
    const stock = this.host.catalogStock(row);
    if (stock !== null) this.host.enqueue({ kind: "sale", body: this.record(row, stock, now) }, now, 0);
  }

  private record(row: SaleRow, stock: number, now: number): SaleRecord {
    const cfg = this.config(row);
    return {
      id: cfg.id,
      product_id: cfg.product.id,
      product_name: cfg.product.name,
      price: cfg.product.price,
      currency: cfg.product.currency,
      stock_total: stock,
      starts_at: iso(cfg.starts_at),
      ends_at: iso(cfg.ends_at),
      release_policy: cfg.release_policy,
      state: row.state,
      config: row.config,
      version: row.version,
      updated_at: iso(now),
    };
  }

  /** One change of the sale: a new version, its snapshot in the outbox, and the view after it. */
  // biome-ignore lint/suspicious/noConfusingVoidType: a change that refuses nothing returns nothing
  private mutate(event: string, change: (row: SaleRow, cfg: SaleConfig) => Refusal | void): Result<SaleView> {
    const now = this.host.now();
    const r = this.host.transactionSync((): Result<SaleRow> => {
      const row = this.row();
      if (!row) return noSale();
      const refused = change(row, this.config(row));
      if (refused) return refused;
      const after = this.sql.exec<SaleRow>("UPDATE sale SET version = version + 1 WHERE id = 1 RETURNING *").one();
      this.cached = undefined;
      this.publish(after, now);
      return ok(after);
    });
    this.cached = undefined;
    this.host.armAlarm();
    if (!r.ok) return r;
    const row = r.value;
    this.host.log("info", event, { sale: row.sale_id, version: row.version, state: row.state, stock: row.stock_total });
    return ok(this.view(row, now));
  }
}
