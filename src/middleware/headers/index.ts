import { createMiddleware } from "hono/factory";
import { secureHeaders } from "hono/secure-headers";
import type { AppEnv } from "../../app-env";

/**
 * Pages the Worker renders (the API reference, the demo sign-in): Hono's full secure headers
 * (nosniff, no framing, no referrer, HSTS, cross-origin isolation, …) and a CSP that lets nothing
 * load or frame them, unless the page set its own CSP (which is kept).
 */
const pageHeaders = secureHeaders({
  contentSecurityPolicy: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] },
  xFrameOptions: "DENY",
  overwrite: false,
});
const nothingMore = async () => {};

/**
 * JSON answers are not rendered, so most page headers mean nothing there; each one set is a
 * call into the runtime on the hottest paths (the full set was ~10 % of a status poll's CPU).
 * They get a small fixed set: not sniffed as anything else, never framed, nothing loaded
 * (as the OWASP REST cheat sheet lists for APIs). The routes that answer JSON set none of these.
 */
const API_HEADERS: [string, string][] = [
  ["x-content-type-options", "nosniff"],
  ["x-frame-options", "DENY"],
  ["content-security-policy", "default-src 'none'; frame-ancestors 'none'"],
];

/**
 * Every answer the Worker gives, in one layer: the page set on HTML, the API set on anything
 * else. API answers carry tokens and a shopper's own holds and orders: no cache, shared or
 * private, may keep them (`no-store`); a route whose answer is public and shared (a sale's info)
 * says so itself.
 */
export const apiHeaders = createMiddleware<AppEnv>(async (c, next) => {
  await next();
  const h = c.res.headers;
  if (h.get("content-type")?.startsWith("text/html")) return pageHeaders(c, nothingMore);
  for (const [k, v] of API_HEADERS) h.set(k, v);
  if (c.req.path.startsWith("/api/") && !h.has("cache-control")) h.set("cache-control", "no-store");
});
