import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../../app-env";
import { ApiError } from "../../lib/api-error";
import { verifyToken } from "../../lib/tokens";

/**
 * Only admitted shoppers reach a claim: the waiting room's pass (`X-Pass` header), signed, short
 * lived and bound to this shopper and this sale, so it can be neither forged nor handed on.
 * Runs after the shopper guard (its session check sets the user).
 */
export const requirePass = createMiddleware<AppEnv>(async (c, next) => {
  const sale = c.req.param("id");
  const pass = await verifyToken(c.env, "pass", c.req.header("x-pass"));
  if (!pass || pass.sub !== c.get("user") || pass.sale !== sale) {
    throw new ApiError(
      "pass_required",
      "claims need a waiting-room pass for this sale and session: queue (POST /api/sales/:id/queue), poll GET /api/sales/:id/queue until admitted, then send the pass as `X-Pass`",
    );
  }
  // The pass ends with its turn (its holder's admission + pass_ttl_s): the turn the claim uses.
  c.set("turn", pass.exp * 1000);
  await next();
});
