// The rehearsal's printed report and its live progress line.
import { fmtMs, histogram, percentile } from "./stats.mjs";
import { now } from "./clock.mjs";

const STEPS = ["session", "challenge", "solve", "queue", "wait", "poll", "info", "claim", "holds", "pay", "hold", "cancel"];
const pct = (n, d) => (d ? `${((100 * n) / d).toFixed(1)}%` : "-");
const s1 = (ms) => (ms === null || ms === undefined ? "-" : `${(ms / 1000).toFixed(1)} s`);

/** A single status line, redrawn in place on a terminal (a plain line every few seconds otherwise). */
export function progress(stream = process.stderr) {
  const tty = !!stream.isTTY;
  let lastPlain = 0;
  return {
    show(line) {
      if (tty) stream.write(`\r${line.slice(0, (stream.columns ?? 120) - 1).padEnd((stream.columns ?? 120) - 1)}`);
      else if (now() - lastPlain > 5000) {
        lastPlain = now();
        stream.write(`${line}\n`);
      }
    },
    end() {
      if (tty) stream.write("\n");
    },
  };
}

export function bar(done, total, width = 24) {
  const n = total ? Math.round((done / total) * width) : 0;
  return `[${"#".repeat(n)}${".".repeat(width - n)}]`;
}

export function buildReport(r) {
  const { opts, sale, shoppers, samples, ctx, stats, ledger, checks, timing, poll, target, faults } = r;
  const L = [];
  const opened = sale.starts_at_ms;
  L.push(`flashsale rehearsal — ${new Date(timing.started).toISOString()}`);
  L.push(`target   ${target}`);
  L.push(
    `sale     ${sale.id}: stock ${sale.stock_total}, policy ${sale.release_policy}, hold_ttl ${sale.hold_ttl_s} s, per-user limit ${sale.per_user_limit}, admission ${sale.admission_rate}/s (max_active ${sale.max_active}, admit_per_unit ${sale.admit_per_unit ?? "default (1)"}, lottery_s ${sale.lottery_s ?? "default (10)"}), pow ${sale.pow_difficulty} bits`,
  );
  L.push(
    `crowd    ${opts.shoppers} shoppers over ${opts.arrivalS} s (sale opens ${opts.openAfterS} s into the burst${opts.prequeue === null ? "" : `; ${opts.prequeue} of them before it`}); ${opts.concurrency} requests in flight max; poll cap ${opts.pollCapS} s;`,
  );
  L.push(
    `identity ${sale.identity ?? "account"}: ${sale.identity === "anonymous" ? "each honest shopper an anonymous session from its own network (network_cap 1)" : "each honest shopper signed in as its own shop account"}`,
  );
  if (opts.bots) {
    L.push(
      `bots     ${opts.bots} bots × ${opts.botSessions} sessions, each bot one network with a browser User-Agent${sale.identity === "anonymous" ? "" : `, ${opts.botAccounts === 1 ? "one account" : `${opts.botAccounts} accounts`} per bot`}; half its sessions in the pre-queue, half right at the opening; polls every 250 ms near admission (≤ 250 requests per 10 s per bot), claims with every session`,
    );
  }
  L.push(
    `         abandon ${opts.abandon}, cancel ${opts.cancel}, greedy ${opts.greedy}, sold-out retries ${opts.retries}; gateway ${JSON.stringify(r.gatewayRates ?? "server defaults")}`,
  );
  L.push(
    `faults   ${faults.length ? faults.map((f) => `${f.what} at +${s1(f.at - opened)}${f.detail ? ` (${f.detail})` : ""}`).join("; ") : "none"}`,
  );
  L.push(
    `runtime  ${s1(timing.ended - timing.started)} total: setup ${s1(timing.saleCreated - timing.started)}, crowd ${s1(timing.crowdDone - timing.saleCreated)}, comebacks ${s1(timing.mopupDone - timing.crowdDone)}, settle ${s1(timing.settled - timing.mopupDone)}, checks ${s1(timing.ended - timing.settled)}`,
  );
  L.push(
    `settle   ${r.settled ? "quiet" : "NOT quiet (timed out)"} after ${s1(timing.settled - timing.mopupDone)}${r.settleSeen.length ? `; waited for: ${r.settleSeen.join(", ")}` : ""}`,
  );
  L.push("");

  // Outcomes
  const outcomes = {};
  const bots = r.bots ?? [];
  for (const sh of shoppers) outcomes[sh.outcome ?? "unfinished"] = (outcomes[sh.outcome ?? "unfinished"] ?? 0) + 1;
  L.push("OUTCOMES (per shopper, final)");
  for (const [k, n] of Object.entries(outcomes).sort((a, b) => b[1] - a[1]))
    L.push(`  ${k.padEnd(22)} ${String(n).padStart(6)}  ${pct(n, shoppers.length)}`);
  const holds = shoppers.flatMap((sh) => sh.holds);
  const comebacks = shoppers.filter((sh) => sh.mopups > 0);
  L.push(
    `  holds given ${holds.length} (${holds.filter((h) => h.phase === "comeback").length} to ${comebacks.length} shoppers who came back after "sold out")`,
  );
  if (bots.length) {
    const bo = {};
    for (const b of bots) bo[b.outcome ?? "unfinished"] = (bo[b.outcome ?? "unfinished"] ?? 0) + 1;
    const fleet = ctx.fleet ?? [];
    L.push(
      `  bots' identities ${bots.length}: ${Object.entries(bo)
        .sort((a, b) => b[1] - a[1])
        .map(([k, n]) => `${k} ${n}`)
        .join(", ")}; holds ${bots.reduce((n, b) => n + b.holds.length, 0)}; ` +
        `${fleet.reduce((n, b) => n + b.requests, 0)} bot requests, ${fleet.reduce((n, b) => n + b.rateLimited, 0)} answered 429`,
    );
  }
  L.push("");

  // Throughput
  const c = ctx.counters;
  const claimSpan = (c.lastClaimAt - c.firstClaimAt) / 1000;
  const reqs = r.clientCounts;
  const crowdS = (timing.crowdDone - timing.saleCreated) / 1000;
  L.push("THROUGHPUT");
  L.push(
    `  requests          ${reqs.sent} (${(reqs.sent / crowdS).toFixed(0)}/s over the crowd phase); by status ${JSON.stringify(reqs.by_status)}${reqs.network_errors ? `; network errors ${reqs.network_errors}` : ""}`,
  );
  const peak = Math.max(0, ...ctx.claimsPerSec.values());
  L.push(
    `  claims            ${c.claims} answered in ${claimSpan.toFixed(1)} s = ${(c.claims / Math.max(claimSpan, 0.001)).toFixed(0)} claims/s mean, ${peak} in the busiest second; holds created ${c.holds}`,
  );
  if (r.cpu) {
    const { client, server, wall } = r.cpu;
    L.push(
      `  CPU (crowd phase) rehearsal client ${client.toFixed(1)} s, wrangler dev + workerd ${server === null ? "n/a" : `${server.toFixed(1)} s`} over ${wall.toFixed(1)} s wall (${r.loadavg})`,
    );
  }
  L.push(
    `  time to sell-out  first "sold out" answer +${s1(c.firstSoldOutAt && c.firstSoldOutAt - opened)} after opening; available = 0 first seen +${s1(poll.firstSoldOutAt && poll.firstSoldOutAt - opened)}; sold = stock at +${s1(poll.allSoldAt && poll.allSoldAt - opened)}`,
  );
  L.push("");

  // Latency
  L.push("LATENCY per step (client-measured, on the wire; ms)");
  L.push(`  ${"step".padEnd(10)} ${"n".padStart(7)} ${"p50".padStart(8)} ${"p95".padStart(8)} ${"p99".padStart(8)} ${"max".padStart(8)}`);
  for (const step of STEPS) {
    const xs = samples.get(step);
    if (!xs.length) continue;
    const label = { wait: "wait-pass", info: "sale-info", hold: "hold-get", holds: "my-holds" }[step] ?? step;
    L.push(
      `  ${label.padEnd(10)} ${String(xs.length).padStart(7)} ${fmtMs(percentile(xs, 50)).padStart(8)} ${fmtMs(percentile(xs, 95)).padStart(8)} ${fmtMs(percentile(xs, 99)).padStart(8)} ${fmtMs(xs.reduce((a, b) => Math.max(b, a), 0)).padStart(8)}`,
    );
  }
  L.push(
    `  (client queue for a free request slot: p50 ${fmtMs(percentile(samples.get("_slot"), 50))}, p95 ${fmtMs(percentile(samples.get("_slot"), 95))}; "solve" is client CPU; "wait-pass" spans queue → pass)`,
  );
  L.push("");

  // Engine
  const o = stats.outbox;
  L.push("ENGINE (GET /admin/sales/:id)");
  L.push(`  stock             ${JSON.stringify(stats.stock)}`);
  L.push(`  holds             ${JSON.stringify(stats.holds)}; refunds ${JSON.stringify(stats.refunds)}`);
  L.push(
    `  expiry lateness   ${stats.expiry.expired} expired, mean ${stats.expiry.mean_late_ms} ms late, max ${stats.expiry.max_late_ms} ms`,
  );
  L.push(
    `  D1 flush          ${o.batches} batches, ${o.rows} rows (mean batch ${o.batches ? (o.rows / o.batches).toFixed(1) : "-"}, max ${o.max_batch}); last lag ${o.last_lag_ms} ms; worst seen: backlog ${poll.maxBacklog}, oldest ${poll.maxOldestMs} ms, failures in a row ${poll.maxFailures}`,
  );
  L.push(
    `  served            ${stats.served.claims} claims in ${stats.served.batches} group commits (${stats.served.batches ? (stats.served.claims / stats.served.batches).toFixed(1) : "-"} per commit, since the object last started)`,
  );
  L.push(
    `  waiting room      admitted ${stats.queue.admitted}, in line ${stats.queue.in_line}; edge counters ${JSON.stringify(stats.queue.counters)}`,
  );
  const ok = ledger.filter((x) => x.status === "succeeded");
  L.push(
    `  gateway ledger    ${ledger.length} charges: ${ok.length} succeeded (${ok.filter((x) => x.refund_id).length} refunded), ${ledger.filter((x) => x.status === "declined").length} declined; ${ledger.reduce((n, x) => n + x.calls, 0)} charge calls (re-asks included)`,
  );
  L.push("");

  // Fairness
  L.push(...fairnessLines(r.fairness));
  L.push("");

  if (r.compared) {
    L.push(...priceLines({ sale, poll, fairness: r.fairness, ctx }, r.compared));
    L.push("");
  }

  // Refusals
  for (const [label, table] of [
    ["REFUSALS of honest shoppers (non-2xx answers by step, status and code)", ctx.refusals],
    ["REFUSALS of bots", bots.length ? ctx.botRefusals : null],
  ]) {
    if (!table) continue;
    const rows = Object.entries(table).sort((a, b) => b[1] - a[1]);
    L.push(`${label}${rows.length ? "" : ": none"}`);
    for (const [k, n] of rows) L.push(`  ${String(n).padStart(6)}  ${k}`);
    L.push("");
  }

  // Errors
  const errs = Object.entries(ctx.errors).sort((a, b) => b[1] - a[1]);
  L.push(`RETRIED / FAILED REQUESTS${errs.length ? "" : ": none"}`);
  for (const [k, n] of errs.slice(0, 12))
    L.push(`  ${String(n).padStart(6)}  ${k}${ctx.errorSamples[k] ? `  e.g. "${ctx.errorSamples[k]}"` : ""}`);
  if (errs.length) L.push("");

  L.push("CLAIM LATENCY HISTOGRAM");
  L.push(...histogram(samples.get("claim")));
  L.push("");

  L.push("INVARIANTS");
  for (const k of checks) {
    L.push(`  ${k.pass === null ? "N/A " : k.pass === "warn" ? "WARN" : k.pass ? "PASS" : "FAIL"}  ${k.name}`);
    L.push(`        ${k.detail}`);
    for (const e of k.evidence) L.push(`        ! ${e}`);
    if (k.more) L.push(`        ! … and ${k.more} more`);
  }
  const failed = checks.filter((k) => k.pass === false).length;
  L.push("");
  L.push(failed ? `RESULT: FAIL (${failed} invariant${failed > 1 ? "s" : ""} violated)` : "RESULT: PASS");
  return L.join("\n");
}

/** When the sale sold out, from the opening and from the draw (the lottery window's end). */
export function sellOut(run) {
  const opened = run.sale.starts_at_ms;
  const draw = opened + (run.sale.lottery_s ?? 10) * 1000;
  const all = run.poll.allSoldAt || null;
  return {
    opened,
    draw,
    allSoldS: all && (all - opened) / 1000,
    allSoldFromDrawS: all && (all - draw) / 1000,
    firstEmptyS: run.poll.firstSoldOutAt ? (run.poll.firstSoldOutAt - opened) / 1000 : null,
  };
}

/** The PRICE OF FAIRNESS section: this sale against the same crowd with more shoppers admitted per unit. */
function priceLines(main, cmp) {
  const a = sellOut(main);
  const b = sellOut(cmp);
  const ratio = (x, y) => (x && y ? (x / y).toFixed(2) : "-");
  const t = (x) => (x === null ? "never" : `${x.toFixed(1)} s`);
  const f = cmp.fairness;
  const failed = cmp.checks.filter((k) => k.pass === false).map((k) => k.name);
  return [
    `PRICE OF FAIRNESS (the same crowd again, in this run, against admit_per_unit ${cmp.admitPerUnit})`,
    `  sold = stock      this sale ${t(a.allSoldS)} after the opening (${t(a.allSoldFromDrawS)} after the draw); admit_per_unit ${cmp.admitPerUnit}: ${t(b.allSoldS)} (${t(b.allSoldFromDrawS)}); ratio ${ratio(a.allSoldS, b.allSoldS)} (${ratio(a.allSoldFromDrawS, b.allSoldFromDrawS)} from the draw; target ≤ 1.5)`,
    `  available = 0     this sale +${t(a.firstEmptyS)}; admit_per_unit ${cmp.admitPerUnit}: +${t(b.firstEmptyS)}`,
    `  its fairness      bots won ${p1(f.shares.botUnits)} of the units (${f.units.bots} of ${f.units.bots + f.units.honest}), bots' share of the draw ${p1(f.shares.botDraw)}; units to the first ${f.line.places} places ${p1(f.line.share)}`,
    `  its invariants    ${failed.length ? `FAIL: ${failed.join("; ")}` : `all ${cmp.checks.filter((k) => k.pass === true).length} passed`}`,
    ...cmp.checks
      .filter((k) => k.pass === false)
      .flatMap((k) => [`        ${k.detail}`, ...k.evidence.slice(0, 5).map((e) => `        ! ${e}`)]),
  ];
}

const f3 = (x) => (x === null ? "n/a" : x.toFixed(3));
const p1 = (x) => (x === null ? "-" : `${(100 * x).toFixed(1)} %`);

/** The FAIRNESS section (lib/fairness.mjs's figures). */
export function fairnessLines(f) {
  if (!f) return [];
  const L = ["FAIRNESS"];
  const sold = f.units.bots + f.units.honest;
  L.push(
    `  units won         bots ${f.units.bots}, honest shoppers ${f.units.honest} (bots ${p1(f.shares.botUnits)} of ${sold} sold); of them held after the stock first ran out (units that came back): bots ${f.cameBack.bots}, honest ${f.cameBack.honest}`,
  );
  if (f.identities.bots) {
    L.push(
      `  bots' share       of identities ${p1(f.shares.botIdentities)} (${f.identities.bots} of ${f.identities.bots + f.identities.honest}), of networks ${p1(f.shares.botNetworks)} (${f.networks.bots} of ${f.networks.bots + f.networks.honest}),`,
    );
    L.push(
      `                    of the identities admitted when the stock first ran out ${p1(f.shares.botContenders)} (${f.contenders.bots} of ${f.contenders.all})`,
    );
  }
  if (f.draw) {
    const bots = f.identities.bots
      ? `bots ${f.draw.bots} of ${f.draw.all} identities (${p1(f.shares.botDraw)}); bots won ${p1(f.shares.botUnits)} of the units (target ≤ their share + 5 points)`
      : `${f.draw.all} identities`;
    L.push(`  the draw          ${bots}`);
    L.push(
      `  units follow line ${p1(f.line.share)} of the ${f.line.sold} units sold went to the first ${f.line.places} places (stock + ${f.line.noShows} no-shows: admitted, did not buy) (target ≥ 95 %)`,
    );
  }
  L.push(
    `  pre-queue         ${f.prequeue.honest} honest shoppers${f.identities.bots ? ` and ${f.prequeue.bots} bot identities` : ""} (a lottery, one key per identity); ${f.prequeue.honestUnits} units to honest pre-queuers`,
  );
  L.push(
    `  after the opening Spearman ρ between joining order and admission order = ${f3(f.postOpening.rho)} over ${f.postOpening.n} admitted honest shoppers (target ≥ 0.95; 1 = strict first come, first served)`,
  );
  L.push(`                    (ρ from when they came, before session and proof of work: ${f3(f.postOpening.rhoArrival)})`);
  const pd = (x) => (x ? `p50 ${fmtMs(x.p50)}, p90 ${fmtMs(x.p90)} (n ${x.n})` : "-");
  const pa = f.passAfterAdmission;
  L.push(`  pass picked up    after the room's admission mark: honest ${pd(pa.honest)}${f.identities.bots ? `; bots ${pd(pa.bots)}` : ""}`);
  L.push(
    `  overtaken         ${f.overtaken.n} of ${f.overtaken.winners} winners (${p1(f.overtaken.share)}) arrived after an honest shopper who kept trying and lost (${f.overtaken.losers} such shoppers); ${f.overtaken.beyondBucket} by more than the line's 100 ms bucket`,
  );
  return L;
}
