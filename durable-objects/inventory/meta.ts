/**
 * Counters and timers that are not worth a table each (flush backoff, lateness, faults). One
 * table shared by the parts; each part names its own keys (`K`), so no two parts touch one key.
 */
export const META_DDL = [`CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v NUMERIC)`];

export class Meta<K extends string> {
  constructor(private readonly sql: SqlStorage) {}

  get(k: K): number | null {
    return this.sql.exec<{ v: number }>("SELECT v FROM meta WHERE k = ?", k).toArray()[0]?.v ?? null;
  }

  set(k: K, v: number | null): void {
    if (v === null) this.sql.exec("DELETE FROM meta WHERE k = ?", k);
    else this.sql.exec("INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v", k, v);
  }

  bump(k: K, by: number): void {
    this.sql.exec("INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = v + excluded.v", k, by);
  }
}
