/**
 * A Map that holds at most `max` entries and, when full, drops the one used least recently (a
 * Map iterates in insertion order, so moving a key to the back marks it used).
 *
 * A read moves its key only when it has drifted into the older half (more than `max / 2` writes
 * ago): these caches are read on every edge request, and moving the key on every hit (a delete
 * and a set: three hash look-ups, and holes for the GC) cost more than the read. So an entry stays
 * at least `max / 2` writes after its last use, and one never read again stays `max` writes, as
 * in an exact LRU.
 */
export class LruMap<K, V> {
  private readonly m = new Map<K, { v: V; at: number }>();
  private writes = 0;
  private readonly stale: number;

  constructor(readonly max: number) {
    this.stale = Math.max(1, Math.floor(max / 2));
  }

  /** The value, marked as just used. */
  get(key: K): V | undefined {
    const e = this.m.get(key);
    if (e === undefined) return undefined;
    if (this.writes - e.at >= this.stale) {
      this.m.delete(key);
      e.at = ++this.writes;
      this.m.set(key, e);
    }
    return e.v;
  }

  set(key: K, value: V): void {
    this.m.delete(key);
    this.m.set(key, { v: value, at: ++this.writes });
    if (this.m.size > this.max) this.m.delete(this.m.keys().next().value as K);
  }

  delete(key: K): boolean {
    return this.m.delete(key);
  }

  clear(): void {
    this.m.clear();
  }
}
