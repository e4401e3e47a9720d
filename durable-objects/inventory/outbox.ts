import type { Settings } from "../../domain/config";
import { ok, refuse, type Result } from "../../domain/result";
import type { SaleConfig } from "../../domain/schemas/sale";
import { isPoison } from "./d1-errors";
import { addColumns, type Step } from "../migrations";
import { iso, type Host, type Scheduled } from "./host";
import { Meta } from "./meta";
import { statementFor, type OrderRecord, type OutboxRecord, type RefundRecord } from "./records";
import { noSale, type Sale } from "./sale";

export const OUTBOX_DDL: Step[] = [
  // Records on their way to D1; AUTOINCREMENT so a flush can delete "everything up to seq N".
  `CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL,
    body TEXT NOT NULL, created_at INTEGER NOT NULL)`,
  // How often D1 refused a record for what it is (d1-errors.ts), and why, the last time.
  addColumns("outbox", { tries: "INTEGER NOT NULL DEFAULT 0", last_error: "TEXT" }),
  // Records D1 refused POISON_TRIES times: set aside, shown in the stats, resent by reconcile.
  `CREATE TABLE IF NOT EXISTS outbox_dead (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, body TEXT NOT NULL, created_at INTEGER NOT NULL,
    tries INTEGER NOT NULL, error TEXT NOT NULL, dead_at INTEGER NOT NULL)`,
];

/** A record D1 refuses this many times for what it is goes aside (a dead letter). */
export const POISON_TRIES = 3;

type Row = { seq: number; id: string; kind: OutboxRecord["kind"]; body: string; created_at: number; tries: number };

type Key =
  | "flush_at"
  | "flush_failures"
  | "flush_batches"
  | "flush_rows"
  | "flush_last_at"
  | "flush_last_lag_ms"
  | "flush_max_batch"
  | "fault_d1_until";

/** How one kind of record compares between the ledger and D1. */
type Comparison = { ledger: number; d1: number; in_outbox: number; missing: string[]; unexpected: string[] };
export type Reconciliation = {
  orders: Comparison;
  refunds: Comparison;
  re_enqueued: number;
  dead_letters_resent: number;
  backlog_after: number;
};

export interface OutboxHost extends Host {
  db: D1Database;
  settings: Pick<Settings, "FLUSH_BATCH" | "FLUSH_DELAY_MS">;
  sale: Pick<Sale, "row" | "existing" | "config" | "publish">;
  /** The ledger as D1 should have it: an order per paid hold, a refund per completed refund. */
  ledger(cfg: SaleConfig): { orders: OrderRecord[]; refunds: RefundRecord[] };
  /**
   * A shard of a sharded sale: its object's name, which its hold and order ids start with (D1's
   * rows of the sale are compared only with this shard's). Null: the object has the whole sale.
   */
  scope(): string | null;
}

/**
 * Completed orders, refunds and sale versions on their way to D1. A record is written in the
 * same transaction as the change it reports and deleted only after D1 accepted it; every D1
 * statement is idempotent (records.ts), so a repeated flush writes nothing twice.
 */
export class Outbox implements Scheduled {
  private readonly sql: SqlStorage;
  private readonly meta: Meta<Key>;
  private flushing?: Promise<void>;

  constructor(private readonly host: OutboxHost) {
    this.sql = host.sql;
    this.meta = new Meta(host.sql);
  }

  enqueue(rec: OutboxRecord, now: number, delay = this.host.settings.FLUSH_DELAY_MS): void {
    const id = rec.kind === "sale" ? `sale:${rec.body.version}` : rec.body.id;
    this.sql.exec(
      "INSERT INTO outbox (id, kind, body, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
      id,
      rec.kind,
      JSON.stringify(rec.body),
      now,
    );
    const current = this.meta.get("flush_at");
    // While D1 is failing, a new record waits for the backed-off retry: forcing one per record
    // would hammer D1 and push the backoff to its cap within a second.
    const backingOff = current !== null && (this.meta.get("flush_failures") ?? 0) > 0;
    const at = backingOff ? current : Math.min(now + delay, current ?? Infinity);
    this.meta.set("flush_at", at);
    this.host.want(at);
  }

  nextAlarm(): number | null {
    return this.meta.get("flush_at");
  }

  /** Alarm step: flush if it is time. */
  async flushDue(now: number): Promise<void> {
    const flushAt = this.meta.get("flush_at");
    if (flushAt !== null && flushAt <= now) await this.flush();
  }

  /**
   * Sends the outbox to D1 in batches (one D1 transaction each) and deletes rows only after D1
   * accepted them. On an outage nothing is deleted and the next try backs off (0.5 s doubling to
   * 60 s). A batch D1 refuses for a record's sake (poison, d1-errors.ts) is sent again record by
   * record: the others go through, the poisoned one is tried again later and, refused
   * POISON_TRIES times, set aside (a dead letter). Concurrent callers share one run.
   */
  flush(): Promise<void> {
    this.flushing ??= this.flushOnce().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  private async flushOnce(): Promise<void> {
    let after = 0; // rows up to here were tried in this run (poisoned ones stay, for a later try)
    let poisoned = 0;
    for (;;) {
      const rows = this.sql
        .exec<Row>(
          "SELECT seq, id, kind, body, created_at, tries FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
          after,
          this.host.settings.FLUSH_BATCH,
        )
        .toArray();
      const first = rows[0];
      if (!first) {
        // Poisoned records still waiting for another try get one after a short while.
        const waiting = this.sql.exec<{ n: number | null }>("SELECT MAX(tries) AS n FROM outbox").one().n ?? 0;
        const retryAt = waiting > 0 ? this.host.now() + 500 * 2 ** (waiting - 1) : null;
        this.meta.set("flush_at", retryAt);
        if (retryAt !== null) this.host.want(retryAt);
        if (poisoned > 0)
          this.host.log("warn", "flush_poisoned", {
            sale: this.host.sale.row()?.sale_id,
            refused: poisoned,
            retry_at: retryAt && iso(retryAt),
          });
        return;
      }
      const last = rows.at(-1) ?? first;
      try {
        await this.send(rows);
      } catch (e) {
        if (!isPoison(e)) return this.backOff(rows.length, e);
        const outcome = await this.oneByOne(rows);
        if (outcome.outage) return this.backOff(rows.length, outcome.outage);
        poisoned += outcome.poisoned;
        after = last.seq;
        continue;
      }
      this.sent(rows, after);
      after = last.seq;
    }
  }

  /** One D1 transaction for these rows (a fault injected by a rehearsal fails it as an outage). */
  private async send(rows: Row[]): Promise<void> {
    if (this.host.now() < (this.meta.get("fault_d1_until") ?? 0)) throw new Error("injected fault: D1 unavailable");
    const db = this.host.db;
    const statements = rows.map((r) => {
      try {
        return statementFor(db, { kind: r.kind, body: JSON.parse(r.body) } as OutboxRecord);
      } catch (e) {
        throw new Error(`poisoned record ${r.id}: ${String(e)}`);
      }
    });
    await db.batch(statements);
  }

  /** Deletes rows D1 accepted (all of them: `after` < seq ≤ the last) and counts the batch. */
  private sent(rows: Row[], after: number): void {
    const first = rows[0]!;
    const last = rows.at(-1)!;
    const now = this.host.now();
    this.host.transactionSync(() => {
      if (rows.length === 1) this.sql.exec("DELETE FROM outbox WHERE seq = ?", first.seq);
      else this.sql.exec("DELETE FROM outbox WHERE seq > ? AND seq <= ?", after, last.seq);
      this.meta.set("flush_failures", 0);
      this.meta.bump("flush_batches", 1);
      this.meta.bump("flush_rows", rows.length);
      this.meta.set("flush_last_at", now);
      this.meta.set("flush_last_lag_ms", now - first.created_at);
      if (rows.length > (this.meta.get("flush_max_batch") ?? 0)) this.meta.set("flush_max_batch", rows.length);
    });
    this.host.log("info", "flush", { sale: this.host.sale.row()?.sale_id, rows: rows.length, lag_ms: now - first.created_at });
    this.host.series.add(now, { flushed: rows.length });
    this.host.series.peak(now, { d1_lag_ms: now - first.created_at });
  }

  /** A poisoned batch, record by record: the good ones go through, the bad ones count a try. */
  private async oneByOne(rows: Row[]): Promise<{ poisoned: number; outage?: unknown }> {
    let poisoned = 0;
    for (const r of rows) {
      try {
        await this.send([r]);
        this.sent([r], r.seq - 1);
      } catch (e) {
        if (!isPoison(e)) return { poisoned, outage: e };
        poisoned++;
        this.refused(r, String(e));
      }
    }
    return { poisoned };
  }

  /** D1 refused this record for what it is: one more try counted, or set aside after POISON_TRIES. */
  private refused(r: Row, error: string): void {
    const tries = r.tries + 1;
    const sale = this.host.sale.row()?.sale_id;
    const now = this.host.now();
    this.host.transactionSync(() => {
      if (tries < POISON_TRIES) {
        this.sql.exec("UPDATE outbox SET tries = ?, last_error = ? WHERE seq = ?", tries, error, r.seq);
        return;
      }
      this.sql.exec(
        "INSERT INTO outbox_dead (id, kind, body, created_at, tries, error, dead_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
        r.id,
        r.kind,
        r.body,
        r.created_at,
        tries,
        error,
        now,
      );
      this.sql.exec("DELETE FROM outbox WHERE seq = ?", r.seq);
    });
    this.host.log(tries < POISON_TRIES ? "warn" : "error", tries < POISON_TRIES ? "flush_refused" : "outbox_dead_letter", {
      sale,
      record: r.id,
      kind: r.kind,
      tries,
      error: error.slice(0, 300),
      ...(tries < POISON_TRIES ? {} : { fix: "fix the cause (D1's data or schema), then `npm run sale -- reconcile <sale>` resends it" }),
    });
  }

  private backOff(rows: number, e: unknown): void {
    const failures = (this.meta.get("flush_failures") ?? 0) + 1;
    const backoff = Math.min(60_000, 500 * 2 ** (failures - 1));
    this.host.transactionSync(() => {
      this.meta.set("flush_failures", failures);
      this.meta.set("flush_at", this.host.now() + backoff);
    });
    this.host.log("warn", "flush_failed", { sale: this.host.sale.row()?.sale_id, rows, failures, retry_in_ms: backoff, error: String(e) });
  }

  /**
   * Compares the ledger with D1: paid holds vs `orders`, completed refunds vs `refunds`.
   * Whatever D1 lacks (and is not already on its way) is put back in the outbox and flushed.
   */
  async reconcile(): Promise<Result<Reconciliation>> {
    const row = this.host.sale.row();
    if (!row) return noSale();
    const cfg = this.host.sale.config(row);
    const db = this.host.db;
    let d1Orders: Set<string>, d1Refunds: Set<string>;
    try {
      const scope = this.host.scope();
      const [o, r] = await db.batch<{ id: string }>(
        scope === null
          ? [
              db.prepare("SELECT id FROM orders WHERE sale_id = ?").bind(cfg.id),
              db.prepare("SELECT id FROM refunds WHERE sale_id = ?").bind(cfg.id),
            ]
          : [
              db.prepare("SELECT id FROM orders WHERE sale_id = ? AND substr(id, 1, ?) = ?").bind(cfg.id, scope.length + 2, `${scope}_o`),
              db
                .prepare("SELECT id FROM refunds WHERE sale_id = ? AND substr(hold_id, 1, ?) = ?")
                .bind(cfg.id, scope.length + 2, `${scope}_h`),
            ],
      );
      if (!o || !r) throw new Error("D1 answered fewer results than it was asked for");
      d1Orders = new Set(o.results.map((x) => x.id));
      d1Refunds = new Set(r.results.map((x) => x.id));
    } catch (e) {
      return refuse("unavailable", `D1 did not answer, nothing was changed: ${String(e)}`);
    }
    const now = this.host.now();
    const report = this.host.transactionSync(() => {
      // Dead letters go back in line (after a fix, they now reach D1; if not, they go aside again).
      const resent = this.sql
        .exec(
          `INSERT INTO outbox (id, kind, body, created_at) SELECT id, kind, body, created_at FROM outbox_dead WHERE true
         ON CONFLICT (id) DO NOTHING RETURNING id`,
        )
        .toArray().length;
      this.sql.exec("DELETE FROM outbox_dead");
      const outbox = new Set(
        this.sql
          .exec<{ id: string }>("SELECT id FROM outbox")
          .toArray()
          .map((x) => x.id),
      );
      const ledger = this.host.ledger(cfg);
      const orders = compare(ledger.orders, d1Orders, outbox);
      const refunds = compare(ledger.refunds, d1Refunds, outbox);
      for (const body of orders.missing) this.enqueue({ kind: "order", body }, now, 0);
      for (const body of refunds.missing) this.enqueue({ kind: "refund", body }, now, 0);
      // in case the catalog row is gone too
      if (orders.missing.length + refunds.missing.length > 0) this.host.sale.publish(this.host.sale.existing(), now);
      return { orders, refunds, resent };
    });
    await this.flush();
    const out: Reconciliation = {
      orders: summary(report.orders),
      refunds: summary(report.refunds),
      re_enqueued: report.orders.missing.length + report.refunds.missing.length,
      dead_letters_resent: report.resent,
      backlog_after: this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM outbox").one().n,
    };
    this.host.log(out.re_enqueued || out.orders.unexpected.length ? "warn" : "info", "reconcile", {
      sale: cfg.id,
      re_enqueued: out.re_enqueued,
      dead_letters_resent: out.dead_letters_resent,
      unexpected: out.orders.unexpected.length + out.refunds.unexpected.length,
    });
    return ok(out);
  }

  /** Rehearsal fault: D1 "fails" for `ms` (flushes back off as on a real outage). */
  failD1For(ms: number): void {
    this.meta.set("fault_d1_until", this.host.now() + ms);
  }

  d1DownUntil(): number | null {
    return this.meta.get("fault_d1_until");
  }

  /** Records waiting for D1. */
  backlog(): number {
    return this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM outbox").one().n;
  }

  stats(now: number) {
    const outbox = this.sql.exec<{ n: number; oldest: number | null }>("SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM outbox").one();
    const m = (k: Key) => this.meta.get(k) ?? 0;
    const lastAt = this.meta.get("flush_last_at");
    const dead = this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM outbox_dead").one().n;
    const lastDead = this.sql
      .exec<{ id: string; kind: string; error: string; dead_at: number }>(
        "SELECT id, kind, error, dead_at FROM outbox_dead ORDER BY dead_at DESC LIMIT 1",
      )
      .toArray()[0];
    return {
      backlog: outbox.n,
      oldest_age_ms: outbox.oldest === null ? 0 : now - outbox.oldest,
      failures: m("flush_failures"),
      batches: m("flush_batches"),
      rows: m("flush_rows"),
      max_batch: m("flush_max_batch"),
      last_flush_at: lastAt === null ? null : iso(lastAt),
      last_lag_ms: m("flush_last_lag_ms"),
      dead_letters: dead,
      last_dead_letter: lastDead ? { id: lastDead.id, kind: lastDead.kind, error: lastDead.error, at: iso(lastDead.dead_at) } : null,
    };
  }
}

function compare<T extends { id: string }>(ledger: T[], d1: Set<string>, outbox: Set<string>) {
  const ids = new Set(ledger.map((t) => t.id));
  return {
    missing: ledger.filter((t) => !d1.has(t.id) && !outbox.has(t.id)),
    unexpected: [...d1].filter((id) => !ids.has(id)),
    ledger: ledger.length,
    d1: d1.size,
    in_outbox: ledger.filter((t) => outbox.has(t.id)).length,
  };
}

function summary(c: ReturnType<typeof compare>): Comparison {
  return { ledger: c.ledger, d1: c.d1, in_outbox: c.in_outbox, missing: c.missing.map((t) => t.id), unexpected: c.unexpected };
}
