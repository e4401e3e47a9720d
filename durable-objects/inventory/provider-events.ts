import { ok, refuse, type Result } from "../../domain/result";
import type { ChargeOutcome, LookupOutcome } from "../payments/gateway";
import type { Holds } from "./holds";
import type { Host } from "./host";
import type { Refunds } from "./refunds";
import type { Sale } from "./sale";

/** Events the provider pushed (Stripe's webhooks, the simulator's deliveries), each applied once: its id is kept. */
export const PROVIDER_EVENTS_DDL = [
  `CREATE TABLE IF NOT EXISTS provider_events (
    id TEXT PRIMARY KEY, hold_id TEXT NOT NULL, type TEXT NOT NULL, received_at INTEGER NOT NULL)`,
];

/** What names an event: its id at the provider (the same on every delivery of it), and its type. */
export type EventMark = { id: string; type: string };

/**
 * Records an event's id inside the caller's transaction: true the first time, false for any
 * later delivery (whose transaction must then change nothing). The one de-duplication of every
 * pushed event, payment or refund.
 */
export function firstDelivery(sql: SqlStorage, e: EventMark & { hold: string }, now: number): boolean {
  return (
    sql
      .exec(
        "INSERT INTO provider_events (id, hold_id, type, received_at) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING RETURNING id",
        e.id,
        e.hold,
        e.type,
        now,
      )
      .toArray().length > 0
  );
}

/**
 * What reaches the object once a provider pushed it: a hold's payment changed (a verified
 * webhook is a prompt: the object asks the provider where it stands, so an event out of order or
 * late is read against the truth, not its own snapshot), the provider's own outcome (the
 * simulated gateway, which is the provider, delivers the outcome itself), or a charge was refunded.
 */
export type ProviderEvent =
  | (EventMark & { hold: string; kind: "payment" })
  | (EventMark & { hold: string; kind: "outcome"; outcome: ChargeOutcome | LookupOutcome })
  | (EventMark & { hold: string; kind: "refunded"; charge_id: string; refund_id: string; amount: number });
export type ProviderEventAnswer = { applied: boolean; note: string };

export interface ProviderEventsHost extends Host {
  sale: Pick<Sale, "existingConfig">;
  holds: Pick<Holds, "get">;
  refunds: Pick<Refunds, "refundedAtProvider">;
  /** Where the hold's payment stands at the provider (null: it never had one). */
  lookup(holdId: string): Promise<LookupOutcome | null>;
  /** The payments' one door for an outcome (payments.ts `receive`): false if this event was applied before. */
  receive(holdId: string, outcome: ChargeOutcome | LookupOutcome, event: EventMark): Promise<boolean>;
}

const DUPLICATE = "duplicate: this event was applied before";

export class ProviderEvents {
  private readonly sql: SqlStorage;

  constructor(private readonly host: ProviderEventsHost) {
    this.sql = host.sql;
  }

  private seen(id: string): boolean {
    return this.sql.exec("SELECT 1 FROM provider_events WHERE id = ?", id).toArray().length > 0;
  }

  /** Applies an event once (a delivery repeated, or two deliveries racing, change nothing twice). */
  async apply(e: ProviderEvent): Promise<Result<ProviderEventAnswer>> {
    // Seen already: not even the provider is asked again.
    if (this.seen(e.id)) return ok({ applied: false, note: DUPLICATE });
    if (!this.host.holds.get(e.hold)) return ok({ applied: false, note: "no such hold" });
    let note: string | null;
    if (e.kind === "refunded") {
      const now = this.host.now();
      note = this.host.transactionSync(() => {
        if (!firstDelivery(this.sql, e, now)) return null;
        this.host.refunds.refundedAtProvider(
          this.host.holds.get(e.hold)!,
          e.charge_id,
          e.refund_id,
          e.amount,
          this.host.sale.existingConfig(),
          now,
        );
        return "refund recorded";
      });
      this.host.armAlarm();
    } else {
      const outcome = e.kind === "outcome" ? e.outcome : await this.host.lookup(e.hold);
      if (outcome === null) return ok({ applied: false, note: "this hold has no payment" });
      // The provider could not say: nothing is written, and a 503 has the event delivered again.
      if (outcome.status === "unknown")
        return refuse("unavailable", `the payment could not be looked up (${outcome.reason}); deliver again`);
      note = (await this.host.receive(e.hold, outcome, e)) ? `payment ${outcome.status}` : null;
    }
    this.host.log("info", "provider_event", { hold: e.hold, event: e.id, type: e.type, note: note ?? "duplicate" });
    return ok(note === null ? { applied: false, note: DUPLICATE } : { applied: true, note });
  }
}
