import { settings } from "../../domain/config";
import { catalog } from "../../domain/objects";
import { register } from "../lib/isolate-state";

/**
 * This isolate's copy of the catalogue: the ids of the sales that exist, refreshed every
 * EDGE_CACHE_MS, and the stock shards of those that have more than one.
 */
const copy = { ids: new Set<string>(), shards: new Map<string, number>(), until: 0, loading: undefined as Promise<void> | undefined };
register("catalog", () => {
  copy.ids = new Set();
  copy.shards = new Map();
  copy.until = 0;
});

/**
 * Whether a sale exists, from this isolate's copy of the shop's catalogue (SaleCatalog, fetched
 * at most once per EDGE_CACHE_MS). The edge asks this before it touches a sale's own objects: an
 * id that was never created is answered 404 without creating anything, at no cost to anyone.
 * A sale created through this isolate is known at once; through another, within EDGE_CACHE_MS.
 * If the catalogue cannot be reached, the last copy is used.
 */
export async function saleExists(env: Env, id: string): Promise<boolean> {
  const c = copy;
  if (c.ids.has(id)) return true;
  if (Date.now() >= c.until) await refresh(env);
  return c.ids.has(id);
}

/**
 * How many stock shards a sale has (1: one object, as every sale had before shards), or null if
 * there is no such sale. The same copy of the catalogue: no hop for a sale this isolate knows.
 */
export async function shardsOf(env: Env, id: string): Promise<number | null> {
  if (!(await saleExists(env, id))) return null;
  return copy.shards.get(id) ?? 1;
}

function refresh(env: Env): Promise<void> {
  const c = copy;
  c.loading ??= catalog(env)
    .list()
    .then((list) => {
      c.ids = new Set(list.map((s) => s.id));
      c.shards = new Map(list.filter((s) => s.shards > 1).map((s) => [s.id, s.shards]));
      c.until = Date.now() + settings(env).EDGE_CACHE_MS;
    })
    .catch((e) => {
      // Keep the last copy; with none at all the caller cannot tell, and says so.
      if (c.until === 0) throw e;
    })
    .finally(() => (c.loading = undefined));
  return c.loading;
}

/** Whether this isolate's copy lists the sale, without loading it. */
export const listed = (id: string) => copy.ids.has(id);

/** A sale this isolate just created. */
export function rememberSale(id: string, shards = 1): void {
  copy.ids.add(id);
  if (shards > 1) copy.shards.set(id, shards);
}
