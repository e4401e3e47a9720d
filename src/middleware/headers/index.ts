import type { Context, TypedResponse } from "hono";
import { createMiddleware } from "hono/factory";
import { secureHeaders } from "hono/secure-headers";
import type { AppEnv } from "../../app-env";
import { API_HEADERS, PRIVATE_JSON } from "../../lib/api-headers";

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

/** Answers made by apiJson: they already carry every header apiHeaders would set. */
const complete = new WeakSet<Response>();

/**
 * `c.json(body, status)` for an API route, built with its headers in one go rather than
 * set one by one afterwards (five calls into the runtime on the poll's, join's and claim's
 * answers). Only for answers that are private (`no-store`) and set no header of their own.
 */
export function apiJson<T extends object, S extends 200 | 201 | 202>(body: T, status: S) {
  const res = new Response(JSON.stringify(body), { status, headers: PRIVATE_JSON });
  complete.add(res);
  return res as ReturnType<Context["json"]> as Response & TypedResponse<T, S, "json">;
}

/**
 * Every answer the Worker gives, in one layer: the page set on HTML, the API set on anything
 * else. API answers carry tokens and a shopper's own holds and orders: no cache, shared or
 * private, may keep them (`no-store`); a route whose answer is public and shared (a sale's info)
 * says so itself.
 */
export const apiHeaders = createMiddleware<AppEnv>(async (c, next) => {
  await next();
  if (complete.has(c.res)) return;
  const h = c.res.headers;
  if (h.get("content-type")?.startsWith("text/html")) return pageHeaders(c, nothingMore);
  for (const [k, v] of API_HEADERS) h.set(k, v);
  if (c.req.path.startsWith("/api/") && !h.has("cache-control")) h.set("cache-control", "no-store");
});
