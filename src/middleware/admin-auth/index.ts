import type { Context } from "hono";
import { bearerAuth } from "hono/bearer-auth";
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../../app-env";
import { ApiError } from "../../lib/api-error";

/**
 * Operator routes: `Authorization: Bearer $ADMIN_TOKEN` (a wrangler secret), compared in
 * constant time by Hono's bearerAuth. Without a configured token every admin call is refused.
 */
export const requireAdmin = createMiddleware<AppEnv>(async (c, next) => {
  const token = c.env.ADMIN_TOKEN;
  if (!token || token.length < 12) {
    throw new ApiError("forbidden", "admin routes are disabled: set ADMIN_TOKEN (12+ characters) with `wrangler secret put ADMIN_TOKEN`");
  }
  const auth = bearerAuth({
    token,
    noAuthenticationHeader: { message: { error: "unauthorized", message: "admin routes need `Authorization: Bearer <ADMIN_TOKEN>`" } },
    invalidToken: { message: { error: "unauthorized", message: "the admin token is wrong" } },
    invalidAuthenticationHeader: { message: { error: "invalid_request", message: "the Authorization header is malformed: `Bearer <ADMIN_TOKEN>`" } },
  });
  return auth(c as unknown as Context, next);
});

/** What the guard answers instead of the route: no token configured, none sent, wrong, malformed. */
export const ADMIN_REFUSALS = ["forbidden", "unauthorized", "invalid_request"] as const;
