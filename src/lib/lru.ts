/**
 * A bounded cache that keeps what was used lately: two generations, each at most half of `max`.
 * Writes go to the young one; when it is full it becomes the old one and the old one is
 * dropped. A read found in the old generation moves the entry to the young one. So an entry
 * stays at least until `max / 2` other entries have been written or moved after its last use,
 * and there are never more than `max`.
 *
 * Not an exact LRU on purpose: these caches are read on every edge request, and an exact one
 * moves the key on every hit (a delete and a set: three hash look-ups, and holes for the GC);
 * here a hit in the young generation is one look-up.
 */
export class LruMap<K, V> {
  private young = new Map<K, V>();
  private old = new Map<K, V>();
  private readonly half: number;

  constructor(readonly max: number) {
    this.half = Math.max(1, Math.floor(max / 2));
  }

  /** The value, marked as just used. */
  get(key: K): V | undefined {
    const v = this.young.get(key);
    if (v !== undefined) return v;
    const was = this.old.get(key);
    if (was !== undefined) {
      this.old.delete(key);
      this.put(key, was);
    }
    return was;
  }

  set(key: K, value: V): void {
    this.old.delete(key);
    this.put(key, value);
  }

  delete(key: K): boolean {
    const a = this.young.delete(key);
    return this.old.delete(key) || a;
  }

  clear(): void {
    this.young.clear();
    this.old.clear();
  }

  private put(key: K, value: V): void {
    this.young.set(key, value);
    if (this.young.size >= this.half) {
      this.old = this.young;
      this.young = new Map();
    }
  }
}
