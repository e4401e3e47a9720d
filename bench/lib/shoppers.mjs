// Shoppers made through the real API with the shopper client (domain/client.js), as a browser
// would: session → challenge → solved proof of work (pow.js) → queue → ticket and, once
// admitted, a pass. Setup only: the measured load goes through autocannon (load.mjs), not here.
import { createClient, fetchTransport } from "../../domain/client.js";
import { solve } from "../../domain/pow.js";
import { saleConfig } from "../../domain/sale-config.js";
import { shopSigner } from "../../scripts/lib/shop-account.mjs";
import { now as clockNow } from "../../scripts/lib/clock.mjs";

/**
 * A bench sale's time to claim after admission (the most a sale may set): a claim run admits its
 * whole pool before it starts, which takes longer than the default 120 s for the pool a 6 s run
 * at full speed needs. Only the passes' lifetime differs from a default sale.
 */
export const BENCH_PASS_TTL_S = 3600;
/** Shoppers joining, then polling, at once during setup. */
export const ADMIT_PARALLEL = 64;

/** A browser-like User-Agent: the bot heuristic (BOT_UA_CHECK) stays on and lets it through. */
export const UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36 flashsale-bench";

/**
 * Runs `fn` over `items` with at most `limit` in flight; results in order. With `until` (epoch
 * ms), no new item starts after then and the results stop at the first item not started.
 */
export async function pMap(items, limit, fn, until = Infinity) {
  const out = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length && clockNow() < until) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return next < items.length ? out.slice(0, next) : out;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** fetch to `base`; a dropped connection (a keep-alive socket closed under load) is tried again. */
function reconnecting(base) {
  const send = fetchTransport(base);
  return async (method, path, init) => {
    for (let attempt = 1; ; attempt++) {
      try {
        const res = /** @type {Response} */ (await send(method, path, init));
        return { status: res.status, headers: res.headers, text: await res.text() };
      } catch (e) {
        if (attempt >= 3 || !(e instanceof TypeError)) throw e;
        await sleep(50 * attempt);
      }
    }
  };
}

/** The bench's setup calls against one runtime (`headers` route a request through Miniflare's entry). */
export function client({ base, headers: routeHeaders = {}, adminToken, shopSecret }) {
  const api = createClient({ transport: reconnecting(base), headers: { "user-agent": UA, ...routeHeaders } });
  const admin = api.admin(adminToken);
  // Each session is its own shop account (sales need one); a copy of the code from before
  // accounts ignores the assertion and makes an anonymous session.
  const sign = shopSigner(shopSecret, { ttl: "6h" });
  const run = crypto.randomUUID().slice(0, 8);
  let accounts = 0;
  const must = (r, what, ok = [200, 201]) => {
    if (!ok.includes(r.status)) throw new Error(`${what}: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
    return r.body;
  };

  return {
    /** A sale open now, for the bench: no PoW work, admission as fast as the room allows. */
    async createSale(id, overrides = {}) {
      const now = clockNow();
      const cfg = saleConfig(
        {
          id,
          product: { id: `p-${id}`, name: `Bench ${id}`, price: 1000, currency: "EUR" },
          stock_total: 10_000_000,
          starts_at: new Date(now - 1000).toISOString(),
          ends_at: new Date(now + 6 * 3600_000).toISOString(),
          hold_ttl_s: 3600, // nothing expires during the bench: the alarm stays quiet
          admission_rate: 100_000,
          max_active: 10_000_000,
          pass_ttl_s: BENCH_PASS_TTL_S,
          pow_difficulty: 0,
          ...overrides,
        },
        { now },
      );
      return must(await admin.createSale(cfg), `create sale ${id}`).sale;
    },
    async stats(id) {
      return must(await admin.stats(id), `stats ${id}`);
    },
    /** One status poll with the shopper's ticket: the answer's body. */
    async poll(sale, s) {
      return must(await api.poll(sale, s.token, s.ticket), `poll ${sale}`);
    },
    async sessions(n, parallel = 32) {
      return pMap(Array.from({ length: n }), parallel, async () => {
        const i = accounts++;
        // Each shopper from a network of their own, as a crowd is: from one address, the edge's
        // brake on busy networks (edge/pressure.ts) would make every challenge up to 256 times
        // the work, and solving them, not the server, would set the pace of setup.
        const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
        const s = must(await api.session({ identity: await sign(`bench-${run}-${i}`), headers: { "cf-connecting-ip": ip } }), "session");
        return { token: s.token, user: s.user_id, ip };
      });
    },
    /**
     * Each session queues for `sale` and comes back with a ticket and a pass. Two passes: everyone
     * joins first (answered at the edge, fast), then each polls their ticket until admitted. A
     * place is admitted only once the room has heard of it (the edge's report interval, its slack,
     * the edge's cached watermark: seconds), so waiting that out shopper by shopper admitted a
     * few dozen a second; by the second pass the bench sale (admission_rate 100,000/s) has
     * admitted most of the line, and a shopper costs about one join and one poll. With `until`,
     * joining stops then (the first passes must still be valid when the measurement ends), so
     * fewer shoppers may come back than were asked for. A failed call is tried again (the room
     * keeps the place).
     */
    async admit(sale, sessions, parallel = 32, until = Infinity) {
      const retried = async (f) => {
        for (let attempt = 1; ; attempt++) {
          try {
            return await f();
          } catch (e) {
            if (attempt >= 3) throw e;
          }
        }
      };
      const joined = await pMap(
        sessions,
        parallel,
        (s) =>
          retried(async () => {
            const r = await api.join(sale, s.token, {}, { headers: { "cf-connecting-ip": s.ip } });
            if (r.status !== 200 && r.status !== 201) throw new Error(`queue: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
            return { ...s, answer: r };
          }),
        until,
      );
      return pMap(joined, parallel, ({ answer, ...s }) =>
        retried(async () => {
          let r = answer;
          for (let polls = 0; r.body.state !== "admitted"; polls++) {
            if (r.body.state === "expired" || polls >= 600) throw new Error(`not admitted: ${JSON.stringify(r.body).slice(0, 300)}`);
            if (polls > 0) await sleep(100);
            r = await api.poll(sale, s.token, r.body.ticket, { headers: { "cf-connecting-ip": s.ip } });
            if (r.status !== 200) throw new Error(`poll: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
          }
          return { ...s, ticket: r.body.ticket, pass: r.body.pass };
        }),
      );
    },
    /** Each session with a solved challenge for `sale`: what a shopper sends to join the line. */
    async solved(sale, sessions, parallel = 32) {
      return pMap(sessions, parallel, async (s) => {
        const ch = must(await api.challenge(sale, s.token, { headers: { "cf-connecting-ip": s.ip } }), "challenge");
        return { ...s, challenge: ch.challenge, solution: await solve(ch.nonce, ch.bits) };
      });
    },
    claim: (sale, shopper, key) => api.claim(sale, shopper.token, { pass: shopper.pass, key }),
  };
}
