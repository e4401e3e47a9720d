#!/usr/bin/env node
// `npm test`: the workerd suite (vitest) and the Node-side tests (node --test, test/node/) run at
// the same time, since neither waits for the other; the Node tests' report is printed after
// vitest's so the two do not interleave. Fails if either fails. Arguments go to vitest.
import { spawn } from "node:child_process";
import { now } from "./lib/clock.mjs";

const run = (cmd, args, opts = {}) =>
  new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ["ignore", opts.capture ? "pipe" : "inherit", opts.capture ? "pipe" : "inherit"] });
    let out = "";
    child.stdout?.on("data", (d) => (out += d));
    child.stderr?.on("data", (d) => (out += d));
    child.on("close", (code, signal) => resolve({ code: code ?? (signal ? 1 : 0), out }));
  });

const t0 = now();
const node = run(process.execPath, ["--import", "tsx", "--test", "--test-concurrency=4", "--test-timeout=120000", "test/node/*.test.mjs"], {
  capture: true,
});
const vitest = await run(process.execPath, ["node_modules/vitest/vitest.mjs", "run", ...process.argv.slice(2)]);
const tVitest = (now() - t0) / 1000;
const nodeTests = await node;
process.stdout.write(`\n--- Node-side tests (test/node/) ---\n${nodeTests.out}`);
console.log(
  `\nnpm test: vitest ${vitest.code === 0 ? "passed" : "FAILED"} (${tVitest.toFixed(0)} s), node --test ${nodeTests.code === 0 ? "passed" : "FAILED"}; ${((now() - t0) / 1000).toFixed(0)} s in all`,
);
process.exit(vitest.code || nodeTests.code);
