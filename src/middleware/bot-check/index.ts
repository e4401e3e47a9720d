import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../../app-env";
import { settings } from "../../../domain/config";
import { countEdge } from "../../edge/reports";
import { LruMap } from "../../lib/lru";
import { register } from "../../lib/isolate-state";
import { ApiError } from "../../lib/api-error";

/**
 * The cheap heuristic before the proof of work: a request with no User-Agent, or one that names
 * an HTTP library or a headless browser, is refused (403 bot_suspected) unless BOT_UA_CHECK is
 * off. Real bots lie about their UA; this only stops the lazy ones, for free.
 */
/** User-Agent verdicts: the same few strings arrive again and again. */
const userAgents = new LruMap<string, boolean>(10_000);
register("user-agents", () => userAgents.clear());

const AUTOMATION =
  /curl|wget|python-requests|python-urllib|aiohttp|httpx|go-http-client|okhttp|java\/|libwww|scrapy|headlesschrome|phantomjs|selenium|puppeteer|playwright|node-fetch|undici|axios|\bbot\b|spider|crawler/i;

export function isAutomationUa(ua: string | undefined): boolean {
  if (!ua || ua.trim() === "") return true;
  let v = userAgents.get(ua);
  if (v === undefined) {
    v = AUTOMATION.test(ua);
    userAgents.set(ua, v);
  }
  return v;
}

export function checkBot(c: Context<AppEnv>): void {
  if (settings(c.env).BOT_UA_CHECK && isAutomationUa(c.req.header("user-agent"))) {
    const sale = c.req.param("id");
    if (sale) countEdge(c, sale, "rejected_heuristics");
    throw new ApiError("bot_suspected", "automated clients are not admitted to this sale: use a browser");
  }
}

export const botCheck = createMiddleware<AppEnv>(async (c, next) => {
  checkBot(c);
  await next();
});
