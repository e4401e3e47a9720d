// A soak run's plan, drawn from its seed alone: the sale, the crowd and the nemesis's schedule.
// The same seed draws the same plan (the replay); what the machine then does with the timing is
// not seeded, which is the point of running many.

/** mulberry32: a small seeded PRNG (the plan must not depend on Math.random). */
export function prng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (lo, hi) => lo + Math.floor(next() * (hi - lo + 1));
  const pick = (xs) => xs[Math.floor(next() * xs.length)];
  const chance = (p) => next() < p;
  return { next, int, pick, chance };
}

/**
 * Seeds that once failed, kept as regressions (`npm run soak -- --regressions`), each fixed where
 * it was: the first two were the soak's own, the third the sale's.
 */
export const REGRESSIONS = [
  { seed: 330000, why: "kill -9 on 8 shards: shoppers who gave up on the dead server left units unsold (demand that left, not a refusal)" },
  { seed: 330018, why: 'a restart, then the admin\'s restock answered 503 "worker restarted mid-request": an operator retries it' },
  {
    seed: 465152712,
    why: "a paced payment re-ask due at a fraction of a millisecond: the alarm set for it was the one just run, and the runtime dropped it (a hold held and one pending for good; domain/clock.ts onPlatform)",
  },
];

/** The faults a run may draw (each at most once, at a time into the crowd's burst). */
export const FAULTS = ["kill9", "restart", "d1", "gateway", "pause", "restock"];

/**
 * One run: a sale (stock, 1-8 shards, identity, release policy, a waitlist only with one shard,
 * the simulated gateway or the fake Stripe), a crowd, and a schedule of faults in its first seconds.
 */
export function drawPlan(seed) {
  const r = prng(seed);
  const shards = r.chance(0.5) ? 1 : r.int(2, 8);
  const policy = shards > 1 ? r.pick(["release", "undersell"]) : r.pick(["release", "undersell", "waitlist"]);
  const stock = r.int(Math.max(4, shards * 2), 30);
  const shoppers = stock * r.int(2, 4);
  const plan = {
    seed,
    stock,
    shards,
    policy,
    shoppers,
    identity: r.pick(["account", "anonymous"]),
    gateway: r.chance(0.35) ? "stripe-fake" : "simulated",
    // One unit per shopper: the rehearsal's greedy-shopper check (a claim after buying must not
    // make a new hold) assumes it (seed 220004 drew 2 and failed on that check alone). The model
    // test covers limits 1-3.
    perUserLimit: 1,
    nemesis: [],
  };
  // Each fault with its own chance, at a moment within the burst (ms after the opening).
  const at = () => r.int(300, 5000);
  if (r.chance(0.3)) plan.nemesis.push({ what: "kill9", at: at() });
  if (r.chance(0.5)) plan.nemesis.push({ what: "restart", at: at() });
  if (r.chance(0.5)) plan.nemesis.push({ what: "d1", at: at(), ms: r.int(1000, 6000) });
  if (r.chance(0.6)) plan.nemesis.push({ what: "gateway", at: 0, heavy: r.chance(0.5) });
  if (r.chance(0.4)) plan.nemesis.push({ what: "pause", at: at(), ms: r.int(300, 1500) });
  if (r.chance(0.4)) plan.nemesis.push({ what: "restock", at: at(), qty: r.int(1, 5) });
  plan.nemesis.sort((x, y) => x.at - y.at);
  return plan;
}

/** One line: what a plan is. */
export const describePlan = (p) =>
  `stock ${p.stock}, ${p.shards} shard${p.shards > 1 ? "s" : ""}, ${p.policy}, ${p.identity}, limit ${p.perUserLimit}, ${p.gateway}, ${p.shoppers} shoppers; nemesis: ${
    p.nemesis.map((n) => `${n.what}${n.what === "gateway" ? (n.heavy ? "(heavy)" : "") : `@${n.at}ms`}`).join(" ") || "none"
  }`;
