// The sale run: the crowd's shared context (counters, errors, the faults fired at moments that
// matter), the operator's view sampled while the sale runs (with a progress line), and the crowd
// itself, arriving over the burst.
import os from "node:os";
import { sleep } from "./http.mjs";
import { bar, progress } from "./report.mjs";
import { newFleet, runBot } from "./bots.mjs";
import { newShopper, runShopper } from "./shopper.mjs";
import { Samples } from "./stats.mjs";
import { now as clockNow } from "./clock.mjs";

/**
 * What every shopper shares: the client, the sale, the samples, the counters the report and the
 * fault triggers read. `fire(what, body, detail)` breaks something through POST /admin/faults.
 * `sign(account)` is the shop's sign-in (lib/shop-account.mjs), needed when shoppers have
 * accounts (`opts.identity` "account"); `botClient(bot)` gives a bot its own client (lib/bots.mjs).
 */
export function crowdContext({ api, botClient = () => api, admin, opts, sale, t0, solve, sign = null, botRefusals = {} }) {
  if (opts.identity === "account" && !sign) throw new Error("account sales need the shop's signer (the shop's SHOP_IDENTITY_SECRET)");
  const faults = [];
  const fired = new Set();
  const fire = async (what, body, detail) => {
    const at = clockNow();
    const r = await admin.faults({ sale: sale.id, ...body });
    faults.push({ what, at, detail: r.status === 200 ? detail : `refused ${r.status} ${r.body?.error}` });
  };
  // Faults, at moments that matter: D1 down from the first hold; restarts while claims are
  // being made and again while payments are in flight.
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
  const ctx = {
    api,
    botClient,
    opts,
    sale,
    t0,
    solve,
    faults,
    phase: "main",
    samples: new Samples(),
    signIn: sign,
    /** Every refusal (non-2xx answer) by "step status code": honest shoppers' and bots'. */
    refusals: {},
    botRefusals,
    noteRefusal(step, status, code, bot = false) {
      noteRefusal(bot ? this.botRefusals : this.refusals, step, status, code);
    },
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
      const t = clockNow();
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
  ctx.noteBot = (step, status, code) => ctx.noteRefusal(step, status, code, true);
  return ctx;
}

/** Counts a refusal into `table` ("step status code" → n). */
export function noteRefusal(table, step, status, code) {
  const k = `${step} ${status} ${code ?? ""}`.trim();
  table[k] = (table[k] ?? 0) + 1;
}

/**
 * The operator's view, sampled every 500 ms while the sale runs (peaks, outbox backlog, when it
 * sold out), and a progress line. `note()` adds what the settle phase is waiting for.
 */
export function watchSale({ admin, ctx, pool, note = () => "" }) {
  const { sale, opts } = ctx;
  const poll = {
    peak: { soldPlusHeld: 0, at: null },
    maxBacklog: 0,
    maxOldestMs: 0,
    maxFailures: 0,
    firstSoldOutAt: 0,
    allSoldAt: 0,
    last: null,
  };
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const r = await admin.stats(sale.id);
      if (r.status === 200) {
        const s = r.body;
        poll.last = s;
        const t = clockNow();
        if (s.stock.sold + s.stock.held > poll.peak.soldPlusHeld)
          poll.peak = { soldPlusHeld: s.stock.sold + s.stock.held, at: new Date(t).toISOString() };
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
  const ticker = setInterval(() => {
    const s = poll.last;
    const el = ((clockNow() - sale.starts_at_ms) / 1000).toFixed(1);
    const waitingFor = note();
    line.show(
      `${bar(ctx.counters.done, opts.shoppers)} ${ctx.counters.done}/${opts.shoppers} done  t=${el}s  ${ctx.phase}  in-flight ${pool.inFlight}+${pool.queued}  ` +
        `holds ${ctx.counters.holds}  sold ${s?.stock.sold ?? "?"}/${opts.stock}  held ${s?.stock.held ?? "?"}  waiting ${s?.queue.waiting ?? "?"}  outbox ${s?.outbox.backlog ?? "?"}` +
        (ctx.phase === "settle" && waitingFor ? `  waiting for: ${waitingFor}` : ""),
    );
  }, 250);

  return {
    poll,
    async stop() {
      polling = false;
      await poller;
      clearInterval(ticker);
      line.end();
    },
  };
}

/**
 * Arrival times (ms into the burst, sorted): uniform over the burst, the sale opening
 * `openAfterS` into it; with `prequeue` N, exactly N arrive before the opening (early enough to
 * be in the pre-queue) and the rest uniformly after it, until `arrivalS`.
 */
export function arrivalTimes(opts, random = Math.random) {
  const burst = opts.arrivalS * 1000;
  const open = opts.openAfterS * 1000;
  const times =
    opts.prequeue === null
      ? Array.from({ length: opts.shoppers }, () => random() * burst)
      : Array.from({ length: opts.shoppers }, (_, i) =>
          i < opts.prequeue ? random() * 0.7 * open : open + random() * Math.max(burst - open, 1000),
        );
  return times.sort((x, y) => x - y);
}

/**
 * The crowd: honest shoppers numbered in arrival order, and the bot fleet (lib/bots.mjs) beside
 * them; resolves when all are done, with the shoppers and the bots' identities.
 */
export async function runCrowd(ctx, { server, saleCreatedAt }) {
  const { opts } = ctx;
  const cpu0 = { client: process.cpuUsage(), server: server?.cpuSeconds() ?? null };
  const shoppers = arrivalTimes(opts).map((t, i) => newShopper(i, t, opts));
  // The bots start now (the sale exists: its pre-queue is open), their sessions made ahead if the caller did.
  const fleet = (ctx.fleet ??= newFleet(opts));
  await Promise.all([...shoppers.map((sh) => runShopper(ctx, sh)), ...fleet.map((bot) => runBot(ctx, bot))]);
  const bots = fleet.flatMap((bot) => bot.identities);
  const doneAt = clockNow();
  const u = process.cpuUsage(cpu0.client);
  const cpu = {
    client: (u.user + u.system) / 1e6,
    server: cpu0.server === null ? null : server.cpuSeconds() - cpu0.server,
    wall: (doneAt - saleCreatedAt) / 1000,
  };
  const loadavg = `load average ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} cores`;
  return { shoppers, bots, doneAt, cpu, loadavg };
}
