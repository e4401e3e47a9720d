import { DurableObject } from "cloudflare:workers";
import { now as clockNow } from "../domain/clock";
import { settings, type Settings } from "../domain/config";
import { COST, pacerRates, paymentsPerSecond, reserve, stripeAccountRate, type Bucket, type Rates } from "../domain/payment-rate.js";

/** What a caller is granted: when its requests may go, and where it stands in the account's line. */
export type Slot = {
  /** Epoch ms: the payment's requests may start then. */
  at: number;
  /** Payments granted before this one that are not due yet (an estimate from the rate). */
  position: number;
  /** Ms between two payments' slots at the pacer's rate (a view turns `at` into a position with it). */
  gap_ms: number;
};
export type SlotKind = keyof typeof COST;

/** The pacer's rates for these settings (a test key's account is a sandbox's). */
export function ratesOf(s: Pick<Settings, "STRIPE_RATE_ACCOUNT" | "STRIPE_RATE_ENDPOINT" | "STRIPE_RATE_HEADROOM">, live: boolean): Rates {
  return pacerRates({
    account: s.STRIPE_RATE_ACCOUNT ?? stripeAccountRate(live),
    endpoint: s.STRIPE_RATE_ENDPOINT,
    headroom: s.STRIPE_RATE_HEADROOM,
  });
}

/** This Worker's pacer rates: its settings, for a live key's account or a sandbox's. */
export const ratesFor = (env: Env): Rates => ratesOf(settings(env), (env.STRIPE_SECRET_KEY ?? "").startsWith("sk_live_"));

/**
 * One per Stripe account (named by `pacerName`), shared by every sale and shard that pays with
 * it: it grants each payment a slot, the time its requests may go, from token buckets, one per
 * endpoint a payment uses and one for the account, at Stripe's limits less the headroom.
 *
 * It never waits itself: a grant is one step of arithmetic (domain/payment-rate.js `reserve`),
 * in order of arrival, so the line is FIFO. The product object that owns the hold keeps the
 * slot with the hold and its alarm pays at that time, so a restart of either loses no payment:
 * the buckets' next free times are stored before the grant is answered (the output gate), and a
 * grant that was never used only leaves a gap in the line.
 */
export class PaymentPacer extends DurableObject<Env> {
  private readonly rates: Rates;
  private next: Partial<Record<Bucket, number>> = {};
  private granted: Record<SlotKind, number> = { payment: 0, retry: 0, call: 0, recheck: 0 };

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.rates = ratesFor(env);
    const sql = ctx.storage.sql;
    sql.exec("CREATE TABLE IF NOT EXISTS buckets (name TEXT PRIMARY KEY, next INTEGER NOT NULL)");
    sql.exec("CREATE TABLE IF NOT EXISTS granted (kind TEXT PRIMARY KEY, n INTEGER NOT NULL)");
    for (const r of sql.exec<{ name: Bucket; next: number }>("SELECT name, next FROM buckets")) this.next[r.name] = r.next;
    for (const r of sql.exec<{ kind: SlotKind; n: number }>("SELECT kind, n FROM granted")) this.granted[r.kind] = r.n;
  }

  /** A slot for one payment (or one retry of an unknown outcome), after every slot granted before it. */
  grant(kind: SlotKind): Slot {
    const now = clockNow();
    const cost = COST[kind];
    const r = reserve(this.next, this.rates, cost, now);
    this.next = r.next;
    this.granted[kind]++;
    const sql = this.ctx.storage.sql;
    for (const [name, next] of Object.entries(r.next)) {
      sql.exec(
        "INSERT INTO buckets (name, next) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET next = excluded.next",
        name,
        Math.ceil(next),
      );
    }
    sql.exec("INSERT INTO granted (kind, n) VALUES (?, 1) ON CONFLICT (kind) DO UPDATE SET n = n + 1", kind);
    const gap = this.gapMs();
    const g = kind === "call" || kind === "recheck" ? 1000 / this.rates.calls : gap;
    return { at: Math.ceil(r.at), position: Math.max(0, Math.ceil((r.at - now) / g)), gap_ms: g };
  }

  /** The pacer's figures: its rates, payments per second, how far its line reaches, grants so far. */
  stats() {
    const now = clockNow();
    const end = Math.max(now, this.next.account ?? 0);
    return {
      rates: this.rates,
      payments_per_s: paymentsPerSecond(this.rates),
      line_ms: end - now,
      waiting: Math.ceil((end - now) / this.gapMs()),
      granted: { ...this.granted },
    };
  }

  private gapMs(): number {
    return 1000 / paymentsPerSecond(this.rates);
  }
}

export type PacerStats = ReturnType<PaymentPacer["stats"]>;

const names = new WeakMap<object, Promise<string>>();

/**
 * The pacer's name for this Worker's Stripe account: STRIPE_ACCOUNT when set, else a hash of
 * the secret key (never the key itself), so every sale and shard paying with one key shares one.
 */
export function pacerName(env: Env): Promise<string> {
  let n = names.get(env);
  if (!n) {
    const s = settings(env);
    n = s.STRIPE_ACCOUNT
      ? Promise.resolve(`acct:${s.STRIPE_ACCOUNT}`)
      : crypto.subtle.digest("SHA-256", new TextEncoder().encode(env.STRIPE_SECRET_KEY ?? "")).then(
          (d) =>
            `key:${[...new Uint8Array(d)]
              .slice(0, 12)
              .map((b) => b.toString(16).padStart(2, "0"))
              .join("")}`,
        );
    names.set(env, n);
  }
  return n;
}

/** The pacer of this Worker's Stripe account, or null when payments are not paced (the simulated gateway). */
export async function pacerFor(env: Env) {
  if (settings(env).GATEWAY !== "stripe") return null;
  return env.PACER.get(env.PACER.idFromName(await pacerName(env)));
}
