#!/usr/bin/env node
// `npm run bench`: throughput of the edge and the product object on the bare runtime.
// Serves the Worker with Miniflare's API (workerd, the wrangler.toml bindings, D1 migrated), not
// `wrangler dev` (its proxy caps throughput at about a tenth), and measures with autocannon:
// a no-op Worker (the ceiling), real claims through the full edge stack, sold-out answers,
// status polls with and without an object hop, group commit on/off, and claims against an
// object with many past holds. See bench/README.md for how to read the table.
//   lib/options.mjs    the options and scenarios      lib/scenarios.mjs  what runs, in order
//   lib/runs.mjs       runtimes, measurements, rows   lib/shoppers.mjs   setup through the client
//   lib/load.mjs       autocannon (the measured load) lib/report.mjs     the table and the files
import { createWriteStream, mkdirSync } from "node:fs";
import os from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { readOptions } from "./lib/options.mjs";
import { finish } from "./lib/report.mjs";
import { createRuns } from "./lib/runs.mjs";
import { bundle, cleanup } from "./lib/runtime.mjs";
import { runScenarios } from "./lib/scenarios.mjs";
import { now, nowDate } from "../scripts/lib/clock.mjs";

const ROOT = resolve(fileURLToPath(import.meta.url), "../..");
const opt = readOptions(ROOT);

const stamp = nowDate().toISOString().replace(/[:.]/g, "-").slice(0, 19);
mkdirSync(opt.out, { recursive: true });
const runtimeLog = join(opt.out, `bench-${stamp}.runtime.log`);
const logStream = createWriteStream(runtimeLog);
const say = (m) => process.stderr.write(`[bench ${nowDate().toISOString().slice(11, 19)}] ${m}\n`);
const secs = (t0) => +((now() - t0) / 1000).toFixed(1);

const started = nowDate().toISOString();
const load0 = os.loadavg();
const runs = createRuns({ opt, stamp, say, logStream });
say(`bundling with ${opt.bundler} (rate limits: ${opt.limiter})...`);
const t0 = now();
const built = await bundle(opt.bundler, opt.root, opt.limiter);
runs.setup.bundle = { bundler: opt.bundler, s: secs(t0) };
const builtCmp = opt.compare
  ? await bundle(opt.bundler, opt.compare, opt.limiter).catch((e) => {
      cleanup(built.dir);
      throw e;
    })
  : null;

for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, async () => {
    say(`${sig}: stopping workerd`);
    await Promise.allSettled([...runs.live].map((rt) => rt.dispose()));
    cleanup(built.dir);
    if (builtCmp) cleanup(builtCmp.dir);
    process.exit(130);
  });
}

try {
  await runScenarios(runs, { opt, built, builtCmp });
  for (const r of runs.live) await r.dispose();
  runs.live.clear();
} finally {
  await Promise.allSettled([...runs.live].map((rt) => rt.dispose()));
  cleanup(built.dir);
  if (builtCmp) cleanup(builtCmp.dir);
  await new Promise((r) => logStream.end(r));
}

finish({ root: ROOT, opt, stamp, started, load0, runtimeLog, rows: runs.rows, setup: runs.setup, profiles: runs.profiles });
