import { createRoute } from "@hono/zod-openapi";
import { z } from "zod";
import { ApiError, unwrap } from "../lib/api-error";
import { ownerOf } from "../edge/shards";
import { asShopper, documented, json, mount, refusals } from "../lib/openapi";
import { valid } from "../lib/validate";
import { SHOPPER_REFUSALS, shopper } from "../middleware/shopper";
import { OrderAnswer } from "../../domain/schemas/answers";

const OrderParam = z.object({ id: z.string().max(100) });

const get = createRoute({
  method: "get",
  path: "/{id}",
  tags: ["shopper"],
  summary: "An order (a paid hold)",
  description: "Read from the product object, which has it before D1 does.",
  security: asShopper,
  request: { params: OrderParam },
  middleware: [valid("param", OrderParam)],
  responses: { 200: json(OrderAnswer, "the order"), ...refusals(...SHOPPER_REFUSALS, "invalid_request", "not_found", "unavailable") },
});

/** `GET /api/orders/:id` */
export const orders = documented();
orders.use(shopper);

mount(orders, get, async (c) => {
  const { id } = c.req.valid("param");
  const o = await ownerOf(c.env, id, "o");
  if (!o) throw new ApiError("not_found", "no such order");
  return c.json({ order: unwrap(await o.inv.order(id, c.get("user"))) }, 200);
});
