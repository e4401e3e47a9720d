import type { Context } from "hono";
import { bearerAuth } from "hono/bearer-auth";
import { every } from "hono/combine";
import { createMiddleware } from "hono/factory";
import { settings } from "../../../domain/config";
import { log } from "../../../domain/log";
import { usableSecret } from "../../../domain/secrets";
import type { AppEnv } from "../../app-env";
import { LruMap } from "../../lib/lru";
import { register } from "../../lib/isolate-state";
import { ApiError } from "../../lib/api-error";
import { clientNetwork, limitAdmin, rateLimited } from "../rate-limit";
import { ACCESS_HEADER, accessConfig, type AccessConfig, verifyAccess } from "./access";
import { now } from "../../../domain/clock";

const LOCKOUT_MS = 60_000;
/** Networks shut out after too many wrong tokens, until the time given. */
const lockouts = new LruMap<string, number>(10_000);
register("admin-lockouts", () => lockouts.clear());

/**
 * Operator routes. Who may call them is decided one of two ways:
 *  - Cloudflare Access (ACCESS_TEAM_DOMAIN and ACCESS_AUD set; production): the Access JWT
 *    Cloudflare adds to every request it let through, verified here (access.ts). It replaces the
 *    bearer token: Access already names the person (SSO, MFA, revocable one by one), and a shared
 *    token pasted into browsers would be a second secret with none of that. Scripts use an
 *    Access service token (Access turns its headers into the same JWT).
 *  - Otherwise `Authorization: Bearer $ADMIN_TOKEN` (a wrangler secret), compared in constant
 *    time by Hono's bearerAuth; without a safe ADMIN_TOKEN every admin call is refused.
 * Either way guessing is slow: every admin request counts against RL_ADMIN per client network,
 * and a network whose wrong credentials exhaust RL_ADMIN_FAIL is shut out for a minute (its
 * requests are refused before anything is checked, so a right guess made during the lockout
 * learns nothing). A request with no credential at all is no guess and is not counted: the
 * dashboard asks once that way to learn whether it needs a token.
 */
const checkOperator = createMiddleware<AppEnv>(async (c, next) => {
  const access = accessConfig(settings(c.env));
  const net = clientNetwork(c);
  if (access && "problem" in access) {
    log("error", "access_misconfigured", { problem: access.problem });
    throw new ApiError("misconfigured", "the admin API is not configured correctly; the operator is told in the logs");
  }
  if (!access && !usableSecret("ADMIN_TOKEN", c.env.ADMIN_TOKEN)) {
    throw new ApiError("forbidden", "admin routes are disabled until ADMIN_TOKEN is set to a safe value (the Worker's logs say why)");
  }
  if ((lockouts.get(net) ?? 0) > now()) throw rateLimited("RL_ADMIN_FAIL", "network");
  let authenticated = false;
  try {
    const pass = () => {
      authenticated = true;
      return next();
    };
    return access ? await checkAccess(c, access, pass) : await checkToken(c, pass);
  } catch (e) {
    // The route's own error, Access's keys out of reach, or no credential at all: not a guess.
    if (authenticated || (e instanceof ApiError && e.code === "unavailable")) throw e;
    if (!c.req.header(access ? ACCESS_HEADER : "authorization")) throw e;
    // Wrong or missing credentials: count them; too many from this network and it is shut out.
    const { success } = await c.env.RL_ADMIN_FAIL.limit({ key: `admin-fail:${net}` });
    if (!success) {
      lockouts.set(net, now() + LOCKOUT_MS);
      throw rateLimited("RL_ADMIN_FAIL", "network");
    }
    throw e;
  }
});

async function checkToken(c: Context<AppEnv>, next: () => Promise<void>) {
  const auth = bearerAuth({
    token: c.env.ADMIN_TOKEN,
    noAuthenticationHeader: { message: { error: "unauthorized", message: "admin routes need `Authorization: Bearer <ADMIN_TOKEN>`" } },
    invalidToken: { message: { error: "unauthorized", message: "the admin token is wrong" } },
    invalidAuthenticationHeader: {
      message: { error: "invalid_request", message: "the Authorization header is malformed: `Bearer <ADMIN_TOKEN>`" },
    },
  });
  return auth(c as unknown as Context, next);
}

async function checkAccess(c: Context<AppEnv>, access: AccessConfig, next: () => Promise<void>) {
  const jwt = c.req.header(ACCESS_HEADER);
  if (!jwt)
    throw new ApiError(
      "unauthorized",
      "admin routes are behind Cloudflare Access: this request did not come through it (no Cf-Access-Jwt-Assertion)",
    );
  const v = await verifyAccess(jwt, access);
  if (!v.ok) {
    if ("unavailable" in v) {
      log("warn", "access_keys_unavailable", { error: v.unavailable });
      throw new ApiError("unavailable", "Cloudflare Access's keys could not be fetched: retry", {}, { "retry-after": "5" });
    }
    throw new ApiError("unauthorized", v.refused);
  }
  return next();
}

export const requireAdmin = every(limitAdmin, checkOperator);

/** What the guard answers instead of the route: not configured, none sent, wrong, malformed, too many, Access unreachable. */
export const ADMIN_REFUSALS = ["forbidden", "unauthorized", "invalid_request", "rate_limited", "misconfigured", "unavailable"] as const;
