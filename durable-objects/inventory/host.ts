import type { SeriesSink } from "../series";

/**
 * What a part of the product object gets from the object: its storage, the one alarm and the
 * log, never the whole class (the habit of the agents SDK's capabilities: each sees a narrow slice
 * of its host). A part that needs another part is given only the methods it calls.
 *
 * The object owns the one alarm. A part says `want(t)` inside its transaction; the object sets
 * the alarm once the call that committed it is done (`armAlarm`), and after every alarm run it
 * asks each part for its next time (`Scheduled.nextAlarm`).
 */
export interface Host {
  readonly sql: SqlStorage;
  /** The time (domain/clock.ts): every part reads it here, so tests that move the clock move them all. */
  now(): number;
  transactionSync<T>(fn: () => T): T;
  /** The alarm must run by `t` (recorded now, set by the next `armAlarm`). */
  want(t: number): void;
  /** Sets the alarm if something wanted it earlier than it is set (after a transaction). */
  armAlarm(): void;
  log(level: "info" | "warn" | "error", event: string, fields: Record<string, unknown>): void;
  /** The operators' per-second history: counts and gauges kept in memory, written once a second. */
  series: SeriesSink;
}

/** A part with timed work: when the alarm should next run for it (null: nothing to do). */
export interface Scheduled {
  nextAlarm(): number | null;
}

/** Times leave the object (answers, D1 records, stats) as ISO strings. */
export const iso = (ms: number) => new Date(ms).toISOString();

/** The earliest of some times, or null if there are none. */
export function earliest(...times: (number | null)[]): number | null {
  let t: number | null = null;
  for (const x of times) if (x !== null && (t === null || x < t)) t = x;
  return t;
}

/** `SELECT <k>, <n> ... GROUP BY` as a record (for stats). */
export function countBy(sql: SqlStorage, query: string): Record<string, number> {
  return Object.fromEntries(
    sql
      .exec<{ k: string; n: number }>(query)
      .toArray()
      .map((r) => [r.k, r.n]),
  );
}
