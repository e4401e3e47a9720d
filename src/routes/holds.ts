import { createRoute } from "@hono/zod-openapi";
import { z } from "zod";
import { ApiError, unwrap } from "../lib/api-error";
import { forgetSale } from "../edge/sale-info";
import { ownerOf } from "../edge/shards";
import { asShopper, body, documented, json, mount, refusals } from "../lib/openapi";
import { valid } from "../lib/validate";
import { SHOPPER_REFUSALS, shopper } from "../middleware/shopper";
import { HoldAnswer, PaidAnswer, PayPendingAnswer } from "../../domain/schemas/answers";
import { CARD_LIMIT_REASON, PayBody } from "../../domain/schemas/hold";

const HoldParam = z.object({ id: z.string().max(100) });

/** The product object that owns a hold: the hold id starts with its name (the sale id, or a shard's). */
async function owner(env: Env, holdId: string) {
  const o = await ownerOf(env, holdId, "h");
  if (!o) throw new ApiError("not_found", "no such hold");
  return o;
}

// Every hold route is behind the shopper guard, which runs before the route's own checks.
const GUARDED = [...SHOPPER_REFUSALS, "invalid_request", "not_found", "unavailable"] as const;

const get = createRoute({
  method: "get",
  path: "/{id}",
  tags: ["shopper"],
  summary: "A hold, as it stands",
  security: asShopper,
  request: { params: HoldParam },
  middleware: [valid("param", HoldParam)],
  responses: { 200: json(HoldAnswer, "the hold"), ...refusals(...GUARDED) },
});

const cancel = createRoute({
  method: "delete",
  path: "/{id}",
  tags: ["shopper"],
  summary: "Give a hold back",
  description: "Its units return to the sale (per its release policy). A hold that has ended already is answered as it is.",
  security: asShopper,
  request: { params: HoldParam },
  middleware: [valid("param", HoldParam)],
  responses: { 200: json(HoldAnswer, "the hold, cancelled (or as it ended)"), ...refusals(...GUARDED, "payment_in_progress", "conflict") },
});

const pay = createRoute({
  method: "post",
  path: "/{id}/pay",
  tags: ["shopper"],
  summary: "Pay for a hold",
  description:
    "Answers by where the hold ended up: 200 confirmed, 202 outcome not known yet (poll GET /api/holds/{id}), queued under the " +
    "payment provider's rate limit (`hold.queue`: place in line and expected turn; the hold is kept meanwhile), or the shopper must " +
    "authenticate (`hold.action`: complete it with Stripe.js, then pay again to have it checked at once), 402 declined, 410 ended. " +
    "409 `card_limit_reached`: the card has already paid for the sale's per-shopper limit (refused before any charge, the hold " +
    "stays yours for another card; or, when the card was known only with the charge, the charge is refunded and the hold has ended).",
  security: asShopper,
  request: { params: HoldParam, body: body(PayBody) },
  middleware: [valid("param", HoldParam), valid("json", PayBody)],
  responses: {
    200: json(PaidAnswer, "paid: the hold is confirmed, an order"),
    202: json(PayPendingAnswer, "the payment's outcome is not known yet"),
    ...refusals(...GUARDED, "unsupported_media_type", "payment_declined", "card_limit_reached", "hold_ended"),
  },
});

export const holds = documented();
holds.use(shopper);

mount(holds, get, async (c) => {
  const { id } = c.req.valid("param");
  return c.json({ hold: unwrap(await (await owner(c.env, id)).inv.hold(id, c.get("user"))) }, 200);
});

mount(holds, cancel, async (c) => {
  const { id } = c.req.valid("param");
  const { sale, inv } = await owner(c.env, id);
  const hold = unwrap(await inv.cancel(id, c.get("user")));
  forgetSale(sale); // the unit may be back: this isolate's sold-out answer is stale
  return c.json({ hold }, 200);
});

mount(holds, pay, async (c) => {
  const { id } = c.req.valid("param");
  const { payment_method } = c.req.valid("json");
  const { sale, inv } = await owner(c.env, id);
  const { hold, per_user_limit } = unwrap(await inv.pay(id, c.get("user"), payment_method));
  if (hold.status === "declined") forgetSale(sale);
  if (hold.status === "declined" && hold.reason === CARD_LIMIT_REASON) {
    throw new ApiError("card_limit_reached", "this card had already paid for this sale's per-shopper limit: the charge is refunded", {
      per_user_limit,
      hold,
    });
  }
  // The answer is where the hold ended up.
  switch (hold.status) {
    case "confirmed":
      return c.json({ hold, order_id: hold.order_id }, 200);
    case "pending":
      return c.json(
        {
          hold,
          message: hold.action
            ? "authenticate the payment (hold.action), then pay again or poll GET /api/holds/:id"
            : hold.queue
              ? `payment queued: number ${hold.queue.position} in line, expected at ${hold.queue.eta}; the hold is kept until then; poll GET /api/holds/:id`
              : "payment outcome not known yet; poll GET /api/holds/:id",
        },
        202,
      );
    case "declined":
      throw new ApiError("payment_declined", `the payment was declined (${hold.reason})`, { hold });
    default: // "held" cannot be: pay moves a held hold on
      throw new ApiError("hold_ended", `the hold is ${hold.status}${hold.reason ? ` (${hold.reason})` : ""}`, { hold });
  }
});
