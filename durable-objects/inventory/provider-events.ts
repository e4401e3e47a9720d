import { ok, refuse, type Result } from "../../domain/result";
import type { LookupOutcome } from "../payments/gateway";
import type { HoldRow, Holds } from "./holds";
import type { Host } from "./host";
import type { Refunds } from "./refunds";
import type { Sale } from "./sale";

/** Events the provider pushed (Stripe's webhooks), each applied once: its id is kept. */
export const PROVIDER_EVENTS_DDL = [
  `CREATE TABLE IF NOT EXISTS provider_events (
    id TEXT PRIMARY KEY, hold_id TEXT NOT NULL, type TEXT NOT NULL, received_at INTEGER NOT NULL)`,
];

/**
 * What the edge hands over once a webhook's signature is verified: a hold's payment changed (the
 * object asks the provider where it stands, so an event out of order or late is read against
 * the truth, not its own snapshot), or a charge was refunded.
 */
export type ProviderEvent =
  | { id: string; type: string; hold: string; kind: "payment" }
  | { id: string; type: string; hold: string; kind: "refunded"; charge_id: string; refund_id: string; amount: number };
export type ProviderEventAnswer = { applied: boolean; note: string };

export interface ProviderEventsHost extends Host {
  sale: Pick<Sale, "existingConfig">;
  holds: Pick<Holds, "get">;
  refunds: Pick<Refunds, "refundedAtProvider">;
  /** Where the hold's payment stands at the provider (null: it never had one). */
  lookup(holdId: string): Promise<LookupOutcome | null>;
  /** Applies a payment outcome inside the caller's transaction, by the rules of a direct answer. */
  settle(h: HoldRow, outcome: LookupOutcome, now: number): void;
}

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
    if (this.seen(e.id)) return ok({ applied: false, note: "duplicate: this event was applied before" });
    if (!this.host.holds.get(e.hold)) return ok({ applied: false, note: "no such hold" });
    let outcome: LookupOutcome | null = null;
    if (e.kind === "payment") {
      outcome = await this.host.lookup(e.hold);
      if (outcome === null) return ok({ applied: false, note: "this hold has no payment" });
      // The provider could not say: nothing is written, and a 503 has the event delivered again.
      if (outcome.status === "unknown") return refuse("unavailable", `the payment could not be looked up (${outcome.reason}); deliver again`);
    }
    const now = this.host.now();
    const note = this.host.transactionSync(() => {
      const fresh = this.sql.exec(
        "INSERT INTO provider_events (id, hold_id, type, received_at) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING RETURNING id",
        e.id, e.hold, e.type, now,
      ).toArray().length > 0;
      if (!fresh) return null;
      const h = this.host.holds.get(e.hold)!;
      if (e.kind === "refunded") {
        this.host.refunds.refundedAtProvider(h, e.charge_id, e.refund_id, e.amount, this.host.sale.existingConfig(), now);
        return "refund recorded";
      }
      this.host.settle(h, outcome!, now);
      return `payment ${outcome!.status}`;
    });
    this.host.armAlarm();
    this.host.log("info", "provider_event", { hold: e.hold, event: e.id, type: e.type, note: note ?? "duplicate" });
    return ok(note === null ? { applied: false, note: "duplicate: this event was applied before" } : { applied: true, note });
  }
}
