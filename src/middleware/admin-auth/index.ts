import type { Context } from "hono";
import { bearerAuth } from "hono/bearer-auth";
import { every } from "hono/combine";
import { createMiddleware } from "hono/factory";
import { usableSecret } from "../../../domain/secrets";
import type { AppEnv } from "../../app-env";
import { isolate } from "../../edge/isolate";
import { ApiError } from "../../lib/api-error";
import { clientNetwork, limitAdmin, rateLimited } from "../rate-limit";

const LOCKOUT_MS = 60_000;

/**
 * Operator routes: `Authorization: Bearer $ADMIN_TOKEN` (a wrangler secret), compared in constant
 * time by Hono's bearerAuth. Guessing is slow: every admin request counts against RL_ADMIN per
 * client network, and a network whose wrong tokens exhaust RL_ADMIN_FAIL is shut out for a
 * minute (its requests are refused before the token is compared, so a right guess made during
 * the lockout learns nothing). Without a safe ADMIN_TOKEN every admin call is refused.
 */
const checkToken = createMiddleware<AppEnv>(async (c, next) => {
  const token = usableSecret("ADMIN_TOKEN", c.env.ADMIN_TOKEN);
  if (!token) {
    throw new ApiError("forbidden", "admin routes are disabled until ADMIN_TOKEN is set to a safe value (the Worker's logs say why)");
  }
  const net = clientNetwork(c);
  if ((isolate.adminLockouts.get(net) ?? 0) > Date.now()) throw rateLimited("RL_ADMIN_FAIL", "network");
  const auth = bearerAuth({
    token,
    noAuthenticationHeader: { message: { error: "unauthorized", message: "admin routes need `Authorization: Bearer <ADMIN_TOKEN>`" } },
    invalidToken: { message: { error: "unauthorized", message: "the admin token is wrong" } },
    invalidAuthenticationHeader: { message: { error: "invalid_request", message: "the Authorization header is malformed: `Bearer <ADMIN_TOKEN>`" } },
  });
  let authenticated = false;
  try {
    return await auth(c as unknown as Context, () => ((authenticated = true), next()));
  } catch (e) {
    if (authenticated) throw e; // the route's own error, not the token's
    // A wrong or missing token: count it; too many from this network and it is shut out.
    const { success } = await c.env.RL_ADMIN_FAIL.limit({ key: `admin-fail:${net}` });
    if (!success) {
      isolate.adminLockouts.set(net, Date.now() + LOCKOUT_MS);
      throw rateLimited("RL_ADMIN_FAIL", "network");
    }
    throw e;
  }
});

export const requireAdmin = every(limitAdmin, checkToken);

/** What the guard answers instead of the route: no token configured, none sent, wrong, malformed, too many. */
export const ADMIN_REFUSALS = ["forbidden", "unauthorized", "invalid_request", "rate_limited"] as const;
