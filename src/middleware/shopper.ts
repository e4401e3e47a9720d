import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../app-env";
import { botCheck } from "./bot-check";
import { limitByIp, limitBySession } from "./rate-limit";
import { requireSession } from "./session";

/** Each check either throws its refusal or calls this: so the four run as one layer. */
const passOn = async () => {};

/**
 * The edge's guard for shopper routes, cheapest check first: the per-IP limit (no crypto), the
 * signed session, the per-session limit, then the User-Agent heuristic. Each refusal happens
 * before any Durable Object is touched. One middleware, not `every(...)` of four: hono's combine
 * builds a new chain of wrappers on every request.
 */
export const shopper = createMiddleware<AppEnv>(async (c, next) => {
  await limitByIp(c, passOn);
  await requireSession(c, passOn);
  await limitBySession(c, passOn);
  await botCheck(c, passOn);
  await next();
});

/** What the guard answers instead of the route (for the OpenAPI document). */
export const SHOPPER_REFUSALS = ["rate_limited", "unauthorized", "bot_suspected"] as const;
