import { randomHex } from "../../domain/ids";
import { ok, refuse, type Result } from "../../domain/result";
import type { ClaimAnswer } from "../../domain/schemas/hold";
import type { ClaimRequest } from "./claims";
import type { Host, Scheduled } from "./host";
import type { Sale } from "./sale";
import type { Intent, ShardLedger } from "./shard";

/** A shard's request to a sibling: `n` units under transfer id `id`, for shard `to`. */
export type Give = { id: string; to: number; n: number };
/** The grant, and what the giver had left after it (a hint for who to ask first next time). */
export type Granted = { granted: number; left: number };

/**
 * Where a test may make a shard stop mid-transfer (the object restarts there). Set only on the
 * instance (runInDurableObject), never over RPC; it fires once.
 */
export type TransferFault = "receiver_after_intent" | "receiver_before_apply" | "giver_after_give";

export interface RebalanceHost extends Host {
  ledger: ShardLedger;
  sale: Pick<Sale, "row" | "transfer" | "cachedId">;
  /** Another shard of this sale. */
  sibling(shard: number): { give(t: Give): Promise<Result<Granted>> };
  /** Resolves once every write so far is on disk. */
  sync(): Promise<void>;
  /** Restarts the object (test faults only). */
  abort(reason: string): void;
  faults: { transfer: TransferFault | null };
}

/** An intent not answered in this long is asked again by the alarm (then backing off). */
const ASK_AGAIN_MS = 1000;
const MAX_BACKOFF_MS = 30_000;
/** Refills a claim may wait for before its "sold out" stands (each one found units, or it stops). */
const MAX_ROUNDS = 8;
/**
 * After a round in which every sibling answered that it had nothing, "sold out" stands this long
 * without asking again (about the edge's own cache of it): a sold-out sale's claims then cost a
 * shard no more than an unsharded sale's. Units that come back meanwhile (an expiry, a cancel)
 * are found by the first round after it.
 */
const DRY_MS = 500;

/**
 * Rebalancing between the shards of a sharded sale (shard.ts has the ledger and the rules). A
 * claim this shard answers "sold out" waits for a refill: one round at a time asks the siblings,
 * one after another from a random one, for the units the waiting claims want, and the claims are
 * applied again with what came. Claims that fail while a round runs form the next round
 * together (as group commit does for claims), so a dry shard asks for what its shoppers want,
 * not once per shopper. A round that finds nothing anywhere lets "sold out" stand.
 *
 * Crash safety: the intent is on disk before the giver is asked; the giver's grant is recorded
 * under the transfer id (asking again answers the same grant); the receiver applies it once. An
 * intent whose answer was lost (either side restarted, a call failed) is asked again by this
 * object's alarm until it is applied, so units given are never lost and never counted twice.
 */
export class Rebalance implements Scheduled {
  private running: Promise<number> | undefined;
  private next: { want: number; result: Promise<number> } | undefined;
  /** What each sibling had left when it last answered (in memory: only the order of asking depends on it). */
  private readonly left = new Map<number, number>();
  private dryUntil = 0;

  constructor(private readonly host: RebalanceHost) {}

  /**
   * A claim on a sharded sale: "sold out" here is only the answer once the siblings have nothing
   * to give. `attempt(req, tentative)` applies it; `soldOut()` counts a final "sold out" (the
   * tentative ones are not counted as outcomes).
   */
  async claim(
    req: ClaimRequest,
    attempt: (req: ClaimRequest, tentative: boolean) => Promise<Result<ClaimAnswer>>,
    soldOut: () => void,
  ): Promise<Result<ClaimAnswer>> {
    let r = await attempt(req, true);
    for (let i = 0; i < MAX_ROUNDS && !r.ok && r.error === "sold_out"; i++) {
      if ((await this.refill(req.qty)) === 0) break;
      r = await attempt(req, true);
    }
    if (!r.ok && r.error === "sold_out") soldOut();
    return r;
  }

  /** Units for `qty` more: joins the round that starts next (after the one running), and answers what it got. */
  refill(qty: number): Promise<number> {
    if (this.next) {
      this.next.want += qty;
      return this.next.result;
    }
    const slot = { want: qty } as { want: number; result: Promise<number> };
    slot.result = (this.running ?? Promise.resolve(0))
      .catch(() => 0)
      .then(() => {
        this.next = undefined; // demand from now on forms the round after this one
        const r = this.round(slot.want);
        this.running = r;
        return r.finally(() => {
          if (this.running === r) this.running = undefined;
        });
      });
    this.next = slot;
    return slot.result;
  }

  /**
   * Asks the siblings in turn until `want` units came or all were asked: first those that had
   * most left when they last answered, then those not asked yet, then those that had nothing
   * (random among equals, so that dry shards do not all ask the same one first).
   */
  private async round(want: number): Promise<number> {
    const where = this.host.ledger.where;
    if (!where || where.count < 2 || this.host.now() < this.dryUntil) return 0;
    const rank = (i: number) => {
      const l = this.left.get(i);
      return l === undefined ? 0.5 : l === 0 ? 0 : 1 + l;
    };
    const siblings = Array.from({ length: where.count }, (_, i) => i)
      .filter((i) => i !== where.idx)
      .map((i) => ({ i, r: rank(i), tie: Math.random() }))
      .sort((a, b) => b.r - a.r || a.tie - b.tie);
    let got = 0;
    let answered = 0;
    for (const { i } of siblings) {
      if (got >= want) break;
      const k = await this.ask(i, want - got);
      if (k !== null) answered++;
      got += k ?? 0;
    }
    // Everyone answered "nothing": the sale is sold out for the moment.
    this.dryUntil = got === 0 && answered === siblings.length ? this.host.now() + DRY_MS : 0;
    return got;
  }

  /** One transfer asked of `from`: the units applied, or null if it did not answer (the alarm asks again). */
  private async ask(from: number, n: number): Promise<number | null> {
    const now = this.host.now();
    const id = `t${this.host.ledger.where!.idx}.${from}.${now.toString(36)}.${randomHex(4)}`;
    this.host.transactionSync(() => {
      this.host.ledger.intend(id, from, n, now, now + ASK_AGAIN_MS);
      this.host.want(now + ASK_AGAIN_MS);
    });
    this.host.armAlarm();
    await this.host.sync(); // the intent is on disk before the giver can act on it
    await this.crashIf("receiver_after_intent");
    return this.settle({ id, from_shard: from, asked: n, attempts: 0 });
  }

  /** Asks the giver (again: it answers the same grant) and applies its answer once; null if it did not answer. */
  private async settle(t: Intent): Promise<number | null> {
    const where = this.host.ledger.where!;
    let answer: Result<Granted>;
    try {
      answer = await this.host.sibling(t.from_shard).give({ id: t.id, to: where.idx, n: t.asked });
    } catch (e) {
      this.later(t, String(e));
      return null;
    }
    if (!answer.ok) {
      this.later(t, `${answer.error}: ${answer.message}`);
      return null;
    }
    this.left.set(t.from_shard, answer.value.left);
    await this.crashIf("receiver_before_apply");
    const k = answer.value.granted;
    const now = this.host.now();
    const applied = this.host.transactionSync(() => {
      if (!this.host.ledger.applied(t.id, k, now)) return false;
      if (k > 0) this.host.sale.transfer(k);
      return true;
    });
    if (applied && k > 0)
      this.host.log("info", "transfer", {
        sale: this.host.sale.cachedId(),
        id: t.id,
        from: t.from_shard,
        to: where.idx,
        asked: t.asked,
        granted: k,
      });
    return k; // applied now or by a concurrent ask: either way the units are here
  }

  /** The answer did not come: the alarm asks again, later each time. */
  private later(t: Intent, why: string): void {
    const at = this.host.now() + Math.min(MAX_BACKOFF_MS, ASK_AGAIN_MS * 2 ** (t.attempts + 1));
    this.host.transactionSync(() => {
      this.host.ledger.retryAt(t.id, at);
      this.host.want(at);
    });
    this.host.armAlarm();
    this.host.log("warn", "transfer_unanswered", {
      sale: this.host.sale.cachedId(),
      id: t.id,
      from: t.from_shard,
      attempts: t.attempts + 1,
      retry_in_ms: at - this.host.now(),
      error: why.slice(0, 200),
    });
  }

  /** The giver's side: grants `min(n, available)` once per transfer id; asked again, the same grant. */
  async give(t: Give): Promise<Result<Granted>> {
    const where = this.host.ledger.where;
    if (!where) return refuse("not_found", "this object is not a shard of a sharded sale");
    if (!Number.isInteger(t.n) || t.n < 1 || !Number.isInteger(t.to) || t.to === where.idx || t.to < 0 || t.to >= where.count) {
      return refuse("invalid_request", `a transfer is 1 or more units for another shard of ${where.count}`);
    }
    const now = this.host.now();
    const answer = this.host.transactionSync((): Granted => {
      const available = this.host.sale.row()!.available;
      const seen = this.host.ledger.granted(t.id);
      if (seen !== null) return { granted: seen, left: available };
      const k = Math.min(t.n, available);
      this.host.ledger.gave(t.id, t.to, t.n, k, now);
      if (k > 0) this.host.sale.transfer(-k);
      return { granted: k, left: available - k };
    });
    await this.crashIf("giver_after_give");
    return ok(answer);
  }

  nextAlarm(): number | null {
    return this.host.ledger.nextAlarm();
  }

  /** Alarm step: intents whose answer was lost are asked again. */
  async retryDue(now: number): Promise<void> {
    if (!this.host.ledger.where) return;
    await Promise.all(this.host.ledger.due(now, 50).map((t) => this.settle(t)));
  }

  /** A test's fault, once: what is written so far is made durable, then the object restarts. */
  private async crashIf(f: TransferFault): Promise<void> {
    if (this.host.faults.transfer !== f) return;
    this.host.faults.transfer = null;
    await this.host.sync();
    this.host.abort(`injected fault: ${f}`);
    throw new Error(`injected fault: ${f}`);
  }
}
