import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../app-env";
import { ApiError, unwrap } from "../lib/api-error";
import { saleOf } from "../../domain/ids";
import { inventory } from "../../domain/objects";
import { valid } from "../lib/validate";
import { shopper } from "../middleware/shopper";

/** `GET /api/orders/:id`: read from the product object, which has it before D1 does. */
export const orders = new Hono<AppEnv>().use(shopper).get("/:id", valid("param", z.object({ id: z.string().max(100) })), async (c) => {
  const { id } = c.req.valid("param");
  const sale = saleOf(id, "o");
  if (!sale) throw new ApiError("not_found", "no such order");
  return c.json({ order: unwrap(await inventory(c.env, sale).order(id, c.var.user)) });
});
