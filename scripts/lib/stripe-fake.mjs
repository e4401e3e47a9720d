// A fake Stripe, with its faults: the one stand-in for api.stripe.com in tests (vitest.config.ts
// answers the Worker's requests to http://stripe.test with it) and in rehearsals
// (`npm run rehearse -- --gateway stripe-fake` serves it on a local port). It speaks the part of
// the API the stripe package's client sends for flashsale (form-encoded requests, JSON answers,
// Stripe's error bodies and statuses), keeps idempotency keys as Stripe does, and signs the
// webhook events it raises the way Stripe does (Stripe-Signature: t=…,v1=HMAC-SHA256).
//
// PaymentMethod ids say what happens: pm_<behaviour>[.<card>]
//   ok           succeeds                       decline      402 card_declined
//   visa         follows the rates (setRates)   3ds          requires_action (authenticate via /_fake)
//   error        500 on the first confirm, nothing charged (the 500 is replayed for its idempotency
//                key, as Stripe does; a confirm with another key goes through)
//   error_after  charged, then 500              ratelimit    429 on the first confirm, nothing charged
//   timeout      charged, answered after `timeoutMs` (the client has given up)
//   slow_<ms>    processing, succeeds <ms> later (its webhook may come after the hold ended)
// The suffix names the card (its fingerprint): `.card-7` is known when the PaymentMethod is
// retrieved, `.late-card-7` only with the charge; without one, every use is a card of its own.
//
// Rate limits, as Stripe's: at most `rateLimit.account` requests in any second for the whole
// account (25 in a sandbox, 100 live) and `rateLimit.endpoint` per endpoint (25); a request over
// either is answered 429 with Stripe's error body (invalid_request_error, code rate_limit) and
// the Stripe-Rate-Limited-Reason header (global-rate or endpoint-rate), and does nothing. Stripe
// sends no Retry-After; nor does it ask the client to retry (no Stripe-Should-Retry): the client
// backs off with jitter. 0 switches a limit off.
//
// Fake-only routes: POST /_fake/intents/:id/authenticate {result: "succeeded"|"failed"} (what
// stripe.js does after 3-D Secure), GET /_fake/events?hold=… (signed events, for tests to
// deliver as they like), GET /_fake/ledger, POST /_fake/rates, POST /_fake/limits {account,
// endpoint}, GET /_fake/traffic (requests per second: received, and answered 429).
import { createHmac, randomBytes } from "node:crypto";
import { now } from "./clock.mjs";

const rid = (prefix) => `${prefix}_${randomBytes(12).toString("hex")}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Stripe's form encoding, read back: `metadata[hold_id]=x&expand[0]=y` → { metadata: { hold_id }, expand: [y] }. */
export function parseForm(text) {
  const out = {};
  for (const [k, v] of new URLSearchParams(text)) {
    const path = k.replace(/\]/g, "").split("[");
    let o = out;
    for (let i = 0; i < path.length - 1; i++) o = o[path[i]] ??= {};
    const last = path.at(-1);
    o[last === "" ? Object.keys(o).length : last] = v;
  }
  return out;
}

/** The Stripe-Signature header for `payload` (several secrets: several v1 signatures). */
export function signature(payload, secrets, t = Math.floor(now() / 1000)) {
  const sigs = [secrets].flat().map((s) => `v1=${createHmac("sha256", s).update(`${t}.${payload}`).digest("hex")}`);
  return `t=${t},${sigs.join(",")}`;
}

/** A PaymentMethod id's behaviour and card (see above). */
export function methodOf(id) {
  const m = /^pm_([a-z0-9_]+?)(?:_(\d+))?(?:\.(late-)?([A-Za-z0-9_:-]+))?$/.exec(id ?? "");
  if (!m) return null;
  return { behaviour: m[1], ms: m[2] ? Number(m[2]) : 0, late: !!m[3], card: m[4] ?? null };
}

const error = (status, type, message, extra = {}) => Response.json({ error: { type, message, ...extra } }, { status });

/** The endpoint a request is counted against: its method and path, ids as `:id`. */
export const endpointOf = (method, path) => `${method} ${path.replace(/^(\/v1\/[a-z_]+)\/[^/]+/, "$1/:id")}`;

/**
 * Stripe's limiter, as a fake needs it: a sliding one-second window per key (the account, each
 * endpoint). `take` admits a request if every window has room, and counts it in each.
 */
export function rateLimiter(limits) {
  const windows = new Map(); // key → times of the admitted requests in the last second
  const perSecond = new Map(); // epoch second → { received, limited, endpoints: { [endpoint]: n } }
  const room = (key, limit, now) => {
    if (!limit) return true;
    const w = windows.get(key) ?? [];
    while (w.length && w[0] <= now - 1000) w.shift();
    windows.set(key, w);
    return w.length < limit;
  };
  return {
    limits,
    /** null if admitted, else the reason (Stripe-Rate-Limited-Reason). */
    take(endpoint, at = now()) {
      const sec = Math.floor(at / 1000);
      const c = perSecond.get(sec) ?? { received: 0, limited: 0, endpoints: {} };
      perSecond.set(sec, c);
      c.received++;
      c.endpoints[endpoint] = (c.endpoints[endpoint] ?? 0) + 1;
      const reason = !room("account", limits.account, at) ? "global-rate" : !room(endpoint, limits.endpoint, at) ? "endpoint-rate" : null;
      if (reason) {
        c.limited++;
        return reason;
      }
      for (const k of ["account", endpoint]) windows.get(k)?.push(at);
      return null;
    },
    /** Requests per second as received (429s included), oldest first. */
    traffic: () => [...perSecond.entries()].sort((a, b) => a[0] - b[0]).map(([t, c]) => ({ t, ...c })),
  };
}

/**
 * @param {object} o
 * @param {string} o.webhookSecret   signs events
 * @param {{account?: number, endpoint?: number}} [o.rateLimit]  requests per second (default 25 and 25, a sandbox's; 0: no limit)
 * @param {number} [o.timeoutMs]     how long `timeout` answers take (longer than the client waits)
 * @param {(ev: {id, type, payload, header, hold}) => void} [o.onEvent]  called as events are raised
 */
export function createStripeFake({ webhookSecret, timeoutMs = 1500, onEvent = () => {}, rateLimit = {} }) {
  const limiter = rateLimiter({ account: rateLimit.account ?? 25, endpoint: rateLimit.endpoint ?? 25 });
  const intents = new Map();
  const charges = new Map();
  const idem = new Map(); // `${path} ${key}` → { status, body }
  const events = [];
  let rates = { decline: 0, error: 0, error_after: 0, timeout: 0, ratelimit: 0, three_ds: 0 };
  const faulted = new Set(); // intents whose first confirm has had its fault
  const self = { slowMs: 1000 }; // how long a `slow` payment rolled by the rates processes

  const view = (pi, expand) => {
    const charge = pi.latest_charge ? charges.get(pi.latest_charge) : null;
    return {
      id: pi.id,
      object: "payment_intent",
      amount: pi.amount,
      currency: pi.currency,
      status: pi.status,
      metadata: pi.metadata,
      client_secret: pi.client_secret,
      payment_method: pi.payment_method,
      livemode: false,
      created: pi.created,
      next_action: pi.status === "requires_action" ? { type: "use_stripe_sdk", use_stripe_sdk: {} } : null,
      last_payment_error: pi.last_payment_error,
      cancellation_reason: pi.cancellation_reason,
      latest_charge: charge ? (expand ? chargeView(charge) : charge.id) : null,
    };
  };
  const chargeView = (ch) => ({
    id: ch.id,
    object: "charge",
    amount: ch.amount,
    amount_refunded: ch.refund ? ch.amount : 0,
    currency: ch.currency,
    payment_intent: ch.payment_intent,
    metadata: ch.metadata,
    paid: true,
    status: "succeeded",
    refunded: !!ch.refund,
    payment_method_details: { type: "card", card: { brand: "visa", last4: "4242", fingerprint: ch.fingerprint } },
    refunds: { object: "list", data: ch.refund ? [{ id: ch.refund, object: "refund", amount: ch.amount, status: "succeeded" }] : [] },
  });

  function raise(type, object, hold) {
    const ev = {
      id: rid("evt"),
      object: "event",
      type,
      created: Math.floor(now() / 1000),
      livemode: false,
      api_version: "2026-10-28.endive",
      data: { object },
    };
    const payload = JSON.stringify(ev);
    const rec = { id: ev.id, type, hold, payload, header: signature(payload, webhookSecret) };
    events.push(rec);
    onEvent(rec);
  }

  function succeed(pi) {
    const m = methodOf(pi.payment_method);
    const ch = {
      id: rid("ch"),
      payment_intent: pi.id,
      amount: pi.amount,
      currency: pi.currency,
      metadata: pi.metadata,
      refund: null,
      fingerprint: m?.card ? `fp_${m.card}` : rid("fp"),
    };
    charges.set(ch.id, ch);
    Object.assign(pi, { status: "succeeded", latest_charge: ch.id, last_payment_error: null });
    raise("payment_intent.succeeded", view(pi, false), pi.metadata.hold_id);
  }
  function fail(pi, code, decline_code) {
    Object.assign(pi, {
      status: "requires_payment_method",
      last_payment_error: { type: "card_error", code, decline_code, message: "Your card was declined." },
    });
    raise("payment_intent.payment_failed", view(pi, false), pi.metadata.hold_id);
  }

  /** The behaviour a `visa` method gets from the rates (one roll per intent). */
  function roll() {
    let x = Math.random();
    for (const [k, r] of Object.entries(rates)) {
      if (x < r) return k === "three_ds" ? "3ds" : k;
      x -= r;
    }
    return "ok";
  }

  /** Replays a stored answer for an idempotency key, or runs `fn` and stores its answer (a 429 is not stored, as at Stripe). */
  async function idempotent(path, key, fn) {
    const k = key && `${path} ${key}`;
    if (k && idem.has(k)) {
      const { status, body } = idem.get(k);
      return Response.json(body, { status, headers: { "idempotent-replayed": "true" } });
    }
    const res = await fn();
    if (k && res.status !== 429) idem.set(k, { status: res.status, body: await res.clone().json() });
    return res;
  }

  async function confirm(pi, p) {
    pi.confirms++;
    if (!["requires_payment_method", "requires_confirmation"].includes(pi.status)) {
      return error(400, "invalid_request_error", `This PaymentIntent's status is ${pi.status}.`, {
        code: "payment_intent_unexpected_state",
        payment_intent: view(pi, false),
      });
    }
    const m = methodOf(p.payment_method);
    if (!m)
      return error(400, "invalid_request_error", `No such PaymentMethod: '${p.payment_method}'`, {
        code: "resource_missing",
        param: "payment_method",
      });
    pi.payment_method = p.payment_method;
    // A method decides each confirm; `visa` rolls the dice once per intent.
    const behaviour = m.behaviour === "visa" ? (pi.rolled ??= roll()) : m.behaviour;
    const expand = JSON.stringify(p.expand ?? "").includes("latest_charge");
    switch (behaviour) {
      case "decline":
        fail(pi, "card_declined", "generic_decline");
        return error(402, "card_error", "Your card was declined.", {
          code: "card_declined",
          decline_code: "generic_decline",
          payment_intent: view(pi, false),
        });
      case "error":
        if (!faulted.has(pi.id)) {
          faulted.add(pi.id);
          return error(500, "api_error", "An unknown error occurred (nothing was charged).");
        }
        break;
      case "error_after":
        succeed(pi);
        return error(500, "api_error", "An unknown error occurred.");
      case "ratelimit":
        if (!faulted.has(pi.id)) {
          faulted.add(pi.id);
          pi.status = "requires_confirmation";
          return error(429, "invalid_request_error", "Too many requests hit the API too quickly.", { code: "rate_limit" });
        }
        break;
      case "timeout":
        succeed(pi);
        await sleep(timeoutMs);
        return Response.json(view(pi, expand));
      case "3ds":
        Object.assign(pi, { status: "requires_action" });
        return Response.json(view(pi, expand));
      case "slow":
        pi.status = "processing";
        setTimeout(() => pi.status === "processing" && succeed(pi), m.ms || self.slowMs);
        return Response.json(view(pi, expand));
    }
    succeed(pi);
    return Response.json(view(pi, expand));
  }

  async function handle(request) {
    const url = new URL(request.url);
    const path = url.pathname;
    const key = request.headers.get("idempotency-key");
    const text = request.method === "POST" ? await request.text() : url.search.slice(1);
    const p = parseForm(text);
    const json = () => {
      try {
        return JSON.parse(text);
      } catch {
        return {};
      }
    };
    let m;
    if (path.startsWith("/v1/")) {
      const limited = limiter.take(endpointOf(request.method, path));
      if (limited) {
        const res = error(
          429,
          "invalid_request_error",
          "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.",
          { code: "rate_limit", doc_url: "https://stripe.com/docs/error-codes/rate-limit" },
        );
        res.headers.set("stripe-rate-limited-reason", limited);
        return res;
      }
    }
    if (request.method === "POST" && path === "/v1/payment_intents") {
      return idempotent(path, key, async () => {
        const pi = {
          id: rid("pi"),
          amount: Number(p.amount),
          currency: p.currency,
          metadata: p.metadata ?? {},
          status: "requires_payment_method",
          client_secret: null,
          payment_method: null,
          latest_charge: null,
          last_payment_error: null,
          cancellation_reason: null,
          created: Math.floor(now() / 1000),
          confirms: 0,
          key,
          rolled: undefined,
        };
        pi.client_secret = `${pi.id}_secret_${randomBytes(8).toString("hex")}`;
        intents.set(pi.id, pi);
        return Response.json(view(pi, false));
      });
    }
    if ((m = /^\/v1\/payment_intents\/([^/]+)(\/confirm|\/cancel)?$/.exec(path))) {
      const pi = intents.get(m[1]);
      if (!pi) return error(404, "invalid_request_error", `No such payment_intent: '${m[1]}'`, { code: "resource_missing" });
      if (request.method === "GET") return Response.json(view(pi, JSON.stringify(p.expand ?? "").includes("latest_charge")));
      if (m[2] === "/confirm") return idempotent(path, key, () => confirm(pi, p));
      if (m[2] === "/cancel") {
        return idempotent(path, key, async () => {
          if (["succeeded", "processing", "canceled"].includes(pi.status)) {
            return error(400, "invalid_request_error", `You cannot cancel this PaymentIntent because it has a status of ${pi.status}.`, {
              code: "payment_intent_unexpected_state",
            });
          }
          Object.assign(pi, { status: "canceled", cancellation_reason: p.cancellation_reason ?? "requested_by_customer" });
          raise("payment_intent.canceled", view(pi, false), pi.metadata.hold_id);
          return Response.json(view(pi, false));
        });
      }
    }
    if (request.method === "GET" && (m = /^\/v1\/payment_methods\/([^/]+)$/.exec(path))) {
      const pm = methodOf(m[1]);
      if (!pm) return error(404, "invalid_request_error", `No such PaymentMethod: '${m[1]}'`, { code: "resource_missing" });
      const fingerprint = pm.card && !pm.late ? `fp_${pm.card}` : null;
      return Response.json({ id: m[1], object: "payment_method", type: "card", card: { brand: "visa", last4: "4242", fingerprint } });
    }
    if (request.method === "POST" && path === "/v1/refunds") {
      return idempotent(path, key, async () => {
        const pi = intents.get(p.payment_intent);
        const ch = pi?.latest_charge && charges.get(pi.latest_charge);
        if (!ch)
          return error(400, "invalid_request_error", "This PaymentIntent has no successful charge to refund.", {
            code: "charge_not_refundable",
          });
        if (ch.refund)
          return error(400, "invalid_request_error", `Charge ${ch.id} has already been refunded.`, { code: "charge_already_refunded" });
        ch.refund = rid("re");
        raise("charge.refunded", chargeView(ch), ch.metadata.hold_id);
        return Response.json({
          id: ch.refund,
          object: "refund",
          amount: ch.amount,
          charge: ch.id,
          payment_intent: pi.id,
          status: "succeeded",
        });
      });
    }
    // The fake's own controls.
    if (request.method === "POST" && (m = /^\/_fake\/intents\/([^/]+)\/authenticate$/.exec(path))) {
      const pi = authenticate(m[1], json().result);
      return pi ? Response.json(view(pi, false)) : error(400, "invalid_request_error", "nothing to authenticate");
    }
    if (request.method === "GET" && path === "/_fake/events") {
      const hold = url.searchParams.get("hold");
      return Response.json(events.filter((e) => !hold || e.hold === hold));
    }
    if (request.method === "GET" && path === "/_fake/ledger") return Response.json({ charges: ledger() });
    if (request.method === "POST" && path === "/_fake/limits") {
      Object.assign(limiter.limits, json());
      return Response.json(limiter.limits);
    }
    if (request.method === "GET" && path === "/_fake/traffic") return Response.json({ limits: limiter.limits, seconds: limiter.traffic() });
    if (request.method === "POST" && path === "/_fake/rates") {
      rates = { ...rates, ...json() };
      return Response.json(rates);
    }
    return error(404, "invalid_request_error", `Unrecognized request URL (${request.method}: ${path}).`);
  }

  /** The shopper passed (or failed) 3-D Secure for this intent, as stripe.js would report it. */
  function authenticate(id, result = "succeeded") {
    const pi = intents.get(id);
    if (pi?.status !== "requires_action") return null;
    if (result === "failed") fail(pi, "payment_intent_authentication_failure", undefined);
    else succeed(pi);
    return pi;
  }

  /**
   * The fake's ledger in the simulated gateway's shape: one entry per intent (its key the
   * intent's create key), succeeded / declined (failed, canceled) / processing (still open).
   */
  function ledger() {
    return [...intents.values()].map((pi) => {
      const ch = pi.latest_charge ? charges.get(pi.latest_charge) : null;
      const status =
        pi.status === "succeeded"
          ? "succeeded"
          : pi.status === "canceled" || pi.last_payment_error
            ? "declined"
            : pi.confirms
              ? "processing"
              : "not_charged";
      return {
        key: pi.key ?? pi.id,
        reference: pi.metadata.hold_id ?? "",
        status,
        charge_id: pi.id,
        amount: pi.amount,
        calls: pi.confirms,
        refund_id: ch?.refund ?? null,
      };
    });
  }

  return Object.assign(self, { handle, ledger, events, authenticate, setRates: (r) => (rates = { ...rates, ...r }), intents, limiter });
}
