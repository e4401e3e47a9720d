import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";

/** Every error the API can answer, with its HTTP status: one table, used by routes and objects. */
export const ERRORS = {
  invalid_request: 400,
  unauthorized: 401,
  payment_declined: 402,
  forbidden: 403,
  bot_suspected: 403,
  pow_failed: 403,
  turnstile_failed: 403,
  pass_required: 403,
  not_found: 404,
  sold_out: 409,
  limit_reached: 409,
  conflict: 409,
  payment_in_progress: 409,
  hold_ended: 410,
  sale_closed: 410,
  payload_too_large: 413,
  unsupported_media_type: 415,
  not_open: 425,
  rate_limited: 429,
  internal: 500,
  unavailable: 503,
  turnstile_unavailable: 503,
} as const satisfies Record<string, ContentfulStatusCode>;
export type ErrorCode = keyof typeof ERRORS;

/** A refusal returned by a Durable Object method (exceptions lose their shape across RPC). */
export type Refusal = { ok: false; error: ErrorCode; message: string; extra?: Record<string, unknown> };
export type Result<T> = { ok: true; value: T } | Refusal;

export const refuse = (error: ErrorCode, message: string, extra?: Record<string, unknown>): Refusal => ({
  ok: false,
  error,
  message,
  ...(extra ? { extra } : {}),
});

/** The error thrown inside routes; `onError` renders it as `{ error, message, ...extra }`. */
export class ApiError extends HTTPException {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(ERRORS[code], { message });
  }

  override getResponse(): Response {
    return Response.json({ error: this.code, message: this.message, ...this.extra }, {
      status: this.status,
      headers: this.headers,
    });
  }
}

/** Unwraps an object's answer, throwing its refusal as an ApiError. */
export function unwrap<T>(r: Result<T>): T {
  if (r.ok) return r.value;
  throw new ApiError(r.error, r.message, r.extra);
}
