import { catalog, room } from "../../domain/objects";
import { ok, type Result } from "../../domain/result";
import { LIST_LIMIT } from "../../domain/schemas/admin";
import type { SaleConfig, SaleState, SaleUpdate, SaleView } from "../../domain/schemas/sale";
import { mergeColumns, sumColumns } from "../../domain/schemas/series";
import { splitStock } from "../../domain/shards";
import { allOk, shardedView, shardsFor, shardStub, type InventoryStub } from "../edge/shards";
import { sumOverviews, sumReconciles, sumStats } from "../edge/shard-sums";
import { d1Counts } from "./d1-reads";

/**
 * The operator's changes and reads, carried to every object of a sale: its product object (or
 * each of its stock shards, summed back into one answer), its waiting room, the catalogue and D1.
 * The admin routes (src/routes/admin.ts) validate and answer; this is what they do.
 */

/** The waiting room takes its schedule and admission limits from the sale's configuration. */
function syncRoom(env: Env, cfg: SaleConfig) {
  const { id, starts_at, ends_at, admission_rate, max_active, pass_ttl_s, admit_per_unit, lottery_s, shards = 1, release_policy } = cfg;
  return room(env, id).configure({
    sale_id: id,
    starts_at,
    ends_at,
    admission_rate,
    max_active,
    pass_ttl_s,
    admit_per_unit,
    lottery_s,
    shards,
    release_policy,
  });
}

/**
 * An operator's change to a sale, applied to each of its objects (one, unless it has stock
 * shards): the first refusal, else the sale as it is now (a sharded sale's: the sum of its shards').
 * A change that reached only some shards (one failed) is repaired by sending it again: each shard
 * applies a change it already has as any other (a state it is in, a setting it has).
 */
async function everyShard(env: Env, id: string, change: (inv: InventoryStub, shard: number, n: number) => Promise<Result<SaleView>>) {
  const shards = await shardsFor(env, id);
  if (shards.length === 1) return change(shards[0]!, 0, 1);
  const rs = allOk(await Promise.all(shards.map((inv, i) => change(inv, i, shards.length))));
  return rs.ok ? shardedView(env, id, shards.length) : rs;
}

/**
 * Creates a sale's product objects (or finds them as they were). A sharded sale's shards are
 * each given their share; whether it was created is shard 0's answer, and a repeat configures any
 * shard a failure missed.
 */
async function configureObjects(env: Env, cfg: SaleConfig, shards: number): Promise<Result<{ created: boolean; sale: SaleView }>> {
  if (shards === 1) return shardStub(env, cfg.id, 0).configure(cfg);
  const made = allOk(await Promise.all(Array.from({ length: shards }, (_, i) => shardStub(env, cfg.id, i).configureShard(cfg, i))));
  if (!made.ok) return made;
  const sale = await shardedView(env, cfg.id, shards);
  return sale.ok ? ok({ created: made.value[0]!.created, sale: sale.value }) : sale;
}

/**
 * Creates a sale: its product objects, its waiting room, then its catalogue entry (listed last:
 * once shoppers can reach the sale, its objects are configured). A repeat with the same
 * configuration configures the room again, which is how an operator repairs one that missed it.
 */
export async function createSale(env: Env, cfg: SaleConfig, shards: number): Promise<Result<{ created: boolean; sale: SaleView }>> {
  const made = await configureObjects(env, cfg, shards);
  if (!made.ok) return made;
  await syncRoom(env, cfg);
  await catalog(env).add(cfg.id, shards);
  return made;
}

/** The newest sales with their status and stock (a sharded sale's shards summed), and how many there are. */
export async function listSales(env: Env) {
  const all = await catalog(env).list();
  const newest = all.slice(-LIST_LIMIT).reverse();
  const overview = (e: { id: string; shards: number }) =>
    Promise.all(Array.from({ length: e.shards }, (_, i) => shardStub(env, e.id, i).overview())).then(sumOverviews);
  const rows = await Promise.all(newest.map(async (e) => ({ e, o: await overview(e) })));
  const sales = rows.flatMap(({ e, o }) => (o ? [{ ...o, created_at: new Date(e.created_at).toISOString() }] : []));
  return { sales, total: all.length };
}

/** A sale's figures from every object and from D1 (null: no such sale). */
export async function saleStats(env: Env, id: string) {
  const stats = sumStats(await Promise.all((await shardsFor(env, id)).map((inv) => inv.stats())));
  if (!stats.sale) return null;
  const [queue, d1] = await Promise.all([room(env, id).stats(), d1Counts(env.DB, id)]);
  return { ...stats, queue, d1 };
}

/**
 * A sale's per-second history: a sharded sale's shards summed by second (sumColumns: counts
 * added, stock and backlog as each shard last had them, lags the highest), merged with the room's.
 */
export async function saleSeries(env: Env, id: string, since: number | undefined) {
  const [inv, line] = await Promise.all([
    shardsFor(env, id).then(async (shards) =>
      shards.length === 1 ? shards[0]!.series(since) : sumColumns(await Promise.all(shards.map((s) => s.series(since)))),
    ),
    room(env, id).history(since),
  ]);
  return mergeColumns(inv, line);
}

/** Changes a running sale's settings on every shard, and its room's from the result. */
export async function updateSale(env: Env, id: string, patch: SaleUpdate): Promise<Result<SaleView>> {
  const sale = await everyShard(env, id, (inv) => inv.update(patch));
  if (!sale.ok) return sale;
  const cfg = await shardStub(env, id, 0).saleConfig();
  if (!cfg.ok) return cfg;
  await syncRoom(env, cfg.value);
  return sale;
}

/** Pauses, resumes or closes every shard. */
export function setSaleState(env: Env, id: string, state: SaleState): Promise<Result<SaleView>> {
  return everyShard(env, id, (inv) => inv.setState(state));
}

/** Adds units: a sharded sale's restock is split as its stock was. */
export async function restockSale(env: Env, id: string, qty: number): Promise<Result<SaleView>> {
  const sale = await everyShard(env, id, (inv, i, n) => (n === 1 ? inv.restock(qty) : inv.restockShard(qty, splitStock(qty, n)[i]!)));
  if (!sale.ok) return sale;
  const cfg = await shardStub(env, id, 0).saleConfig();
  if (cfg.ok) await syncRoom(env, cfg.value); // the room reads the units again: its line moves
  return sale;
}

/** Every shard compares its ledger with its own rows in D1; the reports summed. */
export async function reconcileSale(env: Env, id: string) {
  const shards = await shardsFor(env, id);
  const each = allOk(await Promise.all(shards.map((inv) => inv.reconcile())));
  return each.ok ? ok(sumReconciles(each.value)) : each;
}
