/**
 * A Map that holds at most `max` entries and, when full, drops the one used least recently (a
 * Map iterates in insertion order, so a read moves its key to the back).
 */
export class LruMap<K, V> {
  private readonly m = new Map<K, V>();

  constructor(readonly max: number) {}

  get size(): number {
    return this.m.size;
  }

  /** The value, marked as just used. */
  get(key: K): V | undefined {
    const v = this.m.get(key);
    if (v !== undefined) {
      this.m.delete(key);
      this.m.set(key, v);
    }
    return v;
  }

  set(key: K, value: V): void {
    this.m.delete(key);
    this.m.set(key, value);
    if (this.m.size > this.max) this.m.delete(this.m.keys().next().value as K);
  }

  delete(key: K): boolean {
    return this.m.delete(key);
  }

  clear(): void {
    this.m.clear();
  }
}
