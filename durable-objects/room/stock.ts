import { now as clockNow } from "../../domain/clock";
import { activeAt, unitsRoom, type Admission } from "../../domain/admission";
import { settings } from "../../domain/config";
import { log } from "../../domain/log";
import { inventory, inventoryShard } from "../../domain/objects";
import type { Claimable, RoomConfig } from "../../domain/schemas/room";

/** How often the room reads the stock while anyone waits (and advances its watermark). */
export const TICK_MS = 250;
/** Units are admitted against a reading of the product objects at most this old (else none are). */
const STOCK_FRESH_MS = 2000;

/** The sale's units as the room last read them from its product objects (summed over shards). */
type Reading = { available: number; held: number; asking: number; used: Map<number, number>; at: number };

/** How many a sale admits per unit left (`admit_per_unit`, 1 unless set). */
export const perUnit = (cfg: RoomConfig | undefined): number => cfg?.admit_per_unit ?? 1;

/**
 * The claimable units, read from the product objects at most once per TICK_MS (never per
 * claim) while anyone waits; in memory only: after a restart nobody is admitted until the first
 * reading, a tick later.
 */
export class RoomStock {
  private last: Reading | null = null;
  private reading: Promise<void> | null = null;
  private readAt = 0;

  /** `counted(n)`: n product objects are asked (the room's `stock_reads`). */
  constructor(
    private readonly env: Env,
    private readonly counted: (n: number) => void,
  ) {}

  /** The last reading, if any. */
  get latest(): Readonly<Reading> | null {
    return this.last;
  }

  /** Whether a tick has passed since the last reading began. */
  due(now: number): boolean {
    return now - this.readAt >= TICK_MS;
  }

  /** The last reading counts as old: the next read goes at once (the sale changed: a restock, a new setting). */
  expire(): void {
    this.readAt = 0;
  }

  /**
   * Reads every product object's claimable units (one call each; a reading in flight is shared),
   * at most once per TICK_MS: O(shards × ticks), whatever the number of claims.
   */
  read(cfg: RoomConfig): Promise<void> {
    if (this.reading) return this.reading;
    if (!this.due(clockNow())) return Promise.resolve();
    this.readAt = clockNow();
    const id = cfg.sale_id;
    const n = cfg.shards ?? 1;
    this.counted(n);
    this.reading = Promise.all(
      Array.from({ length: n }, (_, i) => (i === 0 ? inventory(this.env, id) : inventoryShard(this.env, id, i)).claimable()),
    )
      .then((rs) => {
        // Fresh from when it arrived: a slow answer (a busy object) is still as new as its last shard's.
        const sum: Reading = { available: 0, held: 0, asking: 0, used: new Map(), at: clockNow() };
        for (const r of rs) {
          if (!r.ok) throw new Error(`${r.error}: ${r.message}`);
          const c = r.value as Claimable;
          sum.available += c.available;
          sum.held += c.held;
          sum.asking += c.asking;
          for (const [turn, k] of c.used) sum.used.set(turn, (sum.used.get(turn) ?? 0) + k);
        }
        this.last = sum;
      })
      .catch((e) => log("warn", "room_stock_unread", { sale: id, error: String(e) }, settings(this.env).LOG_LEVEL))
      .finally(() => (this.reading = null));
    return this.reading;
  }

  /** Turns used whose pass has not ended at `now` (from the last reading). */
  usedAt(now: number): number {
    let n = 0;
    for (const [turn, k] of this.last?.used ?? []) if (turn > now) n += k;
    return n;
  }

  /**
   * How many more may be admitted for the units left (domain/admission.ts `unitsRoom`): none
   * without a fresh reading.
   */
  unitsLeft(cfg: RoomConfig, admission: Admission, now: number): number {
    // A waitlist sale keeps its own order for units that come back (its waitlist): admission is a turn there.
    if (cfg.release_policy === "waitlist") return Number.MAX_SAFE_INTEGER;
    if (!this.last || now - this.last.at > STOCK_FRESH_MS) return 0;
    const active = activeAt(admission, now, cfg.pass_ttl_s * 1000);
    return unitsRoom(perUnit(cfg), this.last.available, active, this.usedAt(now));
  }

  /** No unit can come back: none available, none on its way between shards, no hold open that could end unpaid. */
  soldOut(cfg: RoomConfig): boolean {
    const s = this.last;
    if (!s || cfg.release_policy === "waitlist") return false;
    return s.available === 0 && s.asking === 0 && (s.held === 0 || cfg.release_policy === "undersell");
  }
}
