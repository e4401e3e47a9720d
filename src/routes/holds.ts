import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../app-env";
import { ApiError, unwrap } from "../lib/api-error";
import { saleOf } from "../../domain/ids";
import { forgetSale } from "../edge/sale-info";
import { inventory } from "../../domain/objects";
import { valid } from "../lib/validate";
import { shopper } from "../middleware/shopper";
import { PayBody, type HoldView } from "../../domain/schemas/hold";

const HoldParam = z.object({ id: z.string().max(100) });

/** The product object that owns a hold: the hold id starts with its sale id. */
function owner(env: Env, holdId: string) {
  const sale = saleOf(holdId, "h");
  if (!sale) throw new ApiError("not_found", "no such hold");
  return { sale, inv: inventory(env, sale) };
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
  .use(shopper)
  .get("/:id", valid("param", HoldParam), async (c) => {
    const { id } = c.req.valid("param");
    return c.json({ hold: unwrap(await owner(c.env, id).inv.hold(id, c.var.user)) });
  })
  .delete("/:id", valid("param", HoldParam), async (c) => {
    const { id } = c.req.valid("param");
    const { sale, inv } = owner(c.env, id);
    const hold = unwrap(await inv.cancel(id, c.var.user));
    forgetSale(sale); // the unit may be back: this isolate's sold-out answer is stale
    return c.json({ hold });
  })
  .post("/:id/pay", valid("param", HoldParam), valid("json", PayBody), async (c) => {
    const { id } = c.req.valid("param");
    const { payment_method } = c.req.valid("json");
    const { sale, inv } = owner(c.env, id);
    const hold = unwrap(await inv.pay(id, c.var.user, payment_method));
    if (hold.status === "declined") forgetSale(sale);
    return c.json(...payAnswer(hold));
  });
