#!/usr/bin/env node
// `npm start`: a local sale in one command. Makes .dev.vars from the example when missing (with
// random local secrets: lib/dev-vars.mjs), applies the D1 migrations to the local database, runs
// `wrangler dev`, and once it answers, seeds the demo sale through the admin API (the same call
// an operator makes).
//   npm start -- --port 8787 --fresh      (--fresh wipes local DO and D1 state first)
import { rmSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { createClient, fetchTransport } from "../domain/client.js";
import { saleConfig } from "../domain/sale-config.js";
import { ensureDevVars } from "./lib/dev-vars.mjs";
import { now } from "./lib/clock.mjs";
import { startLocal } from "./lib/local-server.mjs";

const { values: opts } = parseArgs({
  options: {
    port: { type: "string", default: "8787" },
    fresh: { type: "boolean", default: false },
    "no-seed": { type: "boolean", default: false },
  },
});
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
process.chdir(ROOT);

const { vars, changed } = ensureDevVars();
for (const c of changed) console.log(`.dev.vars: ${c}`);
if (opts.fresh) rmSync(".wrangler/state", { recursive: true, force: true });

let server;
try {
  // The developer's own: .wrangler/state, .dev.vars, wrangler's watcher, output on this terminal.
  server = await startLocal({ cwd: ROOT, port: Number(opts.port), throwaway: false });
} catch (e) {
  console.error(String(e?.message ?? e));
  await e?.stop?.();
  process.exit(1);
}
let stopping = false;
async function shutDown(code) {
  stopping = true;
  await server.stop();
  process.exit(code);
}
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => shutDown(0));
// wrangler dev ended by itself: so does npm start, with its exit code.
server.exited.then(({ code }) => stopping || process.exit(code ?? 0));

async function seed() {
  const { base } = server;
  const admin = createClient({ transport: fetchTransport(base) }).admin(vars.ADMIN_TOKEN);
  const demo = saleConfig({}, { now: now() });
  let res = await admin.createSale(demo);
  if (res.status === 409) {
    // Seeded by an earlier run: keep its state, just make sure it has not ended.
    res = await admin.update("demo", { ends_at: demo.ends_at });
    console.log(`\ndemo sale already exists (kept its holds and orders; \`npm start -- --fresh\` starts over)`);
  } else if (res.status >= 300) {
    throw new Error(`seeding the demo sale failed: ${res.status} ${JSON.stringify(res.body)}`);
  }
  const s = res.body.sale;
  console.log(`
flashsale is running on ${base}
demo sale "${s.id}": ${s.product.name}, ${s.stock_total} in stock, status ${s.status}, ${s.identity === "account" ? "shop accounts only" : "anonymous shoppers"}

Try it (see README "Quick start"), in another terminal:
  open ${base}/sale?id=demo                    the shopper page ("Sign in at the shop": any name, the demo sign-in)
  npm run shop                                  one shopper: sign-in → session → proof of work → queue → pass → claim → pay
  curl -s ${base}/api/sales/demo                public sale info
  curl -s -H "authorization: Bearer ${vars.ADMIN_TOKEN}" ${base}/admin/sales/demo   operator stats
`);
}

if (!opts["no-seed"]) {
  seed().catch((e) => {
    console.error(String(e));
    shutDown(1);
  });
}
