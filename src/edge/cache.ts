/**
 * A tiny in-isolate cache with single flight: however many requests ask at once, one load runs
 * and they all share its answer; the answer is reused for `ttlMs`. This is what keeps status
 * polls and sold-out claims off the Durable Objects (one hop per isolate per TTL, not one per
 * request).
 */
type Entry<T> = { value: Promise<T>; until: number; settled?: { v: T } };
const entries = new Map<string, Entry<unknown>>();
const MAX_ENTRIES = 1000;

export function cached<T>(key: string, ttlMs: number, load: () => Promise<T>): Promise<T> {
  const now = Date.now();
  const hit = entries.get(key) as Entry<T> | undefined;
  if (hit && hit.until > now) return hit.value;
  if (entries.size >= MAX_ENTRIES) entries.clear();
  const value = load();
  const entry: Entry<T> = { value, until: now + ttlMs };
  entries.set(key, entry);
  // A failed load is not cached: the next request tries again.
  value.then(
    (v) => (entry.settled = { v }),
    () => entries.get(key) === entry && entries.delete(key),
  );
  return value;
}

/** The cached value if it is loaded and fresh, without loading or waiting: for the hottest paths. */
export function peek<T>(key: string): T | undefined {
  const hit = entries.get(key) as Entry<T> | undefined;
  return hit && hit.until > Date.now() ? hit.settled?.v : undefined;
}

/** Replaces a cached value with fresher knowledge (e.g. the object just said "sold out"). */
export function remember<T>(key: string, ttlMs: number, value: T): void {
  entries.set(key, { value: Promise.resolve(value), until: Date.now() + ttlMs, settled: { v: value } });
}

export function forget(key: string): void {
  entries.delete(key);
}
