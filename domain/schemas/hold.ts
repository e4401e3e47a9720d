import { z } from "zod";
import { Count, SaleId, Timestamp } from "./sale";

export const HoldStatus = z.enum(["held", "pending", "confirmed", "expired", "cancelled", "declined"]);
export type HoldStatus = z.infer<typeof HoldStatus>;
/** Statuses that still count against stock and the per-user limit. */
export const ACTIVE: readonly HoldStatus[] = ["held", "pending"];

export const ClaimBody = z.strictObject({ qty: z.number().int().min(1).max(100).default(1) });
export const PayBody = z.strictObject({
  // A payment method from the payment page (Stripe: a PaymentMethod id, pm_…); the simulated
  // gateway knows test tokens (tok_ok, tok_decline, …; a suffix names the card: tok_ok.card-7,
  // see durable-objects/payments/test-cards.ts).
  payment_method: z
    .string()
    .regex(/^[A-Za-z0-9_:.-]{1,100}$/)
    .default("tok_visa"),
});
export const IDEMPOTENCY_KEY = /^[A-Za-z0-9._:-]{8,64}$/;
export const IdempotencyKey = z
  .string({ error: "the Idempotency-Key header is required (8-64 characters: letters, digits, . _ : -)" })
  .regex(IDEMPOTENCY_KEY, "Idempotency-Key must be 8-64 characters: letters, digits, . _ : -");

export const HoldView = z
  .object({
    id: z.string(),
    sale_id: SaleId,
    status: HoldStatus,
    qty: z.number().int().positive(),
    amount: Count.describe("minor units, e.g. cents"),
    currency: z.string(),
    created_at: Timestamp,
    expires_at: Timestamp.describe("end of the payment window"),
    ended_at: Timestamp.nullable(),
    reason: z.string().nullable(),
    order_id: z.string().nullable().describe("set once the hold is confirmed"),
    source: z.enum(["claim", "waitlist"]),
    refund: z.object({ status: z.enum(["pending", "refunded"]), amount: Count }).nullable(),
    action: z
      .object({ type: z.literal("authenticate"), client_secret: z.string() })
      .nullable()
      .describe(
        "a pending payment waiting for the shopper: complete it with Stripe.js handleNextAction(client_secret), then pay again or poll",
      ),
    queue: z
      .object({ position: z.number().int().positive(), eta: Timestamp })
      .nullable()
      .optional()
      .describe(
        "a payment queued under the payment provider's rate limit: its place in line and when its turn comes (the hold is kept until then)",
      ),
  })
  .meta({ id: "HoldView", description: "units reserved for a shopper while they pay" });
export type HoldView = z.infer<typeof HoldView>;

export const OrderView = z
  .object({
    id: z.string(),
    sale_id: SaleId,
    hold_id: z.string(),
    qty: z.number().int().positive(),
    amount: Count,
    currency: z.string(),
    charge_id: z.string(),
    confirmed_at: Timestamp,
  })
  .meta({ id: "OrderView", description: "a paid hold" });
export type OrderView = z.infer<typeof OrderView>;

/** What the product object answers a claim (the edge turns it into 201, 200 or 202). */
export const ClaimAnswer = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("hold"), hold: HoldView, created: z.boolean() }),
  z.object({ kind: z.literal("waitlisted"), position: z.number().int().positive() }),
]);
export type ClaimAnswer = z.infer<typeof ClaimAnswer>;

export const SOLD_OUT_FOR_NOW = "sold out for now: units in unpaid holds come back when their payment window ends";

/** The reason of a hold whose charge was refused (and refunded) because its card was over the limit. */
export const CARD_LIMIT_REASON = "card_limit: this card has already bought the sale's per-shopper limit; the charge is refunded";
