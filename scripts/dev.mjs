#!/usr/bin/env node
// `npm start`: a local sale in one command. Creates .dev.vars from the example when missing,
// applies the D1 migrations to the local database, runs `wrangler dev`, and once it answers,
// seeds the demo sale through the admin API (the same call an operator makes).
//   npm start -- --port 8787 --fresh      (--fresh wipes local DO and D1 state first)
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, readFileSync, rmSync } from "node:fs";
import { parseArgs } from "node:util";

const { values: opts } = parseArgs({
  options: { port: { type: "string", default: "8787" }, fresh: { type: "boolean", default: false }, "no-seed": { type: "boolean", default: false } },
});
const base = `http://127.0.0.1:${opts.port}`;
// Offline and quiet: no Request.cf fetch, no telemetry, no prompts.
const env = { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false", CI: "true" };
const wrangler = (args, options = {}) => spawnSync("npx", ["wrangler", ...args], { stdio: "inherit", env, ...options });

if (!existsSync(".dev.vars")) {
  copyFileSync(".dev.vars.example", ".dev.vars");
  console.log("created .dev.vars from .dev.vars.example (local secrets)");
}
if (opts.fresh) rmSync(".wrangler/state", { recursive: true, force: true });

const readVars = (file) =>
  Object.fromEntries(
    readFileSync(file, "utf8")
      .split("\n")
      .filter((l) => /^[A-Z_]+=/.test(l))
      .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1).trim()]),
  );
const vars = readVars(".dev.vars");
const missing = Object.keys(readVars(".dev.vars.example")).filter((k) => !(k in vars));
if (missing.length) console.warn(`note: .dev.vars lacks ${missing.join(", ")} (see .dev.vars.example)`);

if (wrangler(["d1", "migrations", "apply", "DB", "--local"]).status !== 0) {
  console.error("applying D1 migrations failed (see above)");
  process.exit(1);
}

const dev = spawn("npx", ["wrangler", "dev", "--ip", "127.0.0.1", "--port", opts.port, "--show-interactive-dev-session=false"], { stdio: "inherit", env });
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => dev.kill(sig));
dev.on("exit", (code) => process.exit(code ?? 0));

async function waitUntilUp() {
  for (let i = 0; i < 240; i++) {
    try {
      await fetch(`${base}/api/sales/demo`);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  throw new Error(`wrangler dev did not answer on ${base} within 2 minutes`);
}

async function adminCall(method, path, body) {
  const res = await fetch(`${base}/admin${path}`, {
    method,
    headers: { authorization: `Bearer ${vars.ADMIN_TOKEN}`, "content-type": "application/json" },
    body: body && JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

async function seed() {
  const now = Date.now();
  const demo = {
    id: "demo",
    product: { id: "console-x", name: "Console X", price: 49_900, currency: "EUR" },
    stock_total: 100,
    starts_at: new Date(now).toISOString(),
    ends_at: new Date(now + 7 * 86400_000).toISOString(),
    hold_ttl_s: 120,
    per_user_limit: 1,
    release_policy: "release",
    admission_rate: 20,
    max_active: 500,
    // ~4,000 hashes: a blink for a browser or the shop script, a cost for a bot farm.
    pow_difficulty: 12,
  };
  let res = await adminCall("POST", "/sales", demo);
  if (res.status === 409) {
    // Seeded by an earlier run: keep its state, just make sure it has not ended.
    res = await adminCall("PATCH", "/sales/demo", { ends_at: demo.ends_at });
    console.log(`\ndemo sale already exists (kept its holds and orders; \`npm start -- --fresh\` starts over)`);
  } else if (res.status >= 300) {
    throw new Error(`seeding the demo sale failed: ${res.status} ${JSON.stringify(res.body)}`);
  }
  const s = res.body.sale;
  console.log(`
flashsale is running on ${base}
demo sale "${s.id}": ${s.product.name}, ${s.stock_total} in stock, status ${s.status}

Try it (see README "Quick start"), in another terminal:
  open ${base}/sale?id=demo                    the shopper page
  npm run shop                                  one shopper: session → proof of work → queue → pass → claim → pay
  curl -s ${base}/api/sales/demo                public sale info
  curl -s -H "authorization: Bearer ${vars.ADMIN_TOKEN}" ${base}/admin/sales/demo   operator stats
`);
}

if (!opts["no-seed"]) {
  waitUntilUp()
    .then(seed)
    .catch((e) => {
      console.error(String(e));
      dev.kill("SIGTERM");
      process.exit(1);
    });
}
