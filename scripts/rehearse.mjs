#!/usr/bin/env node
// `npm run rehearse`: a whole sale, simulated end to end, then checked.
//
// Starts the app locally (wrangler dev on a free port, its own temp --persist-to dir and
// throwaway secrets, short payment timings, ALLOW_FAULTS on) or targets `--url` (with
// `--admin-token`). Creates a sale through the admin API (an account sale unless `--identity
// anonymous`), sends a crowd of shoppers through the real flow (session as their own shop
// account, proof of work, waiting room, pass, claim, pay / cancel / walk away) with a bot fleet
// beside them if asked (`--bots`),
// optionally breaks things on purpose (--fault d1|restart|gateway), waits until nothing is
// pending, checks the invariants against the engine, D1 and the gateway's ledger, and prints a
// report (also written to rehearsal-<timestamp>.txt). Exit code 1 if an invariant fails.
//
//   npm run rehearse                                  5000 shoppers, stock 500
//   npm run rehearse -- --shoppers 500 --stock 50     CI size
//   npm run rehearse -- --shoppers 500 --stock 50 --fault restart --fault d1
//   npm run rehearse -- --url https://… --admin-token … --shop-secret … --shoppers 200
//   npm run rehearse -- --shoppers 360 --prequeue 60 --arrival-s 6 --bots 30 --bot-sessions 20 \
//     --stock 50 --admission-rate 40 --identity anonymous      issue 10's scalpers
//
//   lib/rehearsal-options.mjs  options and help     lib/crowd.mjs      the sale run (context, faults, watch)
//   lib/shopper.mjs            the behaviour model  lib/settle.mjs     come-backs, settle, evidence
//   lib/http.mjs               the client's pool    lib/invariants.mjs, lib/report.mjs: checks and report
//   lib/bots.mjs               the bot fleet        lib/fairness.mjs   units won, ρ, overtaken
import { writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createClient } from "../domain/client.js";
import { saleConfig } from "../domain/sale-config.js";
import { BOT_CONCURRENCY, BOT_UA, newFleet, prepareFleet } from "./lib/bots.mjs";
import { crowdContext, noteRefusal, runCrowd, watchSale } from "./lib/crowd.mjs";
import { fairness } from "./lib/fairness.mjs";
import { createPool } from "./lib/http.mjs";
import { checkInvariants } from "./lib/invariants.mjs";
import { startLocal } from "./lib/local-server.mjs";
import { PAY, readOptions } from "./lib/rehearsal-options.mjs";
import { buildReport } from "./lib/report.mjs";
import { comeBacks, gatherEvidence, settle } from "./lib/settle.mjs";
import { shopSigner } from "./lib/shop-account.mjs";
import { powSolver, threadSolver } from "./lib/solver.mjs";
import { serveStripeFake } from "./lib/stripe-fake-server.mjs";
import { now } from "./lib/clock.mjs";
import { pacingReport } from "./lib/pacing-report.mjs";
import { checkShopEvents, eventsWaiting, startShop } from "./lib/shop-events-check.mjs";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const { a, opts } = readOptions();
/** A browser-like User-Agent: the edge's UA heuristic stays on and lets the rehearsal through. */
const USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) flashsale-rehearsal/1.0";

const timing = { started: now() };
const say = (m) => process.stderr.write(`rehearse: ${m}\n`);
let server = null;
let stripe = null; // --gateway stripe-fake: the fake Stripe this run serves
let shop = null; // --shop-webhook fake|never: the fake shop this run serves
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
    let gatewayVars = {};
    if (opts.gateway === "stripe-fake") {
      stripe = await serveStripeFake({
        timeoutMs: PAY.PAY_TIMEOUT_MS + 1000,
        webhooks: { duplicate: 0.2, forged: 0.1, late: 0.1, lateMs: 3000, jitterMs: 400 },
        rateLimit: { account: opts.stripeRate, endpoint: opts.stripeRate },
      });
      say(`fake Stripe on ${stripe.base}`);
      gatewayVars = {
        GATEWAY: "stripe",
        STRIPE_API_BASE: stripe.base,
        STRIPE_SECRET_KEY: `sk_test_${now().toString(36)}rehearsal`,
        STRIPE_WEBHOOK_SECRET: stripe.secret,
        // The pacer is told the account's limits, as an operator would (docs/payments.md).
        STRIPE_RATE_ACCOUNT: String(opts.stripeRate),
        STRIPE_RATE_ENDPOINT: String(opts.stripeRate),
      };
    }
    let shopVars = {};
    if (opts.shopWebhook !== "off") {
      ({ shop, vars: shopVars } = await startShop(opts.shopWebhook));
      say(`fake shop (${opts.shopWebhook}) for the order events on ${shop.url}`);
    }
    server = await startLocal({
      cwd: ROOT,
      port: a.port ? Number(a.port) : undefined,
      keep: a.keep,
      log: say,
      vars: {
        ALLOW_FAULTS: "true",
        LOG_LEVEL: "warn",
        ...Object.fromEntries(Object.entries(PAY).map(([k, v]) => [k, String(v)])),
        ...gatewayVars,
        ...shopVars,
      },
    });
    ({ base, adminToken } = server);
    stripe?.setTarget(`${base}/api/webhooks/stripe`);
    target = `local wrangler dev ${base} (state ${server.persist}; ${Object.entries(PAY)
      .map(([k, v]) => `${k}=${v}`)
      .join(", ")})`;
  }
  // Two pools: the operator's calls never wait behind the crowd's.
  const adminPool = createPool({ base, concurrency: 4, timeoutMs: 60_000 });
  admin = createClient({ transport: adminPool.transport, headers: { "user-agent": USER_AGENT } }).admin(adminToken);
  const pool = createPool({ base, concurrency: opts.concurrency });
  const api = createClient({ transport: pool.transport, headers: { "user-agent": USER_AGENT } });
  // Each bot its own connections: its traffic meets the crowd's at the server, not in our client's queue.
  const botPools = [];
  const botClient = () => {
    const p = createPool({ base, concurrency: BOT_CONCURRENCY });
    botPools.push(p);
    return createClient({ transport: p.transport, headers: { "user-agent": BOT_UA } });
  };
  // The shop's sign-in for account sales: the throwaway server's secret, or --shop-secret.
  const shopSecret = server?.shopIdentitySecret ?? opts.shopSecret;
  const sign = opts.identity === "account" ? shopSigner(shopSecret) : null;

  // Gateway behaviour for this run (POST /admin/faults needs ALLOW_FAULTS on the target).
  const gatewayRates = {
    latency_ms: 40,
    decline_rate: opts.decline,
    timeout_rate: opts.faults.has("gateway") ? Math.max(opts.timeout, 0.25) : opts.timeout,
    late_success_rate: 0.5,
    late_ms: opts.lateMs,
    duplicate_rate: opts.faults.has("gateway") ? 0.05 : 0.02,
  };
  /** @type {{ status: number, body?: any }} */
  const g = stripe ? { status: 200 } : await admin.faults({ gateway: gatewayRates });
  let usedRates = gatewayRates;
  if (stripe) {
    // The fake Stripe's faults, per payment (`pm_visa` rolls them): see scripts/lib/stripe-fake.mjs.
    const heavy = opts.faults.has("gateway");
    usedRates = stripe.fake.setRates({
      decline: opts.decline,
      timeout: heavy ? 0.1 : opts.timeout,
      error: heavy ? 0.1 : 0.03,
      error_after: heavy ? 0.05 : 0.02,
      ratelimit: 0.02,
      three_ds: opts.threeDs,
      slow: heavy ? 0.05 : 0.02,
    });
  } else if (g.status === 200) gatewayOverridden = true;
  else if (opts.faults.size)
    throw new Error(`POST /admin/faults answered ${g.status} ${JSON.stringify(g.body)}: faults need ALLOW_FAULTS on the target`);
  else {
    say(`warning: cannot set gateway rates (${g.status} ${g.body?.error}); using the target's configured rates`);
    usedRates = null;
  }

  const env = { api, admin, botClient, sign, server, pool, stripe, usedRates, gatewayRates };
  const { sale, shoppers, bots, fair, ctx, stats, ledger, checks, poll, cpu, loadavg, settling, quiet, pacing } = await runSale(env, {
    timing,
  });
  // The price of fairness: the same crowd again, against a sale that admits more shoppers per unit.
  const compared = opts.compareAdmitPerUnit === null ? null : await runSale(env, { admitPerUnit: opts.compareAdmitPerUnit, timing: {} });

  const report = buildReport({
    opts,
    sale,
    shoppers,
    bots,
    fairness: fair,
    samples: ctx.samples,
    ctx,
    stats,
    ledger,
    checks,
    timing,
    poll,
    target,
    faults: ctx.faults,
    gatewayRates: usedRates,
    clientCounts: pool.counts,
    cpu,
    loadavg,
    settleSeen: [...settling.seen],
    settled: quiet.settled,
    compared: compared && {
      admitPerUnit: opts.compareAdmitPerUnit,
      sale: compared.sale,
      fairness: compared.fair,
      poll: compared.poll,
      checks: compared.checks,
      ctx: compared.ctx,
    },
  });
  const full = pacing ? `${report}\n\n${pacing.lines.join("\n")}` : report;
  console.log(full);
  const stamp = new Date(timing.started).toISOString().replace(/[-:]/g, "").replace(/\..*/, "").replace("T", "-");
  const file = a.out ?? join(ROOT, `rehearsal-${stamp}.txt`);
  writeFileSync(file, `${full}\n`);
  say(`report written to ${file}`);
  pool.close();
  for (const p of botPools) p.close();
  adminPool.close();
  return [...checks, ...(compared?.checks ?? [])].some((k) => k.pass === false) ? 1 : 0;
}

/**
 * One sale, start to finish: the bots' sessions, the sale, the crowd, the come-backs, quiet, the
 * evidence and the checks. `admitPerUnit` overrides the option (the comparison run). `env` is what
 * main set up: the clients, the shop's signer, the server, the gateway's rates.
 */
/** @param {any} env @param {{ admitPerUnit?: number, timing?: any }} [o] */
async function runSale(env, { admitPerUnit = opts.admitPerUnit, timing } = {}) {
  const { api, admin, botClient, sign, server, pool, stripe, usedRates, gatewayRates } = env;
  timing.started ??= now();
  // Bots make their sessions before the sale exists, as a scalper would (a session lives a day).
  const fleet = newFleet(opts);
  const botRefusals = {};
  if (fleet.length) {
    say(`${opts.bots} bots make ${opts.bots * opts.botSessions} sessions`);
    await prepareFleet(fleet, { client: botClient, sign, note: (...r) => noteRefusal(botRefusals, ...r) });
  }
  // The sale. The burst starts t0; the sale opens openAfterS into it (earlier arrivals are
  // pre-queued and shuffled at the opening, later ones are first come, first served).
  const t0 = now() + 1500;
  const saleInput = saleConfig(
    {
      id: `rh-${now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`,
      product: { id: "rehearsal-widget", name: "Rehearsal widget", price: 4990, currency: "EUR" },
      stock_total: opts.stock,
      starts_at: new Date(t0 + opts.openAfterS * 1000).toISOString(),
      ends_at: new Date(t0 + 3600_000).toISOString(),
      hold_ttl_s: opts.holdTtlS,
      per_user_limit: opts.perUserLimit,
      release_policy: opts.policy,
      admission_rate: opts.admissionRate,
      max_active: opts.maxActive,
      ...(opts.passTtlS && { pass_ttl_s: opts.passTtlS }),
      ...(admitPerUnit !== undefined && { admit_per_unit: admitPerUnit }),
      ...(opts.lotteryS !== undefined && { lottery_s: opts.lotteryS }),
      pow_difficulty: opts.pow,
      ...(opts.shards > 1 && { shards: opts.shards }),
      identity: opts.identity,
    },
    { now: t0 },
  );
  const created = await admin.createSale(saleInput);
  if (created.status !== 201) throw new Error(`POST /admin/sales answered ${created.status} ${JSON.stringify(created.body)}`);
  const sale = { ...saleInput, starts_at_ms: Date.parse(saleInput.starts_at) };
  timing.saleCreated = now();
  say(
    `sale ${sale.id}: ${opts.stock} units${opts.shards > 1 ? ` over ${opts.shards} shards` : ""}, ${opts.shoppers} shoppers, opens ${saleInput.starts_at}`,
  );

  // The crowd, then the come-backs, then quiet.
  const ctx = crowdContext({ api, admin, opts, sale, t0, solve: await powSolver(a["pow-solver"]), sign, botRefusals, botClient });
  ctx.fleet = fleet;
  // The bots' proofs of work (extra bits for their busy networks) on a thread of their own.
  const botSolver = fleet.length ? threadSolver() : null;
  ctx.botSolve = botSolver?.solve;
  if (stripe) {
    // Each shopper's own card; a `slow` payment lands after PAY_GIVE_UP_S (its webhook is late).
    ctx.paymentMethod = (sh) => `pm_visa.shopper-${sh.i}`;
    stripe.fake.slowMs = PAY.PAY_GIVE_UP_S * 1000 + 2000;
    ctx.ledger = async () => ({ status: 200, body: { charges: stripe.fake.ledger() } });
    ctx.inFlight = () => !stripe.idle();
    // What stripe.js does on the page: 3-D Secure passed (70 %), failed (10 %) or abandoned (20 %);
    // a bot passes it (`pass`).
    ctx.completeAction = async (action, { pass = false } = {}) => {
      const roll = pass ? 0.5 : Math.random();
      if (roll < 0.2) return "abandoned";
      await new Promise((r) => setTimeout(r, 300 + Math.random() * 1000));
      stripe.fake.authenticate(action.client_secret.split("_secret_")[0], roll < 0.3 ? "failed" : "succeeded");
      return roll < 0.3 ? "failed" : "succeeded";
    };
  }
  if (opts.faults.has("gateway")) {
    const detail = stripe
      ? `fake Stripe rates ${JSON.stringify(usedRates)}`
      : `timeouts ${gatewayRates.timeout_rate}, half of them landing ${opts.lateMs} ms later`;
    ctx.faults.push({ what: "gateway", at: sale.starts_at_ms, detail });
  }
  if (shop) ctx.waitingFor = eventsWaiting(opts.shopWebhook);
  const settling = { note: "", seen: new Set() };
  const watch = watchSale({ admin, ctx, pool, note: () => settling.note });
  const { shoppers, bots, doneAt, cpu, loadavg } = await runCrowd(ctx, { server, saleCreatedAt: timing.saleCreated });
  timing.crowdDone = doneAt;
  await botSolver?.close();
  await comeBacks(ctx, shoppers, admin);
  timing.mopupDone = now();
  const quiet = await settle(ctx, admin, settling);
  await watch.stop();
  timing.settled = now();
  if (!quiet.settled) say(`warning: not settled after ${opts.settleTimeoutS} s (still: ${settling.note})`);

  // The evidence: every hold as its shopper sees it, the engine, D1, the ledger.
  // Bots' identities are checked like shoppers: their holds, orders and charges are the sale's too.
  const everyone = [...shoppers, ...bots];
  const { stats, ledger, d1, reconcile } = await gatherEvidence(ctx, everyone, admin, server, quiet);
  const elapsedS = (now() - sale.starts_at_ms) / 1000;
  const fair = fairness({ shoppers, bots, sale, soldOutAt: watch.poll.firstSoldOutAt || null });
  const checks = checkInvariants({
    stats,
    peak: watch.poll.peak,
    shoppers: everyone,
    ledger,
    d1,
    reconcile,
    sale,
    settled: quiet.settled,
    errors: ctx.errors,
    errorSamples: ctx.errorSamples,
    refusals: ctx.refusals,
    botRefusals: ctx.botRefusals,
    fairness: fair,
    admittedBound: {
      admitted: stats.queue.admitted,
      rate: opts.admissionRate,
      elapsedS,
      bound: opts.admissionRate * elapsedS + Math.max(1, opts.admissionRate),
    },
  });
  if (stripe) {
    const w = stripe.deliveries;
    const ev = [
      w.forged_accepted && `${w.forged_accepted} forged webhooks were accepted`,
      w.failed && `${w.failed} webhooks never delivered`,
    ].filter(Boolean);
    checks.push({
      name: "Stripe webhooks: forged ones refused (400), real ones delivered",
      pass: ev.length === 0,
      detail: `${w.events} events: ${w.sent} deliveries answered 2xx (${w.applied} applied, ${w.duplicates} sent twice, ${w.late} late, ${w.retried} retries); ${w.forged_refused}/${w.forged_sent} forged copies refused`,
      evidence: ev,
      more: 0,
    });
  }
  const pacing = stripe
    ? pacingReport({
        shoppers: everyone,
        d1,
        traffic: stripe.fake.limiter.traffic(),
        limit: opts.stripeRate,
        stats,
        intents: stripe.fake.ledger(),
      })
    : null;
  if (pacing) checks.push(...pacing.checks);
  if (shop) checks.push(checkShopEvents({ mode: opts.shopWebhook, shop, sale, d1, stats }));
  timing.ended = now();
  return { sale, shoppers, bots, fair, ctx, stats, ledger, checks, poll: watch.poll, cpu, loadavg, settling, quiet, timing, pacing };
}

async function cleanup(code) {
  if (gatewayOverridden && admin) await admin.faults({ gateway: {} }).catch(() => {}); // back to configured rates
  if (stripe) await stripe.stop().catch(() => {});
  if (shop) await shop.stop().catch(() => {});
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
