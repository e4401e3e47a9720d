#!/usr/bin/env node
// `npm run mutants [-- --soak N]`: proves the checkers can fail. Each deliberate bug of the
// MUTATION switch (domain/config.ts; refused in production) is run against the model test
// (test/inventory.model.test.ts, its default run) and, with --soak N, against up to N soak runs;
// each must be caught. Exit code 1 if a mutation survives. docs/testing.md, "Trusting a green run".
import { spawnSync } from "node:child_process";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { now } from "./lib/clock.mjs";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const MUTATIONS = ["skip-stock-check", "confirm-twice", "drop-outbox"];
const { values: a } = parseArgs({
  options: {
    soak: { type: "string" },
    only: { type: "string" },
    seed: { type: "string" },
    "soak-only": { type: "boolean", default: false },
  },
});
const say = (m) => process.stderr.write(`mutants: ${m}\n`);

let survived = 0;
for (const m of a.only ? [a.only] : MUTATIONS) {
  if (!a["soak-only"]) survived += modelCatches(m) ? 0 : 1;
  if (a.soak) survived += soakCatches(m) ? 0 : 1;
}
say(survived ? `${survived} mutation(s) survived` : "every mutation was caught");
process.exit(survived ? 1 : 0);

function modelCatches(m) {
  const t = now();
  const r = spawnSync("npx", ["vitest", "run", "test/inventory.model.test.ts"], {
    cwd: ROOT,
    encoding: "utf8",
    maxBuffer: 512 * 1024 * 1024,
    env: { ...process.env, MUTATION: m, ...(a.seed && { FC_SEED: a.seed }) },
  });
  const out = `${r.stdout}\n${r.stderr}`;
  const counterexample = /Counterexample: (.*)/.exec(out)?.[1]?.slice(0, 300);
  const replay = /replay: (FC_SEED=\S+)/.exec(out)?.[1];
  const caught = r.status !== 0 && counterexample !== undefined;
  say(
    `${m}: model test ${caught ? "caught it" : "MISSED it"} in ${((now() - t) / 1000).toFixed(0)} s${caught ? `\n    shrunk to ${counterexample}\n    replay: MUTATION=${m} ${replay} npx vitest run test/inventory.model.test.ts` : ""}`,
  );
  return caught;
}

function soakCatches(m) {
  const s0 = now();
  const s = spawnSync(process.execPath, ["scripts/soak.mjs", "--runs", a.soak, "--mutation", m, "--stop-on-failure", "--port", "8764"], {
    cwd: ROOT,
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  const runs = (s.stderr.match(/^soak: run \d+\//gm) ?? []).length;
  const why = (s.stderr.match(/^soak: +(✗|error:) .*/gm) ?? []).slice(0, 3).join("; ");
  say(
    `${m}: soak ${s.status === 1 ? `caught it at run ${runs} (${why.replace(/soak: +/g, "")})` : `MISSED it in ${runs} runs`} in ${((now() - s0) / 1000).toFixed(0)} s`,
  );
  return s.status === 1;
}
