import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../../app-env";
import { countEdge } from "../../edge/counters";
import { ApiError } from "../../lib/api-error";

/** Both limiters are configured with a 10 s period in wrangler.toml ([[ratelimits]]). */
export const RETRY_AFTER_S = 10;

type Limiter = "RL_IP" | "RL_SESSION";

/**
 * A Workers Rate Limiting binding in front of a route. The key is the client IP
 * (`cf-connecting-ip`, set by Cloudflare) or the verified session's user, so it must run after
 * requireSession. Over the limit ⇒ 429 with Retry-After, before any object is touched.
 */
const limitBy = (binding: Limiter, keyOf: (c: Context<AppEnv>) => string) =>
  createMiddleware<AppEnv>(async (c, next) => {
    const { success } = await c.env[binding].limit({ key: keyOf(c) });
    if (!success) {
      const sale = c.req.param("id");
      if (sale) countEdge(c, sale, "rejected_rate_limit");
      throw new ApiError(
        "rate_limited",
        `too many requests from this ${binding === "RL_IP" ? "address" : "session"}: retry after ${RETRY_AFTER_S} s`,
        { retry_after_s: RETRY_AFTER_S },
        { "retry-after": String(RETRY_AFTER_S) },
      );
    }
    await next();
  });

export const limitByIp = limitBy("RL_IP", (c) => `ip:${c.req.header("cf-connecting-ip") ?? "unknown"}`);
export const limitBySession = limitBy("RL_SESSION", (c) => `user:${c.var.user}`);
