// Shoppers made through the real API, as a browser would: session → challenge → solved proof
// of work (public/pow.js) → queue → ticket and, once admitted, a pass. Used to pre-create the
// population each measured scenario rotates over.
import { solve } from "../../domain/pow.js";

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
    while (next < items.length && Date.now() < until) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return next < items.length ? out.slice(0, next) : out;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function client({ base, headers: routeHeaders = {}, adminToken }) {
  async function callOnce(method, path, { token, body, headers = {} } = {}) {
    const res = await fetch(base + path, {
      method,
      headers: {
        "user-agent": UA,
        ...routeHeaders,
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { "content-type": "application/json" } : {}),
        ...headers,
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      json = { raw: text };
    }
    return { status: res.status, body: json };
  }

  /** Retries a dropped connection (a keep-alive socket closed under load). Setup calls only. */
  async function call(method, path, opts = {}) {
    for (let attempt = 1; ; attempt++) {
      try {
        return await callOnce(method, path, opts);
      } catch (e) {
        if (attempt >= 3 || !(e instanceof TypeError)) throw e;
        await sleep(50 * attempt);
      }
    }
  }

  const must = (r, what, ok = [200, 201]) => {
    if (!ok.includes(r.status)) throw new Error(`${what}: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
    return r.body;
  };
  const admin = (method, path, body) => call(method, `/admin${path}`, { token: adminToken, body });

  async function admitOne(sale, s) {
    const ch = must(await call("POST", `/api/sales/${sale}/challenge`, { token: s.token }), "challenge");
    const solution = await solve(ch.nonce, ch.bits);
    let st = must(await call("POST", `/api/sales/${sale}/queue`, { token: s.token, body: { challenge: ch.challenge, solution } }), "queue");
    for (let i = 0; !st.pass; i++) {
      if (i > 200) throw new Error(`not admitted to ${sale} after 200 polls`);
      await sleep(100);
      st = must(await call("GET", `/api/sales/${sale}/queue`, { token: s.token, headers: { "x-ticket": st.ticket } }), "poll");
    }
    return { ...s, ticket: st.ticket, pass: st.pass };
  }

  return {
    call,
    admin,
    /** A sale open now, for the bench: no PoW work, admission as fast as the room allows. */
    async createSale(id, overrides = {}) {
      const now = Date.now();
      const cfg = {
        id,
        product: { id: `p-${id}`, name: `Bench ${id}`, price: 1000, currency: "EUR" },
        stock_total: 10_000_000,
        starts_at: new Date(now - 1000).toISOString(),
        ends_at: new Date(now + 6 * 3600_000).toISOString(),
        hold_ttl_s: 3600, // nothing expires during the bench: the alarm stays quiet
        per_user_limit: 1,
        release_policy: "release",
        admission_rate: 100_000,
        max_active: 10_000_000,
        pow_difficulty: 0,
        ...overrides,
      };
      return must(await admin("POST", "/sales", cfg), `create sale ${id}`).sale;
    },
    async stats(id) {
      return must(await admin("GET", `/sales/${id}`), `stats ${id}`);
    },
    async sessions(n, parallel = 32) {
      return pMap(Array.from({ length: n }), parallel, async () => {
        const s = must(await call("POST", "/api/session"), "session");
        return { token: s.token, user: s.user_id };
      });
    },
    /**
     * Each session queues for `sale` and comes back with a ticket and a pass. A shopper whose
     * queue call failed starts over with a new challenge (the room keeps their place). With
     * `until`, admission stops then (passes live 120 s: the first ones must still be valid when
     * the measurement ends), so fewer shoppers may come back than were asked for.
     */
    async admit(sale, sessions, parallel = 32, until = Infinity) {
      return pMap(sessions, parallel, async (s) => {
        for (let attempt = 1; ; attempt++) {
          try {
            return await admitOne(sale, s);
          } catch (e) {
            if (attempt >= 3) throw e;
          }
        }
      }, until);
    },
    async claim(sale, shopper, key) {
      return call("POST", `/api/sales/${sale}/claim`, {
        token: shopper.token,
        body: {},
        headers: { "idempotency-key": key, ...(shopper.pass ? { "x-pass": shopper.pass } : {}) },
      });
    },
  };
}
