import type { Context, ValidationTargets } from "hono";
import { validator } from "hono/validator";
import type { z } from "zod";
import { ApiError } from "./api-error";

const JSON_TYPE = /^application\/([\w.-]+\+)?json$/i;

/** What a `valid()` middleware checks, so a route's OpenAPI spec can be held to it (src/lib/openapi.ts). */
export type Validates = { target: keyof ValidationTargets; schema: z.ZodType };

/**
 * A cheaper check for the common, valid case on a hot path: the schema's output for `value`, or
 * undefined to leave the value to the schema (which also words every refusal). It must accept
 * nothing the schema refuses and give exactly the schema's output (test/validate.test.ts holds
 * each one to that); the schema stays the one definition, and the document's.
 */
export type FastPath<T> = (value: unknown) => T | undefined;

/**
 * A body that is there but not labelled JSON. Hono reads a body only when it is labelled JSON and
 * validates `{}` otherwise, so a body sent as text or a form would be silently replaced by the
 * defaults (a claim for 1, a charge on the default card): it is refused instead.
 */
function refuseUnlabelled(c: Context): void {
  if (JSON_TYPE.test(c.req.header("content-type")?.split(";")[0]?.trim() ?? "")) return;
  if (c.req.raw.body && c.req.header("content-length") !== "0") {
    throw new ApiError("unsupported_media_type", "request bodies must be JSON: send `Content-Type: application/json`");
  }
}

/**
 * zod validation for any request part, failing as `400 invalid_request` naming each bad field.
 * Synchronous (zod's async parse costs a promise per check), with an optional FastPath.
 */
export const valid = <T extends z.ZodType, Target extends keyof ValidationTargets>(
  target: Target,
  schema: T,
  fast?: FastPath<z.output<T>>,
) =>
  Object.assign(
    validator(target, (value, c): z.output<T> => {
      if (target === "json") refuseUnlabelled(c);
      const quick = fast?.(value);
      if (quick !== undefined) return quick;
      const result = schema.safeParse(value);
      if (!result.success) {
        const issues = result.error.issues.map((i) => ({ path: i.path.join("."), message: i.message }));
        const where = target === "json" ? "body" : target;
        throw new ApiError(
          "invalid_request",
          `invalid ${where}: ${issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join("; ")}`,
          { issues },
        );
      }
      return result.data;
    }),
    { validates: { target, schema } satisfies Validates },
  );
