import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../app-env";
import { checkBot } from "./bot-check";
import { checkIpLimit, checkSessionLimit } from "./rate-limit";
import { checkSession } from "./session";

/**
 * The edge's guard for shopper routes, cheapest check first: the per-IP limit (no crypto), the
 * signed session, the per-session limit, then the User-Agent heuristic. Each refusal happens
 * before any Durable Object is touched. One middleware calling the four checks, not `every(...)`
 * of four middlewares (hono's combine builds a new chain of wrappers on every request) nor four
 * layers (each a promise and a `next` of its own on every poll).
 */
export const shopper = createMiddleware<AppEnv>(async (c, next) => {
  await checkIpLimit(c);
  await checkSession(c);
  await checkSessionLimit(c);
  checkBot(c);
  await next();
});

/** What the guard answers instead of the route (for the OpenAPI document). */
export const SHOPPER_REFUSALS = ["rate_limited", "unauthorized", "bot_suspected"] as const;
