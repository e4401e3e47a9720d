import { now as clockNow } from "../../domain/clock";
import type { Settings } from "../../domain/config";
import type { PaymentGateway } from "../payments/gateway";
import type { Slot, SlotKind } from "../payment-pacer";
import type { HoldRow, Paced } from "./holds";
import { addColumns, type Step } from "../migrations";
import type { Host } from "./host";
import { Meta } from "./meta";

/**
 * A payment's turn at the provider, kept with its hold: `pay_slot` is a slot the account's pacer
 * granted and this object has not used yet (epoch ms), `pay_gap` the pacer's spacing between two
 * payments then (a view turns the slot into a place in line with it).
 */
export const PAY_QUEUE_DDL: Step[] = [addColumns("holds", { pay_slot: "INTEGER", pay_gap: "INTEGER" })];

/** A queued payment's hold is the shopper's until this long after its turn (and after a refusal at its turn). */
export const TURN_GRACE_MS = 60_000;

export interface Pacer {
  grant(kind: SlotKind): Promise<Slot>;
}

export interface PayQueueHost extends Host {
  settings: Pick<Settings, "GATEWAY" | "PAY_QUEUE_INLINE_MS" | "PAY_TIMEOUT_MS" | "PAY_RETRY_MS" | "PAY_GIVE_UP_S">;
  /** The account's pacer (one for every sale and shard paying with this Stripe account). */
  pacer(): Promise<Pacer | null>;
  /** The least time between two requests this object sends to the provider (the pacer's account rate, both lanes). */
  requestGapMs: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The product object's side of payment pacing. A pay request takes a slot from the account's
 * pacer. A slot within PAY_QUEUE_INLINE_MS is waited for in the request; a later one is stored
 * with the hold, which becomes `pending` (queued: no attempt yet, `pay_attempts` 0) with its
 * window extended past its turn, and this object's alarm pays it at its slot, so a restart loses
 * no queued payment and the turn is kept. Every retry of an unknown outcome takes a slot too.
 */
export class PayQueue {
  readonly paced: boolean;
  private readonly meta: Meta<"pay_rate_limited">;
  /** When this object last started a paced payment (a call): starts go one gap apart at the least. */
  private readonly lastStart = { payment: 0, call: 0 };
  /** When this object last sent a request to the provider. */
  private lastSent = 0;
  private readonly running = new Map<string, Promise<unknown>>();

  constructor(private readonly host: PayQueueHost) {
    this.paced = host.settings.GATEWAY === "stripe";
    this.meta = new Meta(host.sql);
  }

  /** Concurrent pays for one hold share one run: one slot, one fingerprint, one charge. */
  shared<T>(holdId: string, run: () => Promise<T>): Promise<T> {
    let p = this.running.get(holdId) as Promise<T> | undefined;
    if (!p) {
      p = run().finally(() => this.running.delete(holdId));
      this.running.set(holdId, p);
    }
    return p;
  }

  /** A slot for a payment, or null when payments are not paced. Throws when the pacer cannot be reached. */
  async grant(kind: SlotKind): Promise<Slot | null> {
    const pacer = this.paced ? await this.host.pacer() : null;
    return pacer ? pacer.grant(kind) : null;
  }

  /** Whether a slot is close enough to wait for in the caller (the pay request, the alarm). */
  near(at: number, now = clockNow()): boolean {
    return at - now <= this.host.settings.PAY_QUEUE_INLINE_MS;
  }

  /** How far ahead the alarm picks up payments whose slot is stored (it waits for each slot). */
  lookahead(): number {
    return this.paced ? this.host.settings.PAY_QUEUE_INLINE_MS : 0;
  }

  /**
   * Waits for a slot, and for one gap after this object's last start: slots that come due late
   * (a busy alarm, timers firing late on a loaded machine) go one after the other, not together.
   */
  async until(at: number, gap: number, lane: keyof PayQueue["lastStart"] = "payment"): Promise<void> {
    for (;;) {
      const now = clockNow();
      const go = Math.max(at, this.lastStart[lane] + gap);
      if (go <= now) break;
      await sleep(go - now);
    }
    this.lastStart[lane] = clockNow();
  }

  /**
   * The gateway with its calls outside a payment's turn (a webhook's lookup, a released hold's
   * watch, a cancel, a refund) paced in the pacer's lane for calls. A pacer that cannot be
   * reached does not stop them (they are few; a 429 is retried like any unknown answer).
   */
  pacedGateway(gw: PaymentGateway): PaymentGateway {
    if (!this.paced) return gw;
    // Every request also goes one request gap after this object's last: the parts of payments
    // whose turns were spaced (create after the card, confirm after create) meet again after a
    // slow step, or after timers fire late on a busy machine; this keeps them apart.
    const call = async () => {
      await this.callSlot("call");
      await this.spaced();
    };
    const sent =
      <A extends unknown[], T>(fn: (...a: A) => Promise<T>) =>
      async (...a: A) => {
        await this.spaced();
        return fn(...a);
      };
    const after =
      <A extends unknown[], T>(fn: (...a: A) => Promise<T>) =>
      async (...a: A) => {
        await call();
        return fn(...a);
      };
    const open = gw.open?.bind(gw);
    const cancel = gw.cancel?.bind(gw);
    return {
      fingerprint: sent(gw.fingerprint.bind(gw)),
      ...(open ? { open: sent(open) } : {}),
      charge: sent(gw.charge.bind(gw)),
      recheck: sent(gw.recheck.bind(gw)),
      lookup: after(gw.lookup.bind(gw)),
      ...(cancel ? { cancel: after(cancel) } : {}),
      refund: after(gw.refund.bind(gw)),
    };
  }

  /**
   * Queues a held hold's payment, inside the caller's transaction: `pending` with no attempt yet,
   * its turn stored, its alarm at the turn, and its window extended past the turn (it gives up
   * PAY_GIVE_UP_S after the turn, not after the request).
   */
  enqueueIn(h: HoldRow, method: string, ref: string | null, slot: Slot): void {
    const s = this.host.settings;
    this.host.sql.exec(
      `UPDATE holds SET status = 'pending', pay_method = ?, pay_attempts = 0, pay_next_at = ?, pay_deadline = ?, pay_ref = ?,
       pay_fingerprint = NULL, pay_slot = ?, pay_gap = ?, expires_at = MAX(expires_at, ?) WHERE id = ?`,
      method,
      slot.at,
      slot.at + s.PAY_GIVE_UP_S * 1000,
      ref,
      slot.at,
      Math.ceil(slot.gap_ms),
      slot.at + TURN_GRACE_MS,
      h.id,
    );
    this.host.want(slot.at);
  }

  /**
   * The alarm found a pending payment due (a queued first attempt, or a retry): true when it may
   * go now (its slot is used and waited for); false when it was given a later turn, or another
   * run took it. The slot is used up before anything is sent: a crash after that takes a new one.
   */
  async turn(h: Paced): Promise<boolean> {
    if (!this.paced) return true;
    const s = this.host.settings;
    let at = h.pay_slot ?? null;
    let gap = h.pay_gap ?? 0;
    if (at === null) {
      try {
        const slot = await this.grant(h.pay_attempts === 0 ? "payment" : "retry");
        if (!slot) return true;
        ({ at, gap_ms: gap } = slot);
      } catch (e) {
        this.host.log("warn", "pacer_unreachable", { hold: h.id, error: String(e) });
        this.move(h, { pay_next_at: clockNow() + s.PAY_RETRY_MS });
        return false;
      }
    }
    if (!this.near(at)) {
      // A later turn: keep it with the hold (and the hold past it), the alarm comes back then.
      this.move(h, { pay_slot: at, pay_gap: Math.ceil(gap), pay_next_at: at, extend: at });
      return false;
    }
    const took = this.move(h, { pay_slot: null, pay_next_at: Math.max(at, clockNow()) + s.PAY_TIMEOUT_MS + s.PAY_RETRY_MS });
    if (took) await this.until(at, gap);
    return took;
  }

  /** Waits until one request gap has passed since this object's last request to the provider. */
  private async spaced(): Promise<void> {
    for (;;) {
      const now = clockNow();
      const go = this.lastSent + this.host.requestGapMs;
      if (go <= now) {
        this.lastSent = now;
        return;
      }
      await sleep(go - now);
    }
  }

  /**
   * Waits for a slot in the pacer's lane for calls (outside a payment's turn: lookups, cancels,
   * refunds, a shopper back from 3-D Secure). A pacer that cannot be reached does not stop them.
   */
  async callSlot(kind: "call" | "recheck"): Promise<void> {
    const slot = await this.grant(kind).catch((e: unknown) => void this.host.log("warn", "pacer_unreachable", { error: String(e) }));
    if (slot) await this.until(slot.at, slot.gap_ms, "call");
  }

  /**
   * A paced pay request is here within its hold's window: the window runs a minute past `from`
   * (its arrival, then its turn) at the least, durably, before the request waits for anything
   * (the expiry alarm must not take a hold whose payment waits for our own pacer or turn).
   * False: the hold is not held, or its window had ended before the request came.
   */
  keep(holdId: string, from: number, now: number): boolean {
    return this.host.transactionSync(
      () =>
        this.host.sql
          .exec(
            "UPDATE holds SET expires_at = MAX(expires_at, ?) WHERE id = ? AND status = 'held' AND expires_at > ? RETURNING id",
            from + TURN_GRACE_MS,
            holdId,
            now,
          )
          .toArray().length > 0,
    );
  }

  /** Updates a pending hold's turn if no other run changed it since `h` was read. */
  private move(h: Paced, to: { pay_slot?: number | null; pay_gap?: number; pay_next_at: number; extend?: number }): boolean {
    const s = this.host.settings;
    const done = this.host.transactionSync(() => {
      const ext = to.extend ?? 0;
      const changed =
        this.host.sql
          .exec(
            `UPDATE holds SET pay_slot = ?, pay_gap = COALESCE(?, pay_gap), pay_next_at = ?, expires_at = MAX(expires_at, ?),
         pay_deadline = MAX(pay_deadline, ?) WHERE id = ? AND status = 'pending' AND pay_next_at = ? RETURNING id`,
            to.pay_slot === undefined ? (h.pay_slot ?? null) : to.pay_slot,
            to.pay_gap ?? null,
            to.pay_next_at,
            ext ? ext + TURN_GRACE_MS : 0,
            ext ? ext + s.PAY_TIMEOUT_MS + s.PAY_RETRY_MS : 0,
            h.id,
            h.pay_next_at,
          )
          .toArray().length > 0;
      if (changed) this.host.want(to.pay_next_at);
      return changed;
    });
    this.host.armAlarm();
    return done;
  }

  /**
   * A queued payment refused at its turn before any money moved (the card is over the sale's
   * limit): the hold is `held` again, the shopper's to pay with another card until a minute after
   * now at the least. Inside the caller's transaction.
   */
  returnIn(h: HoldRow, now: number, reason: string): void {
    const until = Math.max(h.expires_at, now + TURN_GRACE_MS);
    this.host.sql.exec(
      `UPDATE holds SET status = 'held', pay_method = NULL, pay_attempts = 0, pay_next_at = NULL, pay_deadline = NULL, pay_ref = NULL,
       pay_fingerprint = NULL, pay_slot = NULL, reason = ?, expires_at = ? WHERE id = ?`,
      reason,
      until,
      h.id,
    );
    this.host.want(until);
  }

  /** The provider answered 429: counted (stats, the dashboard's series). */
  rateLimited(now: number): void {
    this.meta.bump("pay_rate_limited", 1);
    this.host.series.add(now, { pay_429: 1 });
  }

  stats() {
    const queued = this.host.sql
      .exec<{ n: number }>("SELECT COUNT(*) AS n FROM holds WHERE status = 'pending' AND pay_attempts = 0")
      .one().n;
    return { queued, rate_limited: this.meta.get("pay_rate_limited") ?? 0 };
  }
}
