// One soak run: its own wrangler dev (fresh state dir), the drawn sale and crowd through the
// rehearsal's own pieces, the nemesis beside them, then the rehearsal's invariants plus the
// soak's own (no 5xx but the documented 503s).
import { createClient } from "../../../domain/client.js";
import { saleConfig } from "../../../domain/sale-config.js";
import { crowdContext, runCrowd, watchSale } from "../crowd.mjs";
import { createPool } from "../http.mjs";
import { checkInvariants } from "../invariants.mjs";
import { startLocal } from "../local-server.mjs";
import { PAY, parseOptions } from "../rehearsal-options.mjs";
import { comeBacks, gatherEvidence, settle } from "../settle.mjs";
import { shopSigner } from "../shop-account.mjs";
import { powSolver } from "../solver.mjs";
import { serveStripeFake } from "../stripe-fake-server.mjs";
import { runNemesis } from "./nemesis.mjs";
import { now } from "../clock.mjs";

const USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) flashsale-soak/1.0";

/** The rehearsal's options for a plan (its parser fills in every default). */
function optionsFor(plan) {
  const args = [
    "--shoppers",
    String(plan.shoppers),
    "--stock",
    String(plan.stock),
    "--shards",
    String(plan.shards),
    "--policy",
    plan.policy,
    "--identity",
    plan.identity,
    "--gateway",
    plan.gateway,
    "--per-user-limit",
    String(plan.perUserLimit),
    "--arrival-s",
    "3",
    "--open-after-s",
    "1",
    "--hold-ttl-s",
    "4",
    "--pow",
    "4",
    "--think-ms",
    "300",
    "--concurrency",
    "32",
    "--settle-timeout-s",
    "90",
  ];
  const parsed = parseOptions(args);
  if (!parsed.opts) throw new Error(`soak: the rehearsal refused its options ${args.join(" ")}`);
  return parsed.opts;
}

/**
 * A local server for the soak's runs on one kind of gateway: wrangler dev on a fresh state dir
 * (ALLOW_FAULTS, the rehearsal's payment timings, MUTATION if asked), and for "stripe-fake" the
 * fake Stripe it pays through, its webhooks late, twice, out of order and forged beside them.
 * Runs share it (each its own sale); a kill -9 restarts it on the same state.
 */
export async function startServer(kind, { root, port, mutation, log }) {
  let stripe = null;
  let gatewayVars = {};
  if (kind === "stripe-fake") {
    stripe = await serveStripeFake({
      timeoutMs: PAY.PAY_TIMEOUT_MS + 1000,
      webhooks: { duplicate: 0.3, forged: 0.1, late: 0.2, lateMs: 2000, jitterMs: 600 },
    });
    gatewayVars = {
      GATEWAY: "stripe",
      STRIPE_API_BASE: stripe.base,
      STRIPE_SECRET_KEY: `sk_test_${now().toString(36)}soak`,
      STRIPE_WEBHOOK_SECRET: stripe.secret,
    };
  }
  const server = await startLocal({
    cwd: root,
    port,
    log,
    vars: {
      ALLOW_FAULTS: "true",
      LOG_LEVEL: "warn",
      ...(mutation && { MUTATION: mutation }),
      ...Object.fromEntries(Object.entries(PAY).map(([k, v]) => [k, String(v)])),
      ...gatewayVars,
    },
  });
  stripe?.setTarget(`${server.base}/api/webhooks/stripe`);
  return {
    server,
    stripe,
    failed: false,
    /** Stops it; its state dir and log are kept if a run on it failed. */
    async stop() {
      await stripe?.stop().catch(() => {});
      await server.stop({ removeDir: !this.failed }).catch(() => {});
    },
  };
}

/** Runs one plan on its kind of server; resolves `{ pass, checks, fired, dir, error }`. */
export async function runPlan(plan, { host, log }) {
  const opts = optionsFor(plan);
  const { server, stripe } = host;
  const pools = [];
  let result = { pass: false, checks: [], fired: [], dir: server.dir };
  try {
    const adminPool = createPool({ base: server.base, concurrency: 4, timeoutMs: 60_000 });
    const pool = createPool({ base: server.base, concurrency: opts.concurrency });
    pools.push(adminPool, pool);
    const admin = createClient({ transport: adminPool.transport, headers: { "user-agent": USER_AGENT } }).admin(server.adminToken);
    const api = createClient({ transport: pool.transport, headers: { "user-agent": USER_AGENT } });
    const sign = opts.identity === "account" ? shopSigner(server.shopIdentitySecret) : null;
    // Each run starts from the gateway's plain behaviour; the nemesis may make it worse.
    if (stripe) stripe.fake.setRates({ decline: 0.05, timeout: 0, error: 0, error_after: 0, ratelimit: 0, three_ds: 0, slow: 0 });
    else if ((await admin.faults({ gateway: {} })).status !== 200) throw new Error("POST /admin/faults refused: ALLOW_FAULTS is off");

    const t0 = now() + 1000;
    const input = saleConfig(
      {
        id: `soak-${plan.seed}-${now().toString(36)}`,
        product: { id: "soak-widget", name: "Soak widget", price: 2990, currency: "EUR" },
        stock_total: plan.stock,
        starts_at: new Date(t0 + opts.openAfterS * 1000).toISOString(),
        ends_at: new Date(t0 + 3600_000).toISOString(),
        hold_ttl_s: opts.holdTtlS,
        per_user_limit: opts.perUserLimit,
        release_policy: opts.policy,
        admission_rate: opts.admissionRate,
        max_active: opts.maxActive,
        pow_difficulty: opts.pow,
        identity: opts.identity,
        ...(plan.shards > 1 && { shards: plan.shards }),
      },
      { now: t0 },
    );
    const created = await admin.createSale(input);
    if (created.status !== 201) throw new Error(`POST /admin/sales answered ${created.status} ${JSON.stringify(created.body)}`);
    const sale = { ...input, starts_at_ms: Date.parse(input.starts_at) };
    const ctx = crowdContext({ api, admin, opts, sale, t0, solve: await powSolver(), sign });
    ctx.fleet = [];
    if (stripe) {
      ctx.paymentMethod = (sh) => `pm_visa.shopper-${sh.i}`;
      stripe.fake.slowMs = PAY.PAY_GIVE_UP_S * 1000 + 2000;
      ctx.ledger = async () => ({ status: 200, body: { charges: stripe.fake.ledger() } });
      ctx.inFlight = () => !stripe.idle();
      ctx.completeAction = async (action) => {
        const roll = Math.random();
        if (roll < 0.2) return "abandoned";
        await new Promise((r) => setTimeout(r, 200 + Math.random() * 500));
        stripe.fake.authenticate(action.client_secret.split("_secret_")[0], roll < 0.3 ? "failed" : "succeeded");
        return roll < 0.3 ? "failed" : "succeeded";
      };
    }
    const settling = { note: "", seen: new Set() };
    const watch = watchSale({ admin, ctx, pool, note: () => settling.note });
    // Its failure is the run's, once the crowd is home (never an unhandled rejection meanwhile).
    const nemesis = runNemesis(plan, { server, admin, sale, stripe, log }).then(
      (fired) => ({ fired }),
      (error) => ({ error }),
    );
    const { shoppers } = await runCrowd(ctx, { server, saleCreatedAt: now() });
    const n = await nemesis;
    if ("error" in n) throw n.error;
    const { fired } = n;
    await comeBacks(ctx, shoppers, admin);
    const quiet = await settle(ctx, admin, settling);
    await watch.stop();

    const evidence = await gatherEvidence(ctx, shoppers, admin, server, quiet);
    const checks = checkInvariants({
      ...evidence,
      peak: watch.poll.peak,
      shoppers,
      sale,
      settled: quiet.settled,
      errors: ctx.errors,
      errorSamples: ctx.errorSamples,
      refusals: ctx.refusals,
      admittedBound: { admitted: 0, rate: 1, elapsedS: 1, bound: 1 },
    })
      .filter((c) => !/^admission within rate/.test(c.name)) // the pause stops the clock the bound assumes
      .map((c) => lostAnswers(c, ctx, shoppers, evidence.stats));
    checks.push(noServerErrors(ctx));
    if (!quiet.settled) checks.push({ name: "settled", pass: false, detail: `still pending: ${settling.note}`, evidence: [], more: 0 });
    if (stripe) {
      const w = stripe.deliveries;
      checks.push({
        name: "forged webhooks refused",
        pass: w.forged_accepted === 0,
        detail: `${w.forged_refused}/${w.forged_sent} refused; ${w.duplicates} sent twice, ${w.late} late`,
        evidence: [],
        more: 0,
      });
    }
    result = { ...result, pass: checks.every((c) => c.pass !== false), checks, fired };
  } catch (e) {
    result = { ...result, error: e?.stack ?? String(e) };
  } finally {
    for (const p of pools) p.close();
  }
  // A failed run keeps the server's state dir and wrangler log for the post-mortem.
  if (!result.pass) host.failed = true;
  return result;
}

/**
 * A dropped connection (a kill -9) loses answers: the engine may then know of more holds than
 * shoppers were told of, in every state a hold can end in. That is allowed; a shopper told of a
 * hold, or of a state, that the engine does not have is not. Only those evidence lines are kept.
 */
function lostAnswers(c, ctx, shoppers, stats) {
  const dropped = Object.entries(ctx.errors)
    .filter(([k]) => k.split(" ")[1] === "0")
    .reduce((n, [, v]) => n + v, 0);
  if (!dropped || c.pass !== false) return c;
  if (/^sells out/.test(c.name)) {
    // Shoppers who gave up on a dead server are demand that left: the units they would have
    // bought may stay unsold. None may have been told "sold out" while units were left.
    const gaveUp = shoppers.filter((sh) => sh.holds.length === 0 && sh.outcome === "error").length;
    const toldSoldOut = shoppers.filter((sh) => sh.holds.length === 0 && /^sold_out/.test(sh.outcome ?? "")).length;
    const left = stats.stock.available;
    const pass = toldSoldOut === 0 && gaveUp >= left;
    return {
      ...c,
      pass,
      detail: `${c.detail}; ${gaveUp} shoppers gave up after ${dropped} dropped connections, ${toldSoldOut} were told sold out`,
    };
  }
  if (!/^admin stats agree/.test(c.name)) return c;
  const real = c.evidence.filter((e) => {
    const m = /^the engine has (\d+) holds, shoppers were given (\d+)$/.exec(e) ?? /^\w+: engine (\d+), shoppers' view (\d+)$/.exec(e);
    return !m || Number(m[1]) < Number(m[2]);
  });
  return {
    ...c,
    pass: real.length === 0,
    evidence: real,
    detail: `${c.detail}; ${dropped} answers lost with dropped connections: the engine may know more than shoppers were told`,
  };
}

/** The soak's bar: no 5xx at all but 503s (documented: "unavailable, retry"); dropped connections are a kill's. */
function noServerErrors(ctx) {
  const bad = Object.entries(ctx.errors).filter(([k]) => {
    const s = Number(k.split(" ")[1]);
    return s >= 500 && s !== 503;
  });
  return {
    name: "no 5xx but the documented 503s",
    pass: bad.length === 0,
    detail: bad.length ? `${bad.length} kinds` : "none",
    evidence: bad.map(([k, n]) => `${n}× ${k}${ctx.errorSamples[k] ? `: "${ctx.errorSamples[k]}"` : ""}`),
    more: 0,
  };
}
