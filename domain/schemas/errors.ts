import { z } from "zod";
import { ERRORS, type ErrorCode as Code } from "../result";
import { HoldView } from "./hold";
import { Count, Timestamp } from "./sale";

/**
 * The body of every refusal: `{ error, message }`, plus the fields a few codes add (what a
 * client needs to act on it). The status of each code is ERRORS' (domain/result.ts).
 */
export const ErrorCode = z.enum(Object.keys(ERRORS) as [Code, ...Code[]]);

export const Issue = z.strictObject({
  path: z.string().describe("dotted path of the bad field; empty for the whole body"),
  message: z.string(),
});

const EXTRAS: Partial<Record<Code, z.ZodRawShape>> = {
  invalid_request: { issues: z.array(Issue).optional().describe("one per bad field (absent for malformed JSON or headers)") },
  rate_limited: { retry_after_s: z.number().int().positive() },
  not_open: { starts_at: Timestamp },
  sold_out: {
    available: Count,
    held: Count.describe("units in payment windows: under `release` some may come back"),
    your_holds: z.string().optional().describe("where a shopper whose answer was lost finds their hold"),
  },
  limit_reached: { per_user_limit: z.number().int().positive() },
  account_required: { signin_url: z.string().describe("where the shop signs shoppers in (empty if the shop has not said)") },
  network_cap: { retry_after_s: z.number().int().positive(), network_cap: z.number().int().positive() },
  card_limit_reached: {
    per_user_limit: z.number().int().positive(),
    hold: HoldView.optional().describe(
      "absent: refused before any charge, the hold is still yours to pay with another card; present: the card was known only with the charge, which is refunded, and the hold has ended",
    ),
  },
  payment_declined: { hold: HoldView },
  hold_ended: { hold: HoldView },
};

const pascal = (code: string) => code.replace(/(^|_)([a-z])/g, (_m, _s, c: string) => c.toUpperCase());

/** One schema per code (a component of the OpenAPI document, e.g. `SoldOutError`). */
export const ErrorBodies = Object.fromEntries(
  ErrorCode.options.map((code) => [
    code,
    z
      .strictObject({ error: z.literal(code), message: z.string(), ...EXTRAS[code] })
      .meta({ id: `${pascal(code)}Error`, description: `${ERRORS[code]} ${code}` }),
  ]),
) as { [C in Code]: z.ZodObject<{ error: z.ZodLiteral<C>; message: z.ZodString } & z.ZodRawShape, z.core.$strict> };
