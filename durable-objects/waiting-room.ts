import { DurableObject } from "cloudflare:workers";
import { ok, refuse, type Result } from "../domain/result";
import { settings } from "../domain/config";
import { log } from "../domain/log";
import { TOKEN_TTL_S } from "../domain/schemas/tokens";
import { COUNTERS, type Counts, type RoomConfig, type Watermark } from "../domain/schemas/room";
import { advance, activeAt, initialAdmission, type Admission, type Limits } from "../domain/admission";
import type { Columns } from "../domain/schemas/series";
import { Series } from "./series";

/** How often the room advances its watermark while anyone waits (tokens are capped at 1 s). */
const TICK_MS = 250;
/** Admitted shoppers count as active for as long as their pass lasts. */
const ACTIVE_MS = TOKEN_TTL_S.pass * 1000;

export type Place = { seq: number; rank: number | null; created: boolean; watermark: Watermark };

/**
 * The waiting room of one sale. It hands out places in line (one per shopper, kept across
 * re-queues), shuffles the pre-queue when the sale opens (arrivals before the start are a fair
 * lottery, later arrivals first come, first served), and advances the admission watermark at
 * `admission_rate` within `max_active` (src/waiting-room/admission.ts). Solved proof-of-work
 * challenges are recorded here so each is accepted once. Polls do not come here: the edge
 * answers them from the signed ticket and a cached watermark.
 */
export class WaitingRoom extends DurableObject<Env> {
  private readonly sql = this.ctx.storage.sql;
  /** Calls from the edge (since this instance started): polls should not show up here. */
  private readonly served = { joins: 0, places: 0, watermarks: 0 };
  /** The operators' per-second history (series.ts): joins, admissions, the edge's counters. */
  private readonly series: Series;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql.exec(`CREATE TABLE IF NOT EXISTS room (
      id INTEGER PRIMARY KEY CHECK (id = 1), config TEXT NOT NULL, opened INTEGER NOT NULL,
      next_seq INTEGER NOT NULL, ranked INTEGER NOT NULL, admission TEXT NOT NULL)`);
    // rank is NULL for pre-queue arrivals until the sale opens and the pre-queue is shuffled.
    this.sql.exec(`CREATE TABLE IF NOT EXISTS line (
      user_id TEXT PRIMARY KEY, seq INTEGER NOT NULL UNIQUE, rank INTEGER UNIQUE, arrived_at INTEGER NOT NULL)`);
    this.sql.exec(`CREATE TABLE IF NOT EXISTS used_challenges (nonce TEXT PRIMARY KEY, expires_at INTEGER NOT NULL)`);
    this.sql.exec(`CREATE INDEX IF NOT EXISTS used_challenges_exp ON used_challenges (expires_at)`);
    this.sql.exec(`CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, n INTEGER NOT NULL)`);
    this.series = new Series(this.sql, {
      table: "series",
      warn: (event, fields) => log("warn", event, fields, settings(env).LOG_LEVEL),
      sample: () => {
        const { waiting, active } = this.stats();
        return { waiting, active };
      },
    });
  }

  /** Creates or updates the room's settings; rate and max_active apply from the next tick. */
  async configure(cfg: RoomConfig): Promise<void> {
    const now = Date.now();
    const row = this.row();
    this.ctx.storage.transactionSync(() => {
      if (row) {
        // Settle the old rate up to now before the new one applies.
        const a = advance(row.admission, now, row.ranked, this.limits(row.cfg));
        this.sql.exec("UPDATE room SET config = ?, admission = ? WHERE id = 1", JSON.stringify(cfg), JSON.stringify(a));
      } else {
        this.sql.exec(
          "INSERT INTO room (id, config, opened, next_seq, ranked, admission) VALUES (1, ?, 0, 1, 0, ?)",
          JSON.stringify(cfg), JSON.stringify(initialAdmission(now)),
        );
      }
    });
    await this.schedule(now);
  }

  /**
   * A place in line for `user`, spending the solved challenge `nonce` (refused if it was already
   * spent). A shopper who queues again keeps the place they had.
   */
  async join(user: string, nonce: string, nonceExpiresAt: number): Promise<Result<Place>> {
    this.served.joins++;
    const now = Date.now();
    let row = this.row();
    if (!row) return refuse("not_found", "this sale has no waiting room (was it created with POST /admin/sales?)");
    if (now >= row.cfg.ends_at) return refuse("sale_closed", "the sale has ended");
    const r = this.ctx.storage.transactionSync((): Result<Omit<Place, "watermark">> => {
      const spent = this.sql.exec("SELECT 1 FROM used_challenges WHERE nonce = ?", nonce).toArray().length > 0;
      if (spent) return refuse("pow_failed", "this challenge was already used: ask for a new one (POST /api/sales/:id/challenge)");
      this.sql.exec("INSERT INTO used_challenges (nonce, expires_at) VALUES (?, ?)", nonce, nonceExpiresAt);
      row = this.openIfDue(row!, now);
      const existing = this.sql.exec<{ seq: number; rank: number | null }>("SELECT seq, rank FROM line WHERE user_id = ?", user).toArray()[0];
      if (existing) return ok({ ...existing, created: false });
      const seq = row.next_seq;
      const rank = row.opened ? row.ranked + 1 : null;
      this.sql.exec("INSERT INTO line (user_id, seq, rank, arrived_at) VALUES (?, ?, ?, ?)", user, seq, rank, now);
      this.sql.exec("UPDATE room SET next_seq = next_seq + 1, ranked = ranked + ? WHERE id = 1", rank ? 1 : 0);
      this.bump({ queued: 1 });
      return ok({ seq, rank, created: true });
    });
    await this.schedule(now);
    // With the current watermark, so a shopper admitted at once learns it without waiting.
    return r.ok ? ok({ ...r.value, watermark: this.current() }) : r;
  }

  /** The rank of a shopper who queued before the start, once the pre-queue has been shuffled. */
  async place(user: string): Promise<Result<{ seq: number; rank: number | null }>> {
    this.served.places++;
    const now = Date.now();
    const row = this.row();
    if (!row) return refuse("not_found", "this sale has no waiting room");
    if (!row.opened && now >= row.cfg.starts_at) {
      this.ctx.storage.transactionSync(() => this.openIfDue(row, now));
      await this.schedule(now);
    }
    const p = this.sql.exec<{ seq: number; rank: number | null }>("SELECT seq, rank FROM line WHERE user_id = ?", user).toArray()[0];
    return p ? ok(p) : refuse("not_found", "you are not in this line: queue again");
  }

  /** The current watermark (advanced to now); what the edge caches for about a second. */
  watermark(): Watermark {
    this.served.watermarks++;
    return this.current();
  }

  private current(): Watermark {
    const now = Date.now();
    let row = this.row();
    if (!row) {
      return { configured: false, opened: false, starts_at: 0, upto: 0, ranked: 0, prequeued: 0, rate: 0, max_active: 0, active: 0, at: now };
    }
    row = this.ctx.storage.transactionSync(() => this.tick(this.openIfDue(row!, now), now));
    const prequeued = row.opened ? 0 : row.next_seq - 1;
    return {
      configured: true,
      opened: row.opened,
      starts_at: row.cfg.starts_at,
      upto: row.admission.upto,
      ranked: row.ranked,
      prequeued,
      rate: row.cfg.admission_rate,
      max_active: row.cfg.max_active,
      active: activeAt(row.admission, now, ACTIVE_MS),
      at: now,
    };
  }

  /** Adds the edge's counters (aggregated per isolate, flushed about once a second). */
  count(deltas: Counts): void {
    this.bump(deltas);
  }

  /** The per-second history after `sinceS` (epoch seconds), within the last hour. */
  history(sinceS?: number): Columns {
    return this.series.read(Date.now(), sinceS);
  }

  stats() {
    const w = this.current();
    const counters = Object.fromEntries(COUNTERS.map((c) => [c, 0])) as Record<(typeof COUNTERS)[number], number>;
    for (const { name, n } of this.sql.exec<{ name: string; n: number }>("SELECT name, n FROM counters")) {
      if (name in counters) counters[name as keyof typeof counters] = n;
    }
    return {
      in_line: w.ranked + w.prequeued,
      waiting: w.ranked - w.upto + w.prequeued,
      admitted: w.upto,
      active: w.active,
      opened: w.opened,
      admission_rate: w.rate,
      max_active: w.max_active,
      counters,
      served: { ...this.served },
    };
  }

  override async alarm(): Promise<void> {
    const now = Date.now();
    const row = this.row();
    if (!row) return;
    this.ctx.storage.transactionSync(() => {
      this.tick(this.openIfDue(row, now), now);
      this.sql.exec("DELETE FROM used_challenges WHERE expires_at < ?", now);
    });
    await this.schedule(now);
  }

  // ---------------------------------------------------------------- internals

  private row() {
    const r = this.sql.exec<{ config: string; opened: number; next_seq: number; ranked: number; admission: string }>("SELECT * FROM room WHERE id = 1").toArray()[0];
    if (!r) return null;
    return { cfg: JSON.parse(r.config) as RoomConfig, opened: r.opened === 1, next_seq: r.next_seq, ranked: r.ranked, admission: JSON.parse(r.admission) as Admission };
  }

  private limits(cfg: RoomConfig): Limits {
    return { rate: cfg.admission_rate, max_active: cfg.max_active, active_ms: ACTIVE_MS };
  }

  /** At the start, ranks the pre-queue in a random order (a fair lottery). Runs once. */
  private openIfDue(row: NonNullable<ReturnType<WaitingRoom["row"]>>, now: number) {
    if (row.opened || now < row.cfg.starts_at) return row;
    const users = this.sql.exec<{ user_id: string }>("SELECT user_id FROM line WHERE rank IS NULL ORDER BY seq").toArray().map((u) => u.user_id);
    shuffle(users);
    users.forEach((u, i) => this.sql.exec("UPDATE line SET rank = ? WHERE user_id = ?", row.ranked + i + 1, u));
    this.sql.exec("UPDATE room SET opened = 1, ranked = ranked + ? WHERE id = 1", users.length);
    log("info", "room_opened", { sale: row.cfg.sale_id, prequeue: users.length }, settings(this.env).LOG_LEVEL);
    return { ...row, opened: true, ranked: row.ranked + users.length };
  }

  private tick(row: NonNullable<ReturnType<WaitingRoom["row"]>>, now: number) {
    const a = advance(row.admission, now, row.ranked, this.limits(row.cfg));
    if (a.upto === row.admission.upto && a.tokens === row.admission.tokens) return row;
    this.series.add(now, { admitted: a.upto - row.admission.upto });
    this.sql.exec("UPDATE room SET admission = ? WHERE id = 1", JSON.stringify(a));
    return { ...row, admission: a };
  }

  /** Next alarm: the opening, or the next tick while anyone waits. */
  private async schedule(now: number): Promise<void> {
    const row = this.row();
    if (!row) return;
    let at: number | null = null;
    if (!row.opened) at = row.cfg.starts_at;
    else if (row.ranked > row.admission.upto) at = now + TICK_MS;
    if (at === null) return;
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > at || current < now) await this.ctx.storage.setAlarm(at);
  }

  private bump(deltas: Counts): void {
    this.series.add(Date.now(), deltas);
    for (const [name, n] of Object.entries(deltas)) {
      if (n) this.sql.exec("INSERT INTO counters (name, n) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET n = n + excluded.n", name, n);
    }
  }
}

/** Fisher–Yates with the platform's CSPRNG: the pre-queue lottery must not be predictable. */
function shuffle<T>(xs: T[]): void {
  const r = new Uint32Array(1);
  for (let i = xs.length - 1; i > 0; i--) {
    crypto.getRandomValues(r);
    const j = r[0]! % (i + 1);
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
}
