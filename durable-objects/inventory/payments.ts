import type { Settings } from "../../domain/config";
import { saleOf } from "../../domain/ids";
import { ok, refuse, type Result } from "../../domain/result";
import { CARD_LIMIT_REASON, type HoldView } from "../../domain/schemas/hold";
import { backoffMs } from "../../domain/payment-rate.js";
import type { ChargeOutcome, LookupOutcome, PaymentGateway, PaymentRequest } from "../payments/gateway";
import type { ConfirmedHold, HoldRow, Holds } from "./holds";
import { iso, type Host, type Scheduled } from "./host";
import type { Paced } from "./holds";
import type { PayQueue } from "./pay-queue";
import { firstDelivery, type EventMark } from "./provider-events";
import { orderRecord } from "./orders";
import type { OutboxRecord } from "./records";
import { MAX_BACKOFF_MS, type Refunds } from "./refunds";
import type { Sale } from "./sale";

const WATCH_MS = 60_000; // how often a released hold's unknown payment is looked up again
const WATCH_FOR_MS = 24 * 3600_000; // and for how long

export interface PaymentsHost extends Host {
  /** MUTATION=confirm-twice (tests of the tests only): a success delivered again confirms again. */
  confirmTwice?: boolean;
  settings: Pick<Settings, "PAY_TIMEOUT_MS" | "PAY_RETRY_MS" | "PAY_GIVE_UP_S">;
  sale: Pick<Sale, "existingConfig" | "sell">;
  holds: Pick<Holds, "get" | "end" | "hold">;
  refunds: Pick<Refunds, "due">;
  enqueue(rec: OutboxRecord, now: number): void;
  gateway(): PaymentGateway;
  /** Pacing under the provider's rate limits (pay-queue.ts). */
  queue: PayQueue;
  /** Resolves once every write so far is on disk. */
  sync(): Promise<void>;
}

/** The pay call's answer: the hold as it stands, and the limit a card refused over it was held to. */
export type PayAnswer = { hold: HoldView; per_user_limit: number };

/**
 * Paying for a hold. The hold is marked `pending` (durably) before the gateway is called and no
 * lock is held during the call, so claims keep flowing. A provider that names its payments
 * (Stripe's PaymentIntent) has that name stored in the hold's row before the charge, so an
 * unknown outcome is settled by asking about that payment, never by starting another. An unknown
 * outcome is asked again by the alarm until it is known; money that lands for a hold that has
 * ended is given back (refunds.ts).
 *
 * One unit per card: a card (the gateway's fingerprint) may pay for at most `per_user_limit`
 * units in a sale. Known before the charge, the limit is checked in the transaction that marks
 * the hold pending (two pays with one card cannot both pass); known only with the charge, a
 * charge over the limit is refunded and the hold ends `declined` (CARD_LIMIT_REASON).
 */
export class Payments implements Scheduled {
  private readonly sql: SqlStorage;
  private readonly s: PaymentsHost["settings"];

  constructor(private readonly host: PaymentsHost) {
    this.sql = host.sql;
    this.s = host.settings;
  }

  /**
   * Charges a held hold. The answer is the hold as it stands afterwards: confirmed, declined, or
   * still pending (the outcome is unknown, or the shopper must authenticate). Paying again for a
   * hold that waits for the shopper asks the provider where it stands (they are back from 3-D Secure).
   */
  async pay(holdId: string, user: string, method: string): Promise<Result<PayAnswer>> {
    const seen = this.host.holds.get(holdId);
    if (!seen || seen.user_id !== user) return refuse("not_found", "no such hold");
    if (seen.status === "pending" && seen.pay_action !== null && seen.pay_ref !== null) {
      if (this.host.queue.paced) await this.host.queue.callSlot("recheck"); // back from 3-D Secure: asked in the lane for calls
      await this.attempt(seen, false);
      return this.answer(holdId, user);
    }
    if (seen.status !== "held") return this.answer(holdId, user); // paying, paid or ended: as it stands
    return this.host.queue.shared(holdId, () => this.payHeld(holdId, user, method));
  }

  /**
   * A held hold's payment takes its turn at the provider first (pay-queue.ts): a turn within
   * PAY_QUEUE_INLINE_MS is waited for here, a later one queues the payment for the alarm.
   */
  private async payHeld(holdId: string, user: string, method: string): Promise<Result<PayAnswer>> {
    const q = this.host.queue;
    // Arrived within the window: it is kept while we ask the pacer (not expired behind our own line).
    if (q.paced && !q.keep(holdId, this.host.now(), this.host.now())) return this.payNow(holdId, user, method); // answered as it stands
    let slot: Awaited<ReturnType<PayQueue["grant"]>>;
    try {
      slot = await q.grant("payment");
    } catch (e) {
      this.host.log("warn", "pacer_unreachable", { hold: holdId, error: String(e) });
      return refuse("unavailable", "payments cannot be taken for a moment; nothing was charged, try again");
    }
    // A turn too far to wait for, or one that would come after the window: queued (the window is extended).
    const held = this.host.holds.get(holdId);
    if (slot && (!q.near(slot.at) || (held && slot.at + this.s.PAY_TIMEOUT_MS >= held.expires_at))) {
      const gw = this.host.gateway();
      const now = this.host.now();
      const queued = this.host.transactionSync(() => {
        const h = this.host.holds.get(holdId);
        if (h?.status !== "held") return false;
        if (h.expires_at <= now) {
          this.host.holds.end(h, "expired", now, "payment window ended");
          return false;
        }
        q.enqueueIn(h, method, gw.open ? null : this.key(h), slot);
        return true;
      });
      this.host.armAlarm();
      if (queued) this.host.log("info", "pay_queued", { hold: holdId, user, position: slot.position, at: iso(slot.at) });
      return this.answer(holdId, user);
    }
    if (slot) {
      if (!q.keep(holdId, slot.at, this.host.now())) return this.payNow(holdId, user, method); // ended meanwhile: answered as it stands
      await q.until(slot.at, slot.gap_ms);
    }
    return this.payNow(holdId, user, method);
  }

  /** Today's payment, at its turn: the card checked, `pending` on disk, then the charge. */
  private async payNow(holdId: string, user: string, method: string): Promise<Result<PayAnswer>> {
    const gw = this.host.gateway();
    const card = await gw.fingerprint(method, user);
    const now = this.host.now();
    const start = this.host.transactionSync((): Result<HoldRow | null> => {
      const h = this.host.holds.get(holdId);
      if (h?.status !== "held") return ok(null); // another pay got here first: answer as it stands
      if (h.expires_at <= now) {
        this.host.holds.end(h, "expired", now, "payment window ended");
        return ok(null);
      }
      const limit = this.host.sale.existingConfig().per_user_limit;
      if (card !== null && this.cardUnits(card, h.id) + h.qty > limit) {
        return refuse(
          "card_limit_reached",
          `this card has already paid for this sale's limit of ${limit} per shopper; nothing was charged, and the hold is still yours to pay with another card`,
          { per_user_limit: limit },
        );
      }
      const s = this.s;
      const paying: HoldRow = {
        ...h,
        status: "pending",
        pay_method: method,
        pay_attempts: 1,
        pay_fingerprint: card,
        // A provider that does not name payments knows this one by its key.
        pay_ref: gw.open ? null : this.key(h),
        pay_action: null,
        pay_next_at: now + s.PAY_TIMEOUT_MS + s.PAY_RETRY_MS,
        pay_deadline: now + s.PAY_GIVE_UP_S * 1000,
      };
      this.sql.exec(
        `UPDATE holds SET status = 'pending', pay_method = ?, pay_attempts = 1, pay_next_at = ?, pay_deadline = ?, pay_ref = ?,
         pay_fingerprint = ? WHERE id = ?`,
        method,
        paying.pay_next_at,
        paying.pay_deadline,
        paying.pay_ref,
        card,
        holdId,
      );
      this.host.want(paying.pay_next_at!);
      return ok(paying);
    });
    this.host.armAlarm();
    if (!start.ok) return start;
    if (start.value) {
      await this.host.sync(); // `pending` is on disk before any money can move
      const h = start.value;
      this.host.log("info", "pay", { sale: saleOf(h.id, "h"), hold: h.id, user, amount: h.amount });
      await this.attempt(h, true);
    }
    return this.answer(holdId, user);
  }

  /** The hold as it stands, with what the pay route says about a card over its limit. */
  private answer(holdId: string, user: string): Result<PayAnswer> {
    const hold = this.host.holds.hold(holdId, user);
    return hold.ok ? ok({ hold: hold.value, per_user_limit: this.host.sale.existingConfig().per_user_limit }) : hold;
  }

  /**
   * One try at a pending payment: names it at the provider if it has no name yet (the name is on
   * disk before the charge), then charges it (first try) or asks where it stands (later ones).
   */
  private async attempt(h: HoldRow, first: boolean): Promise<void> {
    const gw = this.host.gateway();
    const req = this.request(h);
    let ref = h.pay_ref;
    if (ref === null) {
      if (!gw.open) throw new Error("internal: a payment without a ref at a gateway that does not open payments");
      const opened = await gw.open(req);
      if (opened.status !== "opened") return void (await this.receive(h.id, opened));
      const stored = this.host.transactionSync(
        () =>
          this.sql
            .exec("UPDATE holds SET pay_ref = ? WHERE id = ? AND status = 'pending' AND pay_ref IS NULL RETURNING id", opened.ref, h.id)
            .toArray().length > 0,
      );
      if (!stored) return; // another attempt named it (and charges it), or the hold has ended: nothing was charged here
      await this.host.sync();
      ref = opened.ref;
      first = true;
    }
    const outcome = first ? await gw.charge({ ...req, ref }) : await gw.recheck({ ...req, ref });
    await this.receive(h.id, outcome);
  }

  /**
   * A queued payment at its turn (the alarm, its slot used): the card is read and checked as a
   * pay request would (over the limit: the hold is the shopper's again, nothing charged), then
   * the first attempt.
   */
  private async runQueued(h: HoldRow): Promise<void> {
    const gw = this.host.gateway();
    const card = await gw.fingerprint(h.pay_method ?? "", h.user_id);
    const now = this.host.now();
    const go = this.host.transactionSync((): HoldRow | null => {
      const cur = this.host.holds.get(h.id);
      if (cur?.status !== "pending" || cur.pay_attempts !== 0) return null;
      const limit = this.host.sale.existingConfig().per_user_limit;
      if (card !== null && this.cardUnits(card, cur.id) + cur.qty > limit) {
        this.host.queue.returnIn(
          cur,
          now,
          `card_limit_reached: this card has already paid for this sale's limit of ${limit} per shopper; nothing was charged, and the hold is yours to pay with another card`,
        );
        return null;
      }
      this.sql.exec("UPDATE holds SET pay_attempts = 1, pay_fingerprint = ? WHERE id = ?", card, cur.id);
      return { ...cur, pay_attempts: 1, pay_fingerprint: card };
    });
    this.host.armAlarm();
    if (!go) return;
    await this.host.sync();
    this.host.log("info", "pay", { sale: saleOf(go.id, "h"), hold: go.id, user: go.user_id, amount: go.amount, queued: true });
    await this.attempt(go, true);
  }

  /**
   * THE door for a payment outcome, whatever brought it: the answer to our own charge or question
   * (pay, the alarm's re-ask), or an event the provider pushed (a webhook's look-up, the
   * simulator's delivery: provider-events.ts). Settled in one transaction by the same rules; an
   * event is applied once per id (`firstDelivery`, in that transaction), so a delivery repeated,
   * or two racing, change nothing twice. A payment given up on while it waited for the shopper
   * is then stopped at the provider. Answers whether the outcome was applied (false: a duplicate).
   */
  async receive(holdId: string, outcome: ChargeOutcome | LookupOutcome, event?: EventMark): Promise<boolean> {
    const now = this.host.now();
    const settled = this.host.transactionSync(() => {
      if (event && !firstDelivery(this.sql, { ...event, hold: holdId }, now)) return null;
      const h = this.host.holds.get(holdId);
      return { gaveUp: h ? this.settle(h, outcome, now) : null };
    });
    this.host.armAlarm();
    if (!settled) return false;
    const { gaveUp } = settled;
    const gw = this.host.gateway();
    if (gaveUp?.pay_ref && gw.cancel) await gw.cancel({ ...this.request(gaveUp), ref: gaveUp.pay_ref });
    return true;
  }

  private settle(h: HoldRow, outcome: ChargeOutcome | LookupOutcome, now: number): HoldRow | null {
    const cfg = this.host.sale.existingConfig();
    const stopAsking = () => this.sql.exec("UPDATE holds SET pay_next_at = NULL, pay_action = NULL WHERE id = ?", h.id);
    switch (outcome.status) {
      case "succeeded": {
        stopAsking();
        if (this.host.confirmTwice && h.status === "confirmed" && h.charge_id === outcome.charge_id) {
          this.host.sale.sell(h.qty); // MUTATION=confirm-twice: the same success counted again
          return null;
        }
        if (h.status === "pending") {
          const card = h.pay_fingerprint ?? outcome.fingerprint ?? null;
          if (h.pay_fingerprint === null && card !== null) {
            // The card is known only now: over its limit, the charge goes back and the hold ends.
            this.sql.exec("UPDATE holds SET pay_fingerprint = ? WHERE id = ?", card, h.id);
            if (this.cardUnits(card, h.id) + h.qty > cfg.per_user_limit) {
              this.host.holds.end(h, "declined", now, CARD_LIMIT_REASON);
              this.host.refunds.due({ ...h, status: "declined" }, outcome.charge_id, cfg, now, "card over the sale's per-shopper limit");
              return null;
            }
          }
          this.sql.exec(
            "UPDATE holds SET status = 'confirmed', ended_at = ?, confirmed_at = ?, charge_id = ? WHERE id = ?",
            now,
            now,
            outcome.charge_id,
            h.id,
          );
          this.host.sale.sell(h.qty);
          const paid: ConfirmedHold = {
            ...h,
            status: "confirmed",
            ended_at: now,
            confirmed_at: now,
            charge_id: outcome.charge_id,
            pay_next_at: null,
          };
          this.host.enqueue({ kind: "order", body: orderRecord(paid, cfg) }, now);
          this.host.series.add(now, { paid: 1 });
          this.host.log("info", "confirm", { sale: cfg.id, hold: h.id, user: h.user_id, charge: outcome.charge_id });
        } else if (h.charge_id !== outcome.charge_id) {
          // The hold ended before the money arrived (or this is a second charge): give it back.
          this.host.refunds.due(h, outcome.charge_id, cfg, now);
        }
        return null;
      }
      case "declined":
        stopAsking();
        if (h.status === "pending") this.host.holds.end(h, "declined", now, outcome.reason);
        return null;
      case "not_found":
      case "requires_action":
      case "unknown": {
        if (outcome.status === "not_found" && h.status !== "pending") {
          stopAsking(); // a released hold whose charge never happened
          return null;
        }
        // (not_found for a pending hold: the provider has not charged it; ask again, the charge is idempotent)
        if (h.pay_next_at === null) return null; // settled already
        const attempts = h.pay_attempts + 1;
        // The shopper must authenticate: the page gets the secret with the hold (HoldView.action).
        const action = outcome.status === "requires_action" && h.status === "pending" ? outcome.client_secret : null;
        let nextAt: number | null;
        let gaveUp: HoldRow | null = null;
        if (h.status !== "pending") {
          // Watching a released hold for a late success; stop after WATCH_FOR_MS.
          const next = now + WATCH_MS;
          nextAt = next < (h.pay_deadline ?? 0) ? next : null;
          this.sql.exec("UPDATE holds SET pay_attempts = ?, pay_next_at = ? WHERE id = ?", attempts, nextAt, h.id);
        } else if (now >= (h.pay_deadline ?? 0)) {
          // Asked again and again without an answer: free the stock, keep watching for money.
          const why =
            outcome.status === "requires_action"
              ? "the shopper did not complete the payment in time"
              : `payment outcome unknown after ${attempts - 1} attempts`;
          this.host.holds.end(h, "expired", now, why);
          nextAt = now + WATCH_MS;
          this.sql.exec(
            "UPDATE holds SET pay_attempts = ?, pay_next_at = ?, pay_deadline = ?, pay_action = NULL WHERE id = ?",
            attempts,
            nextAt,
            now + WATCH_FOR_MS,
            h.id,
          );
          gaveUp = h;
        } else {
          // A 429 backs off with jitter (Stripe's advice), so retries spread instead of meeting again.
          const limited = outcome.status === "unknown" && outcome.rate_limited === true;
          const next = now + backoffMs(this.s.PAY_RETRY_MS, attempts, limited, MAX_BACKOFF_MS);
          nextAt = Math.min(next, h.pay_deadline ?? next);
          this.sql.exec("UPDATE holds SET pay_attempts = ?, pay_next_at = ?, pay_action = ? WHERE id = ?", attempts, nextAt, action, h.id);
        }
        if (nextAt !== null) this.host.want(nextAt);
        this.host.series.add(now, { pay_unknown: 1 });
        if (outcome.status === "unknown" && outcome.rate_limited) this.host.queue.rateLimited(now);
        if (outcome.status !== "requires_action") {
          this.host.log("warn", "pay_unknown", {
            sale: cfg.id,
            hold: h.id,
            attempts,
            reason: "reason" in outcome ? outcome.reason : "not_found",
          });
        }
        return gaveUp;
      }
    }
  }

  /** Units a card pays for in this sale (pending or paid), besides hold `except`. */
  private cardUnits(card: string, except: string): number {
    return (
      this.sql
        .exec<{ n: number | null }>(
          "SELECT SUM(qty) AS n FROM holds WHERE pay_fingerprint = ? AND status IN ('pending', 'confirmed') AND id != ?",
          card,
          except,
        )
        .one().n ?? 0
    );
  }

  private key(h: HoldRow): string {
    return `pay_${h.id}`;
  }

  private request(h: HoldRow): PaymentRequest {
    const cfg = this.host.sale.existingConfig();
    return {
      key: this.key(h),
      ref: h.pay_ref,
      amount: h.amount,
      currency: cfg.product.currency,
      method: h.pay_method ?? "tok_visa",
      reference: h.id,
      sale: cfg.id,
      payer: h.user_id,
    };
  }

  nextAlarm(): number | null {
    return this.sql.exec<{ t: number | null }>("SELECT MIN(pay_next_at) AS t FROM holds WHERE pay_next_at IS NOT NULL").one().t;
  }

  /** Alarm step: ask the gateway again about unknown outcomes (pending holds, watched ones). */
  async reaskDue(now: number): Promise<void> {
    // Payments whose turn is stored are picked up a little early: each waits for its own slot.
    const due = this.sql
      .exec<Paced>("SELECT * FROM holds WHERE pay_next_at <= ? ORDER BY pay_next_at LIMIT 50", now + this.host.queue.lookahead())
      .toArray()
      .filter((h) => h.pay_next_at! <= now || (h.status === "pending" && h.pay_slot != null));
    await Promise.all(
      due.map(async (h) => {
        // A pending payment is completed or asked about (at its turn); a released hold's
        // payment is only looked up, so nothing new is ever charged for it.
        if (h.status === "pending") {
          if (!(await this.host.queue.turn(h))) return;
          return h.pay_attempts === 0 ? this.runQueued(h) : this.attempt(h, false);
        }
        await this.receive(h.id, await this.host.gateway().lookup(this.request(h)));
      }),
    );
  }

  /** Where a hold's payment stands at the provider (a webhook said it changed). */
  async lookupFor(holdId: string): Promise<LookupOutcome | null> {
    const h = this.host.holds.get(holdId);
    if (!h || h.pay_method === null) return null;
    return this.host.gateway().lookup(this.request(h));
  }
}
