import { every } from "hono/combine";
import { botCheck } from "./bot-check";
import { limitByIp, limitBySession } from "./rate-limit";
import { requireSession } from "./session";

/**
 * The edge's guard for shopper routes, cheapest check first: the per-IP limit (no crypto), the
 * signed session, the per-session limit, then the User-Agent heuristic. Each refusal happens
 * before any Durable Object is touched.
 */
export const shopper = every(limitByIp, requireSession, limitBySession, botCheck);

/** What the guard answers instead of the route (for the OpenAPI document). */
export const SHOPPER_REFUSALS = ["rate_limited", "unauthorized", "bot_suspected"] as const;
