import { DurableObject } from "cloudflare:workers";
import { now as clockNow, onPlatform } from "../domain/clock";
import { settings } from "../domain/config";
import { placeOf } from "../domain/ids";
import { inventoryShard } from "../domain/objects";
import type { ChargeOutcome, LookupOutcome, PaymentRequest, RefundOutcome, RefundRequest } from "./payments/gateway";
import { migrate, type Version } from "./migrations";
import { behaviourOf, fingerprintAfter } from "./payments/test-cards";

/**
 * A stand-in for the payment provider, with its faults: latency, declines, timeouts (the
 * client gives up while the charge goes on), late success (the charge lands after the client
 * gave up), errors, and answers delivered twice. It keeps a ledger like a real provider, keyed
 * by idempotency key, and tells the product object about late outcomes (as a webhook would).
 *
 * Test card tokens force an outcome: tok_visa (rates from wrangler.toml), tok_ok (always
 * succeeds), tok_decline, tok_error (5xx, nothing charged), tok_timeout (times out, then
 * fails), tok_late_<ms> (times out, lands as a success <ms> later), tok_duplicate (succeeds,
 * and the success is delivered again). A suffix names the card (payments/test-cards.ts).
 */
type Plan = { status: "succeeded" | "declined"; timeout: boolean; landsIn: number; duplicate: boolean };
type ChargeRow = {
  key: string;
  reference: string;
  amount: number;
  currency: string;
  method: string;
  status: "processing" | "succeeded" | "declined";
  final: "succeeded" | "declined";
  charge_id: string;
  reason: string | null;
  calls: number;
  created_at: number;
  lands_at: number;
  notify_at: number | null;
  notify_attempts: number;
  refund_key: string | null;
  refund_id: string | null;
};
export type LedgerEntry = Pick<ChargeRow, "key" | "reference" | "status" | "charge_id" | "amount" | "calls" | "refund_id">;

/** The simulator's storage, version by version (migrations.ts). */
const SIMULATOR_SCHEMA: readonly Version[] = [
  [
    `CREATE TABLE IF NOT EXISTS charges (
      key TEXT PRIMARY KEY, reference TEXT NOT NULL, amount INTEGER NOT NULL, currency TEXT NOT NULL,
      method TEXT NOT NULL, status TEXT NOT NULL, final TEXT NOT NULL, charge_id TEXT NOT NULL UNIQUE,
      reason TEXT, calls INTEGER NOT NULL, created_at INTEGER NOT NULL, lands_at INTEGER NOT NULL,
      notify_at INTEGER, notify_attempts INTEGER NOT NULL DEFAULT 0, refund_key TEXT, refund_id TEXT)`,
    `CREATE INDEX IF NOT EXISTS charges_notify ON charges (notify_at) WHERE notify_at IS NOT NULL`,
    `CREATE TABLE IF NOT EXISTS overrides (k TEXT PRIMARY KEY, v REAL NOT NULL)`,
  ],
];

/** The simulator's event for a charge's final outcome (one per charge, like a provider's event id). */
export const simEventId = (key: string) => `evt_sim_${key}`;

/** A refused delivery (the object could not apply it now) is delivered again, like a webhook answered 5xx. */
function unwrapped(r: { ok: boolean; message?: string }): void {
  if (!r.ok) throw new Error(`delivery refused: ${r.message}`);
}

/**
 * The simulator's answer, and how long after the call the caller may have it (payments/simulated.ts
 * waits it out): the outcome, or the provider's error (thrown there).
 */
export type SimAnswer<T> = { after_ms: number } & ({ outcome: T } | { error: string });

export class GatewaySimulator extends DurableObject<Env> {
  private readonly sql = this.ctx.storage.sql;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    migrate(ctx.storage, SIMULATOR_SCHEMA);
  }

  private rates() {
    const s = settings(this.env);
    const o = Object.fromEntries(
      this.sql
        .exec<{ k: string; v: number }>("SELECT k, v FROM overrides")
        .toArray()
        .map((r) => [r.k, r.v]),
    );
    return {
      latency: o.latency_ms ?? s.GATEWAY_LATENCY_MS,
      decline: o.decline_rate ?? s.GATEWAY_DECLINE_RATE,
      timeout: o.timeout_rate ?? s.GATEWAY_TIMEOUT_RATE,
      lateSuccess: o.late_success_rate ?? s.GATEWAY_LATE_SUCCESS_RATE,
      lateMs: o.late_ms ?? s.GATEWAY_LATE_MS,
      duplicate: o.duplicate_rate ?? s.GATEWAY_DUPLICATE_RATE,
      clientTimeout: s.PAY_TIMEOUT_MS,
    };
  }

  private plan(card: string, r: ReturnType<GatewaySimulator["rates"]>): Plan | "error" {
    const method = behaviourOf(card);
    const ok: Plan = { status: "succeeded", timeout: false, landsIn: 0, duplicate: false };
    const late = /^tok_late_(\d{1,7})$/.exec(method);
    if (late) return { ...ok, timeout: true, landsIn: Number(late[1]) };
    switch (method) {
      case "tok_ok":
        return ok;
      case "tok_decline":
        return { ...ok, status: "declined" };
      case "tok_error":
        return "error";
      case "tok_timeout":
        return { status: "declined", timeout: true, landsIn: r.lateMs, duplicate: false };
      case "tok_duplicate":
        return { ...ok, duplicate: true };
    }
    const x = Math.random();
    if (x < r.decline) return { ...ok, status: "declined" };
    if (x < r.decline + r.timeout) {
      return { status: Math.random() < r.lateSuccess ? "succeeded" : "declined", timeout: true, landsIn: r.lateMs, duplicate: false };
    }
    return { ...ok, duplicate: Math.random() < r.duplicate };
  }

  private row(key: string): ChargeRow | undefined {
    return this.sql.exec<ChargeRow>("SELECT * FROM charges WHERE key = ?", key).toArray()[0];
  }

  private outcome(row: ChargeRow): ChargeOutcome {
    if (row.status === "processing" && clockNow() >= row.lands_at) {
      this.sql.exec(
        "UPDATE charges SET status = final, reason = CASE final WHEN 'declined' THEN 'processing_error' ELSE NULL END WHERE key = ?",
        row.key,
      );
      row = this.row(row.key)!;
    }
    if (row.status === "succeeded") return { status: "succeeded", charge_id: row.charge_id };
    if (row.status === "declined") return { status: "declined", reason: row.reason ?? "card_declined" };
    return { status: "unknown", reason: "processing" };
  }

  /**
   * The simulator answers at once, in one turn of this object; the wait before the caller has the
   * answer (the network's latency, a timeout's) is the caller's (payments/simulated.ts). Why: this
   * one object serves every product object, and each of its events (a call arriving, a timer
   * firing) takes the input gate and then waits for the isolate's turn; a sleep in here doubled
   * every call's turns and queued them behind every other call's. With eight lanes of the model
   * test on a busy machine the simulator fell behind for good (its 5 ms sleeps took 0.3–7 s),
   * every call outlived the 250 ms client timeout, and a refund stayed pending for 20 s.
   */
  async charge(req: PaymentRequest): Promise<SimAnswer<ChargeOutcome>> {
    const r = this.rates();
    const after_ms = this.latency(r);
    const seen = this.row(req.key);
    if (seen) {
      this.sql.exec("UPDATE charges SET calls = calls + 1 WHERE key = ?", req.key);
      return { after_ms, outcome: this.outcome(seen) }; // an idempotent replay: the first answer, never a second charge
    }
    const plan = this.plan(req.method, r);
    if (plan === "error") return { after_ms, error: "simulated gateway error: 502 Bad Gateway (nothing was charged)" };
    const now = clockNow();
    const landsAt = plan.timeout ? now + plan.landsIn : now;
    this.sql.exec(
      `INSERT INTO charges (key, reference, amount, currency, method, status, final, charge_id, reason, calls,
        created_at, lands_at, notify_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?)`,
      req.key,
      req.reference,
      req.amount,
      req.currency,
      req.method,
      plan.timeout ? "processing" : plan.status,
      plan.status,
      `ch_${crypto.randomUUID().replaceAll("-", "")}`,
      plan.status === "declined" && !plan.timeout ? "card_declined" : null,
      now,
      landsAt,
      plan.timeout ? landsAt : plan.duplicate ? now + 20 : null,
    );
    await this.scheduleNotify();
    // A timeout: the answer comes after the client has given up.
    if (plan.timeout) return { after_ms: r.clientTimeout + 50, outcome: { status: "unknown", reason: "simulated timeout" } };
    return { after_ms, outcome: this.outcome(this.row(req.key)!) };
  }

  lookup(key: string): SimAnswer<LookupOutcome> {
    const row = this.row(key);
    return { after_ms: this.latency(this.rates()), outcome: row ? this.outcome(row) : { status: "not_found" } };
  }

  refund(req: RefundRequest): SimAnswer<RefundOutcome> {
    const after_ms = this.latency(this.rates());
    const row = this.sql.exec<ChargeRow>("SELECT * FROM charges WHERE charge_id = ?", req.charge_id).toArray()[0];
    if (!row || this.outcome(row).status !== "succeeded")
      return { after_ms, outcome: { status: "failed", reason: "no such successful charge" } };
    if (row.refund_id) return { after_ms, outcome: { status: "refunded", refund_id: row.refund_id } };
    const refundId = `re_${crypto.randomUUID().replaceAll("-", "")}`;
    this.sql.exec("UPDATE charges SET refund_key = ?, refund_id = ? WHERE key = ?", req.key, refundId, row.key);
    return { after_ms, outcome: { status: "refunded", refund_id: refundId } };
  }

  private latency(r: ReturnType<GatewaySimulator["rates"]>): number {
    return r.latency * (0.5 + Math.random());
  }

  /** Late outcomes and duplicate deliveries reach the product object like a webhook would. */
  override async alarm(): Promise<void> {
    const due = this.sql.exec<ChargeRow>("SELECT * FROM charges WHERE notify_at <= ? ORDER BY notify_at LIMIT 100", clockNow()).toArray();
    await Promise.all(
      due.map(async (row) => {
        const outcome = this.outcome(row);
        // The hold's own object: its id names the sale and, for a sharded sale, the shard.
        const place = placeOf(row.reference, "h");
        try {
          if (place && outcome.status !== "unknown") {
            // The payer is not kept here: a card the shopper did not name was known before the charge.
            const named = outcome.status === "succeeded" && row.method.includes(".");
            // One event per charge (its outcome is final once it is delivered): a delivery again
            // (a retry whose answer was lost, a duplicate) carries the same id and is applied once.
            const pushed = named ? { ...outcome, fingerprint: fingerprintAfter(row.method, "") } : outcome;
            unwrapped(
              await inventoryShard(this.env, place.sale, place.shard).providerEvent({
                id: simEventId(row.key),
                type: `charge.${outcome.status}`,
                hold: row.reference,
                kind: "outcome",
                outcome: pushed,
              }),
            );
          }
          this.sql.exec("UPDATE charges SET notify_at = NULL WHERE key = ?", row.key);
        } catch {
          const stop = row.notify_attempts >= 10;
          this.sql.exec(
            "UPDATE charges SET notify_attempts = notify_attempts + 1, notify_at = ? WHERE key = ?",
            stop ? null : clockNow() + 1000 * 2 ** row.notify_attempts,
            row.key,
          );
        }
      }),
    );
    await this.scheduleNotify();
  }

  private async scheduleNotify() {
    const next = this.sql.exec<{ t: number | null }>("SELECT MIN(notify_at) AS t FROM charges WHERE notify_at IS NOT NULL").one().t;
    if (next !== null) await this.ctx.storage.setAlarm(onPlatform(next));
  }

  /** The provider's ledger, for tests and the rehearsal's invariant checks. */
  ledger(): LedgerEntry[] {
    for (const row of this.sql.exec<ChargeRow>("SELECT * FROM charges WHERE status = 'processing'").toArray()) this.outcome(row);
    return this.sql
      .exec<LedgerEntry>("SELECT key, reference, status, charge_id, amount, calls, refund_id FROM charges ORDER BY created_at")
      .toArray();
  }

  /** Rehearsal faults: override the configured rates (`/admin/faults`, ALLOW_FAULTS only). */
  setRates(overrides: Record<string, number>): void {
    this.sql.exec("DELETE FROM overrides");
    for (const [k, v] of Object.entries(overrides)) this.sql.exec("INSERT INTO overrides (k, v) VALUES (?, ?)", k, v);
  }
}
