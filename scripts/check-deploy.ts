#!/usr/bin/env -S npx tsx
/**
 * `npm run check:deploy` (run by CI): the deployable configurations in wrangler.toml, checked
 * offline. For production (the top level) and staging (`--env staging`):
 *   - `wrangler deploy --dry-run` bundles it (nothing is uploaded);
 *   - its [vars] parse with the Worker's own settings schema;
 *   - production says DEPLOYMENT = "production" and passes the rule the Worker applies at run
 *     time (no simulated gateway, no fault injection, no demo sign-in: domain/config.ts);
 *   - no secret is written into [vars];
 *   - Cloudflare Access for the admin API is configured whole or not at all (the Worker refuses
 *     half a configuration with 503 misconfigured).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { unstable_readConfig } from "wrangler";
import { deploymentProblem, SettingsSchema } from "../domain/config";

const SECRETS = [
  "ADMIN_TOKEN",
  "TOKEN_SECRET",
  "TOKEN_SECRET_PREVIOUS",
  "TURNSTILE_SECRET",
  "STRIPE_SECRET_KEY",
  "STRIPE_WEBHOOK_SECRET",
  "STRIPE_WEBHOOK_SECRET_PREVIOUS",
  "SHOP_WEBHOOK_SECRET",
  "SHOP_WEBHOOK_SECRET_PREVIOUS",
];
const env = { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false", CI: "true" };
let failed = false;
const fail = (msg: string) => {
  failed = true;
  console.error(`✗ ${msg}`);
};

for (const target of [
  { name: "production", env: undefined },
  { name: "staging", env: "staging" },
]) {
  const out = mkdtempSync(join(tmpdir(), "flashsale-deploy-"));
  const args = ["wrangler", "deploy", "--dry-run", "--outdir", out, ...(target.env ? ["--env", target.env] : [])];
  const r = spawnSync("npx", args, { env, encoding: "utf8" });
  rmSync(out, { recursive: true, force: true });
  if (r.status !== 0) {
    fail(`${target.name}: \`npx ${args.join(" ")}\` failed:\n${r.stdout}\n${r.stderr}`);
    continue;
  }
  const cfg = unstable_readConfig({ config: "wrangler.toml", env: target.env }, { hideWarnings: true });
  const vars = cfg.vars as Record<string, string>;
  for (const k of SECRETS)
    if (k in vars) fail(`${target.name}: ${k} is a secret and must not be in [vars] (use \`wrangler secret put ${k}\`)`);
  const parsed = SettingsSchema.safeParse(vars);
  if (!parsed.success) {
    fail(`${target.name}: [vars] do not parse: ${parsed.error.message}`);
    continue;
  }
  if (parsed.data.DEPLOYMENT !== target.name) fail(`${target.name}: DEPLOYMENT is "${parsed.data.DEPLOYMENT}", expected "${target.name}"`);
  const problem = deploymentProblem(parsed.data);
  if (problem) fail(`${target.name}: ${problem}`);
  if (!parsed.data.ACCESS_TEAM_DOMAIN !== !parsed.data.ACCESS_AUD)
    fail(`${target.name}: set both ACCESS_TEAM_DOMAIN and ACCESS_AUD (Cloudflare Access for /admin/*), or neither`);
  if (!failed)
    console.log(
      `✓ ${target.name}: bundles (wrangler deploy --dry-run), DEPLOYMENT=${parsed.data.DEPLOYMENT}, GATEWAY=${parsed.data.GATEWAY}, faults ${parsed.data.ALLOW_FAULTS ? "on" : "off"}`,
    );
}
process.exit(failed ? 1 : 0);
