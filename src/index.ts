import { bodyLimit } from "hono/body-limit";
import { createMiddleware } from "hono/factory";
import { HTTPException } from "hono/http-exception";
import { refusedDeployment } from "./edge/deployment";
import type { AppEnv } from "./app-env";
import { soldOutFastPath } from "./edge/sold-out";
import { ApiError } from "./lib/api-error";
import { log } from "../domain/log";
import { documented } from "./lib/openapi";
import { RememberingRouter } from "./lib/router";
import { apiHeaders } from "./middleware/headers";
import { admin } from "./routes/admin";
import { demo } from "./routes/demo-signin";
import { docs } from "./routes/docs";
import { holds } from "./routes/holds";
import { orders } from "./routes/orders";
import { queue } from "./routes/queue";
import { sales } from "./routes/sales";
import { session } from "./routes/session";
import { webhooks } from "./routes/webhooks";

export { SaleCatalog } from "../durable-objects/catalog";
export { GatewaySimulator } from "../durable-objects/gateway-simulator";
export { PaymentPacer } from "../durable-objects/payment-pacer";
export { ProductInventory } from "../durable-objects/inventory/product-inventory";
export { WaitingRoom } from "../durable-objects/waiting-room";

const MAX_BODY = 16 * 1024;
/** A provider's event carries a whole object (a charge with its refunds): more room. */
const MAX_WEBHOOK_BODY = 256 * 1024;
/**
 * Bodies are limited at the door. A declared length is checked as it stands (the runtime reads
 * no more than it declares): two header reads on every claim and join, where hono's bodyLimit
 * makes four runtime calls. A body without one (chunked, or a stream) is counted by bodyLimit
 * as it is read. A GET's or HEAD's body is never read by any route, so those (every status poll)
 * pass without a look.
 */
const limit = (maxSize: number) => {
  const tooLarge = () => {
    throw new ApiError("payload_too_large", `request bodies are limited to ${maxSize} bytes`);
  };
  const counted = bodyLimit({ maxSize, onError: tooLarge });
  return createMiddleware<AppEnv>(async (c, next) => {
    if (c.req.method === "GET" || c.req.method === "HEAD") return next();
    const h = c.req.raw.headers;
    const length = h.get("content-length");
    if (length === null || h.has("transfer-encoding")) return counted(c, next);
    if (Number(length) > maxSize) tooLarge();
    await next();
  });
};
const [shopLimit, webhookLimit] = [limit(MAX_BODY), limit(MAX_WEBHOOK_BODY)];

export const app = documented({ router: new RememberingRouter() });
app.use("*", apiHeaders);
app.use("*", (c, next) => (c.req.path.startsWith("/api/webhooks/") ? webhookLimit(c, next) : shopLimit(c, next)));
// Each sub-app's route specs join this app's OpenAPI registry as it is mounted.
app
  .route("/api/session", session)
  .route("/api/sales", sales)
  .route("/api/sales", queue)
  .route("/api/holds", holds)
  .route("/api/orders", orders)
  .route("/api/webhooks", webhooks)
  .route("/admin", admin)
  .route("/demo", demo)
  .route("/api", docs(app));
app
  .notFound((c) => c.json({ error: "not_found", message: `no route ${c.req.method} ${c.req.path}` }, 404))
  // The one place errors become responses: our refusals as they are, Hono's own (malformed
  // JSON, bearer auth) as JSON, anything else as a logged 500 that names no internals.
  .onError((err, c) => {
    if (err instanceof ApiError) return err.getResponse();
    if (err instanceof HTTPException) {
      if (err.res) return err.getResponse();
      return c.json({ error: err.status >= 500 ? "internal" : "invalid_request", message: err.message }, err.status);
    }
    // A Durable Object that was reset (restarted, evicted, redeployed) or is overloaded
    // mid-request: the request may be retried (claims and payments are idempotent by key), so
    // say so (503 + Retry-After) instead of a bare 500.
    const e = err as { retryable?: boolean; overloaded?: boolean; durableObjectReset?: boolean };
    if (e.retryable || e.overloaded || e.durableObjectReset) {
      log("warn", "object_unavailable", { method: c.req.method, path: c.req.path, error: String(err), overloaded: !!e.overloaded });
      return c.json({ error: "unavailable", message: "the sale is busy or restarting: retry with the same Idempotency-Key" }, 503, {
        "retry-after": "1",
      });
    }
    const ref = crypto.randomUUID();
    log("error", "unhandled", { ref, method: c.req.method, path: c.req.path, error: String(err), stack: (err as Error).stack });
    return c.json({ error: "internal", message: `unexpected error; logged as ${ref}` }, 500);
  });

export default {
  async fetch(request: Request, env: Env, ctx: ExecutionContext) {
    return refusedDeployment(env) ?? (await soldOutFastPath(request, { env, executionCtx: ctx })) ?? app.fetch(request, env, ctx);
  },
} satisfies ExportedHandler<Env>;
