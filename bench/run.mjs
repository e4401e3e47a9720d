#!/usr/bin/env node
// `npm run bench`: throughput of the edge and the product object on the bare runtime.
// Serves the Worker with Miniflare's API (workerd, the wrangler.toml bindings, D1 migrated), not
// `wrangler dev` (its proxy caps throughput at about a tenth), and measures with autocannon:
// a no-op Worker (the ceiling), real claims through the full edge stack, sold-out answers,
// status polls with and without an object hop, group commit on/off, and claims against an
// object with many past holds. See bench/README.md for how to read the table.
import { createWriteStream, mkdirSync, readFileSync } from "node:fs";
import os from "node:os";
import { basename, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { measure } from "./lib/load.mjs";
import { startProfile } from "./lib/profile.mjs";
import { ratios, ratioText, table, write } from "./lib/report.mjs";
import { bundle, cleanup, startRuntime, BENCH_RATE_LIMIT } from "./lib/runtime.mjs";
import { client, pMap } from "./lib/shoppers.mjs";

const ROOT = resolve(fileURLToPath(import.meta.url), "../..");
const PASS_TTL_S = 120; // src/lib/tokens.ts TOKEN_TTL_S.pass
const SCENARIOS = ["noop", "noop_entry", "noop_claim", "floor_body", "floor_object", "sold_out", "poll_edge", "poll_object", "claim", "claim_object", "claim_past_big", "claim_gc_off"];
const HELP = `npm run bench -- [options]
  --quick                 CI-size smoke: c=8, 2 s runs, small pools (seconds, not minutes)
  --duration <s>          seconds per measurement (default 6)
  --connections <list>    autocannon concurrencies, comma-separated (default 16,64)
  --warmup <s>            unrecorded warm-up before repeatable scenarios (default 1)
  --shoppers <n>          most pre-made shoppers per claim measurement (default 15000)
  --past-small <n>        past holds in the "claim" sale's object (default 100)
  --past-big <n>          past holds in the "claim_past_big" sale's object (default 100000)
  --poll-shoppers <n>     shoppers the poll scenarios rotate over (default 1000)
  --repeat <n>            repeat the claim comparisons n times (ratios use the medians; default 1)
  --only <list>           scenarios to run (noop is always run: it is the ceiling):
                          ${SCENARIOS.join(", ")}
  --via <direct|entry>    how the scenarios reach the Worker (default direct = unsafeDirectSockets)
  --bundler <wrangler|esbuild>  wrangler deploy --dry-run (default) or esbuild
  --profile <scenario>    CPU-profile the flashsale isolate during that scenario (highest c;
                          not claim_object):
                          writes bench-<time>.<scenario>.cpuprofile and a summary
  --root <dir>            bench another checkout of the project (e.g. a patched copy; it needs
                          node_modules), default this one
  --compare <dir>         A/B a patched copy of the project (it needs node_modules): runs its
                          claims in a third workerd, interleaved with "claim" (row claim_cmp)
  --var KEY=VALUE         override a wrangler.toml var in both runtimes (repeatable)
  --out <dir>             where results go (default bench/results)`;

const { values: a } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    duration: { type: "string" },
    connections: { type: "string" },
    warmup: { type: "string" },
    shoppers: { type: "string" },
    "past-small": { type: "string" },
    "past-big": { type: "string" },
    "poll-shoppers": { type: "string" },
    only: { type: "string" },
    repeat: { type: "string" },
    via: { type: "string", default: "direct" },
    bundler: { type: "string", default: "wrangler" },
    profile: { type: "string" },
    root: { type: "string", default: ROOT },
    compare: { type: "string" },
    var: { type: "string", multiple: true, default: [] },
    out: { type: "string", default: join(ROOT, "bench/results") },
    help: { type: "boolean", default: false },
  },
});
if (a.help) {
  console.log(HELP);
  process.exit(0);
}
const q = a.quick;
const opt = {
  duration: Number(a.duration ?? (q ? 2 : 6)),
  connections: (a.connections ?? (q ? "8" : "16,64")).split(",").map(Number),
  warmup: Number(a.warmup ?? (q ? 0.5 : 1)),
  shoppers: Number(a.shoppers ?? (q ? 600 : 15000)),
  pastSmall: Number(a["past-small"] ?? 100),
  pastBig: Number(a["past-big"] ?? (q ? 2000 : 100_000)),
  pollShoppers: Number(a["poll-shoppers"] ?? (q ? 200 : 1000)),
  repeat: Number(a.repeat ?? 1),
  only: new Set(["noop", ...(a.only ? a.only.split(",") : SCENARIOS)]),
  via: a.via,
  bundler: a.bundler,
  out: a.out,
  profile: a.profile,
  root: resolve(a.root),
  compare: a.compare ? resolve(a.compare) : null,
  vars: Object.fromEntries(a.var.map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)])),
};
for (const s of opt.only) if (!SCENARIOS.includes(s)) throw new Error(`unknown scenario ${s}: one of ${SCENARIOS.join(", ")}`);
// claim_object runs inside workerd (no autocannon): profile "claim" for the object's share.
const PROFILABLE = SCENARIOS.filter((x) => x !== "claim_object").concat("claim_cmp");
if (opt.profile && !PROFILABLE.includes(opt.profile)) throw new Error(`--profile takes one of ${PROFILABLE.join(", ")}`);
if (!["direct", "entry"].includes(opt.via)) throw new Error("--via is direct or entry");

const stamp = new Date().toISOString().replace(/[:.]/g, "-").slice(0, 19);
mkdirSync(opt.out, { recursive: true });
const runtimeLog = join(opt.out, `bench-${stamp}.runtime.log`);
const logStream = createWriteStream(runtimeLog);
const say = (m) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${m}\n`);
const secs = (t0) => +((Date.now() - t0) / 1000).toFixed(1);
const want = (s) => opt.only.has(s);

const rows = [];
const setup = {};
const profiles = {};
let current; // the runtime being measured (for --profile)

/** measure(), CPU-profiled when this is the --profile scenario at its highest concurrency. */
async function measured(scenario, o) {
  if (opt.profile !== scenario || o.connections !== Math.max(...opt.connections)) return measure(o);
  const p = await startProfile(await current.rt.inspectorUrl());
  const r = await measure(o);
  const file = join(opt.out, `bench-${stamp}.${scenario}.cpuprofile`);
  profiles[scenario] = { file, c: o.connections, ...(await p.stop(file, built.path)) };
  say(`profile of ${scenario} written to ${file}`);
  return r;
}
let claimRate = 0; // fastest claims/s seen so far, to size the next pool of one-shot shoppers

/** One row: the figures plus what the scenario is. */
function record(scenario, label, r, extra = {}) {
  const row = { scenario, label, c: r.connections, ...r, ...extra, load1: +os.loadavg()[0].toFixed(1) };
  rows.push(row);
  say(`${label} c=${row.c}: ${row.rps} req/s p50 ${row.p50_ms} ms p99 ${row.p99_ms} ms non-2xx ${row.non2xx} ${JSON.stringify(row.codes)}`);
  return row;
}

/** A repeatable scenario (the same requests may be sent again): warm up, then measure. */
async function repeatable(scenario, label, target, next, extraHeaders = {}, expect = {}) {
  for (const c of opt.connections) {
    if (opt.warmup > 0) await measure({ base: target.base, headers: { ...target.headers, ...extraHeaders }, next, connections: c, duration: opt.warmup });
    const r = await measured(scenario, { base: target.base, headers: { ...target.headers, ...extraHeaders }, next, connections: c, duration: opt.duration });
    const unexpected = Object.entries(r.codes).filter(([code]) => !(expect.codes ?? ["200"]).includes(code));
    record(scenario, label, r, {
      expect_non2xx: !!expect.non2xx,
      notes: unexpected.length ? [`unexpected ${unexpected.map(([k, v]) => `${v}x${k}`).join(",")}`] : [],
    });
  }
}

/** Sessions reused across sales (a per-user limit is per sale), never twice in one sale. */
function sessionPool(api) {
  const sessions = [];
  const used = new Map();
  return async (sale, n) => {
    const from = used.get(sale) ?? 0;
    if (sessions.length < from + n) {
      const t0 = Date.now();
      const k = from + n - sessions.length;
      sessions.push(...(await api.sessions(k, 64)));
      (setup.sessions ??= []).push({ n: k, s: secs(t0), per_s: Math.round(k / Math.max(secs(t0), 0.001)) });
    }
    used.set(sale, from + n);
    return sessions.slice(from, from + n);
  };
}

/** Pre-fills a sale's object with `n` past holds (claimed, then cancelled) via the filler Worker. */
async function fill(rt, sale, n) {
  const filler = rt.target("filler", opt.via);
  const t0 = Date.now();
  const chunk = 10_000;
  for (let from = 0; from < n; from += chunk) {
    const count = Math.min(chunk, n - from);
    const res = await fetch(`${filler.base}/fill?sale=${sale}&from=${from}&count=${count}&parallel=250`, { method: "POST", headers: filler.headers });
    const body = await res.json();
    if (!res.ok) throw new Error(`filling ${sale}: ${JSON.stringify(body)}`);
    if (n > chunk) say(`  ${sale}: ${from + count}/${n} past holds (${secs(t0)} s)`);
  }
  const s = secs(t0);
  (setup.fills ??= []).push({ sale, past_holds: n, s, per_s: Math.round(n / Math.max(s, 0.001)) });
  say(`${sale}: ${n} past holds in ${s} s`);
}

/**
 * Claims by one-shot shoppers: each request is a different shopper with a fresh pass, so each
 * is a real claim (201). The pool is sized from the fastest claim rate seen so far; if it runs
 * out first, the run is shorter (req/s stays right) and the row says so.
 */
async function claimRun(rt, api, sessionsFor, scenario, label, sale, c) {
  // Admitting shoppers is slow (two full-stack calls each, one of them a waiting-room write), so
  // the pool is sized from what is known: the fastest claim rate so far, else an upper bound
  // (a claim does everything a sold-out answer, an object poll or an object-only claim does).
  const bound = rows.filter((r) => r.c === c && ["sold_out", "poll_object", "claim_object"].includes(r.scenario)).map((r) => r.rps);
  const est = claimRate ? claimRate * 1.5 : bound.length ? Math.min(...bound) * 1.1 : Infinity;
  const asked = Math.max(4 * c, Math.min(opt.shoppers, Math.ceil(est * opt.duration)));
  const sessions = await sessionsFor(sale, asked);
  const t0 = Date.now();
  // A pass lives 120 s: stop admitting in time for the first pass to outlive the measurement.
  const shoppers = await api.admit(sale, sessions, 64, t0 + (PASS_TTL_S - opt.duration - 15) * 1000);
  const n = shoppers.length;
  const admitS = secs(t0);
  (setup.admissions ??= []).push({ sale, n, s: admitS, per_s: Math.round(n / Math.max(admitS, 0.001)) });
  say(`${sale}: ${n} shoppers admitted in ${admitS} s`);
  const before = await api.stats(sale);
  let i = 0;
  const target = rt.target("flashsale", opt.via);
  const r = await measured(scenario, {
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
  if (st.available + st.held + st.sold + st.withdrawn !== st.stock_total) notes.push("STOCK INVARIANT BROKEN");
  const other = Object.entries(r.codes).filter(([code]) => code !== "201");
  if (other.length) notes.push(`not 201: ${other.map(([k, v]) => `${v}x${k}`).join(",")}`);
  if (r.requests >= n && r.duration_s < opt.duration * 0.9) notes.push(`pool of ${n}${n < asked ? " (cut by pass lifetime)" : ""} ran out at ${r.duration_s} s`);
  const sameObject = after.served.since === before.served.since;
  const batches = sameObject ? after.served.batches - before.served.batches : null;
  if (batches) notes.push(`${(created / batches).toFixed(1)} claims/commit`);
  claimRate = Math.max(claimRate, r.rps);
  return record(scenario, label, r, { sale, holds_created: newHolds, commits: batches, pool: n, notes, past_holds: after.holds.cancelled });
}

/**
 * The product object alone: c loops of one-shot claims over RPC from the filler Worker. In the
 * GROUP_COMMIT=off runtime (`gcOff`): one transaction per claim.
 */
async function objectRun(rt, api, sale, c, tag, { gcOff = false } = {}) {
  await api.createSale(sale);
  await fill(rt, sale, opt.pastSmall);
  const before = await api.stats(sale);
  const filler = rt.target("filler", opt.via);
  const res = await fetch(`${filler.base}/claims?sale=${sale}&seconds=${opt.duration}&parallel=${c}`, { method: "POST", headers: filler.headers });
  const o = await res.json();
  if (!res.ok) throw new Error(`object-only claims: ${JSON.stringify(o)}`);
  const after = await api.stats(sale);
  const created = o.codes?.created ?? 0;
  const newHolds = after.holds.held - before.holds.held;
  const notes = ["RPC loop in workerd, no HTTP"];
  if (newHolds !== created) notes.push(`MISMATCH: ${created} created, ${newHolds} new holds`);
  const batches = after.served.since === before.served.since ? after.served.batches - before.served.batches : null;
  if (batches) notes.push(`${(created / batches).toFixed(1)} claims/commit`);
  record(gcOff ? "claim_object_gc_off" : "claim_object", `claim, object only${gcOff ? ", GC off" : ""}${tag}`, {
    connections: c, duration_s: +(o.ms / 1000).toFixed(2), requests: o.claims, rps: Math.round(o.claims / (o.ms / 1000)),
    p50_ms: o.p50_ms, p99_ms: o.p99_ms, max_ms: o.max_ms, non2xx: o.claims - created, errors: 0, timeouts: 0, codes: o.codes,
    conns_served: null, conn_min: null, conn_max: null, conn_starved: 0,
  }, { sale, holds_created: newHolds, commits: batches, notes });
}

// ------------------------------------------------------------------------------------------

const started = new Date().toISOString();
const load0 = os.loadavg();
say(`bundling with ${opt.bundler}...`);
let t0 = Date.now();
const built = await bundle(opt.bundler, opt.root);
setup.bundle = { bundler: opt.bundler, s: secs(t0) };
const builtCmp = opt.compare
  ? await bundle(opt.bundler, opt.compare).catch((e) => {
      cleanup(built.dir);
      throw e;
    })
  : null;

const live = new Set(); // runtimes to stop if the bench is interrupted
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, async () => {
    say(`${sig}: stopping workerd`);
    await Promise.allSettled([...live].map((rt) => rt.dispose()));
    cleanup(built.dir);
    if (builtCmp) cleanup(builtCmp.dir);
    process.exit(130);
  });
}

async function runtime(vars, which = { built, root: opt.root }) {
  const t = Date.now();
  const rt = await startRuntime({ script: which.built.path, vars: { ...opt.vars, ...vars }, log: (s) => logStream.write(s), inspector: !!opt.profile, root: which.root });
  live.add(rt);
  say(`runtime up in ${secs(t)} s (GROUP_COMMIT=${vars.GROUP_COMMIT ?? opt.vars.GROUP_COMMIT ?? "as wrangler.toml"})`);
  const target = rt.target("flashsale", opt.via);
  const api = client({ ...target, adminToken: rt.secrets.ADMIN_TOKEN });
  current = { rt, api, sessionsFor: sessionPool(api), target };
  return current;
}

try {
  // ---------------------------------------------------------------- runtime 1: wrangler.toml vars
  const one = await runtime({});
  const { rt, api, sessionsFor, target } = one;
  const noop = () => ({ path: "/" });
  await repeatable("noop", "no-op Worker (ceiling)", rt.target("noop", "direct"), noop);
  if (want("noop_entry")) await repeatable("noop_entry", "no-op via entry Worker", rt.target("noop", "entry"), noop);

  // The sold-out row and the rows sent the same request (the no-op's and the floor's).
  if (["sold_out", "noop_claim", "floor_body", "floor_object"].some(want)) {
    await api.createSale("bench-soldout", { stock_total: 1 });
    const [winner] = await api.admit("bench-soldout", await sessionsFor("bench-soldout", 1));
    const won = await api.claim("bench-soldout", winner, "bench-the-last-one");
    if (won.status !== 201) throw new Error(`sold-out setup: ${won.status} ${JSON.stringify(won.body)}`);
    // Admitted shoppers who come too late, with their passes: when an isolate's cached sale info
    // has expired, the claim goes through to the object (which says 409 and refreshes the
    // cache); without a pass that request would be a 403 pass_required.
    const pool = await api.admit("bench-soldout", await sessionsFor("bench-soldout", Math.min(opt.pollShoppers, 1000)), 64);
    let i = 0;
    const soldOutClaim = () => {
      const s = pool[i++ % pool.length];
      return { method: "POST", path: "/api/sales/bench-soldout/claim", headers: { authorization: `Bearer ${s.token}`, "x-pass": s.pass, "idempotency-key": `soldout-${i}` }, body: "{}" };
    };
    const json = { "content-type": "application/json" };
    // The ceiling for this request's shape: the runtime reading the same headers and body.
    if (want("noop_claim")) await repeatable("noop_claim", "no-op, same request as claim", rt.target("noop", "direct"), soldOutClaim, json);
    // The floor under a claim: the same request, its body read; then plus one object call.
    const floor = rt.target("floor", "direct");
    const at = (path) => () => ({ ...soldOutClaim(), path });
    if (want("floor_body")) await repeatable("floor_body", "floor: read body, answer", floor, at("/body"), json, { codes: ["201"] });
    if (want("floor_object")) await repeatable("floor_object", "floor: + one object call", floor, at("/object"), json, { codes: ["201"] });
    if (want("sold_out")) await repeatable("sold_out", "claim on sold-out sale (409)", target, soldOutClaim, json, { codes: ["409"], non2xx: true });
  }

  if (want("poll_edge") || want("poll_object")) {
    await api.createSale("bench-poll");
    const t = Date.now();
    const shoppers = await api.admit("bench-poll", await sessionsFor("bench-poll", opt.pollShoppers), 64);
    const held = await pMap(shoppers, 32, async (s, k) => {
      const r = await api.claim("bench-poll", s, `bench-poll-${k}`);
      if (r.status !== 201) throw new Error(`poll setup claim: ${r.status} ${JSON.stringify(r.body)}`);
      return { ...s, hold: r.body.hold.id };
    });
    setup.poll = { shoppers: held.length, s: secs(t) };
    let i = 0;
    if (want("poll_edge")) {
      await repeatable("poll_edge", "status poll (edge only)", target, () => {
        const s = held[i++ % held.length];
        return { path: "/api/sales/bench-poll/queue", headers: { authorization: `Bearer ${s.token}`, "x-ticket": s.ticket } };
      });
    }
    if (want("poll_object")) {
      await repeatable("poll_object", "hold poll (via object)", target, () => {
        const s = held[i++ % held.length];
        return { path: `/api/holds/${s.hold}`, headers: { authorization: `Bearer ${s.token}` } };
      });
    }
  }

  // ---------------------------------------------------------------- claims, interleaved
  // The runs that are compared with each other (group commit on/off, small/big past holds,
  // full stack/object alone) are taken back to back at each c, repeated --repeat times, so that
  // the machine's drifting load hits them alike. GROUP_COMMIT=off is a second workerd started
  // now (idle until its turn).
  const gcOff = want("claim_gc_off") ? await runtime({ GROUP_COMMIT: "off" }) : null;
  const cmp = builtCmp ? await runtime({}, { built: builtCmp, root: opt.compare }) : null;
  current = one;
  const bigSale = "bench-claim-past-big";
  if (want("claim_past_big")) {
    // One sale for every c and repeat: filling it is the slow part (timed in setup.fills).
    await api.createSale(bigSale);
    await fill(rt, bigSale, opt.pastBig);
  }
  for (let rep = 1; rep <= opt.repeat; rep++) {
    const tag = opt.repeat > 1 ? ` #${rep}` : "";
    for (const c of opt.connections) {
      if (want("claim_object")) await objectRun(rt, api, `bench-claim-object-c${c}-r${rep}`, c, tag);
      if (want("claim")) {
        const sale = `bench-claim-c${c}-r${rep}`;
        await api.createSale(sale);
        await fill(rt, sale, opt.pastSmall);
        await claimRun(rt, api, sessionsFor, "claim", `claim, ${opt.pastSmall} past holds${tag}`, sale, c);
      }
      if (gcOff) {
        current = gcOff;
        if (want("claim_object")) await objectRun(gcOff.rt, gcOff.api, `bench-claim-object-gcoff-c${c}-r${rep}`, c, tag, { gcOff: true });
        const sale = `bench-claim-gcoff-c${c}-r${rep}`;
        await gcOff.api.createSale(sale);
        await fill(gcOff.rt, sale, opt.pastSmall);
        await claimRun(gcOff.rt, gcOff.api, gcOff.sessionsFor, "claim_gc_off", `claim, GROUP_COMMIT=off${tag}`, sale, c);
        current = one;
      }
      if (cmp) {
        current = cmp;
        const sale = `bench-claim-cmp-c${c}-r${rep}`;
        await cmp.api.createSale(sale);
        await fill(cmp.rt, sale, opt.pastSmall);
        await claimRun(cmp.rt, cmp.api, cmp.sessionsFor, "claim_cmp", `claim, ${basename(opt.compare)}${tag}`, sale, c);
        current = one;
      }
      if (want("claim_past_big")) await claimRun(rt, api, sessionsFor, "claim_past_big", `claim, ${opt.pastBig} past holds${tag}`, bigSale, c);
    }
  }
  for (const r of live) await r.dispose();
  live.clear();
} finally {
  await Promise.allSettled([...live].map((rt) => rt.dispose()));
  cleanup(built.dir);
  if (builtCmp) cleanup(builtCmp.dir);
  await new Promise((r) => logStream.end(r));
}

// ------------------------------------------------------------------------------------------

const ceiling = (c) => rows.find((r) => r.scenario === "noop" && r.c === c)?.rps;
for (const r of rows) r.x_noop = ceiling(r.c) ? +(r.rps / ceiling(r.c)).toFixed(3) : null;
const rs = ratios(rows);
let runtimeWarnings = 0;
try {
  runtimeWarnings = readFileSync(runtimeLog, "utf8").split("\n").filter((l) => /"level":"(warn|error)"|Uncaught|error:/.test(l)).length;
} catch {}
const workerd = JSON.parse(readFileSync(join(ROOT, "node_modules/workerd/package.json"), "utf8")).version;
const env = {
  node: process.version,
  workerd,
  miniflare: JSON.parse(readFileSync(join(ROOT, "node_modules/miniflare/package.json"), "utf8")).version,
  autocannon: JSON.parse(readFileSync(join(ROOT, "node_modules/autocannon/package.json"), "utf8")).version,
  cpus: os.cpus().length,
  loadavg_before: load0.map((x) => +x.toFixed(2)),
  loadavg_after: os.loadavg().map((x) => +x.toFixed(2)),
};
const text = [
  `flashsale bench ${started}  (node ${env.node}, workerd ${workerd}, ${env.cpus} cpus, load ${env.loadavg_before.join(" ")} -> ${env.loadavg_after.join(" ")})`,
  `${opt.duration} s per run, scenarios reach the Worker via ${opt.via === "direct" ? "its direct socket (unsafeDirectSockets)" : "Miniflare's entry Worker"}; rate limits set to ${BENCH_RATE_LIMIT}/period`,
  "",
  table(rows, ceiling),
  "",
  "ratios (req/s):",
  ratioText(rs),
  "",
  `setup: ${JSON.stringify(setup)}`,
  `runtime log: ${runtimeLog} (${runtimeWarnings} warn/error lines)`,
  ...Object.entries(profiles).flatMap(([sc, p]) => [
    "",
    `CPU profile of ${sc} at c=${p.c} (${p.sampled_ms} ms sampled; ${p.file}):`,
    "  self, by module:      " + p.self_by_module.slice(0, 15).map((m) => `${m.what} ${m.pct}%`).join(", "),
    "  inclusive, by module: " + p.inclusive_by_module.slice(0, 15).map((m) => `${m.what} ${m.pct}%`).join(", "),
    "  inclusive, by function (sync stacks only): " + p.inclusive_by_function.slice(0, 25).map((m) => `${m.what} ${m.pct}%`).join(", "),
  ]),
].join("\n");
const base = write(opt.out, stamp, { started, options: { ...opt, only: [...opt.only] }, env, setup, rows, ratios: rs, profiles, runtime_warnings: runtimeWarnings }, text);
console.log(text);
console.log(`\nwritten: ${base}.json, ${base}.txt`);
