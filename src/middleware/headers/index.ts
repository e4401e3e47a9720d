import { createMiddleware } from "hono/factory";
import { secureHeaders } from "hono/secure-headers";
import type { AppEnv } from "../../app-env";

/**
 * Every answer the Worker gives: Hono's secure headers (nosniff, no framing, no referrer, …),
 * and, since the API answers JSON only, a CSP that lets nothing load or frame it. A route that
 * serves a page (the API reference) sets its own CSP, which is kept.
 */
export const apiHeaders = secureHeaders({
  contentSecurityPolicy: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] },
  xFrameOptions: "DENY",
  overwrite: false,
});

/**
 * API answers carry tokens and a shopper's own holds and orders: no cache, shared or private,
 * may keep them. A route whose answer is public and shared (a sale's info) says so itself.
 */
export const noStoreByDefault = createMiddleware<AppEnv>(async (c, next) => {
  await next();
  if (!c.res.headers.has("cache-control")) c.header("cache-control", "no-store");
});
