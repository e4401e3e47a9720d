import { DurableObject } from "cloudflare:workers";
import { addColumns, migrate, type Version } from "./migrations";

/** What the edge needs to know of a sale before it touches the sale's objects. */
export type CatalogEntry = { id: string; created_at: number; shards: number };

/** The catalogue's storage, version by version (migrations.ts). */
const CATALOG_SCHEMA: readonly Version[] = [
  [
    `CREATE TABLE IF NOT EXISTS sales (id TEXT PRIMARY KEY, created_at INTEGER NOT NULL)`,
    // A catalogue made before shards gets the column, each sale with its one object.
    addColumns("sales", { shards: "INTEGER NOT NULL DEFAULT 1" }),
  ],
];

/**
 * The list of sales that exist: one object for the whole shop. The edge keeps a copy of the
 * list per isolate (about a second old) and asks it before it reaches a sale's own objects, so a
 * request for an id that was never created (a typo, a probe, a flood of junk) is answered 404
 * without creating anything anywhere. It is written only when an operator creates a sale and
 * read once per isolate per second, whatever the traffic.
 *
 * It also says how many stock shards each sale has (domain/shards.ts): the edge routes a claim to
 * its shopper's home shard, and a hold to the shard its id names, only among those that exist.
 */
export class SaleCatalog extends DurableObject<Env> {
  private readonly sql = this.ctx.storage.sql;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    migrate(ctx.storage, CATALOG_SCHEMA);
  }

  /** Records a sale (again: idempotent; a sale's shards never change once it is listed). */
  add(id: string, shards = 1): CatalogEntry {
    this.sql.exec("INSERT INTO sales (id, created_at, shards) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING", id, Date.now(), shards);
    return this.sql.exec<CatalogEntry>("SELECT id, created_at, shards FROM sales WHERE id = ?", id).one();
  }

  /** Every sale, oldest first. */
  list(): CatalogEntry[] {
    return this.sql.exec<CatalogEntry>("SELECT id, created_at, shards FROM sales ORDER BY created_at, id").toArray();
  }
}
