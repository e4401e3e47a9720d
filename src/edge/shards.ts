import { placeOf } from "../../domain/ids";
import { inventory, inventoryShard } from "../../domain/objects";
import { ok, type Result } from "../../domain/result";
import type { SaleView } from "../../domain/schemas/sale";
import { homeShard } from "../../domain/shards";
import { shardsOf } from "./catalog";
import { sumViews } from "./shard-sums";

/**
 * Which product object the edge reaches for a sale with stock shards (domain/shards.ts). A sale
 * with one shard is reached exactly as before shards: `inventory(env, sale)`, no other hop.
 */

export type InventoryStub = ReturnType<typeof inventory>;

/** A sale's shard `i` (0: the object named by the sale id). */
export const shardStub = (env: Env, sale: string, i: number): InventoryStub =>
  i === 0 ? inventory(env, sale) : inventoryShard(env, sale, i);

/** The object that serves this identity's claims, holds and payments in the sale: its home shard. */
export const homeInventory = (env: Env, sale: string, shards: number, identity: string): InventoryStub =>
  shards === 1 ? inventory(env, sale) : shardStub(env, sale, homeShard(identity, shards));

/**
 * The object a hold or order id lives in (its id names the shard), or null when the id is not
 * one of ours, its sale does not exist, or the sale has no such shard: nothing is reached then.
 */
export async function ownerOf(env: Env, id: string, kind: "h" | "o"): Promise<{ sale: string; inv: InventoryStub } | null> {
  const place = placeOf(id, kind);
  if (!place) return null;
  const n = await shardsOf(env, place.sale);
  if (n === null || place.shard >= n) return null;
  return { sale: place.sale, inv: shardStub(env, place.sale, place.shard) };
}

/** Every product object of a sale that exists (one, unless it is sharded). */
export async function shardsFor(env: Env, sale: string): Promise<InventoryStub[]> {
  const n = (await shardsOf(env, sale)) ?? 1;
  return Array.from({ length: n }, (_, i) => shardStub(env, sale, i));
}

/** The first refusal among the shards' answers, or all their values. */
export function allOk<T>(rs: Result<T>[]): Result<T[]> {
  for (const r of rs) if (!r.ok) return r;
  return ok(rs.map((r) => (r as { ok: true; value: T }).value));
}

/** A sharded sale as shoppers see it: the sum of its shards' views. */
export async function shardedView(env: Env, sale: string, shards: number): Promise<Result<SaleView>> {
  const rs = allOk(await Promise.all(Array.from({ length: shards }, (_, i) => shardStub(env, sale, i).shardInfo())));
  return rs.ok ? ok(sumViews(rs.value)) : rs;
}
