import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../app-env";
import { ApiError, unwrap } from "../lib/errors";
import { saleOf } from "../lib/ids";
import { inventory } from "../lib/objects";
import { valid } from "../lib/validate";
import { requireSession } from "../middleware/session";
import { PayBody, type HoldView } from "../schemas/hold";

const HoldParam = z.object({ id: z.string().max(100) });

/** The product object that owns a hold: the hold id starts with its sale id. */
function owner(env: Env, holdId: string) {
  const sale = saleOf(holdId, "h");
  if (!sale) throw new ApiError("not_found", "no such hold");
  return inventory(env, sale);
}

/** Pay answers by where the hold ended up: 200 confirmed, 202 still pending, 402, 410. */
function payAnswer(hold: HoldView): [Record<string, unknown>, 200 | 202] {
  switch (hold.status) {
    case "confirmed":
      return [{ hold, order_id: hold.order_id }, 200];
    case "pending":
      return [{ hold, message: "payment outcome not known yet; poll GET /api/holds/:id" }, 202];
    case "declined":
      throw new ApiError("payment_declined", `the payment was declined (${hold.reason})`, { hold });
    case "held": // cannot be: pay moves a held hold on
    default:
      throw new ApiError("hold_ended", `the hold is ${hold.status}${hold.reason ? ` (${hold.reason})` : ""}`, { hold });
  }
}

export const holds = new Hono<AppEnv>()
  .use(requireSession)
  .get("/:id", valid("param", HoldParam), async (c) => {
    const { id } = c.req.valid("param");
    return c.json({ hold: unwrap(await owner(c.env, id).hold(id, c.var.user)) });
  })
  .delete("/:id", valid("param", HoldParam), async (c) => {
    const { id } = c.req.valid("param");
    return c.json({ hold: unwrap(await owner(c.env, id).cancel(id, c.var.user)) });
  })
  .post("/:id/pay", valid("param", HoldParam), valid("json", PayBody), async (c) => {
    const { id } = c.req.valid("param");
    const { payment_method } = c.req.valid("json");
    const hold = unwrap(await owner(c.env, id).pay(id, c.var.user, payment_method));
    return c.json(...payAnswer(hold));
  });
