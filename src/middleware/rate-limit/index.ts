import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { networkOf } from "../../../domain/network";
import type { AppEnv } from "../../app-env";
import { countEdge } from "../../edge/reports";
import { ApiError } from "../../lib/api-error";

/** The limiters' periods in wrangler.toml ([[ratelimits]]): RL_ADMIN_FAIL counts a minute, the rest 10 s. */
const PERIOD_S = { RL_IP: 10, RL_SESSION: 10, RL_ADMIN: 10, RL_ADMIN_FAIL: 60 } as const;
export type Limiter = keyof typeof PERIOD_S;

/** The client's network (IPv4 address, IPv6 /64; see domain/network.ts) from Cloudflare's header. */
export const clientNetwork = (c: Context<AppEnv>) => networkOf(c.req.header("cf-connecting-ip")).key;

export function rateLimited(binding: Limiter, who: string): ApiError {
  const s = PERIOD_S[binding];
  return new ApiError(
    "rate_limited",
    `too many requests from this ${who}: retry after ${s} s`,
    { retry_after_s: s },
    { "retry-after": String(s) },
  );
}

/**
 * A Workers Rate Limiting binding's check. Over the limit ⇒ 429 with Retry-After, before any
 * object is touched. Keys name their kind (`net:`, `user:`), so a session can never land in a
 * network's bucket.
 */
const checkBy =
  (binding: Limiter, who: string, keyOf: (c: Context<AppEnv>) => string) =>
  async (c: Context<AppEnv>): Promise<void> => {
    const { success } = await c.env[binding].limit({ key: keyOf(c) });
    if (!success) {
      const sale = c.req.param("id");
      if (sale) countEdge(c, sale, "rejected_rate_limit");
      throw rateLimited(binding, who);
    }
  };

/** The check in front of a route, as a middleware. */
const before = (check: (c: Context<AppEnv>) => Promise<void>) =>
  createMiddleware<AppEnv>(async (c, next) => {
    await check(c);
    await next();
  });

export const checkIpLimit = checkBy("RL_IP", "network", (c) => `net:${clientNetwork(c)}`);
/** After checkSession. */
export const checkSessionLimit = checkBy("RL_SESSION", "session", (c) => `user:${c.get("user")}`);
export const limitByIp = before(checkIpLimit);
/** Every admin request, before its token is even looked at. */
export const limitAdmin = before(checkBy("RL_ADMIN", "network", (c) => `admin:${clientNetwork(c)}`));
