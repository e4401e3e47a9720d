import { HTTPException } from "hono/http-exception";
import { ERRORS, type ErrorCode, type Refusal, type Result } from "../../domain/result";

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
    return Response.json(
      { error: this.code, message: this.message, ...this.extra },
      {
        status: this.status,
        headers: this.headers,
      },
    );
  }
}

/** Unwraps an object's answer, throwing its refusal as an ApiError. */
export function unwrap<T>(r: Result<T>): T {
  if (r.ok) return r.value;
  throw new ApiError(r.error, r.message, r.extra);
}

/** Throws a refusal, if there is one, as an ApiError (a rule of domain/ that may say no). */
export function refuseIf(r: Refusal | undefined): void {
  if (r) throw new ApiError(r.error, r.message, r.extra);
}
