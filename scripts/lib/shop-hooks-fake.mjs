// A fake shop endpoint for the order events' webhooks (docs/events.md), with faults: the tests'
// (vitest.config.ts, host shop-hooks.test) and the rehearsal's (shop-hooks-fake-server.mjs). It
// checks every delivery's signature as a shop would (domain/webhook-signature.js), applies each
// event id once, and answers by a script per sale or by rates:
//   ok        200, stored
//   500       a 5xx, not stored
//   timeout   no answer until after the sender's timeout, not stored
//   slow      stored, answered 200 a little later (within the timeout)
//   late-ok   stored, answered after the sender's timeout: the sender tries again (a duplicate)
//   never     holds the request for `neverMs` (a receiver that never answers)
import { now } from "./clock.mjs";
import { verifyShopWebhook } from "../../domain/webhook-signature.js";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms).unref?.());
const ANSWERS = ["ok", "500", "timeout", "slow", "late-ok", "never"];

/**
 * @param {object} o
 * @param {string|string[]} o.secret       the key(s) the shop accepts
 * @param {number} [o.toleranceS]          how old a signature may be
 * @param {number} o.timeoutMs             the sender's timeout (SHOP_WEBHOOK_TIMEOUT_MS): `timeout` and `late-ok` answer after it
 * @param {number} [o.slowMs]              `slow`'s delay (below the timeout)
 * @param {number} [o.neverMs]             how long `never` holds a request
 */
export function createShopHooksFake({ secret, toleranceS = 300, timeoutMs, slowMs = Math.round(timeoutMs / 3), neverMs = 600_000 }) {
  /** id → { event, deliveries, first_at } */
  const received = new Map();
  /** Each accepted delivery's event id, in arrival order (duplicates included). */
  const arrivals = [];
  const scripts = new Map(); // sale → remaining answers
  const attempts = new Map(); // sale → signed deliveries that reached the shop (answered or not)
  let rates = {}; // { "500": 0.1, timeout: 0.05, ... } for sales without a script
  const counts = { deliveries: 0, refused: 0, answered: Object.fromEntries(ANSWERS.map((a) => [a, 0])) };

  function pick(sale) {
    const script = scripts.get(sale);
    if (script?.length) return script.shift();
    let roll = Math.random();
    for (const [answer, rate] of Object.entries(rates)) if ((roll -= rate) < 0) return answer;
    return "ok";
  }

  /** Stored once by id; every delivery's raw body and signature are kept (the same id must bring the same bytes). */
  function store(event, body, signature) {
    const seen = received.get(event.id);
    if (seen) {
      seen.deliveries++;
      seen.bodies.push(body);
    } else received.set(event.id, { event, deliveries: 1, first_at: now(), bodies: [body], signature });
    arrivals.push(event.id);
  }

  async function hook(request) {
    const body = await request.text();
    counts.deliveries++;
    const signature = request.headers.get("flashsale-signature");
    const v = await verifyShopWebhook(secret, signature, body, toleranceS, now());
    if (v.ok === false) {
      counts.refused++;
      return Response.json({ error: v.reason }, { status: 400 });
    }
    const event = /** @type {{ id: string, data?: { sale_id?: string } }} */ (v.event);
    const sale = event.data?.sale_id;
    attempts.set(sale, (attempts.get(sale) ?? 0) + 1);
    const answer = pick(sale);
    counts.answered[answer] = (counts.answered[answer] ?? 0) + 1;
    switch (answer) {
      case "500":
        return new Response("shop unavailable", { status: 503 });
      case "timeout":
        await sleep(timeoutMs + 500);
        return new Response("too late", { status: 504 });
      case "never":
        await sleep(neverMs);
        return new Response("too late", { status: 504 });
      case "slow":
        store(event, body, signature);
        await sleep(slowMs);
        return Response.json({ received: true });
      case "late-ok":
        store(event, body, signature);
        await sleep(timeoutMs + 500);
        return Response.json({ received: true });
      default:
        store(event, body, signature);
        return Response.json({ received: true });
    }
  }

  return {
    counts,
    received,
    arrivals,
    /** `answers` for the next deliveries of the sale's events, in order; then `ok` (or the rates). */
    script: (sale, answers) => scripts.set(sale, [...answers]),
    setRates: (r) => (rates = { ...r }),
    /** What the shop got for a sale: its distinct events (with how often each came) and the arrival order. */
    of(sale) {
      const rows = [...received.values()].filter((r) => r.event.data?.sale_id === sale);
      const events = rows.map((r) => r.event);
      const ids = new Set(events.map((e) => e.id));
      const deliveries = rows.map((r) => ({ id: r.event.id, count: r.deliveries, bodies: r.bodies, signature: r.signature }));
      return { events, deliveries, arrivals: arrivals.filter((id) => ids.has(id)), attempts: attempts.get(sale) ?? 0 };
    },
    /**
     * POST /hooks: a delivery. POST /control {sale, answers} | {rates}: the faults.
     * GET /received?sale=: what the shop got. Anything else: 404.
     */
    async handle(request) {
      const url = new URL(request.url);
      if (request.method === "POST" && url.pathname === "/hooks") return hook(request);
      if (request.method === "POST" && url.pathname === "/control") {
        const c = await request.json();
        if (c.rates) rates = c.rates;
        if (c.sale) scripts.set(c.sale, [...(c.answers ?? [])]);
        return Response.json({ ok: true });
      }
      if (request.method === "GET" && url.pathname === "/received")
        return Response.json({ ...this.of(url.searchParams.get("sale")), counts });
      return new Response("not found", { status: 404 });
    },
  };
}
