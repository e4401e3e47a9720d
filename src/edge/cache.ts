/**
 * A tiny in-isolate cache with single flight: however many requests ask at once, one load runs
 * and they all share its answer; the answer is reused for `ttlMs`. This is what keeps status
 * polls and sold-out claims off the Durable Objects (one hop per isolate per TTL, not one per
 * request).
 */
type Entry<T> = { value: Promise<T>; until: number };
const entries = new Map<string, Entry<unknown>>();
const MAX_ENTRIES = 1000;

export function cached<T>(key: string, ttlMs: number, load: () => Promise<T>): Promise<T> {
  const now = Date.now();
  const hit = entries.get(key) as Entry<T> | undefined;
  if (hit && hit.until > now) return hit.value;
  if (entries.size >= MAX_ENTRIES) entries.clear();
  const value = load();
  entries.set(key, { value, until: now + ttlMs });
  // A failed load is not cached: the next request tries again.
  value.catch(() => entries.get(key)?.value === value && entries.delete(key));
  return value;
}

/** Replaces a cached value with fresher knowledge (e.g. the object just said "sold out"). */
export function remember<T>(key: string, ttlMs: number, value: T): void {
  entries.set(key, { value: Promise.resolve(value), until: Date.now() + ttlMs });
}

export function forget(key: string): void {
  entries.delete(key);
}
