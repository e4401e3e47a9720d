// Bench-only entry: flashsale as deployed, with its Rate Limiting bindings answered inside the
// isolate. Miniflare emulates each binding with a Durable Object on disk, so every `limit()` is
// an object call and a SQLite write (a shopper request makes two): the edge's rows would measure
// the emulator. In production the binding answers from a counter cached in the location and syncs
// in the background, which a Map in the isolate stands in for. `npm run bench -- --limiter
// emulated` serves the plain bundle instead. bench/lib/runtime.mjs copies this file into the tree
// it bundles (`.wrangler/bench/`), so "../../src/index" is that tree's Worker (this one's, or
// `--compare`'s).
import worker from "../../src/index";

export * from "../../src/index";

/** A fixed-window counter per key, as the binding's simple { limit, period } counts. */
class IsolateLimiter {
  /** @param {number} limit @param {number} periodS */
  constructor(limit, periodS) {
    this.max = limit;
    this.periodMs = periodS * 1000;
    /** @type {Map<string, { window: number, count: number }>} */
    this.counts = new Map();
  }
  /** @param {{ key: string }} options */
  async limit({ key }) {
    const window = Math.floor(Date.now() / this.periodMs);
    let c = this.counts.get(key);
    if (!c || c.window !== window) this.counts.set(key, (c = { window, count: 0 }));
    c.count += 1;
    return { success: c.count <= this.max };
  }
}

/** Limits and periods come from the bench (BENCH_LIMITS: { NAME: [limit, period_s] }). */
const wrapped = new WeakMap();
/** One wrapped env per env object: the Worker's own per-env memos keep working. */
function withLimiters(env) {
  let e = wrapped.get(env);
  if (!e) {
    const limits = JSON.parse(env.BENCH_LIMITS);
    e = { ...env };
    for (const [name, [limit, periodS]] of Object.entries(limits)) e[name] = new IsolateLimiter(limit, periodS);
    wrapped.set(env, e);
  }
  return e;
}

export default {
  /** @param {Request} request @param {Env} env @param {ExecutionContext} ctx */
  fetch: (request, env, ctx) => worker.fetch(request, withLimiters(env), ctx),
};
