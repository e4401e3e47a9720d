import { createRoute } from "@hono/zod-openapi";
import { EventsResent } from "../../domain/schemas/events";
import { unwrap } from "../lib/api-error";
import { allOk, shardsFor } from "../edge/shards";
import { valid } from "../lib/validate";
import { asOperator, documented, json, mount, refusals } from "../lib/openapi";
import { ADMIN_REFUSALS } from "../middleware/admin-auth";
import { SaleParam } from "./sales";

/**
 * The operator's handle on the shop's order events (docs/events.md). Mounted inside the admin
 * app (src/routes/admin.ts), behind its operator check and its known-sale check.
 */
const resend = createRoute({
  tags: ["operator"],
  security: asOperator,
  method: "post",
  path: "/sales/{id}/events/resend",
  summary: "Send the sale's dead webhook events again",
  description:
    "Events the shop's endpoint did not take within SHOP_WEBHOOK_GIVE_UP_S (dead letters, in the stats' `events.webhook.dead`) go " +
    "back in line, each with a fresh retry window. Their ids are unchanged, so a shop that did get one drops the repeat.",
  request: { params: SaleParam },
  middleware: [valid("param", SaleParam)],
  responses: { 200: json(EventsResent, "how many went back in line"), ...refusals(...ADMIN_REFUSALS, "not_found") },
});

export const adminEvents = documented();

mount(adminEvents, resend, async (c) => {
  const shards = await shardsFor(c.env, c.req.valid("param").id);
  const each = unwrap(allOk(await Promise.all(shards.map((inv) => inv.resendEvents()))));
  return c.json({ resent: each.reduce((n, r) => n + r.resent, 0) }, 200);
});
