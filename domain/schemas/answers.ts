import { z } from "zod";
import { HoldView, OrderView } from "./hold";
import { QueueStatus } from "./room";
import { SaleView, Timestamp } from "./sale";

/**
 * What the shopper API answers, by route (the bodies of 2xx responses; refusals are in
 * errors.ts). The edge builds these and the OpenAPI document is generated from them.
 */

/** `POST /api/session` */
export const SessionAnswer = z
  .strictObject({
    token: z.string().describe("send as `Authorization: Bearer <token>`"),
    user_id: z.string(),
    account: z.string().nullable().describe("the shop's account the session is for, or null for an anonymous session"),
    expires_at: Timestamp,
  })
  .meta({ id: "SessionAnswer" });

/** Body of `POST /api/session` (all optional: an empty body is an anonymous session). */
export const SessionBody = z.strictObject({
  identity: z
    .string()
    .min(1)
    .max(4096)
    .optional()
    .describe("the shop's signed identity assertion (a JWT): the session is for that account"),
  turnstile: z.string().min(1).max(4096).optional().describe("a Turnstile token, when the shop has Turnstile on"),
});

/** `GET /api/sales/:id` */
export const SaleAnswer = z
  .strictObject({
    sale: SaleView,
    turnstile_site_key: z.string().optional().describe("present when the sale needs a Turnstile token in POST /session and POST /queue"),
    signin_url: z
      .string()
      .optional()
      .describe("account sales: where the shop signs shoppers in (they come back with `#identity=<assertion>`)"),
    stripe_publishable_key: z
      .string()
      .optional()
      .describe("present when payments go to Stripe: the page collects the card with Stripe's Payment Element"),
  })
  .meta({ id: "SaleAnswer" });

/** `POST /api/sales/:id/challenge`: a proof of work to solve before queueing. */
export const ChallengeAnswer = z
  .strictObject({
    challenge: z.string().describe("signed; send it back with the solution"),
    nonce: z.string(),
    bits: z.number().int().nonnegative().describe("leading zero bits SHA-256(nonce + solution) must have"),
    expires_at: Timestamp,
  })
  .meta({ id: "ChallengeAnswer" });

/** `POST` and `GET /api/sales/:id/queue`: the place in line, a renewed ticket, and a pass once admitted. */
export const QueueAnswer = QueueStatus.extend({
  ticket: z.string().describe("send as `X-Ticket` when polling"),
  ticket_expires_at: Timestamp,
  pass: z.string().optional().describe("once admitted: send as `X-Pass` with the claim"),
  pass_expires_at: Timestamp.optional(),
})
  .strict()
  .meta({ id: "QueueAnswer" });
export type QueueAnswer = z.infer<typeof QueueAnswer>;

export const HoldAnswer = z.strictObject({ hold: HoldView }).meta({ id: "HoldAnswer" });
export const HoldsAnswer = z.strictObject({ holds: z.array(HoldView).describe("newest first, at most 20") }).meta({ id: "HoldsAnswer" });

/** `202` to a claim on a waitlist sale that is sold out while units may still come back (held or paying); else a final 409 `sold_out`. */
export const WaitlistedAnswer = z
  .strictObject({ waitlisted: z.literal(true), position: z.number().int().positive(), message: z.string() })
  .meta({ id: "WaitlistedAnswer" });

/** `200` to a payment: confirmed. */
export const PaidAnswer = z.strictObject({ hold: HoldView, order_id: z.string().nullable() }).meta({ id: "PaidAnswer" });
/** `202` to a payment whose outcome is not known yet. */
export const PayPendingAnswer = z.strictObject({ hold: HoldView, message: z.string() }).meta({ id: "PayPendingAnswer" });

export const OrderAnswer = z.strictObject({ order: OrderView }).meta({ id: "OrderAnswer" });

/** `POST /api/webhooks/stripe`: the event was verified; whether it changed anything, and why not. */
export const WebhookAnswer = z
  .strictObject({ received: z.literal(true), applied: z.boolean(), note: z.string() })
  .meta({ id: "WebhookAnswer" });
