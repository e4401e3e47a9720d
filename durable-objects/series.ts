import { now as clockNow } from "../domain/clock";
import { SERIES_KEEP_S, type Columns, type SeriesField } from "../domain/schemas/series";

/** What the hot paths are given: both only touch memory. */
export interface SeriesSink {
  /** Adds counts to the current second. */
  add(now: number, counts: Partial<Record<SeriesField, number>>): void;
  /** Keeps the highest value seen in the current second of each gauge. */
  peak(now: number, gauges: Partial<Record<SeriesField, number>>): void;
}

export type SeriesOptions = {
  /** Its table (one per object; the name is not user input). */
  table: string;
  /** Gauges read when a second is written (stock, backlog, …): taken once per written second. */
  sample?: () => Partial<Record<SeriesField, number>>;
  /** Where a failed write is reported (the counts of that second are dropped). */
  warn?: (event: string, fields: Record<string, unknown>) => void;
  keepS?: number;
};

/** The table a series is kept in: a step of its object's schema (migrations.ts). */
export const seriesTable = (table: string) =>
  `CREATE TABLE IF NOT EXISTS ${table} (slot INTEGER PRIMARY KEY, t INTEGER NOT NULL, v TEXT NOT NULL)`;

/** Seconds still in memory at most (a writer that keeps failing drops the oldest). */
const MAX_PENDING = 10;

/**
 * A small per-second history an object keeps for its operators' charts. Counting costs the
 * caller nothing but memory: `add` and `peak` fill the current second's bucket, and a timer
 * writes the finished seconds at most once a second, in a statement of their own, outside any
 * caller's transaction (a claim never waits for it, and a failed write never fails a claim: it
 * is logged and that second is lost, like a lost edge counter).
 *
 * The table is a ring: a row's slot is its second modulo `keepS`, so it never holds more than
 * `keepS` rows (3,600 by default, an hour) and needs no clean-up. A second with nothing to
 * count has no row. An object that is evicted loses the second it had not written yet.
 */
export class Series implements SeriesSink {
  private readonly keepS: number;
  private readonly pending = new Map<number, Record<string, number>>();
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly sql: SqlStorage,
    private readonly o: SeriesOptions,
  ) {
    this.keepS = o.keepS ?? SERIES_KEEP_S;
  }

  add(now: number, counts: Partial<Record<SeriesField, number>>): void {
    const b = this.bucket(now);
    for (const k in counts) {
      const n = counts[k as SeriesField];
      if (n) b[k] = (b[k] ?? 0) + n;
    }
  }

  peak(now: number, gauges: Partial<Record<SeriesField, number>>): void {
    const b = this.bucket(now);
    for (const k in gauges) {
      const n = gauges[k as SeriesField];
      if (n !== undefined && !(b[k]! >= n)) b[k] = n;
    }
  }

  /** Rows after `sinceS` (epoch seconds) within the kept hour, written and pending, as columns. */
  read(now: number, sinceS = 0): Columns {
    const nowS = Math.floor(now / 1000);
    const from = Math.max(sinceS, nowS - this.keepS);
    const rows = new Map<number, Record<string, number>>();
    for (const r of this.sql.exec<{ t: number; v: string }>(`SELECT t, v FROM ${this.o.table} WHERE t > ? ORDER BY t`, from)) {
      rows.set(r.t, JSON.parse(r.v) as Record<string, number>);
    }
    for (const [t, v] of this.pending) if (t > from) rows.set(t, { ...rows.get(t), ...v });
    const t = [...rows.keys()].sort((a, b) => a - b);
    const values: Record<string, (number | null)[]> = {};
    t.forEach((s, i) => {
      for (const [k, v] of Object.entries(rows.get(s)!)) (values[k] ??= new Array<number | null>(t.length).fill(null))[i] = v;
    });
    return { t, values: values as Columns["values"] };
  }

  /** Writes every finished second now (the timer does this by itself; tests and shutdowns may call it). */
  flush(now = clockNow()): void {
    this.timer = undefined;
    const nowS = Math.floor(now / 1000);
    const done = [...this.pending.keys()].filter((t) => t < nowS).sort((a, b) => a - b);
    if (done.length > 0) {
      const last = done.at(-1)!;
      try {
        const sampled = this.o.sample?.() ?? {};
        for (const t of done) {
          const v = t === last ? { ...this.pending.get(t), ...sampled } : this.pending.get(t);
          this.sql.exec(
            `INSERT INTO ${this.o.table} (slot, t, v) VALUES (?, ?, ?) ON CONFLICT (slot) DO UPDATE SET t = excluded.t, v = excluded.v`,
            t % this.keepS,
            t,
            JSON.stringify(v),
          );
        }
      } catch (e) {
        this.o.warn?.("series_write_failed", { table: this.o.table, seconds: done.length, error: String(e) });
      }
      for (const t of done) this.pending.delete(t);
    }
    if (this.pending.size > 0) this.arm(now);
  }

  private bucket(now: number): Record<string, number> {
    const t = Math.floor(now / 1000);
    let b = this.pending.get(t);
    if (!b) {
      b = {};
      this.pending.set(t, b);
      if (this.pending.size > MAX_PENDING) this.pending.delete(Math.min(...this.pending.keys()));
      this.arm(now);
    }
    return b;
  }

  /** One timer at a time, set for just after the current second ends. */
  private arm(now: number): void {
    if (this.timer !== undefined) return;
    this.timer = setTimeout(() => this.flush(), 1000 - (now % 1000) + 5);
  }
}
