import type { ContentfulStatusCode } from "hono/utils/http-status";

/** Every error the API can answer, with its HTTP status: one table, used by routes and objects. */
export const ERRORS = {
  invalid_request: 400,
  bad_signature: 400,
  unauthorized: 401,
  account_required: 401,
  identity_invalid: 401,
  payment_declined: 402,
  forbidden: 403,
  bot_suspected: 403,
  pow_failed: 403,
  turnstile_failed: 403,
  pass_required: 403,
  not_found: 404,
  sold_out: 409,
  limit_reached: 409,
  card_limit_reached: 409,
  conflict: 409,
  payment_in_progress: 409,
  hold_ended: 410,
  sale_closed: 410,
  payload_too_large: 413,
  unsupported_media_type: 415,
  not_open: 425,
  network_cap: 429,
  rate_limited: 429,
  internal: 500,
  unavailable: 503,
  turnstile_unavailable: 503,
  misconfigured: 503,
} as const satisfies Record<string, ContentfulStatusCode>;
export type ErrorCode = keyof typeof ERRORS;

/**
 * What a Durable Object method answers: a value, or a refusal the edge renders as a 4xx. A plain
 * serializable union (exceptions lose their shape across RPC), so `await stub.method()` keeps
 * both branches in its type.
 */
export type Extra = Record<string, string | number | boolean | null>;
export type Refusal = { ok: false; error: ErrorCode; message: string; extra?: Extra };
export type Ok<T> = { ok: true; value: T };
export type Result<T> = Ok<T> | Refusal;

export const ok = <T>(value: T): Ok<T> => ({ ok: true, value });

export const refuse = (error: ErrorCode, message: string, extra?: Extra): Refusal => ({
  ok: false,
  error,
  message,
  ...(extra ? { extra } : {}),
});
