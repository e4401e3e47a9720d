import { isolate, type CacheEntry } from "./isolate";
import { now as clockNow } from "../../domain/clock";

/**
 * A tiny in-isolate cache with single flight: however many requests ask at once, one load runs
 * and they all share its answer; the answer is reused for `ttlMs`. This is what keeps status
 * polls and sold-out claims off the Durable Objects (one hop per isolate per TTL, not one per
 * request). Answers that `isLive` rejects (refusals: an unknown sale) are kept in a store of
 * their own, so they cannot push a live sale out.
 */
export function cached<T>(key: string, ttlMs: number, load: () => Promise<T>, isLive: (v: T) => boolean = () => true): Promise<T> {
  const now = clockNow();
  // A load in flight is newer than anything stored.
  const hit = (isolate.loading.get(key) ?? isolate.live.get(key) ?? isolate.refused.get(key)) as CacheEntry<T> | undefined;
  if (hit && hit.until > now) return hit.value;
  const value = load();
  const entry: CacheEntry<T> = { value, until: now + ttlMs };
  isolate.loading.set(key, entry);
  value.then(
    (v) => {
      entry.settled = { v };
      if (isolate.loading.get(key) !== entry) return; // replaced or forgotten meanwhile
      isolate.loading.delete(key);
      (isLive(v) ? isolate.live : isolate.refused).set(key, entry);
      (isLive(v) ? isolate.refused : isolate.live).delete(key);
    },
    // A failed load is not cached: the next request tries again.
    () => isolate.loading.get(key) === entry && isolate.loading.delete(key),
  );
  return value;
}

/** The cached value if it is loaded and fresh, without loading or waiting: for the hottest paths. */
export function peek<T>(key: string): T | undefined {
  const hit = isolate.live.get(key) as CacheEntry<T> | undefined;
  return hit && hit.until > clockNow() ? hit.settled?.v : undefined;
}

/** Replaces a cached value with fresher knowledge (e.g. the object just said "sold out"). */
export function remember<T>(key: string, ttlMs: number, value: T): void {
  isolate.loading.delete(key);
  isolate.refused.delete(key);
  isolate.live.set(key, { value: Promise.resolve(value), until: clockNow() + ttlMs, settled: { v: value } });
}

export function forget(key: string): void {
  isolate.live.delete(key);
  isolate.refused.delete(key);
  isolate.loading.delete(key);
}
