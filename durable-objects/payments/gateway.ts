/**
 * The payment provider, seen from a product object. Every call carries an idempotency key
 * derived from the hold, so asking again (after a timeout, a crash, an alarm retry) can never
 * charge twice. "unknown" means exactly that: the charge may or may not have happened, and the
 * hold stays pending until the provider has been asked again by the same key.
 */
export type ChargeRequest = { key: string; amount: number; currency: string; method: string; reference: string };
export type ChargeOutcome =
  | { status: "succeeded"; charge_id: string }
  | { status: "declined"; reason: string }
  | { status: "unknown"; reason: string };
export type LookupOutcome = ChargeOutcome | { status: "not_found" };
export type RefundRequest = { key: string; charge_id: string; amount: number; currency: string };
export type RefundOutcome = { status: "refunded"; refund_id: string } | { status: "failed"; reason: string };

export interface PaymentGateway {
  charge(req: ChargeRequest): Promise<ChargeOutcome>;
  lookup(key: string): Promise<LookupOutcome>;
  refund(req: RefundRequest): Promise<RefundOutcome>;
}
