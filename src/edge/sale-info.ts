import { now, onTheClock } from "../../domain/clock";
import { settings } from "../../domain/config";
import { refuse, type Result } from "../../domain/result";
import { inventory, room } from "../../domain/objects";
import type { Watermark } from "../../domain/schemas/room";
import type { SaleView } from "../../domain/schemas/sale";
import { cached, forget, peek, remember } from "./cache";
import { shardsOf } from "./catalog";
import { shardedView } from "./shards";

/**
 * What the edge knows about a sale without asking: public info with availability, and the
 * waiting room's watermark, each reused for EDGE_CACHE_MS (about a second) per isolate.
 * Refusals are cached too (apart from live sales), so a flood of requests for an unknown sale
 * does not reach an object. A sharded sale's availability is the sum of its shards'.
 */
export async function saleInfo(env: Env, id: string): Promise<Result<SaleView>> {
  const shards = await shardsOf(env, id);
  if (shards === null) return refuse("not_found", "no such sale");
  // A sharded sale's view is the sum of its shards' (one call to each, per isolate per EDGE_CACHE_MS).
  const load = shards === 1 ? async () => await inventory(env, id).info() : () => shardedView(env, id, shards);
  const r = await cached<Result<SaleView>>(`sale:${id}`, settings(env).EDGE_CACHE_MS, load, (r) => r.ok);
  return r.ok ? { ok: true, value: onTheClock(r.value, now()) } : r;
}

/** The cached sale if this isolate has a fresh copy (no hop, no wait), else undefined. */
export function peekSale(id: string): SaleView | undefined {
  const r = peek<Result<SaleView>>(`sale:${id}`);
  return r?.ok ? onTheClock(r.value, now()) : undefined;
}

export const watermark = (env: Env, id: string): Promise<Watermark> =>
  cached(`room:${id}`, settings(env).EDGE_CACHE_MS, () => room(env, id).watermark());

/** The object just said "sold out": the next claims here can be answered without asking it. */
export function rememberSoldOut(env: Env, sale: SaleView): void {
  remember<Result<SaleView>>(`sale:${sale.id}`, settings(env).EDGE_CACHE_MS, {
    ok: true,
    value: { ...sale, available: 0, sold_out: true },
  });
}

/** A watermark fresher than the cached one (the room returned it on a join). */
export function rememberWatermark(env: Env, id: string, w: Watermark): void {
  remember(`room:${id}`, settings(env).EDGE_CACHE_MS, w);
}

/**
 * Drops this isolate's cached sale info after a change made through it (an operator's action, a
 * cancel or decline that returns stock); other isolates catch up within EDGE_CACHE_MS.
 */
export function forgetSale(id: string): void {
  forget(`sale:${id}`);
}
