#!/usr/bin/env node
// `npm run rehearse`: a whole sale, simulated end to end, then checked.
//
// Starts the app locally (wrangler dev on a free port, its own temp --persist-to dir and
// throwaway secrets, short payment timings, ALLOW_FAULTS on) or targets `--url` (with
// `--admin-token`). Creates a sale through the admin API, sends a crowd of shoppers through the
// real flow (session, proof of work, waiting room, pass, claim, pay / cancel / walk away),
// optionally breaks things on purpose (--fault d1|restart|gateway), waits until nothing is
// pending, checks the invariants against the engine, D1 and the gateway's ledger, and prints a
// report (also written to rehearsal-<timestamp>.txt). Exit code 1 if an invariant fails.
//
//   npm run rehearse                                  5000 shoppers, stock 500
//   npm run rehearse -- --shoppers 500 --stock 50     CI size
//   npm run rehearse -- --shoppers 500 --stock 50 --fault restart --fault d1
//   npm run rehearse -- --url https://… --admin-token … --shoppers 200
import { writeFileSync } from "node:fs";
import os from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { createClient, sleep } from "./lib/http.mjs";
import { checkInvariants } from "./lib/invariants.mjs";
import { powSolver } from "./lib/solver.mjs";
import { startLocal } from "./lib/local-server.mjs";
import { bar, buildReport, progress } from "./lib/report.mjs";
import { comeBack, finalHoldViews, newShopper, runShopper } from "./lib/shopper.mjs";
import { Samples } from "./lib/stats.mjs";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

const { values: a } = parseArgs({
  options: {
    shoppers: { type: "string", default: "5000" },
    stock: { type: "string" },
    "arrival-s": { type: "string", default: "2" },
    "open-after-s": { type: "string", default: "1" },
    abandon: { type: "string", default: "0.1" },
    cancel: { type: "string", default: "0.05" },
    decline: { type: "string", default: "0.05" },
    timeout: { type: "string", default: "0.02" },
    greedy: { type: "string", default: "0.05" },
    retries: { type: "string", default: "2" },
    // 64, not 200: locally one workerd thread runs the edge and every object, and with 200 requests
    // interleaving each await waits behind all of them; payments then outlive PAY_TIMEOUT_MS.
    concurrency: { type: "string", default: "64" },
    "poll-cap-s": { type: "string", default: "2" },
    "think-ms": { type: "string", default: "1000" },
    "hold-ttl-s": { type: "string", default: "5" },
    pow: { type: "string", default: "8" },
    "admission-rate": { type: "string" },
    "max-active": { type: "string" },
    policy: { type: "string", default: "release" },
    "per-user-limit": { type: "string", default: "1" },
    fault: { type: "string", multiple: true, default: [] },
    "d1-down-ms": { type: "string", default: "8000" },
    "late-ms": { type: "string" },
    "pass-timeout-s": { type: "string", default: "120" },
    "comeback-s": { type: "string", default: "60" },
    "settle-timeout-s": { type: "string", default: "120" },
    "same-ip": { type: "boolean", default: false },
    "pow-solver": { type: "string", default: "node" },
    url: { type: "string" },
    "admin-token": { type: "string" },
    port: { type: "string" },
    keep: { type: "boolean", default: false },
    out: { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (a.help) {
  console.log(readHelp());
  process.exit(0);
}

const num = (k) => {
  const v = Number(a[k]);
  if (!Number.isFinite(v) || v < 0) usage(`--${k} must be a non-negative number (got ${a[k]})`);
  return v;
};
const shoppersN = Math.max(1, Math.floor(num("shoppers")));
// Short payment timings so that unknown outcomes, give-ups and late charges happen within the
// run (wrangler.toml has 5 s / 2 s / 900 s). A 2-core box under load answers slower than you'd
// think: below ~2 s the engine's own timeout starts firing on plain successful charges.
// PAY_GIVE_UP_S must stay well above what a payment takes on an overloaded local runtime (several
// seconds at 5000 shoppers): below that, charges that did succeed are released and refunded.
const PAY = { PAY_TIMEOUT_MS: 3000, PAY_RETRY_MS: 1000, PAY_GIVE_UP_S: 20 };
const opts = {
  shoppers: shoppersN,
  stock: a.stock ? Math.max(1, Math.floor(num("stock"))) : Math.max(1, Math.round(shoppersN / 10)),
  arrivalS: num("arrival-s"),
  openAfterS: num("open-after-s"),
  abandon: num("abandon"),
  cancel: num("cancel"),
  decline: num("decline"),
  timeout: num("timeout"),
  greedy: num("greedy"),
  retries: Math.floor(num("retries")),
  concurrency: Math.max(1, Math.floor(num("concurrency"))),
  pollCapS: Math.max(0.25, num("poll-cap-s")),
  thinkMs: num("think-ms"),
  holdTtlS: Math.max(1, Math.floor(num("hold-ttl-s"))),
  pow: Math.floor(num("pow")),
  admissionRate: a["admission-rate"] ? num("admission-rate") : Math.max(100, Math.ceil(shoppersN / 10)),
  maxActive: a["max-active"] ? Math.floor(num("max-active")) : Math.max(1000, shoppersN),
  policy: a.policy,
  perUserLimit: Math.max(1, Math.floor(num("per-user-limit"))),
  faults: new Set(a.fault.flatMap((f) => f.split(",")).map((f) => f.trim()).filter(Boolean)),
  d1DownMs: Math.floor(num("d1-down-ms")),
  passTimeoutS: num("pass-timeout-s"),
  comebackS: num("comeback-s"),
  settleTimeoutS: num("settle-timeout-s"),
  sameIp: a["same-ip"],
  paymentMethod: "tok_visa",
};
// A late success lands after the payment window has given up (PAY_GIVE_UP_S): it must be refunded.
opts.lateMs = a["late-ms"] ? Math.floor(num("late-ms")) : opts.faults.has("gateway") ? PAY.PAY_GIVE_UP_S * 1000 + 2000 : 2000;
opts.payPollS = PAY.PAY_GIVE_UP_S + opts.lateMs / 1000 + 15;
for (const f of opts.faults) if (!["d1", "restart", "gateway"].includes(f)) usage(`unknown --fault ${f} (d1, restart, gateway)`);
if (!["release", "undersell", "waitlist"].includes(opts.policy)) usage("--policy is release, undersell or waitlist");
if (opts.abandon + opts.cancel > 1) usage("--abandon + --cancel must be ≤ 1");
if (a.url && !a["admin-token"]) usage("--url needs --admin-token");

function usage(msg) {
  console.error(`rehearse: ${msg}\n\n${readHelp()}`);
  process.exit(2);
}
function readHelp() {
  return `npm run rehearse -- [options]
  --shoppers N (5000)  --stock N (shoppers/10)  --arrival-s S (2)  --open-after-s S (1)
  --abandon R (0.1)  --cancel R (0.05)  --decline R (0.05)  --timeout R (0.02)  --greedy R (0.05)
  --retries N (2, claims after "sold out for now")  --concurrency N (64 requests in flight)
  --poll-cap-s S (2)  --think-ms MS (1000)  --hold-ttl-s S (5)  --pow BITS (8)
  --admission-rate R (max(100, shoppers/10))  --max-active N  --policy release|undersell|waitlist
  --per-user-limit N (1)  --fault d1|restart|gateway (repeatable)  --d1-down-ms MS (8000)  --late-ms MS
  --same-ip (all shoppers from one address: the per-IP limit bites)
  --pow-solver node|webcrypto (node: pow.js's search with sync hashing, ~20x cheaper; webcrypto: pow.js solve())
  --url URL --admin-token T (target a running deployment; it needs ALLOW_FAULTS for faults)
  --port N  --keep (keep the temp state dir)  --out FILE`;
}

// ---------------------------------------------------------------------------------------------

const timing = { started: Date.now() };
const say = (m) => process.stderr.write(`rehearse: ${m}\n`);
let server = null;
let settleNote = "";
const settleSeen = new Set();
let gatewayOverridden = false;
let admin;

async function main() {
  let base, adminToken, target;
  if (a.url) {
    base = a.url.replace(/\/$/, "");
    adminToken = a["admin-token"];
    // Shoppers still send their own cf-connecting-ip; wrangler dev honours it, Cloudflare's edge
    // replaces it with the real address, so against a deployment RL_IP sees one client.
    target = `${base} (remote: D1 checked by counts and reconcile; per-shopper addresses only count where a client cf-connecting-ip is honoured)`;
  } else {
    server = await startLocal({
      cwd: ROOT,
      port: a.port ? Number(a.port) : undefined,
      keep: a.keep,
      log: say,
      vars: { ALLOW_FAULTS: "true", LOG_LEVEL: "warn", ...Object.fromEntries(Object.entries(PAY).map(([k, v]) => [k, String(v)])) },
    });
    ({ base, adminToken } = server);
    target = `local wrangler dev ${base} (state ${server.persist}; ${Object.entries(PAY).map(([k, v]) => `${k}=${v}`).join(", ")})`;
  }
  const adminClient = createClient({ base, concurrency: 4, timeoutMs: 60_000 });
  admin = async (method, path, json) => {
    const r = await adminClient.request(method, `/admin${path}`, { json, headers: { authorization: `Bearer ${adminToken}` } });
    return r;
  };

  // Gateway behaviour for this run (POST /admin/faults needs ALLOW_FAULTS on the target).
  const gatewayRates = {
    latency_ms: 40,
    decline_rate: opts.decline,
    timeout_rate: opts.faults.has("gateway") ? Math.max(opts.timeout, 0.25) : opts.timeout,
    late_success_rate: 0.5,
    late_ms: opts.lateMs,
    duplicate_rate: opts.faults.has("gateway") ? 0.05 : 0.02,
  };
  const g = await admin("POST", "/faults", { gateway: gatewayRates });
  let usedRates = gatewayRates;
  if (g.status === 200) gatewayOverridden = true;
  else if (opts.faults.size) throw new Error(`POST /admin/faults answered ${g.status} ${JSON.stringify(g.body)}: faults need ALLOW_FAULTS on the target`);
  else {
    say(`warning: cannot set gateway rates (${g.status} ${g.body?.error}); using the target's configured rates`);
    usedRates = null;
  }

  // The sale. The burst starts t0; the sale opens openAfterS into it (earlier arrivals are
  // pre-queued and shuffled at the opening, later ones are first come, first served).
  const t0 = Date.now() + 1500;
  const saleId = `rh-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
  const saleInput = {
    id: saleId,
    product: { id: "rehearsal-widget", name: "Rehearsal widget", price: 4990, currency: "EUR" },
    stock_total: opts.stock,
    starts_at: new Date(t0 + opts.openAfterS * 1000).toISOString(),
    ends_at: new Date(t0 + 3600_000).toISOString(),
    hold_ttl_s: opts.holdTtlS,
    per_user_limit: opts.perUserLimit,
    release_policy: opts.policy,
    admission_rate: opts.admissionRate,
    max_active: opts.maxActive,
    pow_difficulty: opts.pow,
  };
  const created = await admin("POST", "/sales", saleInput);
  if (created.status !== 201) throw new Error(`POST /admin/sales answered ${created.status} ${JSON.stringify(created.body)}`);
  const sale = { ...saleInput, starts_at_ms: Date.parse(saleInput.starts_at) };
  timing.saleCreated = Date.now();
  say(`sale ${saleId}: ${opts.stock} units, ${opts.shoppers} shoppers, opens ${saleInput.starts_at}`);

  // The crowd.
  const client = createClient({ base, concurrency: opts.concurrency });
  const samples = new Samples();
  const faults = [];
  const cpu0 = { client: process.cpuUsage(), server: server?.cpuSeconds() ?? null };
  const ctx = {
    client, opts, sale, samples, t0, phase: "main", solve: await powSolver(a["pow-solver"]),
    counters: { holds: 0, sold: 0, claims: 0, done: 0, firstClaimAt: 0, lastClaimAt: 0, firstSoldOutAt: 0 },
    errors: {},
    claimsPerSec: new Map(),
    errorSamples: {},
    noteError(step, status, code, message) {
      const k = `${step} ${status} ${code ?? ""}`.trim();
      this.errors[k] = (this.errors[k] ?? 0) + 1;
      if (message) this.errorSamples[k] ??= String(message).replace(/\s+/g, " ").slice(0, 160);
    },
    noteClaim(r) {
      if (r.status === 0 || r.status >= 500 || r.status === 429) return;
      const c = this.counters;
      const t = Date.now();
      c.claims++;
      const sec = Math.floor(t / 1000);
      this.claimsPerSec.set(sec, (this.claimsPerSec.get(sec) ?? 0) + 1);
      c.firstClaimAt ||= t;
      c.lastClaimAt = t;
      if (r.body?.error === "sold_out") c.firstSoldOutAt ||= t;
    },
    noteHold() {
      this.counters.holds++;
      triggers();
    },
    noteSold() {
      this.counters.sold++;
      triggers();
    },
    noteDone() {
      this.counters.done++;
    },
  };

  // Faults, at moments that matter: D1 down from the first hold; restarts while claims are
  // being made and again while payments are in flight.
  const fire = async (what, body, detail) => {
    const at = Date.now();
    const r = await admin("POST", "/faults", { sale: saleId, ...body });
    faults.push({ what, at, detail: r.status === 200 ? detail : `refused ${r.status} ${r.body?.error}` });
  };
  const fired = new Set();
  function triggers() {
    // D1 goes down with the first hold, so the first orders are the ones that must wait.
    if (opts.faults.has("d1") && !fired.has("d1") && ctx.counters.holds >= 1) {
      fired.add("d1");
      void fire("d1 down", { d1_down_ms: opts.d1DownMs }, `for ${opts.d1DownMs} ms`);
    }
    if (!opts.faults.has("restart")) return;
    if (!fired.has("r1") && ctx.counters.holds >= Math.ceil(opts.stock * 0.3)) {
      fired.add("r1");
      void fire("restart", { restart: true }, `after ${ctx.counters.holds} holds`);
    }
    if (!fired.has("r2") && ctx.counters.sold >= Math.ceil(opts.stock * 0.5)) {
      fired.add("r2");
      void fire("restart", { restart: true }, `after ${ctx.counters.sold} payments`);
    }
  }
  if (opts.faults.has("gateway")) faults.push({ what: "gateway", at: sale.starts_at_ms, detail: `timeouts ${gatewayRates.timeout_rate}, half of them landing ${opts.lateMs} ms later` });

  // The operator's view, sampled while the sale runs.
  const poll = { peak: { soldPlusHeld: 0, at: null }, maxBacklog: 0, maxOldestMs: 0, maxFailures: 0, firstSoldOutAt: 0, allSoldAt: 0, last: null };
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const r = await admin("GET", `/sales/${saleId}`);
      if (r.status === 200) {
        const s = r.body;
        poll.last = s;
        const t = Date.now();
        if (s.stock.sold + s.stock.held > poll.peak.soldPlusHeld) poll.peak = { soldPlusHeld: s.stock.sold + s.stock.held, at: new Date(t).toISOString() };
        poll.maxBacklog = Math.max(poll.maxBacklog, s.outbox.backlog);
        poll.maxOldestMs = Math.max(poll.maxOldestMs, s.outbox.oldest_age_ms);
        poll.maxFailures = Math.max(poll.maxFailures, s.outbox.failures);
        if (t >= sale.starts_at_ms && s.stock.available === 0) poll.firstSoldOutAt ||= t;
        if (s.stock.sold === s.stock.stock_total) poll.allSoldAt ||= t;
      }
      await sleep(500);
    }
  })();

  const line = progress();
  let showing = true;
  const ticker = setInterval(() => {
    if (!showing) return;
    const s = poll.last;
    const el = ((Date.now() - sale.starts_at_ms) / 1000).toFixed(1);
    line.show(
      `${bar(ctx.counters.done, opts.shoppers)} ${ctx.counters.done}/${opts.shoppers} done  t=${el}s  ${ctx.phase}  in-flight ${client.inFlight}+${client.queued}  ` +
        `holds ${ctx.counters.holds}  sold ${s?.stock.sold ?? "?"}/${opts.stock}  held ${s?.stock.held ?? "?"}  waiting ${s?.queue.waiting ?? "?"}  outbox ${s?.outbox.backlog ?? "?"}` +
        (ctx.phase === "settle" && settleNote ? `  waiting for: ${settleNote}` : ""),
    );
  }, 250);

  // Arrival times: uniform over the burst, numbered in arrival order.
  const arrivals = Array.from({ length: opts.shoppers }, () => Math.random() * opts.arrivalS * 1000).sort((x, y) => x - y);
  const shoppers = arrivals.map((t, i) => newShopper(i, t, opts));
  await Promise.all(shoppers.map((sh) => runShopper(ctx, sh)));
  timing.crowdDone = Date.now();
  const cpu = {
    client: (() => { const u = process.cpuUsage(cpu0.client); return (u.user + u.system) / 1e6; })(),
    server: cpu0.server === null ? null : server.cpuSeconds() - cpu0.server,
    wall: (timing.crowdDone - timing.saleCreated) / 1000,
  };
  const loadavg = `load average ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} cores`;

  // Come-backs: under `release`, units return as holds end; shoppers who were told "sold out"
  // return for them (the demand that makes "sold = stock" a fair expectation).
  ctx.phase = "comeback";
  if (opts.policy === "release") {
    const deadline = Date.now() + opts.comebackS * 1000;
    while (Date.now() < deadline) {
      const r = await admin("GET", `/sales/${saleId}`);
      if (r.status !== 200) {
        await sleep(500);
        continue;
      }
      const { available, held } = r.body.stock;
      if (available > 0) {
        const waiting = shoppers.filter((sh) => sh.holds.length === 0 && sh.token && sh.mopups < 3 && (sh.outcome === "sold_out" || sh.outcome === "sold_out_waiting"));
        if (waiting.length === 0) break;
        await Promise.all(waiting.slice(0, available).map((sh) => comeBack(ctx, sh)));
      } else if (held > 0) await sleep(500);
      else break;
    }
  }
  timing.mopupDone = Date.now();

  // Wait until nothing is pending: holds, outbox, refunds, and charges still processing.
  ctx.phase = "settle";
  const deadline = Date.now() + opts.settleTimeoutS * 1000;
  let settled = false, quietOnce = false, stats = null, ledger = [];
  settleNote = "";
  while (Date.now() < deadline) {
    const [s, l] = await Promise.all([admin("GET", `/sales/${saleId}`), admin("GET", "/gateway/ledger")]);
    if (s.status === 200 && l.status === 200) {
      stats = s.body;
      ledger = l.body.charges.filter((c) => c.reference.startsWith(`${saleId}_h`));
      // Money the gateway took must end as an order or a refund. A charge whose answer never
      // reached the engine before PAY_GIVE_UP_S is found by the engine's watch (a lookup every
      // 60 s) and refunded: that can take a minute.
      const kept = ledger.filter((c) => c.status === "succeeded" && !c.refund_id).length;
      const refunded = ledger.filter((c) => c.refund_id).length;
      const waitingFor = [
        stats.holds.held && `${stats.holds.held} held`,
        stats.holds.pending && `${stats.holds.pending} pending`,
        stats.outbox.backlog && `outbox ${stats.outbox.backlog}`,
        stats.refunds.pending && `${stats.refunds.pending} refunds`,
        ledger.some((c) => c.status === "processing") && "charges processing",
        kept !== stats.holds.confirmed && `${kept - stats.holds.confirmed} charges neither order nor refund`,
        refunded !== stats.refunds.refunded && "refund records",
      ].filter(Boolean);
      settleNote = waitingFor.join(", ");
      for (const w of waitingFor) settleSeen.add(w.replace(/^\d+ /, "").replace(/ \d+$/, ""));
      const quiet = waitingFor.length === 0;
      // Twice in a row, a second apart: a late charge's notification may be a moment behind.
      if (quiet && quietOnce) {
        settled = true;
        break;
      }
      quietOnce = quiet;
    }
    await sleep(1000);
  }
  polling = false;
  await poller;
  clearInterval(ticker);
  showing = false;
  line.end();
  timing.settled = Date.now();
  if (!settled) say(`warning: not settled after ${opts.settleTimeoutS} s (still: ${settleNote})`);

  // The evidence: every hold as its shopper sees it, the engine, D1, the ledger.
  ctx.phase = "check";
  await finalHoldViews(ctx, shoppers);
  const final = await admin("GET", `/sales/${saleId}`);
  if (final.status === 200) stats = final.body;
  const l = await admin("GET", "/gateway/ledger");
  if (l.status === 200) ledger = l.body.charges.filter((c) => c.reference.startsWith(`${saleId}_h`));
  let d1 = null;
  if (server) {
    const q = (sql) => sql.replaceAll("?", `'${saleId}'`);
    const [orders, refunds, count] = server.d1(
      q(`SELECT hold_id, COUNT(*) AS n, MIN(user_id) AS user_id, SUM(qty) AS qty, MIN(charge_id) AS charge_id FROM orders WHERE sale_id = ? GROUP BY hold_id;
         SELECT hold_id, charge_id FROM refunds WHERE sale_id = ?;
         SELECT COUNT(*) AS n FROM orders WHERE sale_id = ?`),
    );
    d1 = { orders, refunds, count: count[0].n };
  }
  // After the D1 read: reconcile re-flushes what is missing, which would hide it.
  const rec = await admin("POST", `/sales/${saleId}/reconcile`);
  const reconcile = rec.status === 200 ? rec.body.report : null;
  const elapsedS = (Date.now() - sale.starts_at_ms) / 1000;
  const checks = checkInvariants({
    stats, peak: poll.peak, shoppers, ledger, d1, reconcile, sale, settled, errors: ctx.errors, errorSamples: ctx.errorSamples,
    admittedBound: { admitted: stats.queue.admitted, rate: opts.admissionRate, elapsedS, bound: opts.admissionRate * elapsedS + Math.max(1, opts.admissionRate) },
  });
  timing.ended = Date.now();

  const report = buildReport({
    opts, sale, shoppers, samples, ctx, stats, ledger, checks, timing, poll, target, faults,
    gatewayRates: usedRates, clientCounts: client.counts, cpu, loadavg, settleSeen: [...settleSeen], settled,
  });
  console.log(report);
  const stamp = new Date(timing.started).toISOString().replace(/[-:]/g, "").replace(/\..*/, "").replace("T", "-");
  const file = a.out ?? join(ROOT, `rehearsal-${stamp}.txt`);
  writeFileSync(file, `${report}\n`);
  say(`report written to ${file}`);
  client.close();
  adminClient.close();
  return checks.some((k) => k.pass === false) ? 1 : 0;
}

async function cleanup(code) {
  if (gatewayOverridden && admin) await admin("POST", "/faults", { gateway: {} }).catch(() => {}); // back to configured rates
  if (server) {
    // Keep the state for a post-mortem when something failed.
    const keep = a.keep || code !== 0;
    await server.stop({ removeDir: !keep });
    if (keep) say(`state and wrangler log kept in ${server.dir}`);
  }
}

for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, async () => {
    say(`${sig}: stopping`);
    await cleanup(130);
    process.exit(130);
  });
}

main()
  .then(async (code) => {
    await cleanup(code);
    process.exit(code);
  })
  .catch(async (e) => {
    console.error(`rehearse: ${e?.stack ?? e}`);
    if (e?.stop) await e.stop({ removeDir: false });
    await cleanup(2);
    process.exit(2);
  });
