import { DurableObject } from "cloudflare:workers";

/** What the edge needs to know of a sale before it touches the sale's objects. */
export type CatalogEntry = { id: string; created_at: number };

/**
 * The list of sales that exist: one object for the whole shop. The edge keeps a copy of the
 * list per isolate (about a second old) and asks it before it reaches a sale's own objects, so a
 * request for an id that was never created (a typo, a probe, a flood of junk) is answered 404
 * without creating anything anywhere. It is written only when an operator creates a sale and
 * read once per isolate per second, whatever the traffic.
 */
export class SaleCatalog extends DurableObject<Env> {
  private readonly sql = this.ctx.storage.sql;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql.exec(`CREATE TABLE IF NOT EXISTS sales (id TEXT PRIMARY KEY, created_at INTEGER NOT NULL)`);
  }

  /** Records a sale (again: idempotent). */
  add(id: string): CatalogEntry {
    this.sql.exec("INSERT INTO sales (id, created_at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING", id, Date.now());
    return this.sql.exec<CatalogEntry>("SELECT id, created_at FROM sales WHERE id = ?", id).one();
  }

  /** Every sale, oldest first. */
  list(): CatalogEntry[] {
    return this.sql.exec<CatalogEntry>("SELECT id, created_at FROM sales ORDER BY created_at, id").toArray();
  }
}
