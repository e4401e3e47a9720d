import { z } from "zod";

export const HoldStatus = z.enum(["held", "pending", "confirmed", "expired", "cancelled", "declined"]);
export type HoldStatus = z.infer<typeof HoldStatus>;
/** Statuses that still count against stock and the per-user limit. */
export const ACTIVE: readonly HoldStatus[] = ["held", "pending"];

export const ClaimBody = z.strictObject({ qty: z.number().int().min(1).max(100).default(1) });
export const PayBody = z.strictObject({
  // A card token from the payment page; the simulated gateway also knows test tokens
  // (tok_decline, tok_timeout, tok_late_<ms>, tok_error: see src/payments/README.md).
  payment_method: z.string().regex(/^[A-Za-z0-9_:-]{1,100}$/).default("tok_visa"),
});
export const IdempotencyKey = z
  .string({ error: "the Idempotency-Key header is required (8-64 characters: letters, digits, . _ : -)" })
  .regex(/^[A-Za-z0-9._:-]{8,64}$/, "Idempotency-Key must be 8-64 characters: letters, digits, . _ : -");

export type HoldView = {
  id: string;
  sale_id: string;
  status: HoldStatus;
  qty: number;
  amount: number;
  currency: string;
  created_at: string;
  expires_at: string;
  ended_at: string | null;
  reason: string | null;
  order_id: string | null;
  source: "claim" | "waitlist";
  refund: { status: "pending" | "refunded"; amount: number } | null;
};

export type OrderView = {
  id: string;
  sale_id: string;
  hold_id: string;
  qty: number;
  amount: number;
  currency: string;
  charge_id: string;
  confirmed_at: string;
};

export type ClaimAnswer =
  | { kind: "hold"; hold: HoldView; created: boolean }
  | { kind: "waitlisted"; position: number };

export const SOLD_OUT_FOR_NOW = "sold out for now: units in unpaid holds come back when their payment window ends";
