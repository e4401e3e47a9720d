import type { OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import { EVENT_SCHEMAS } from "../../domain/schemas/events";
import { SIGNATURE_HEADER } from "../../domain/webhook-signature.js";
import type { AppEnv } from "../app-env";

const SUMMARY: Record<keyof typeof EVENT_SCHEMAS, string> = {
  "order.confirmed": "A hold was paid: an order",
  "order.refunded": "Money taken for a hold went back",
  "sale.sold_out": "Every unit is sold",
  "sale.ended": "The sale closed, or its end time passed",
};

/**
 * The events the shop receives (docs/events.md), as OpenAPI 3.1 `webhooks`: what flashsale POSTs
 * to SHOP_WEBHOOK_URL (and puts on the ORDER_EVENTS queue), one entry per event type.
 */
export function registerShopEvents(api: OpenAPIHono<AppEnv>): void {
  for (const [type, schema] of Object.entries(EVENT_SCHEMAS) as [
    keyof typeof EVENT_SCHEMAS,
    (typeof EVENT_SCHEMAS)[keyof typeof EVENT_SCHEMAS],
  ][]) {
    api.openAPIRegistry.registerWebhook({
      method: "post",
      path: type,
      tags: ["shop events"],
      summary: SUMMARY[type],
      description:
        `POSTed to SHOP_WEBHOOK_URL, signed: \`${SIGNATURE_HEADER}: t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">\` (one v1 per ` +
        "secret in use during a rotation). Check it with verifyShopWebhook (domain/webhook-signature.js), drop an id already applied, " +
        "answer 2xx once stored. Anything else (or no answer within SHOP_WEBHOOK_TIMEOUT_MS) is tried again with backoff.",
      request: {
        headers: z.object({
          [SIGNATURE_HEADER]: z.string().describe("t=…,v1=…"),
          "flashsale-event-id": z.string().describe("the event's id, as in the body"),
        }),
        body: { required: true, content: { "application/json": { schema } } },
      },
      responses: { 200: { description: "any 2xx: delivered (the body is ignored)" } },
    });
  }
}
