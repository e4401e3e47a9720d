import { notOpen, soldOut } from "../../domain/claim-gate";
import { ok, refuse, type Refusal, type Result } from "../../domain/result";
import type { ClaimAnswer } from "../../domain/schemas/hold";
import { CLAIM_OUTCOMES, type SeriesField } from "../../domain/schemas/series";
import type { SaleConfig } from "../../domain/schemas/sale";
import { statusOf } from "../../domain/clock";
import { iso, type Host } from "./host";
import { holdView, type Holds } from "./holds";
import { noSale, type Sale } from "./sale";
import type { Turns } from "./turns";
import type { Waitlist } from "./waitlist";

/**
 * A claim: `user` owns the hold (the session that sees and pays it), `identity` is who the
 * per-user limit counts (src/edge/identity.ts; the owner when not given), `key` its
 * Idempotency-Key, `turn` the end of the pass it came with (turns.ts: the turn it uses).
 */
export type ClaimRequest = { user: string; identity?: string; qty: number; key: string; turn?: number };

/**
 * A claim and its answer, set inside the transaction and sent only once that has committed.
 * `tentative`: a shard's attempt whose "sold out" may yet be undone by a refill (rebalance.ts),
 * so it is not counted as an outcome (the final answer is).
 */
type Claim = { req: ClaimRequest; answer: Result<ClaimAnswer>; tentative?: boolean };
type Queued = Claim & { resolve: (r: Result<ClaimAnswer>) => void; reject: (e: unknown) => void };

/** What a claim answers until its batch is applied (no claim is ever sent it: `apply` sets all). */
const NOT_APPLIED: Refusal = refuse("internal", "the claim was not applied");
const BATCH_LIMIT = 500; // claims per group commit; the rest wait for the next one
/** A claim's outcome (log key) → its field in the operators' series. */
const SERIES_KEY = new Map<string, SeriesField>(CLAIM_OUTCOMES.map((k) => [k, `claim_${k}`]));

export interface ClaimsHost extends Host {
  groupCommit: boolean;
  /** MUTATION=skip-stock-check (tests of the tests only): a short stock grants the hold anyway. */
  skipStockCheck?: boolean;
  /** The object's served counters (stats). */
  served: { claims: number; batches: number };
  sale: Pick<Sale, "row" | "config" | "take" | "forget" | "cachedId">;
  holds: Pick<Holds, "mine" | "insert" | "view">;
  waitlist: Pick<Waitlist, "waiting" | "join" | "leave">;
  turns: Pick<Turns, "use">;
}

/**
 * The claim: a hold for `qty` units, the shopper's existing hold, a waitlist place, or a
 * refusal. Claims that arrive while a commit is in flight are applied together in the next
 * transaction (group commit), each still answered only after that transaction is durable.
 */
export class Claims {
  // The parts a claim uses, held directly: this is the hot path.
  private readonly served: ClaimsHost["served"];
  private readonly sale: ClaimsHost["sale"];
  private readonly holds: ClaimsHost["holds"];
  private readonly waitlist: ClaimsHost["waitlist"];
  private readonly skipStockCheck: boolean;
  private queue: Queued[] = [];
  private draining = false;
  private claimLog: { claims: number; batches: number; outcomes: Record<string, number>; timer?: ReturnType<typeof setTimeout> } = {
    claims: 0,
    batches: 0,
    outcomes: {},
  };

  constructor(private readonly host: ClaimsHost) {
    this.served = host.served;
    this.sale = host.sale;
    this.holds = host.holds;
    this.waitlist = host.waitlist;
    this.skipStockCheck = host.skipStockCheck === true;
  }

  claim(req: ClaimRequest, tentative?: boolean): Promise<Result<ClaimAnswer>> {
    this.served.claims++;
    if (!this.host.groupCommit) {
      // The baseline group commit is measured against: one transaction per claim.
      const c: Claim = { req, answer: NOT_APPLIED, tentative };
      this.apply([c], this.host.now());
      this.host.armAlarm();
      this.logClaims([c]);
      return Promise.resolve(c.answer);
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ req, answer: NOT_APPLIED, tentative, resolve, reject });
      if (!this.draining) void this.drain();
    });
  }

  /** Group commit: apply everything queued in one transaction, then let the next batch gather. */
  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, BATCH_LIMIT);
        try {
          this.apply(batch, this.host.now());
        } catch (e) {
          this.sale.forget();
          for (const q of batch) q.reject(e);
          continue;
        }
        this.served.batches++;
        this.host.armAlarm();
        for (const q of batch) q.resolve(q.answer);
        this.logClaims(batch);
        // Replies leave only once this commit is durable: the output gate holds them, so there
        // is no need to wait for the flush here (awaiting storage.sync() measured 1.5-2x slower:
        // ~2 claims per commit instead of 8-30). Yielding one macrotask lets the claims that
        // arrive meanwhile form the next batch. test/restart.test.ts restarts right after one.
        await new Promise((r) => setTimeout(r, 0));
      }
    } finally {
      this.draining = false;
    }
  }

  /**
   * Claim outcomes, logged at most once a second with counts (a line per claim, or even per
   * batch, measured as ~8 % of the object's time under a spike), and counted in the operators'
   * series (in memory, once per batch).
   */
  private logClaims(claims: Claim[]): void {
    const o = this.claimLog;
    const batch: Partial<Record<SeriesField, number>> = {};
    for (const { answer: r, tentative } of claims) {
      if (tentative && !r.ok && r.error === "sold_out") continue;
      const k = r.ok ? (r.value.kind === "hold" ? (r.value.created ? "held" : "replayed") : "waitlisted") : r.error;
      o.outcomes[k] = (o.outcomes[k] ?? 0) + 1;
      const f = SERIES_KEY.get(k) ?? "claim_other";
      batch[f] = (batch[f] ?? 0) + 1;
    }
    this.host.series.add(this.host.now(), batch);
    o.claims += claims.length;
    o.batches++;
    this.flushLogSoon();
  }

  /** A shard's final "sold out" after its refill found nothing (its attempts were tentative). */
  countSoldOut(): void {
    this.claimLog.outcomes.sold_out = (this.claimLog.outcomes.sold_out ?? 0) + 1;
    this.host.series.add(this.host.now(), { claim_sold_out: 1 });
    this.flushLogSoon();
  }

  private flushLogSoon(): void {
    const o = this.claimLog;
    if (o.timer) return;
    o.timer = setTimeout(() => {
      this.host.log("info", "claim", { sale: this.sale.cachedId(), claims: o.claims, batches: o.batches, ...o.outcomes });
      this.claimLog = { claims: 0, batches: 0, outcomes: {} };
    }, 1000);
  }

  /**
   * Claims in one transaction, each answer set on its claim. The sale row is read once and
   * written once per batch (the stock taken is counted in memory in between); per claim it is
   * one look-up of the shopper's holds and, for a new hold, one insert. The limit and
   * idempotency checks see the holds inserted earlier in the same batch.
   */
  private apply(claims: Claim[], now: number): void {
    this.host.transactionSync(() => {
      const row = this.sale.row();
      if (!row) {
        for (const c of claims) c.answer = noSale();
        return;
      }
      const cfg = this.sale.config(row);
      // Once per batch: the sale's window and switch are the same for every claim in it.
      const closed = notOpen(statusOf(row.state, cfg, now), iso(cfg.starts_at));
      const stock = { available: row.available, held: row.held };
      for (const c of claims) c.answer = this.applyOne(c.req, stock, cfg, closed, now);
      const taken = row.available - stock.available;
      // (The mutation takes what is there, so the counters' CHECK does not stop its oversell.)
      if (taken > 0) this.sale.take(stock.available < 0 ? row.available : taken);
    });
  }

  private applyOne(
    { user, identity = user, qty, key, turn }: ClaimRequest,
    stock: { available: number; held: number },
    cfg: SaleConfig,
    closed: Refusal | undefined,
    now: number,
  ): Result<ClaimAnswer> {
    const mine = this.holds.mine(user, identity, key);
    // A replay answers what the first request got, whatever happened since.
    const same = mine.find((h) => h.idem_key === key && h.user_id === user);
    if (same) return ok({ kind: "hold", hold: this.holds.view(same, cfg), created: false });

    if (closed) return closed;

    const used = mine.reduce((n, h) => n + h.qty, 0);
    if (used + qty > cfg.per_user_limit) {
      // The shopper's own active hold is their answer; another session's (same network) is not theirs to see.
      const active = mine.find((h) => (h.status === "held" || h.status === "pending") && h.user_id === user);
      if (active) return ok({ kind: "hold", hold: this.holds.view(active, cfg), created: false });
      return refuse("limit_reached", `at most ${cfg.per_user_limit} per shopper in this sale`, {
        per_user_limit: cfg.per_user_limit,
      });
    }

    if (cfg.release_policy === "waitlist") {
      // Nothing held or paying and too little left: no unit can come back to the list, so the
      // answer is the final "sold out" (and the shopper leaves the list) rather than a wait
      // without end. A restock offers its units to those still on it.
      if (stock.available < qty && stock.held === 0) {
        this.waitlist.leave(user);
        return soldOut(stock, qty, cfg.release_policy)!;
      }
      if (this.waitlist.waiting() > 0 || stock.available < qty) {
        return ok({ kind: "waitlisted", position: this.waitlist.join(user, identity, qty, now) });
      }
    }
    // skipStockCheck: a deliberate bug for testing the tests (MUTATION, docs/testing.md).
    const short = this.skipStockCheck ? null : soldOut(stock, qty, cfg.release_policy);
    if (short) return short;
    // A turn carries one unit: once the identity's holds under it have ended (paid, or unpaid: that
    // unit went to the next place in line), the same pass makes no other hold. Nothing below
    // refuses, so the turn is marked used by the same statement that asks.
    if (turn !== undefined && !this.host.turns.use(turn, identity) && !mine.some((h) => h.status === "held" || h.status === "pending")) {
      return refuse(
        "pass_required",
        "this pass has had its turn (its hold has ended, and an unpaid unit went to the next shopper in line): queue again for another",
      );
    }
    stock.available -= qty;
    stock.held += qty;
    // A new hold has no refund: its view needs no look-up.
    return ok({
      kind: "hold",
      hold: holdView(this.holds.insert(user, identity, key, qty, "claim", cfg, now), cfg, undefined),
      created: true,
    });
  }
}
