// The pacer's arithmetic (domain/payment-rate.js), with Node's test runner: grants never run a
// bucket above its rate in any second and keep arrival order, whatever the arrivals; backoff
// after a 429 is jittered within its bounds; a sale's needs are stock ÷ hold window.
import assert from "node:assert/strict";
import { test } from "node:test";
import { backoffMs, COST, pacerRates, paymentNeeds, paymentWarning, paymentsPerSecond, reserve } from "../../domain/payment-rate.js";

/** A small seeded generator (mulberry32): each run is the same, each seed a different case. */
function rng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test("grants keep every bucket within its rate over any second, in order of arrival (200 random cases)", () => {
  for (let seed = 1; seed <= 200; seed++) {
    const r = rng(seed);
    const rates = pacerRates({ account: [25, 100, 40][seed % 3], endpoint: 25, headroom: r() * 0.5 });
    let next = {};
    let now = 0;
    let last = -Infinity;
    const sent = []; // [time, cost] per grant
    for (let i = 0; i < 300; i++) {
      now += r() < 0.7 ? 0 : r() * 400; // bursts: many at once, then gaps
      const cost = r() < 0.85 ? COST.payment : COST.retry;
      const g = reserve(next, rates, cost, now);
      assert.ok(g.at >= now, "never before the request");
      assert.ok(g.at >= last, "first come, first served");
      last = g.at;
      next = g.next;
      sent.push([g.at, cost]);
    }
    for (const bucket of Object.keys(rates)) {
      const times = sent.filter(([, c]) => c[bucket]).map(([t, c]) => [t, c[bucket]]);
      for (const [t0] of times) {
        const inSecond = times.filter(([t]) => t >= t0 && t < t0 + 1000).reduce((n, [, c]) => n + c, 0);
        const maxCost = Math.max(...Object.values(COST).map((c) => c[bucket] ?? 0));
        assert.ok(inSecond <= rates[bucket] + maxCost, `seed ${seed}: ${bucket} ${inSecond} in a second at rate ${rates[bucket]}`);
      }
    }
  }
});

test("the payment rate of a sandbox and of a live account, after 20% headroom", () => {
  assert.equal(paymentsPerSecond(pacerRates({ account: 25, endpoint: 25, headroom: 0.2 })), 5);
  assert.equal(paymentsPerSecond(pacerRates({ account: 100, endpoint: 25, headroom: 0.2 })), 20);
  assert.equal(paymentsPerSecond(pacerRates({ account: 100, endpoint: 25, headroom: 0 })), 25);
});

test("a 429's backoff is jittered between half and one and a half of the doubling delay; others are not", () => {
  const r = rng(7);
  const seen = new Set();
  for (let attempts = 2; attempts < 8; attempts++) {
    const base = Math.min(60_000, 100 * 2 ** (attempts - 2));
    assert.equal(backoffMs(100, attempts, false, 60_000), base);
    for (let i = 0; i < 50; i++) {
      const d = backoffMs(100, attempts, true, 60_000, r);
      assert.ok(d >= base * 0.5 && d <= base * 1.5, `${d} for ${base}`);
      seen.add(Math.round(d));
    }
  }
  assert.ok(seen.size > 250, "retries spread out");
  assert.equal(backoffMs(2000, 30, false, 300_000), 300_000);
});

test("a sale's needs: stock ÷ hold window, and the warning only when the account cannot clear it", () => {
  const live = pacerRates({ account: 100, endpoint: 25, headroom: 0.2 });
  const n = paymentNeeds({ stock: 100_000, hold_ttl_s: 600, rates: live });
  assert.equal(Math.round(n.paid_holds_per_s), 167);
  assert.equal(Math.round(n.account_rps), 667);
  assert.equal(n.over, true);
  assert.equal(n.hold_ttl_needed_s, 5000); // 100,000 at 20/s
  const w = paymentWarning({ stock: 100_000, hold_ttl_s: 600, rates: live, headroom: 0.2 });
  assert.match(w, /167 paid holds\/s/);
  assert.match(w, /5000 s would clear it, over the 3600 s/); // a window may not be that long
  assert.match(paymentWarning({ stock: 10_000, hold_ttl_s: 300, rates: live, headroom: 0.2 }), /--hold-ttl 500 /);
  assert.match(w, /--rate 20/);
  assert.equal(paymentWarning({ stock: 1000, hold_ttl_s: 300, rates: live, headroom: 0.2 }), null); // 3.3/s < 20/s
});
