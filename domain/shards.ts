/**
 * Stock shards (docs/ARCHITECTURE.md, "Stock shards"): a sale created with `shards: N` has its
 * stock split over N product objects. Shard 0 is the object named by the sale id, exactly as an
 * unsharded sale's; shard i > 0 is named `<sale>~<i>` (`~` is not in a sale id, so no sale can
 * name another's shard). Each shopper has a home shard, a hash of the identity the per-user limit
 * counts, so the limit and idempotency stay exact within one object.
 */

export const MAX_SHARDS = 64;

/** How many shards a sale's configuration asks for (absent: 1, today's single object). */
export const shardsIn = (cfg: { shards?: number }) => cfg.shards ?? 1;

/** The product object's name for a sale's shard. */
export const shardName = (sale: string, shard: number) => (shard === 0 ? sale : `${sale}~${shard}`);

/** FNV-1a 32-bit: stable across isolates, deploys and runtimes, and cheap. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** A shopper's home shard: where all their claims, holds, payments and refunds live. */
export const homeShard = (identity: string, shards: number) => (shards <= 1 ? 0 : fnv1a(identity) % shards);

/** `total` units over `shards` shards: as even as can be, the remainder to the low shards. */
export function splitStock(total: number, shards: number): number[] {
  const base = Math.floor(total / shards);
  const extra = total % shards;
  return Array.from({ length: shards }, (_, i) => base + (i < extra ? 1 : 0));
}
