import { createRoute } from "@hono/zod-openapi";
import Stripe from "stripe";
import { settings } from "../../domain/config";
import { log } from "../../domain/log";
import { WebhookAnswer } from "../../domain/schemas/answers";
import type { ProviderEvent } from "../../durable-objects/inventory/provider-events";
import { ownerOf } from "../edge/shards";
import { ApiError, unwrap } from "../lib/api-error";
import { documented, json, mount, refusals } from "../lib/openapi";

/**
 * Stripe's webhooks. The signature is checked first (the stripe package's constructEventAsync
 * on WebCrypto): the timestamp within STRIPE_WEBHOOK_TOLERANCE_S, any of the header's v1
 * signatures, against STRIPE_WEBHOOK_SECRET or, during a rotation, STRIPE_WEBHOOK_SECRET_PREVIOUS.
 * A bad one is a 400 that reaches no object. A verified event about a hold goes to the hold's
 * object (the hold id is in the intent's metadata, and starts with its object's name), which applies it
 * once per event id by the rules of a direct answer; an event for a sale that does not exist
 * reaches no object. Every verified event is answered 200 (Stripe stops delivering it) unless
 * the object could not apply it now (503: Stripe delivers it again).
 */
const subtle = Stripe.createSubtleCryptoProvider();
const PAYMENT_EVENTS = new Set(["payment_intent.succeeded", "payment_intent.payment_failed", "payment_intent.canceled"]);

async function verified(env: Env, payload: string, header: string | undefined): Promise<Stripe.Event> {
  const secrets = [env.STRIPE_WEBHOOK_SECRET, env.STRIPE_WEBHOOK_SECRET_PREVIOUS].filter((s): s is string => !!s);
  if (secrets.length === 0) {
    log("error", "webhook_unconfigured", { fix: "`wrangler secret put STRIPE_WEBHOOK_SECRET` (the endpoint's signing secret, whsec_…)" });
    throw new ApiError("misconfigured", "webhooks are not configured");
  }
  if (!header) throw new ApiError("bad_signature", "the Stripe-Signature header is missing");
  const tolerance = settings(env).STRIPE_WEBHOOK_TOLERANCE_S;
  let why = "";
  for (const secret of secrets) {
    try {
      return await Stripe.webhooks.constructEventAsync(payload, header, secret, tolerance, subtle);
    } catch (e) {
      why = (e as Error).message;
    }
  }
  log("warn", "webhook_refused", { reason: why.slice(0, 200) });
  throw new ApiError(
    "bad_signature",
    "the Stripe-Signature does not verify (wrong secret, altered body, or a timestamp outside the tolerance)",
  );
}

/** The hold an event is about, and what the object should do with it (null: not ours to apply). */
function providerEvent(ev: Stripe.Event): ProviderEvent | null {
  const obj = ev.data.object as { metadata?: Record<string, string> | null };
  const hold = obj.metadata?.hold_id;
  if (!hold) return null;
  if (PAYMENT_EVENTS.has(ev.type)) return { id: ev.id, type: ev.type, hold, kind: "payment" };
  if (ev.type === "charge.refunded") {
    const ch = ev.data.object as Stripe.Charge;
    const intent = typeof ch.payment_intent === "string" ? ch.payment_intent : ch.payment_intent?.id;
    if (!intent) return null;
    return {
      id: ev.id,
      type: ev.type,
      hold,
      kind: "refunded",
      charge_id: intent,
      refund_id: ch.refunds?.data[0]?.id ?? ch.id,
      amount: ch.amount_refunded,
    };
  }
  return null;
}

const stripeWebhook = createRoute({
  method: "post",
  path: "/stripe",
  tags: ["payments"],
  summary: "Stripe's webhook endpoint (register it in the Stripe dashboard)",
  description:
    "Events: payment_intent.succeeded, payment_intent.payment_failed, payment_intent.canceled, charge.refunded (others are " +
    "acknowledged and ignored). The body is Stripe's event JSON, verified with the Stripe-Signature header.",
  responses: {
    200: json(WebhookAnswer, "verified: applied, or why not (a duplicate, not one of this shop's holds)"),
    ...refusals("bad_signature", "unavailable", "misconfigured"),
  },
});

export const webhooks = documented();

mount(webhooks, stripeWebhook, async (c) => {
  const ev = await verified(c.env, await c.req.text(), c.req.header("stripe-signature"));
  const pe = providerEvent(ev);
  if (!pe) return c.json({ received: true as const, applied: false, note: `not applied: ${ev.type} is not about a hold` }, 200);
  const o = await ownerOf(c.env, pe.hold, "h");
  if (!o) return c.json({ received: true as const, applied: false, note: "not applied: no such sale" }, 200);
  const r = unwrap(await o.inv.providerEvent(pe));
  return c.json({ received: true as const, ...r }, 200);
});
