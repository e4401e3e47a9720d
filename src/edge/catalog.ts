import { settings } from "../../domain/config";
import { catalog } from "../../domain/objects";
import { isolate } from "./isolate";
import { now } from "../../domain/clock";

/**
 * Whether a sale exists, from this isolate's copy of the shop's catalogue (SaleCatalog, fetched
 * at most once per EDGE_CACHE_MS). The edge asks this before it touches a sale's own objects: an
 * id that was never created is answered 404 without creating anything, at no cost to anyone.
 * A sale created through this isolate is known at once; through another, within EDGE_CACHE_MS.
 * If the catalogue cannot be reached, the last copy is used.
 */
export async function saleExists(env: Env, id: string): Promise<boolean> {
  const c = isolate.catalog;
  if (c.ids.has(id)) return true;
  if (now() >= c.until) await refresh(env);
  return c.ids.has(id);
}

/**
 * How many stock shards a sale has (1: one object, as every sale had before shards), or null if
 * there is no such sale. The same copy of the catalogue: no hop for a sale this isolate knows.
 */
export async function shardsOf(env: Env, id: string): Promise<number | null> {
  if (!(await saleExists(env, id))) return null;
  return isolate.catalog.shards.get(id) ?? 1;
}

function refresh(env: Env): Promise<void> {
  const c = isolate.catalog;
  c.loading ??= catalog(env)
    .list()
    .then((list) => {
      c.ids = new Set(list.map((s) => s.id));
      c.shards = new Map(list.filter((s) => s.shards > 1).map((s) => [s.id, s.shards]));
      c.until = now() + settings(env).EDGE_CACHE_MS;
    })
    .catch((e) => {
      // Keep the last copy; with none at all the caller cannot tell, and says so.
      if (c.until === 0) throw e;
    })
    .finally(() => (c.loading = undefined));
  return c.loading;
}

/** A sale this isolate just created. */
export function rememberSale(id: string, shards = 1): void {
  isolate.catalog.ids.add(id);
  if (shards > 1) isolate.catalog.shards.set(id, shards);
}
