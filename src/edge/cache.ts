import { register } from "../lib/isolate-state";
import { LruMap } from "../lib/lru";

/** A cached answer: shared while it loads (single flight), reused until `until`. */
type CacheEntry<T = unknown> = { value: Promise<T>; until: number; settled?: { v: T } };

/** Sale info and watermarks of sales that exist, EDGE_CACHE_MS each. */
const live = new LruMap<string, CacheEntry>(1_000);
/**
 * Refusals (unknown sale ids), kept apart: a flood of junk ids only pushes out other junk ids,
 * never a live sale's cached and sold-out state.
 */
const refused = new LruMap<string, CacheEntry>(1_000);
/** Loads in flight, one per key; bounded by the requests in flight. */
const loading = new Map<string, CacheEntry>();
register("cache", () => {
  live.clear();
  refused.clear();
  loading.clear();
});

/**
 * A tiny in-isolate cache with single flight: however many requests ask at once, one load runs
 * and they all share its answer; the answer is reused for `ttlMs`. This is what keeps status
 * polls and sold-out claims off the Durable Objects (one hop per isolate per TTL, not one per
 * request). Answers that `isLive` rejects (refusals: an unknown sale) are kept in a store of
 * their own, so they cannot push a live sale out.
 */
export function cached<T>(key: string, ttlMs: number, load: () => Promise<T>, isLive: (v: T) => boolean = () => true): Promise<T> {
  const now = Date.now();
  // A load in flight is newer than anything stored.
  const hit = (loading.get(key) ?? live.get(key) ?? refused.get(key)) as CacheEntry<T> | undefined;
  if (hit && hit.until > now) return hit.value;
  const value = load();
  const entry: CacheEntry<T> = { value, until: now + ttlMs };
  loading.set(key, entry);
  value.then(
    (v) => {
      entry.settled = { v };
      if (loading.get(key) !== entry) return; // replaced or forgotten meanwhile
      loading.delete(key);
      (isLive(v) ? live : refused).set(key, entry);
      (isLive(v) ? refused : live).delete(key);
    },
    // A failed load is not cached: the next request tries again.
    () => loading.get(key) === entry && loading.delete(key),
  );
  return value;
}

/** The cached value if it is loaded and fresh, without loading or waiting: for the hottest paths. */
export function peek<T>(key: string): T | undefined {
  const hit = live.get(key) as CacheEntry<T> | undefined;
  return hit && hit.until > Date.now() ? hit.settled?.v : undefined;
}

/** Replaces a cached value with fresher knowledge (e.g. the object just said "sold out"). */
export function remember<T>(key: string, ttlMs: number, value: T): void {
  loading.delete(key);
  refused.delete(key);
  live.set(key, { value: Promise.resolve(value), until: Date.now() + ttlMs, settled: { v: value } });
}

export function forget(key: string): void {
  live.delete(key);
  refused.delete(key);
  loading.delete(key);
}
