import type { Place } from "../../domain/line";
import type { LatePlaces } from "../../domain/schemas/room";
import type { Version } from "../migrations";

/**
 * Late places: places reported after the watermark had passed them (a report slower than
 * LINE_SLACK_MS). Their tickets compare under the watermark, so without this list they would be
 * admitted at once, outside the unit count. Here they wait for a unit like everyone else, first
 * among those waiting (they arrived before the watermark's place), in the order they were
 * reported; the edge reads the list off the watermark (`LatePlaces`) to answer their polls.
 *
 * One entry per identity (key). An entry leaves once its pass is over; the list is capped, and a
 * late place beyond the cap is admitted at once, as before the list existed (counted in stats).
 */
export const LATE_SCHEMA: Version = [
  `CREATE TABLE late (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, k INTEGER NOT NULL UNIQUE, b INTEGER NOT NULL,
    reported_at INTEGER NOT NULL, admitted_at INTEGER)`,
  `CREATE INDEX late_held ON late (admitted_at, seq)`,
];

/** Entries kept at most (held and admitted within their pass): the watermark carries them all. */
export const LATE_CAP = 1000;

export class LateList {
  constructor(private readonly sql: SqlStorage) {}

  /**
   * Holds `place` back for a unit. Answers "held" (a new entry), "known" (this identity is held
   * already: its first late place stands) or "full" (over the cap: the caller admits it at once).
   */
  add(place: Place, now: number): "held" | "known" | "full" {
    const had = this.sql.exec<{ admitted_at: number | null }>("SELECT admitted_at FROM late WHERE k = ?", place.k).toArray()[0];
    if (had && had.admitted_at === null) return "known";
    // Admitted late before and queued again: the new place replaces the old entry.
    if (had) this.sql.exec("DELETE FROM late WHERE k = ?", place.k);
    else if (this.size() >= LATE_CAP) return "full";
    this.sql.exec("INSERT INTO late (k, b, reported_at) VALUES (?, ?, ?)", place.k, place.b, now);
    return "held";
  }

  /** Whether this identity is held back (waiting for a unit). */
  holds(k: number): boolean {
    return this.sql.exec("SELECT 1 FROM late WHERE k = ? AND admitted_at IS NULL", k).toArray().length > 0;
  }

  /** The held-back places, first reported first. */
  held(): Place[] {
    return this.sql.exec<Place>("SELECT b, k FROM late WHERE admitted_at IS NULL ORDER BY seq").toArray();
  }

  heldCount(): number {
    return this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM late WHERE admitted_at IS NULL").one().n;
  }

  /** Marks these held places admitted at `now` (their pass runs from then). */
  admit(places: readonly Place[], now: number): void {
    for (const { k } of places) this.sql.exec("UPDATE late SET admitted_at = ? WHERE k = ? AND admitted_at IS NULL", now, k);
  }

  /** Drops the entries whose pass is over at `now`: their tickets are over under the watermark too. */
  prune(now: number, passMs: number): void {
    this.sql.exec("DELETE FROM late WHERE admitted_at IS NOT NULL AND admitted_at <= ?", now - passMs);
  }

  /** What the edge needs (the watermark's `late`). */
  forEdge(): LatePlaces {
    const rows = this.sql
      .exec<{ b: number; k: number; admitted_at: number | null }>("SELECT b, k, admitted_at FROM late ORDER BY seq")
      .toArray();
    const out: LatePlaces = { held: [], admitted: [] };
    for (const { b, k, admitted_at } of rows) {
      if (admitted_at === null) out.held.push({ b, k });
      else out.admitted.push({ b, k, at: admitted_at });
    }
    return out;
  }

  private size(): number {
    return this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM late").one().n;
  }
}
