import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { swaggerUI } from "@hono/swagger-ui";
import { z } from "zod";
import { version } from "../../package.json";
import type { AppEnv } from "../app-env";
import { IdempotencyKey } from "../../domain/schemas/hold";
import { documented, json, mount } from "../lib/openapi";
import { registerShopEvents } from "../lib/shop-events-doc";

/**
 * The API's OpenAPI 3.1 document, generated from the routes' specs and the zod schemas that
 * type their handlers (src/lib/openapi.ts), and a page to browse it.
 *
 * Built with @hono/zod-openapi rather than hono-openapi or chanfana: a handler's answers are
 * typed by its route's responses, so tsc refuses a route that answers a status or a body the
 * document does not describe, at no cost per request; it is the Hono org's, on zod 4 and the
 * @hono/zod-validator we already use; and routes stay plain Hono (our middleware chains, our one
 * onError). hono-openapi describes routes but does not type their answers; chanfana wants
 * class-based endpoints with its own validation and error bodies.
 */
const document = createRoute({
  method: "get",
  path: "/openapi.json",
  tags: ["docs"],
  summary: "This document",
  responses: {
    200: json(z.object({ openapi: z.string(), info: z.object({ title: z.string(), version: z.string() }) }), "the OpenAPI 3.1 document"),
  },
});

/**
 * The page's script and styles (Swagger UI) come from a CDN when a browser opens it; the
 * Worker only serves the HTML. Tests fetch the HTML and never load them.
 */
const page = createRoute({
  method: "get",
  path: "/docs",
  tags: ["docs"],
  summary: "A browsable reference (Swagger UI)",
  responses: { 200: { description: "an HTML page that loads Swagger UI from a CDN", content: { "text/html": { schema: z.string() } } } },
});

const CDN = "https://cdn.jsdelivr.net";
const DOCS_CSP = `default-src 'none'; script-src ${CDN} 'unsafe-inline'; style-src ${CDN} 'unsafe-inline'; img-src ${CDN} data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'`;

/** The routes `GET /openapi.json` and `GET /docs`, describing every route registered on `api`. */
export function docs(api: OpenAPIHono<AppEnv>) {
  const registry = api.openAPIRegistry;
  registry.registerComponent("securitySchemes", "session", {
    type: "http",
    scheme: "bearer",
    description: "A shopper's session token, from `POST /api/session`.",
  });
  registry.registerComponent("securitySchemes", "admin", { type: "http", scheme: "bearer", description: "The operator's `ADMIN_TOKEN`." });
  // `.meta` (zod's own) rather than `.openapi`: schemas made before @hono/zod-openapi was loaded lack the latter.
  const inHeader = (name: string, schema: z.ZodType, description: string) =>
    schema.meta({ description, param: { name, in: "header", required: true } });
  registry.registerParameter(
    "IdempotencyKey",
    inHeader("Idempotency-Key", IdempotencyKey, "the claim's key: a retry with the same key answers the same hold"),
  );
  registry.registerParameter("Pass", inHeader("X-Pass", z.string(), "the waiting room's pass (from the queue, once admitted)"));
  registry.registerParameter("Ticket", inHeader("X-Ticket", z.string(), "the ticket from the last queue answer"));

  registerShopEvents(api);
  // Generated on first use (every route is registered by then), then kept for the isolate's life.
  let built: ReturnType<typeof api.getOpenAPI31Document> | undefined;
  const build = () =>
    api.getOpenAPI31Document({
      openapi: "3.1.0",
      info: {
        title: "flashsale",
        version,
        description:
          "A flash sale: a shopper gets a session, solves a challenge, queues, is admitted (a pass), claims a hold and pays for it. " +
          "Every refusal is `{ error, message }` (plus a few fields for some codes), with the status of its code.",
      },
      tags: [
        { name: "shopper", description: "The shopper's path, in order: session, sale, challenge, queue, claim, pay." },
        { name: "operator", description: "Creating and running sales (`Authorization: Bearer <ADMIN_TOKEN>`)." },
        { name: "payments", description: "The payment provider's calls back (signed, not a shopper's or an operator's)." },
        { name: "shop events", description: "What flashsale sends the shop (`webhooks`): order and sale events, signed (docs/events.md)." },
        { name: "docs" },
      ],
    });

  const ui = swaggerUI<AppEnv>({ url: "/api/openapi.json", title: "flashsale API", version: "5" });
  const app = documented();
  mount(app, document, (c) => c.json((built ??= build()), 200));
  // The middleware always answers (it never calls `next`). Its page is the one thing the Worker
  // serves that runs scripts: they may come from the CDN (and the page's own inline start-up).
  mount(app, page, async (c, next) => {
    c.header("content-security-policy", DOCS_CSP);
    return (await ui(c, next)) as Response;
  });
  return app;
}
