#!/usr/bin/env node
// `npm run soak -- --runs N [--seed S]`: sales under a random nemesis. Run i draws its plan from
// seed S+i alone (scripts/lib/soak/plan.mjs: stock, shards, identity, release policy, gateway,
// crowd, and faults: kill -9 of the server, object restarts, D1 outages, gateway faults, Stripe
// 429s and webhooks twice/late/out of order, pause and restock), runs it on its own local server
// (scripts/lib/soak/run.mjs), and checks the rehearsal's invariants. A failed run keeps its state
// and log and prints the one line that replays it. Exit code 1 if any run failed.
//
//   npm run soak -- --runs 10                 a fresh seed, printed
//   npm run soak -- --runs 1 --seed 123456    replays run 123456
//   npm run soak -- --runs 5 --mutation drop-outbox    against a deliberate bug (must fail)
//   npm run soak -- --regressions             the seeds that once failed (lib/soak/plan.mjs)
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { describePlan, drawPlan, FAULTS, REGRESSIONS } from "./lib/soak/plan.mjs";
import { runPlan, startServer } from "./lib/soak/run.mjs";
import { now } from "./lib/clock.mjs";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const { values: a } = parseArgs({
  options: {
    runs: { type: "string", default: "3" },
    seed: { type: "string" },
    port: { type: "string", default: "8760" },
    mutation: { type: "string" },
    "stop-on-failure": { type: "boolean", default: false },
    regressions: { type: "boolean", default: false },
    verbose: { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  },
});
if (a.help) {
  console.log(
    "npm run soak -- --runs N [--seed S] [--regressions] [--port P] [--mutation skip-stock-check|confirm-twice|drop-outbox] [--stop-on-failure] [--verbose]",
  );
  process.exit(0);
}
const runs = a.regressions ? REGRESSIONS.length : Number(a.runs);
const seed = a.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(a.seed);
if (!Number.isInteger(runs) || runs < 1 || !Number.isInteger(seed) || seed < 0) {
  console.error("soak: --runs must be a positive integer and --seed a non-negative integer");
  process.exit(2);
}
const say = (m) => process.stderr.write(`soak: ${m}\n`);
const log = a.verbose ? say : () => {};
const replay = (s) => `npm run soak -- --runs 1 --seed ${s}${a.mutation ? ` --mutation ${a.mutation}` : ""}`;

say(
  a.regressions
    ? `${runs} regression seeds: ${REGRESSIONS.map((r) => r.seed).join(", ")}${a.mutation ? `, MUTATION=${a.mutation}` : ""}`
    : `${runs} runs from seed ${seed}${a.mutation ? `, MUTATION=${a.mutation}` : ""} (replay all: npm run soak -- --runs ${runs} --seed ${seed})`,
);
const counts = Object.fromEntries(FAULTS.map((f) => [f, 0]));
const shapes = { shards: 0, stripe: 0, anonymous: 0, waitlist: 0, undersell: 0 };
const failed = [];
const started = now();
const hosts = {};
for (const sig of ["SIGINT", "SIGTERM"])
  process.on(sig, async () => {
    for (const h of Object.values(hosts)) await h.stop();
    process.exit(130);
  });
let ran = 0;
for (let i = 0; i < runs; i++) {
  ran++;
  const plan = drawPlan(a.regressions ? REGRESSIONS[i].seed : seed + i);
  if (a.regressions) say(`regression: ${REGRESSIONS[i].why}`);
  const t = now();
  say(`run ${i + 1}/${runs} seed ${plan.seed}: ${describePlan(plan)}`);
  // One server per kind of gateway, started when first needed and shared by the runs (each its own sale).
  hosts[plan.gateway] ??= await startServer(plan.gateway, {
    root: ROOT,
    port: Number(a.port) + (plan.gateway === "stripe-fake" ? 1 : 0),
    mutation: a.mutation,
    log,
  });
  const r = await runPlan(plan, { host: hosts[plan.gateway], log });
  for (const f of r.fired) counts[f.what]++;
  if (plan.shards > 1) shapes.shards++;
  if (plan.gateway === "stripe-fake") shapes.stripe++;
  if (plan.identity === "anonymous") shapes.anonymous++;
  if (plan.policy === "waitlist") shapes.waitlist++;
  if (plan.policy === "undersell") shapes.undersell++;
  const secs = ((now() - t) / 1000).toFixed(0);
  if (r.pass) {
    say(`  pass in ${secs} s (${r.fired.map((f) => f.what).join(", ") || "no faults"})`);
    continue;
  }
  failed.push(plan.seed);
  say(`  FAIL in ${secs} s`);
  if (r.error) say(`  error: ${r.error.split("\n").slice(0, 6).join("\n    ")}`);
  for (const c of r.checks.filter((x) => x.pass === false))
    say(`  ✗ ${c.name}: ${c.detail}${c.evidence.length ? `\n      ${c.evidence.join("\n      ")}` : ""}`);
  if (r.dir) say(`  state and wrangler log (kept) in ${r.dir}`);
  say(`  replay: ${replay(plan.seed)}`);
  if (a["stop-on-failure"]) break;
}
say(
  `${ran} runs, ${failed.length} failed, in ${((now() - started) / 60000).toFixed(1)} min; faults fired: ${Object.entries(counts)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ")}; ` +
    `sales: ${shapes.shards} sharded, ${shapes.stripe} on the fake Stripe, ${shapes.anonymous} anonymous, ${shapes.undersell} undersell, ${shapes.waitlist} waitlist`,
);
for (const h of Object.values(hosts)) {
  await h.stop();
  if (h.failed) say(`state and wrangler log kept in ${h.server.dir}`);
}
for (const s of failed) say(`replay: ${replay(s)}`);
process.exit(failed.length ? 1 : 0);
