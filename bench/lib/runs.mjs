// The runs: starting a runtime with its setup client, one measurement (CPU-profiled when asked),
// the rows it records, and the three kinds of run: repeatable requests, claims by one-shot
// shoppers, and claims on the product object alone. Setup figures (sessions, admissions, fills)
// are kept in `setup`.
import os from "node:os";
import { join } from "node:path";
import { measure } from "./load.mjs";
import { startProfile } from "./profile.mjs";
import { startRuntime } from "./runtime.mjs";
import { ADMIT_PARALLEL, BENCH_PASS_TTL_S, client } from "./shoppers.mjs";
import { now } from "../../scripts/lib/clock.mjs";

const secs = (t0) => +((now() - t0) / 1000).toFixed(1);

export function createRuns({ opt, stamp, say, logStream }) {
  const rows = [];
  const setup = {};
  const profiles = {};
  const live = new Set(); // runtimes to stop if the bench is interrupted
  let claimRate = 0; // fastest claims/s seen so far, to size the next pool of one-shot shoppers

  /** Sessions reused across sales (a per-user limit is per sale), never twice in one sale. */
  function sessionPool(api) {
    const sessions = [];
    const used = new Map();
    return async (sale, n) => {
      const from = used.get(sale) ?? 0;
      if (sessions.length < from + n) {
        const t0 = now();
        const k = from + n - sessions.length;
        sessions.push(...(await api.sessions(k, 128)));
        (setup.sessions ??= []).push({ n: k, s: secs(t0), per_s: Math.round(k / Math.max(secs(t0), 0.001)) });
      }
      used.set(sale, from + n);
      return sessions.slice(from, from + n);
    };
  }

  /** A workerd with `built` (flashsale bundled from `root`), and the client for its setup. */
  async function runtime(vars, { built, root }) {
    const t = now();
    const rt = await startRuntime({
      script: built.path,
      limiter: built.limiter,
      vars: { ...opt.vars, ...vars },
      log: (s) => logStream.write(s),
      inspector: opt.profile.length > 0,
      root,
    });
    live.add(rt);
    say(`runtime up in ${secs(t)} s (GROUP_COMMIT=${vars.GROUP_COMMIT ?? opt.vars.GROUP_COMMIT ?? "as wrangler.toml"})`);
    const target = rt.target("flashsale", opt.via);
    const api = client({ ...target, adminToken: rt.secrets.ADMIN_TOKEN, shopSecret: rt.secrets.SHOP_IDENTITY_SECRET });
    return { rt, api, sessionsFor: sessionPool(api), target, built };
  }

  /** measure(), CPU-profiled when this is a --profile scenario at its highest concurrency. */
  async function measured(on, scenario, o) {
    if (!opt.profile.includes(scenario) || o.connections !== Math.max(...opt.connections)) return measure(o);
    const p = await startProfile(await on.rt.inspectorUrl());
    const r = await measure(o);
    const file = join(opt.out, `bench-${stamp}.${scenario}.cpuprofile`);
    profiles[scenario] = { file, c: o.connections, ...(await p.stop(file, on.built.path)) };
    say(`profile of ${scenario} written to ${file}`);
    return r;
  }

  /** One row: the figures plus what the scenario is. */
  function record(scenario, label, r, extra = {}) {
    const row = { scenario, label, c: r.connections, ...r, ...extra, load1: +os.loadavg()[0].toFixed(1) };
    rows.push(row);
    say(
      `${label} c=${row.c}: ${row.rps} req/s p50 ${row.p50_ms} ms p99 ${row.p99_ms} ms non-2xx ${row.non2xx} ${JSON.stringify(row.codes)}`,
    );
    return row;
  }

  /** A repeatable scenario (the same requests may be sent again): warm up, then measure. */
  async function repeatable(on, scenario, label, target, next, extraHeaders = {}, expect = {}) {
    for (const c of opt.connections) {
      if (opt.warmup > 0)
        await measure({ base: target.base, headers: { ...target.headers, ...extraHeaders }, next, connections: c, duration: opt.warmup });
      // --rounds n: n measurements back to back, the median one recorded (a passing hiccup of
      // the machine moves one of them, not the row).
      const rounds = [];
      for (let k = 0; k < opt.rounds; k++) {
        rounds.push(
          await measured(on, scenario, {
            base: target.base,
            headers: { ...target.headers, ...extraHeaders },
            next,
            connections: c,
            duration: opt.duration,
          }),
        );
      }
      const r = [...rounds].sort((a, b) => a.rps - b.rps)[Math.floor((rounds.length - 1) / 2)];
      const unexpected = Object.entries(r.codes).filter(([code]) => !(expect.codes ?? ["200"]).includes(code));
      record(scenario, label, r, {
        expect_non2xx: !!expect.non2xx,
        notes: [
          ...(unexpected.length ? [`unexpected ${unexpected.map(([k, v]) => `${v}x${k}`).join(",")}`] : []),
          ...(rounds.length > 1 ? [`median of ${rounds.map((x) => x.rps).join("/")}`] : []),
        ],
      });
    }
  }

  /** Pre-fills a sale's object with `n` past holds (claimed, then cancelled) via the filler Worker. */
  async function fill({ rt }, sale, n) {
    const filler = rt.target("filler", opt.via);
    const t0 = now();
    const chunk = 10_000;
    for (let from = 0; from < n; from += chunk) {
      const count = Math.min(chunk, n - from);
      const res = await fetch(`${filler.base}/fill?sale=${sale}&from=${from}&count=${count}&parallel=250`, {
        method: "POST",
        headers: filler.headers,
      });
      const body = await res.json();
      if (!res.ok) throw new Error(`filling ${sale}: ${JSON.stringify(body)}`);
      if (n > chunk) say(`  ${sale}: ${from + count}/${n} past holds (${secs(t0)} s)`);
    }
    const s = secs(t0);
    (setup.fills ??= []).push({ sale, past_holds: n, s, per_s: Math.round(n / Math.max(s, 0.001)) });
    say(`${sale}: ${n} past holds in ${s} s`);
  }

  /** `n` paid orders in the sale's object (claim, then pay with the test card), through the filler. */
  async function orders({ rt }, sale, n) {
    const filler = rt.target("filler", opt.via);
    const res = await fetch(`${filler.base}/orders?sale=${sale}&count=${n}`, { method: "POST", headers: filler.headers });
    const body = await res.json();
    if (!res.ok) throw new Error(`orders in ${sale}: ${JSON.stringify(body)}`);
    say(`${sale}: ${body.confirmed}/${n} orders confirmed`);
  }

  /**
   * Claims by one-shot shoppers: each request is a different shopper with a fresh pass, so each
   * is a real claim (201). The pool is sized from the fastest claim rate seen so far; if it runs
   * out first, the run is shorter (req/s stays right) and the row says so.
   */
  async function claimRun(on, scenario, label, sale, c) {
    const { rt, api, sessionsFor } = on;
    // Admitting shoppers is slow (two full-stack calls each, one of them a waiting-room write), so
    // the pool is sized from what is known: the fastest claim rate so far, else an upper bound
    // (a claim does everything a sold-out answer, an object poll or an object-only claim does).
    const bound = rows.filter((r) => r.c === c && ["sold_out", "poll_object", "claim_object"].includes(r.scenario)).map((r) => r.rps);
    // (Claims at c=64 ran 1.55× those at c=16: a pool sized at 1.5× the c=16 rate ran out.)
    const est = claimRate ? claimRate * 2.5 : bound.length ? Math.min(...bound) * 1.1 : Infinity;
    const asked = Math.max(4 * c, Math.min(opt.shoppers, Math.ceil(est * opt.duration)));
    const sessions = await sessionsFor(sale, asked);
    const t0 = now();
    // Passes live BENCH_PASS_TTL_S (the bench sale's pass_ttl_s): stop admitting in time for the
    // first pass to outlive the measurement.
    const shoppers = await api.admit(sale, sessions, ADMIT_PARALLEL, t0 + (BENCH_PASS_TTL_S - opt.duration - 15) * 1000);
    const n = shoppers.length;
    const admitS = secs(t0);
    (setup.admissions ??= []).push({ sale, n, s: admitS, per_s: Math.round(n / Math.max(admitS, 0.001)) });
    say(`${sale}: ${n} shoppers admitted in ${admitS} s`);
    const before = await api.stats(sale);
    let i = 0;
    const target = rt.target("flashsale", opt.via);
    const r = await measured(on, scenario, {
      base: target.base,
      headers: { ...target.headers, "content-type": "application/json" },
      connections: c,
      duration: opt.duration,
      limit: n,
      next: () => {
        const s = shoppers[i % n];
        const k = i++;
        return {
          method: "POST",
          path: `/api/sales/${sale}/claim`,
          headers: { authorization: `Bearer ${s.token}`, "x-pass": s.pass, "idempotency-key": `bench-${k}-${sale}`.slice(0, 64) },
          body: "{}",
        };
      },
    });
    const after = await api.stats(sale);
    const created = r.codes["201"] ?? 0;
    const newHolds = after.holds.held - before.holds.held;
    const st = after.stock;
    const notes = [];
    // Requests still in flight when the clock stops may create holds whose 201 is not counted.
    if (newHolds < created || newHolds > created + c) notes.push(`MISMATCH: ${created} x 201 but ${newHolds} new holds`);
    if (st.available + st.held + st.sold + st.withdrawn + (st.in_transit ?? 0) !== st.stock_total) notes.push("STOCK INVARIANT BROKEN");
    const other = Object.entries(r.codes).filter(([code]) => code !== "201");
    if (other.length) notes.push(`not 201: ${other.map(([k, v]) => `${v}x${k}`).join(",")}`);
    if (r.requests >= n && r.duration_s < opt.duration * 0.9)
      notes.push(`pool of ${n}${n < asked ? " (cut by pass lifetime)" : ""} ran out at ${r.duration_s} s`);
    const sameObject = after.served.since === before.served.since;
    const batches = sameObject ? after.served.batches - before.served.batches : null;
    if (batches) notes.push(`${(created / batches).toFixed(1)} claims/commit`);
    claimRate = Math.max(claimRate, r.rps);
    return record(scenario, label, r, {
      sale,
      holds_created: newHolds,
      commits: batches,
      pool: n,
      notes,
      past_holds: after.holds.cancelled,
    });
  }

  /**
   * The product object alone: c loops of one-shot claims over RPC from the filler Worker. In the
   * GROUP_COMMIT=off runtime (`gcOff`): one transaction per claim.
   */
  async function objectRun(on, sale, c, tag, { gcOff = false } = {}) {
    const { rt, api } = on;
    await api.createSale(sale);
    await fill(on, sale, opt.pastSmall);
    const before = await api.stats(sale);
    const filler = rt.target("filler", opt.via);
    const res = await fetch(`${filler.base}/claims?sale=${sale}&seconds=${opt.duration}&parallel=${c}`, {
      method: "POST",
      headers: filler.headers,
    });
    const o = await res.json();
    if (!res.ok) throw new Error(`object-only claims: ${JSON.stringify(o)}`);
    const after = await api.stats(sale);
    const created = o.codes?.created ?? 0;
    const newHolds = after.holds.held - before.holds.held;
    const notes = ["RPC loop in workerd, no HTTP"];
    if (newHolds !== created) notes.push(`MISMATCH: ${created} created, ${newHolds} new holds`);
    const batches = after.served.since === before.served.since ? after.served.batches - before.served.batches : null;
    if (batches) notes.push(`${(created / batches).toFixed(1)} claims/commit`);
    record(
      gcOff ? "claim_object_gc_off" : "claim_object",
      `claim, object only${gcOff ? ", GC off" : ""}${tag}`,
      {
        connections: c,
        duration_s: +(o.ms / 1000).toFixed(2),
        requests: o.claims,
        rps: Math.round(o.claims / (o.ms / 1000)),
        p50_ms: o.p50_ms,
        p99_ms: o.p99_ms,
        max_ms: o.max_ms,
        non2xx: o.claims - created,
        errors: 0,
        timeouts: 0,
        codes: o.codes,
        conns_served: null,
        conn_min: null,
        conn_max: null,
        conn_starved: 0,
      },
      { sale, holds_created: newHolds, commits: batches, notes },
    );
  }

  return { rows, setup, profiles, live, runtime, repeatable, fill, orders, claimRun, objectRun };
}
