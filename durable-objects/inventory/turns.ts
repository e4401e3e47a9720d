import type { Step } from "../migrations";

/**
 * Turns used: an admitted shopper's turn (their pass, named by the instant it ends) carries one
 * unit. The first hold an identity makes under a turn uses it; the waiting room reads how many
 * turns are used (`open`, once per tick for all claims together) to know how many units are
 * still promised to shoppers who have not claimed yet. A turn stays used when its hold ends
 * unpaid: the unit is back in `available` with no turn waiting for it, so the room admits the
 * next place in line for it, and the same pass makes no second hold (claims.ts): a lost answer,
 * a decline or a cancel sends the shopper to queue again, not into a race with the next place.
 *
 * One row per (turn, identity) that made a hold, keyed for the room's range read. Rows older than
 * an hour are dropped.
 */
export const TURNS_DDL: Step[] = [
  `CREATE TABLE IF NOT EXISTS turns (turn INTEGER NOT NULL, who TEXT NOT NULL, PRIMARY KEY (turn, who)) WITHOUT ROWID`,
];

const KEEP_MS = 3600_000;

export class Turns {
  private prunedAt = 0;

  constructor(private readonly sql: SqlStorage) {}

  /**
   * `who` makes a hold under the turn ending at `turn` (inside the claim's transaction): true if
   * this is its first, false if the turn was already used (nothing is written then).
   */
  use(turn: number, who: string): boolean {
    return this.sql.exec("INSERT OR IGNORE INTO turns (turn, who) VALUES (?, ?)", turn, who).rowsWritten > 0;
  }

  /** Turns used whose pass has not ended at `now`: `[turn, identities]`, by turn. */
  open(now: number): [number, number][] {
    if (now - this.prunedAt > 60_000) {
      this.prunedAt = now;
      this.sql.exec("DELETE FROM turns WHERE turn < ?", now - KEEP_MS);
    }
    return this.sql
      .exec<{ turn: number; n: number }>("SELECT turn, COUNT(*) AS n FROM turns WHERE turn > ? GROUP BY turn", now)
      .toArray()
      .map(({ turn, n }) => [turn, n]);
  }
}
