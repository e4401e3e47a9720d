/**
 * The payment provider, seen from a product object. Every call carries an idempotency key
 * derived from the hold, so asking again (after a timeout, a crash, an alarm retry) can never
 * charge twice. "unknown" means exactly that: the charge may or may not have happened, and the
 * hold stays pending until the provider has been asked again about the same payment.
 *
 * A payment has a `ref`, the provider's name for it (Stripe: the PaymentIntent id), stored in the
 * hold's row before any money can move: a provider that names payments itself `open`s one first
 * (idempotently, by key); one that does not uses the key as the ref.
 */
export type PaymentRequest = {
  key: string;
  /** The provider's payment (null until `open` answered). */
  ref: string | null;
  amount: number;
  currency: string;
  method: string;
  /** The hold id (the provider keeps it with the payment, e.g. in metadata). */
  reference: string;
  sale: string;
  /** The shopper (the simulated gateway's test cards are the shopper's own unless they name a card). */
  payer: string;
};
export type Succeeded = {
  status: "succeeded";
  charge_id: string;
  /** The card, when the provider names it only with the charge (null: not known). */
  fingerprint?: string | null;
};
export type ChargeOutcome =
  | Succeeded
  | { status: "declined"; reason: string }
  /** The shopper must authenticate (3-D Secure): the page completes it with `client_secret`. */
  | { status: "requires_action"; client_secret: string; next_action: string }
  /** `rate_limited`: the provider refused the request for its rate (429): nothing happened, back off. */
  | { status: "unknown"; reason: string; rate_limited?: boolean };
/** `not_found`: no money can have moved for this payment (never charged, or never confirmed). */
export type LookupOutcome = ChargeOutcome | { status: "not_found" };
export type OpenOutcome = { status: "opened"; ref: string } | { status: "unknown"; reason: string; rate_limited?: boolean };
export type RefundRequest = { key: string; charge_id: string; amount: number; currency: string };
export type RefundOutcome = { status: "refunded"; refund_id: string } | { status: "failed"; reason: string };

export interface PaymentGateway {
  /**
   * The card behind a payment method, when the provider can tell before a charge (Stripe: the
   * PaymentMethod's card.fingerprint). Null: it will only be known with the charge. Never moves money.
   */
  fingerprint(method: string, payer: string): Promise<string | null>;
  /** Names the payment before it is charged (Stripe: creates the PaymentIntent). Absent: the key is the ref. */
  open?(req: PaymentRequest): Promise<OpenOutcome>;
  /** The first charge of a payment whose ref is stored. */
  charge(req: PaymentRequest & { ref: string }): Promise<ChargeOutcome>;
  /**
   * A pending payment asked again: where it stands. It may complete a charge that never started
   * (by the same key or on the same payment), never start a second one.
   */
  recheck(req: PaymentRequest & { ref: string }): Promise<LookupOutcome>;
  /** Where a payment stands, for a hold that has ended: never charges. */
  lookup(req: PaymentRequest): Promise<LookupOutcome>;
  /** Stops a payment that is still waiting for the shopper (the window ran out); best effort. */
  cancel?(req: PaymentRequest & { ref: string }): Promise<void>;
  refund(req: RefundRequest): Promise<RefundOutcome>;
}
