import { zValidator } from "@hono/zod-validator";
import type { ValidationTargets } from "hono";
import type { z } from "zod";
import { ApiError } from "./api-error";

const JSON_TYPE = /^application\/([\w.-]+\+)?json$/i;

/** What a `valid()` middleware checks, so a route's OpenAPI spec can be held to it (src/lib/openapi.ts). */
export type Validates = { target: keyof ValidationTargets; schema: z.ZodType };

/** zod validation for any request part, failing as `400 invalid_request` naming each bad field. */
export const valid = <T extends z.ZodType, Target extends keyof ValidationTargets>(target: Target, schema: T) =>
  Object.assign(zValidator(target, schema, (result, c) => {
    // Hono reads a body only when it is labelled JSON and validates `{}` otherwise, so a body sent
    // as text or a form would be silently replaced by the defaults (a claim for 1, a charge on
    // the default card). A body that is there but not JSON is refused instead.
    if (target === "json" && c.req.raw.body && c.req.header("content-length") !== "0" && !JSON_TYPE.test(c.req.header("content-type")?.split(";")[0]?.trim() ?? "")) {
      throw new ApiError("unsupported_media_type", "request bodies must be JSON: send `Content-Type: application/json`");
    }
    if (!result.success) {
      const issues = result.error.issues.map((i) => ({ path: i.path.join("."), message: i.message }));
      const where = target === "json" ? "body" : target;
      throw new ApiError("invalid_request", `invalid ${where}: ${issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join("; ")}`, { issues });
    }
  }), { validates: { target, schema } satisfies Validates });
