import { createRoute } from "@hono/zod-openapi";
import { SignJWT } from "jose";
import { z } from "zod";
import { settings } from "../../domain/config";
import { usableSecret } from "../../domain/secrets";
import { ApiError } from "../lib/api-error";
import { documented, mount, refusals } from "../lib/openapi";
import { valid } from "../lib/validate";
import { limitByIp } from "../middleware/rate-limit";

/**
 * A stand-in for the shop's sign-in, for local demos of account sales (DEMO_SIGNIN, which a
 * production Worker refuses to run with): it vouches for any name, signing an identity assertion
 * the way a shop would (HS256 with SHOP_IDENTITY_SECRET, for SHOP_IDENTITY_AUDIENCE), and sends
 * the shopper back to the page with it in the URL's fragment (never sent to a server).
 */
const Back = z.object({
  return_to: z
    .string()
    .regex(/^\/(?!\/)[\w\-./?=&%#]*$/, "a path on this site")
    .default("/"),
});
const SignIn = Back.extend({
  name: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9._@-]{1,40}$/, "1-40 letters, digits or . _ @ -"),
});

const page = createRoute({
  method: "get",
  path: "/sign-in",
  tags: ["demo"],
  summary: "The demo sign-in page (local only, DEMO_SIGNIN)",
  request: { query: Back },
  middleware: [valid("query", Back)],
  responses: {
    200: { description: "an HTML form", content: { "text/html": { schema: z.string() } } },
    ...refusals("invalid_request", "not_found"),
  },
});

const signIn = createRoute({
  method: "post",
  path: "/sign-in",
  tags: ["demo"],
  summary: "Sign in as any name (local only, DEMO_SIGNIN): back to `return_to` with `#identity=<assertion>`",
  request: { body: { required: true, content: { "application/x-www-form-urlencoded": { schema: SignIn } } } },
  middleware: [limitByIp, valid("form", SignIn)],
  responses: {
    303: { description: "back to the page, with the assertion in the fragment" },
    ...refusals("invalid_request", "not_found", "rate_limited", "misconfigured"),
  },
});

const esc = (s: string) => s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
const off = () => new ApiError("not_found", "the demo sign-in is off (DEMO_SIGNIN)");

export const demo = documented();
demo.use(async (c, next) => {
  if (!settings(c.env).DEMO_SIGNIN) throw off();
  await next();
});

mount(demo, page, (c) => {
  const { return_to } = c.req.valid("query");
  c.header("content-security-policy", "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'");
  return c.html(
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in (demo shop)</title><link rel="stylesheet" href="/style.css"></head><body><main><section class="card">
<h1>Sign in at the demo shop</h1>
<p class="muted">A stand-in for your shop's own sign-in, for trying account sales locally: any name is an account.</p>
<form method="post" action="/demo/sign-in"><input type="hidden" name="return_to" value="${esc(return_to)}">
<label for="name">Account name</label><input id="name" name="name" required pattern="[A-Za-z0-9._@\\-]{1,40}" autocomplete="username">
<button type="submit">Sign in</button></form></section></main></body></html>`,
    200,
  );
});

mount(demo, signIn, async (c) => {
  const { name, return_to } = c.req.valid("form");
  const s = settings(c.env);
  const secret = c.env.SHOP_IDENTITY_SECRET ? usableSecret("SHOP_IDENTITY_SECRET", c.env.SHOP_IDENTITY_SECRET) : null;
  if (!secret) throw new ApiError("misconfigured", "the demo sign-in needs SHOP_IDENTITY_SECRET (npm start sets one in .dev.vars)");
  let jwt = new SignJWT({})
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(name)
    .setAudience(s.SHOP_IDENTITY_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime("10m");
  if (s.SHOP_IDENTITY_ISSUER) jwt = jwt.setIssuer(s.SHOP_IDENTITY_ISSUER);
  const assertion = await jwt.sign(new TextEncoder().encode(secret));
  const [path] = return_to.split("#");
  return c.redirect(`${path}#identity=${assertion}`, 303);
});
