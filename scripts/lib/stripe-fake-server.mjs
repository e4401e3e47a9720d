// The fake Stripe (stripe-fake.mjs) for `npm run rehearse -- --gateway stripe-fake`: served on a
// local port for the Worker's stripe client, delivering its signed webhook events to the Worker
// the way Stripe does (retried until a 2xx) and the way it may go wrong: late, twice, out of
// order, and with forged copies beside the real ones (which must be refused, 400).
import { randomBytes } from "node:crypto";
import http from "node:http";
import { createStripeFake, signature } from "./stripe-fake.mjs";
import { sleep } from "./http.mjs";
import { now } from "./clock.mjs";

/**
 * @param {object} o
 * @param {number} o.timeoutMs          how long `timeout` confirms take (longer than PAY_TIMEOUT_MS)
 * @param {object} o.webhooks           { duplicate, forged, late, lateMs, jitterMs }: rates and delays
 * @param {object} [o.rateLimit]        { account, endpoint }: requests per second (stripe-fake.mjs)
 * Returns { base, fake, secrets, deliveries, setTarget(url), stop() }.
 */
export async function serveStripeFake({ timeoutMs, webhooks, rateLimit }) {
  const secret = `whsec_${randomBytes(24).toString("hex")}`;
  const deliveries = {
    events: 0,
    sent: 0,
    duplicates: 0,
    late: 0,
    retried: 0,
    forged_sent: 0,
    forged_refused: 0,
    forged_accepted: 0,
    failed: 0,
    applied: 0,
  };
  let target = null;
  const pending = new Set();

  const post = (payload, header) =>
    fetch(target, {
      method: "POST",
      body: payload,
      headers: {
        "content-type": "application/json",
        "stripe-signature": header,
        "user-agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
      },
    });

  /** One delivery, retried with backoff until a 2xx (Stripe keeps trying for days; here, a minute). */
  async function deliver(ev) {
    for (let attempt = 0; attempt < 8; attempt++) {
      try {
        const res = await post(ev.payload, ev.header);
        const body = /** @type {any} */ (await res.json().catch(() => ({})));
        if (res.ok) {
          deliveries.sent++;
          if (body.applied) deliveries.applied++;
          return;
        }
      } catch {}
      deliveries.retried++;
      await sleep(250 * 2 ** attempt);
    }
    deliveries.failed++;
  }

  /** A copy of the event signed with a key that is not the endpoint's: it must be refused. */
  async function forge(ev) {
    deliveries.forged_sent++;
    const header = signature(ev.payload, `whsec_${randomBytes(24).toString("hex")}`);
    try {
      const res = await post(ev.payload, header);
      if (res.status === 400) deliveries.forged_refused++;
      else deliveries.forged_accepted++;
      await res.text();
    } catch {}
  }

  const schedule = (ms, fn) => {
    const p = sleep(ms).then(fn);
    pending.add(p);
    p.finally(() => pending.delete(p));
  };

  const fake = createStripeFake({
    webhookSecret: secret,
    timeoutMs,
    rateLimit,
    onEvent(ev) {
      if (!target) return;
      deliveries.events++;
      const w = webhooks;
      // A random delay per delivery: events of one payment overtake each other.
      const late = Math.random() < w.late;
      if (late) deliveries.late++;
      const delay = () => Math.random() * w.jitterMs + (late ? w.lateMs : 0);
      schedule(delay(), () => deliver(ev));
      if (Math.random() < w.duplicate) {
        deliveries.duplicates++;
        schedule(delay(), () => deliver(ev));
      }
      if (Math.random() < w.forged) schedule(delay(), () => forge(ev));
    },
  });

  const server = http.createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const request = new Request(`http://${req.headers.host}${req.url}`, {
      method: req.method,
      headers: Object.entries(req.headers).flatMap(([k, v]) => (v === undefined ? [] : [/** @type {[string, string]} */ ([k, String(v)])])),
      body: ["GET", "HEAD"].includes(req.method) ? undefined : Buffer.concat(chunks),
    });
    try {
      const answer = await fake.handle(request);
      res.writeHead(answer.status, { "content-type": "application/json", ...Object.fromEntries(/** @type {any} */ (answer.headers)) });
      res.end(Buffer.from(await answer.arrayBuffer()));
    } catch (e) {
      res.writeHead(500, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { type: "api_error", message: String(e) } }));
    }
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", () => r(undefined)));
  const base = `http://127.0.0.1:${/** @type {import("node:net").AddressInfo} */ (server.address()).port}`;

  return {
    base,
    fake,
    secret,
    deliveries,
    setTarget: (url) => (target = url),
    /** Waits for the deliveries in flight (bounded), then closes the server. */
    async stop() {
      const end = now() + 5000;
      while (pending.size && now() < end) await sleep(100);
      server.closeAllConnections?.();
      await new Promise((r) => server.close(r));
    },
    /** Every scheduled delivery has been made. */
    idle: () => pending.size === 0,
  };
}
