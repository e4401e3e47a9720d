import { DurableObject } from "cloudflare:workers";
import { now as clockNow, fromPlatform, onPlatform } from "../domain/clock";
import { activeAt, admitHeld, advance, admitLate, initialAdmission, type Admission, type Limits } from "../domain/admission";
import { settings } from "../domain/config";
import { randomHex } from "../domain/ids";
import { BUCKET_MS, comparePlaces, sealedBucket, type Place, type Waiting } from "../domain/line";
import { log } from "../domain/log";
import { COUNTERS, type Counts, type RoomConfig, type RoomStats, type Watermark } from "../domain/schemas/room";
import { unconfiguredWatermark } from "../domain/schemas/room";
import type { Columns } from "../domain/schemas/series";
import { migrate, type Version } from "./migrations";
import { LATE_SCHEMA, LateList } from "./room/late";
import { perUnit, RoomStock, TICK_MS } from "./room/stock";
import { Series, seriesTable } from "./series";

/** The waiting list the edge caches is cut into at most this many runs of buckets. */
const WAITING_RUNS = 200;
/** The arrival curve in the stats: the last ten minutes, per second. */
const CURVE_S = 600;
/** Once no unit can come back, the room reads the stock this seldom (a restock also tells it at once). */
const SOLD_OUT_TICK_MS = 5000;

type Row = { cfg: RoomConfig; admission: Admission; upto: Place | null; salt: string; queued: number; opened: boolean };
const BEFORE_ALL: Place = { b: -1, k: -1 };

/**
 * The waiting room of one sale. Shoppers do not come here: the edge hands out places in line
 * (domain/line.ts) and reports the arrivals in batches, once a second per isolate (`report`);
 * polls are answered at the edge from the watermark it caches (`watermark`). So the room sees
 * O(isolates × seconds) calls, whatever the crowd.
 *
 * The room keeps one entry per identity waiting (at the identity's newest place: joining again
 * without the ticket is joining at the back) and advances the watermark over them in place order, `admission_rate` per
 * second within `max_active` (domain/admission.ts), serving an arrival bucket only once every
 * isolate has reported it (`sealedBucket`). The pre-queue (bucket 0) is served in key order: a
 * lottery with one ticket per identity, drawn by the keys.
 */
/** The room's storage, version by version (migrations.ts): version 1 is the schema as it stood when versions began. */
const ROOM_SCHEMA: readonly Version[] = [
  [
    `CREATE TABLE IF NOT EXISTS room (
      id INTEGER PRIMARY KEY CHECK (id = 1), config TEXT NOT NULL, admission TEXT NOT NULL,
      upto_b INTEGER, upto_k INTEGER, salt TEXT NOT NULL, queued INTEGER NOT NULL, opened INTEGER NOT NULL)`,
    // One row per place taken; the order of service is (b, k). At most one per key is waiting.
    `CREATE TABLE IF NOT EXISTS line (
      seq INTEGER PRIMARY KEY AUTOINCREMENT, b INTEGER NOT NULL, k INTEGER NOT NULL, at INTEGER NOT NULL)`,
    `CREATE INDEX IF NOT EXISTS line_order ON line (b, k)`,
    `CREATE INDEX IF NOT EXISTS line_key ON line (k, b)`,
    // Places taken per arrival bucket: positions, ETAs and the arrival curve, without a scan.
    `CREATE TABLE IF NOT EXISTS buckets (b INTEGER PRIMARY KEY, n INTEGER NOT NULL)`,
    `CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, n INTEGER NOT NULL)`,
    seriesTable("series"),
  ],
  LATE_SCHEMA,
];

export class WaitingRoom extends DurableObject<Env> {
  private readonly sql = this.ctx.storage.sql;
  /** Calls from the edge since this instance started: one per isolate per second, not per shopper. */
  private readonly served = { reports: 0, reported_places: 0, watermarks: 0, late: 0, late_over_cap: 0, stock_reads: 0 };
  /** Late places waiting for a unit (room/late.ts). */
  private readonly late = new LateList(this.sql);
  /** The claimable units (room/stock.ts), read at most once per tick while anyone waits. */
  private readonly stock = new RoomStock(this.env, (n) => (this.served.stock_reads += n));
  /** The operators' per-second history (series.ts): places taken, admissions, the edge's counters. */
  private readonly series: Series;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    migrate(ctx.storage, ROOM_SCHEMA);
    this.series = new Series(this.sql, {
      table: "series",
      warn: (event, fields) => log("warn", event, fields, settings(env).LOG_LEVEL),
      sample: () => {
        const { waiting, active } = this.stats();
        return { waiting, active };
      },
    });
  }

  /** Creates or updates the room's settings; rate and limits apply from the next tick. */
  async configure(cfg: RoomConfig): Promise<void> {
    const now = clockNow();
    const row = this.row();
    this.ctx.storage.transactionSync(() => {
      if (row) {
        // Settle the old rate up to now before the new one applies.
        const a = advance(row.admission, now, row.admission.upto, this.limits(row.cfg));
        this.sql.exec("UPDATE room SET config = ?, admission = ? WHERE id = 1", JSON.stringify(cfg), JSON.stringify(a));
      } else {
        this.sql.exec(
          "INSERT INTO room (id, config, admission, salt, queued, opened) VALUES (1, ?, ?, ?, 0, 0)",
          JSON.stringify(cfg),
          JSON.stringify(initialAdmission(now)),
          randomHex(16),
        );
      }
    });
    // A change (a restock tells the room through here too) may bring units back: read them again.
    this.stock.expire();
    if (row) await this.stock.read(cfg);
    await this.schedule(now);
  }

  /**
   * Arrivals handed over by an isolate (places it gave out since its last report) and its
   * counters. One place per identity: a key already waiting moves to its newest place, and a
   * repeated report, a re-join or a replayed proof of work adds nobody. Answers the watermark,
   * so the isolate learns at once.
   */
  async report(arrivals: Place[], counts: Counts = {}): Promise<Watermark> {
    this.served.reports++;
    this.served.reported_places += arrivals.length;
    const now = clockNow();
    const row = this.row();
    if (!row) return unconfiguredWatermark(now);
    this.ctx.storage.transactionSync(() => {
      const upto = row.upto ?? BEFORE_ALL;
      let added = 0;
      let late = 0;
      let overCap = 0;
      for (const place of arrivals) {
        const { b, k } = place;
        // Held back for a unit already: its first late place stands (first in line), whatever it reports since.
        if (this.late.holds(k)) continue;
        // This identity's latest place, if it has one.
        const latest = this.sql
          .exec<{ seq: number; b: number }>("SELECT seq, b FROM line WHERE k = ? ORDER BY b DESC LIMIT 1", k)
          .toArray()[0];
        if (latest && comparePlaces({ b: latest.b, k }, upto) > 0) {
          // Still waiting: the same identity joined again without its ticket (which would have
          // kept its place), so its place is the new one, at the back; an older report (a
          // repeated delivery) changes nothing. The newest ticket is always the one served.
          if (b > latest.b) {
            this.sql.exec("UPDATE line SET b = ? WHERE seq = ?", b, latest.seq);
            this.bucket(latest.b, -1);
            this.bucket(b, 1);
          }
          continue;
        }
        // Admitted before: only a later arrival is a new place (queueing again at the back); the
        // same one reported twice, or an older one, is not.
        if (latest && b <= latest.b) continue;
        this.sql.exec("INSERT INTO line (b, k, at) VALUES (?, ?, ?)", b, k, now);
        this.bucket(b, 1);
        added++;
        // Reported after the watermark passed it: held back for a unit, admitted first (tick);
        // beyond the list's cap, admitted at once and counted now, as before the list.
        if (comparePlaces(place, upto) <= 0) {
          late++;
          if (this.late.add(place, now) === "full") overCap++;
        }
      }
      if (added) this.sql.exec("UPDATE room SET queued = queued + ? WHERE id = 1", added);
      this.served.late += late;
      if (overCap) {
        this.served.late_over_cap += overCap;
        const a = admitLate(row.admission, now, overCap, this.limits(row.cfg));
        this.series.add(now, { admitted: overCap });
        this.sql.exec("UPDATE room SET admission = ? WHERE id = 1", JSON.stringify(a));
      }
      this.bump({ ...counts, queued: (counts.queued ?? 0) + added });
    });
    this.readSoon(now);
    await this.schedule(now);
    return this.current();
  }

  /** Adds the edge's counters (aggregated per isolate, handed over about once a second). */
  count(deltas: Counts): void {
    this.bump(deltas);
  }

  /** The per-second history after `sinceS` (epoch seconds), within the last hour. */
  history(sinceS?: number): Columns {
    return this.series.read(clockNow(), sinceS);
  }

  /** The current watermark (advanced to now); what the edge caches for about a second. */
  watermark(): Watermark {
    this.served.watermarks++;
    this.readSoon(clockNow());
    return this.current();
  }

  stats(): RoomStats {
    const w = this.current();
    const counters = Object.fromEntries(COUNTERS.map((c) => [c, 0])) as RoomStats["counters"];
    for (const { name, n } of this.sql.exec<{ name: string; n: number }>("SELECT name, n FROM counters")) {
      if (name in counters) counters[name as keyof typeof counters] = n;
    }
    const prequeued = this.sql.exec<{ n: number | null }>("SELECT n FROM buckets WHERE b = 0").toArray()[0]?.n ?? 0;
    // Arrivals per second since the opening (bucket b arrived in second floor((b-1)·BUCKET_MS/1000)).
    const perS = 1000 / BUCKET_MS;
    const curve = this.sql
      .exec<{ s: number; n: number }>(
        "SELECT (b - 1) / ? AS s, SUM(n) AS n FROM buckets WHERE b > 0 GROUP BY s ORDER BY s DESC LIMIT ?",
        perS,
        CURVE_S,
      )
      .toArray()
      .reverse();
    return {
      in_line: w.queued,
      waiting: Math.max(0, w.queued - w.admitted),
      admitted: w.admitted,
      active: w.active,
      opened: w.configured && clockNow() >= w.starts_at,
      admission_rate: w.rate,
      max_active: w.max_active,
      admit_per_unit: perUnit(this.row()?.cfg),
      claimable: {
        available: this.stock.latest?.available ?? 0,
        held: this.stock.latest?.held ?? 0,
        outstanding: Math.max(0, w.active - this.stock.usedAt(clockNow())),
        sold_out: w.sold_out,
        read_at: this.stock.latest ? new Date(this.stock.latest.at).toISOString() : null,
      },
      counters,
      prequeued,
      arrivals: curve.map(({ s, n }) => ({ t: new Date(w.starts_at + s * 1000).toISOString(), n })),
      served: { ...this.served, late_held: this.late.heldCount() },
    };
  }

  override async alarm(): Promise<void> {
    const row = this.row();
    if (row && row.queued > row.admission.upto) await this.stock.read(row.cfg);
    this.current();
    await this.schedule(clockNow());
  }

  // ---------------------------------------------------------------- internals

  private row(): Row | null {
    const r = this.sql
      .exec<{
        config: string;
        admission: string;
        upto_b: number | null;
        upto_k: number | null;
        salt: string;
        queued: number;
        opened: number;
      }>("SELECT * FROM room WHERE id = 1")
      .toArray()[0];
    if (!r) return null;
    return {
      cfg: JSON.parse(r.config) as RoomConfig,
      admission: JSON.parse(r.admission) as Admission,
      upto: r.upto_b === null || r.upto_k === null ? null : { b: r.upto_b, k: r.upto_k },
      salt: r.salt,
      queued: r.queued,
      opened: r.opened === 1,
    };
  }

  private limits(cfg: RoomConfig): Limits {
    return { rate: cfg.admission_rate, max_active: cfg.max_active, active_ms: cfg.pass_ttl_s * 1000 };
  }

  private drawAt(cfg: RoomConfig): number {
    return cfg.starts_at + (cfg.lottery_s ?? 0) * 1000;
  }

  /** Reads the stock in the background if the last reading is a tick old and someone waits. */
  private readSoon(now: number): void {
    const row = this.row();
    if (!row || row.queued <= row.admission.upto || !this.stock.due(now)) return;
    void this.stock.read(row.cfg).then(() => this.current());
  }

  /** Advances the watermark to now and describes it. */
  private current(): Watermark {
    const now = clockNow();
    let row = this.row();
    if (!row) return unconfiguredWatermark(now);
    row = this.ctx.storage.transactionSync(() => this.tick(row!, now));
    const sealed = this.sealed(row, now);
    return {
      configured: true,
      starts_at: row.cfg.starts_at,
      ends_at: row.cfg.ends_at,
      salt: row.salt,
      upto: row.upto,
      marks: row.admission.marks,
      late: this.late.forEdge(),
      admitted: row.admission.upto,
      queued: row.queued,
      waiting: this.waiting(row.upto),
      sealed,
      draw_at: this.drawAt(row.cfg),
      sold_out: this.stock.soldOut(row.cfg),
      keeps_units: perUnit(row.cfg) <= 1 && row.cfg.release_policy !== "waitlist",
      rate: row.cfg.admission_rate,
      max_active: row.cfg.max_active,
      pass_ttl_s: row.cfg.pass_ttl_s,
      active: activeAt(row.admission, now, row.cfg.pass_ttl_s * 1000),
      at: now,
    };
  }

  /**
   * Admits the late places held back first (room/late.ts), then the next sealed places in line
   * order, as many in all as the rate, max_active and the units left allow: the rule's budget
   * first (no place needed), then that many places from the line.
   */
  private tick(row: Row, now: number): Row {
    const lim = { ...this.limits(row.cfg), units: this.stock.unitsLeft(row.cfg, row.admission, now) };
    if (!row.opened && now >= row.cfg.starts_at) {
      this.sql.exec("UPDATE room SET opened = 1 WHERE id = 1");
      log("info", "room_opened", { sale: row.cfg.sale_id, prequeue: row.queued }, settings(this.env).LOG_LEVEL);
      row = { ...row, opened: true };
    }
    this.late.prune(now, row.cfg.pass_ttl_s * 1000);
    const held = admitHeld(row.admission, now, this.late.held(), { ...lim }, row.upto);
    this.late.admit(held.admitted, now);
    const from = held.admission;
    lim.units -= held.admitted.length;
    const budget = advance(from, now, Number.MAX_SAFE_INTEGER, lim).upto - from.upto;
    const sealed = this.sealed(row, now);
    const upto = row.upto ?? BEFORE_ALL;
    const next =
      budget > 0 && sealed >= 0
        ? this.sql
            .exec<{ b: number; k: number }>(
              "SELECT b, k FROM line WHERE (b, k) > (?, ?) AND b <= ? ORDER BY b, k LIMIT ?",
              upto.b,
              upto.k,
              sealed,
              budget,
            )
            .toArray()
        : [];
    const last: Place | null = next.at(-1) ?? row.upto;
    const a = advance(from, now, from.upto + next.length, lim, last);
    if (a.upto > row.admission.upto) this.series.add(now, { admitted: a.upto - row.admission.upto });
    if (a.upto === row.admission.upto && a.tokens === row.admission.tokens) return row;
    this.sql.exec(
      "UPDATE room SET admission = ?, upto_b = ?, upto_k = ? WHERE id = 1",
      JSON.stringify(a),
      last?.b ?? null,
      last?.k ?? null,
    );
    return { ...row, admission: a, upto: last };
  }

  /** Who waits, per bucket from the watermark's on; long lines are cut into WAITING_RUNS runs. */
  private waiting(upto: Place | null): Waiting[] {
    const from = Math.max(0, (upto ?? BEFORE_ALL).b);
    const out = this.sql.exec<Waiting>("SELECT b, n FROM buckets WHERE b >= ? ORDER BY b", from).toArray();
    if (upto && out[0]?.b === upto.b) {
      out[0] = {
        b: upto.b,
        n: this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM line WHERE b = ? AND k > ?", upto.b, upto.k).one().n,
      };
    }
    if (out.length <= WAITING_RUNS) return out;
    // A run is counted at its first bucket: positions further back are approximate anyway.
    const per = Math.ceil(out.length / WAITING_RUNS);
    const runs: Waiting[] = [];
    for (let i = 0; i < out.length; i += per) runs.push({ b: out[i]!.b, n: out.slice(i, i + per).reduce((s, w) => s + w.n, 0) });
    return runs;
  }

  private sealed(row: Row, now: number): number {
    const { COUNTER_FLUSH_MS, LINE_SLACK_MS } = settings(this.env);
    return sealedBucket(now, row.cfg.starts_at, COUNTER_FLUSH_MS, LINE_SLACK_MS, this.drawAt(row.cfg));
  }

  private bucket(b: number, by: number): void {
    this.sql.exec("INSERT INTO buckets (b, n) VALUES (?, ?) ON CONFLICT (b) DO UPDATE SET n = n + excluded.n", b, by);
  }

  /** Next alarm: the first admission after the opening, then a tick while anyone waits. */
  private async schedule(now: number): Promise<void> {
    const row = this.row();
    if (!row || now >= row.cfg.ends_at) return;
    // Bucket 0 (the pre-queue and the lottery window) is sealed this long after the draw.
    const { COUNTER_FLUSH_MS, LINE_SLACK_MS } = settings(this.env);
    const first = this.drawAt(row.cfg) + COUNTER_FLUSH_MS + LINE_SLACK_MS;
    let at: number | null = null;
    if (row.queued > row.admission.upto) at = Math.max(now + (this.stock.soldOut(row.cfg) ? SOLD_OUT_TICK_MS : TICK_MS), first);
    else if (now < first) at = first;
    if (at === null) return;
    const set = await this.ctx.storage.getAlarm();
    const current = set === null ? null : fromPlatform(set);
    if (current === null || current > at || current < now) await this.ctx.storage.setAlarm(onPlatform(at));
  }

  private bump(deltas: Counts): void {
    this.series.add(clockNow(), deltas);
    for (const [name, n] of Object.entries(deltas)) {
      if (n) this.sql.exec("INSERT INTO counters (name, n) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET n = n + excluded.n", name, n);
    }
  }
}
