import type { z } from "zod";
import { SALE_ID } from "../../domain/ids";
import { IDEMPOTENCY_KEY, type ClaimBody } from "../../domain/schemas/hold";
import type { QueueBody } from "../../domain/schemas/room";
import type { FastPath } from "./validate";

/**
 * FastPaths (src/lib/validate.ts) for what every poll, join and claim sends: the schema's output
 * for a value it accepts, undefined for anything else (the schema then decides and words the
 * refusal). test/validate.test.ts checks each against its schema on valid and invalid values.
 */

const record = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const text = (v: unknown, min: number, max: number): v is string => typeof v === "string" && v.length >= min && v.length <= max;

/** `{ id }` of a sale route (SaleParam: other path params are dropped, as z.object does). */
export const saleParam: FastPath<{ id: string }> = (v) => {
  const id = record(v) ? v.id : undefined;
  return typeof id === "string" && SALE_ID.test(id) ? { id } : undefined;
};

/** A claim's body: `{}` or `{ qty }` (ClaimBody, a strict object; qty defaults to 1). */
export const claimBody: FastPath<z.output<typeof ClaimBody>> = (v) => {
  if (!record(v)) return undefined;
  let n = 0;
  for (const k in v) if (k !== "qty" || ++n > 1) return undefined;
  if (n === 0) return { qty: 1 };
  const qty = v.qty;
  return typeof qty === "number" && Number.isInteger(qty) && qty >= 1 && qty <= 100 ? { qty } : undefined;
};

/** A join's body: the signed challenge and its solution, and a Turnstile token when asked for (QueueBody, strict). */
export const queueBody: FastPath<z.output<typeof QueueBody>> = (v) => {
  if (!record(v)) return undefined;
  for (const k in v) if (k !== "challenge" && k !== "solution" && k !== "turnstile") return undefined;
  const { challenge, solution, turnstile } = v;
  if (!text(challenge, 1, 2048) || !text(solution, 1, 64)) return undefined;
  if (turnstile === undefined && !("turnstile" in v)) return { challenge, solution };
  return text(turnstile, 1, 4096) ? { challenge, solution, turnstile } : undefined;
};

/** The Idempotency-Key header (IdempotencyKey). */
export const idempotencyKey: FastPath<string> = (v) => (typeof v === "string" && IDEMPOTENCY_KEY.test(v) ? v : undefined);
