import Stripe from "stripe";
import { now as clockNow } from "../../domain/clock";
import type { Settings } from "../../domain/config";
import type { ChargeOutcome, LookupOutcome, PaymentGateway, PaymentRequest } from "./gateway";

/**
 * Stripe through the official `stripe` package, on its fetch HTTP client (workerd has no Node
 * http). One hold is one PaymentIntent:
 *
 *   open     POST /v1/payment_intents   idempotency key open_<hold>, metadata {hold_id, sale_id};
 *            the intent id is stored in the hold's row before it is confirmed
 *   charge   POST /v1/payment_intents/:id/confirm with the page's PaymentMethod
 *   recheck  GET the intent (expanding its charge); confirmed again only if it never was
 *   refund   POST /v1/refunds           idempotency key refund_<charge>
 *
 * An intent succeeds at most once, so asking again (a timeout, a 5xx, a 429, a network error:
 * outcomes that are unknown) can never charge twice: the stored intent is retrieved. A confirm
 * sent again uses a new idempotency key per attempt, because Stripe replays a key's first
 * answer, a 500 included, for a day.
 *
 * STRIPE_API_BASE points the client elsewhere (tests and rehearsals: the fake in
 * scripts/lib/stripe-fake.mjs); production leaves it unset (api.stripe.com), which
 * `deploymentProblem` insists on.
 */
export function stripeClient(env: Env, s: Pick<Settings, "STRIPE_API_BASE" | "PAY_TIMEOUT_MS">): Stripe {
  const key = env.STRIPE_SECRET_KEY;
  if (!key) throw new Error('GATEWAY = "stripe" needs `wrangler secret put STRIPE_SECRET_KEY`');
  const base = s.STRIPE_API_BASE ? new URL(s.STRIPE_API_BASE) : null;
  return new Stripe(key, {
    httpClient: Stripe.createFetchHttpClient(),
    // Retries are ours (by the alarm, about the stored intent): one request is one try.
    maxNetworkRetries: 0,
    timeout: s.PAY_TIMEOUT_MS,
    ...(base
      ? {
          host: base.hostname,
          port: base.port || (base.protocol === "https:" ? 443 : 80),
          protocol: base.protocol === "https:" ? "https" : "http",
        }
      : {}),
  });
}

type Intent = Stripe.PaymentIntent;

/** Where an intent stands, as a payment outcome. */
export function outcomeOf(pi: Intent): LookupOutcome {
  switch (pi.status) {
    case "succeeded": {
      const charge = typeof pi.latest_charge === "object" ? pi.latest_charge : null;
      return { status: "succeeded", charge_id: pi.id, fingerprint: charge?.payment_method_details?.card?.fingerprint ?? null };
    }
    case "requires_action":
      return { status: "requires_action", client_secret: pi.client_secret ?? "", next_action: pi.next_action?.type ?? "use_stripe_sdk" };
    case "canceled":
      return { status: "declined", reason: pi.cancellation_reason ?? "canceled" };
    case "requires_payment_method": {
      // After a failed attempt the intent waits for another method: for us, declined.
      const e = pi.last_payment_error;
      return e ? { status: "declined", reason: e.decline_code ?? e.code ?? "card_declined" } : { status: "not_found" };
    }
    case "requires_confirmation":
      return { status: "not_found" }; // never confirmed: no money has moved
    default:
      return { status: "unknown", reason: `intent ${pi.status}` }; // processing, requires_capture
  }
}

/** A failed request: a decline Stripe decided, or an outcome we do not know. */
function failure(e: unknown): ChargeOutcome {
  if (e instanceof Stripe.errors.StripeCardError) {
    return { status: "declined", reason: e.decline_code ?? e.code ?? "card_declined" };
  }
  if (e instanceof Stripe.errors.StripeInvalidRequestError && e.param === "payment_method") {
    return { status: "declined", reason: `invalid payment method (${e.code ?? "invalid"})` }; // refused before anything happened
  }
  const err = e as { type?: string; statusCode?: number; message?: string };
  const reason = `stripe: ${err.type ?? "error"} ${err.statusCode ?? ""} ${err.message ?? String(e)}`.trim();
  // A 429 (the account's or an endpoint's rate): Stripe did nothing; the caller backs off with jitter.
  return e instanceof Stripe.errors.StripeRateLimitError || err.statusCode === 429
    ? { status: "unknown", reason, rate_limited: true }
    : { status: "unknown", reason };
}

export function stripeGateway(env: Env, s: Pick<Settings, "STRIPE_API_BASE" | "PAY_TIMEOUT_MS">): PaymentGateway {
  const stripe = stripeClient(env, s);
  const expand = ["latest_charge"];
  let confirms = 0; // a per-isolate counter in each confirm's key: a new attempt is a new request

  const retrieve = async (ref: string): Promise<LookupOutcome> => {
    try {
      return outcomeOf(await stripe.paymentIntents.retrieve(ref, { expand }));
    } catch (e) {
      return failure(e);
    }
  };
  const confirm = async (req: PaymentRequest & { ref: string }, key: string): Promise<ChargeOutcome> => {
    try {
      const pi = await stripe.paymentIntents.confirm(req.ref, { payment_method: req.method, expand }, { idempotencyKey: key });
      const o = outcomeOf(pi);
      return o.status === "not_found" ? { status: "unknown", reason: `intent ${pi.status} after confirm` } : o;
    } catch (e) {
      return failure(e);
    }
  };

  return {
    async fingerprint(method) {
      try {
        const pm = await stripe.paymentMethods.retrieve(method);
        return pm.card?.fingerprint ?? null;
      } catch {
        return null; // learned with the charge instead (latest_charge.payment_method_details)
      }
    },
    async open(req) {
      try {
        const pi = await stripe.paymentIntents.create(
          {
            amount: req.amount,
            currency: req.currency.toLowerCase(),
            // Cards and wallets the page's Payment Element offers, none that leaves the page.
            automatic_payment_methods: { enabled: true, allow_redirects: "never" },
            metadata: { hold_id: req.reference, sale_id: req.sale },
            description: `flashsale ${req.sale} hold ${req.reference}`,
          },
          { idempotencyKey: `open_${req.reference}` },
        );
        return { status: "opened", ref: pi.id };
      } catch (e) {
        const f = failure(e);
        return f.status === "unknown" ? f : { status: "unknown", reason: `open: ${f.status}` };
      }
    },
    charge: (req) => confirm(req, req.key),
    async recheck(req) {
      const now = await retrieve(req.ref);
      // Never confirmed (the confirm was lost before Stripe ran it): confirm the same intent.
      return now.status === "not_found" ? confirm(req, `${req.key}_${clockNow().toString(36)}${(confirms++).toString(36)}`) : now;
    },
    lookup: async (req) => (req.ref === null ? { status: "not_found" } : retrieve(req.ref)),
    async cancel(req) {
      try {
        await stripe.paymentIntents.cancel(req.ref, { cancellation_reason: "abandoned" }, { idempotencyKey: `cancel_${req.reference}` });
      } catch {
        // Already succeeded or processing: the watch looks it up and refunds what lands.
      }
    },
    async refund(req) {
      try {
        const r = await stripe.refunds.create({ payment_intent: req.charge_id, amount: req.amount }, { idempotencyKey: req.key });
        return r.status === "failed" || r.status === "canceled"
          ? { status: "failed", reason: `refund ${r.status}` }
          : { status: "refunded", refund_id: r.id };
      } catch (e) {
        return { status: "failed", reason: (e as Error).message };
      }
    },
  };
}
