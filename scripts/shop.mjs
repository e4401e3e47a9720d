#!/usr/bin/env node
// One shopper through the whole flow against a running flashsale, printing each step:
//   (the shop's sign-in) → session → challenge (proof of work) → queue → pass → claim → pay
// A sale that needs a shop account (`identity: "account"`, the default) gets a session for an
// account whose identity assertion this script signs as the shop would, with the shop's secret:
// SHOP_IDENTITY_SECRET from the environment, else from the project's .dev.vars (`npm start`
// writes one). An anonymous sale gets an anonymous session, unless --account is given.
// Usage: npm run shop -- [--url http://127.0.0.1:8787] [--sale demo] [--account alice] [--card tok_ok]
//                        [--turnstile <token>] [--dev-vars <file>]
import { randomBytes } from "node:crypto";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { createClient, fetchTransport } from "../domain/client.js";
import { solve } from "../domain/pow.js";
import { readDevVars } from "./lib/dev-vars.mjs";
import { shopSigner } from "./lib/shop-account.mjs";
import { now } from "./lib/clock.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const HELP = `Usage: npm run shop -- [options]
  --url <url>          the Worker (default http://127.0.0.1:8787, where \`npm start\` runs it)
  --sale <id>          the sale (default demo)
  --account <name>     the shop account to shop as (default: a new one per run on an account sale;
                       none, i.e. an anonymous session, on an anonymous sale)
  --card <card>        the test card to pay with (default tok_ok; docs/api.md, "Test cards")
  --turnstile <token>  a Turnstile token for the queue, when the Worker has Turnstile on
  --dev-vars <file>    where to read SHOP_IDENTITY_SECRET (default: the project's .dev.vars;
                       the SHOP_IDENTITY_SECRET environment variable wins)`;

let o;
try {
  ({ values: o } = parseArgs({
    options: {
      url: { type: "string", default: "http://127.0.0.1:8787" },
      sale: { type: "string", default: "demo" },
      account: { type: "string" },
      card: { type: "string", default: "tok_ok" },
      turnstile: { type: "string" },
      "dev-vars": { type: "string", default: join(ROOT, ".dev.vars") },
      help: { type: "boolean", short: "h", default: false },
    },
  }));
} catch (e) {
  console.error(`${e.message}\n\n${HELP}`);
  process.exit(2);
}
if (o.help) {
  console.log(HELP);
  process.exit(0);
}

/** Long strings (tokens) shortened, so each answer fits on a line or two. */
const short = (_k, v) => (typeof v === "string" && v.length > 60 ? `${v.slice(0, 24)}…` : v);
const api = createClient({
  transport: fetchTransport(o.url),
  headers: { "user-agent": "flashsale-shop-script/1.0 (Mozilla/5.0 compatible)" },
  onAnswer: (method, path, r) => console.log(`${method} ${path} → ${r.status}`, JSON.stringify(r.body, short)),
});
const fail = (msg, code = 1) => {
  console.error(`✗ ${msg}`);
  process.exit(code);
};

/**
 * The shop's sign-in, played by this script: an assertion for `account`, signed with the shop's
 * secret for the audience (and issuer) the Worker checks.
 */
async function signIn(account) {
  const vars = readDevVars(o["dev-vars"]);
  const setting = (name) => process.env[name] || vars[name] || undefined;
  const secret = setting("SHOP_IDENTITY_SECRET");
  if (!secret) {
    fail(
      `no SHOP_IDENTITY_SECRET to sign in to the shop as "${account}": set it in the environment, or run \`npm start\` ` +
        `(it writes one to .dev.vars) and shop against that server (looked in ${o["dev-vars"]})`,
      2,
    );
  }
  const sign = shopSigner(secret, { audience: setting("SHOP_IDENTITY_AUDIENCE"), issuer: setting("SHOP_IDENTITY_ISSUER") });
  console.log(`  signed in at the shop as ${account} (an identity assertion signed with SHOP_IDENTITY_SECRET)`);
  return sign(account);
}

let r;
try {
  r = await api.sale(o.sale);
} catch (e) {
  fail(`${o.url} could not be reached (${e.cause?.code ?? e.message}): is \`npm start\` running?`);
}
if (r.status !== 200) fail(`no sale "${o.sale}" (${r.body.error})`);
const needsAccount = r.body.sale.identity === "account";
// A new account per run by default: one account buys at most the sale's per-shopper limit.
const account = o.account ?? (needsAccount ? `shopper-${randomBytes(3).toString("hex")}` : undefined);
const s = await api.session(account ? { identity: await signIn(account) } : {});
if (s.status !== 201) fail(`no session (${s.body.error}: ${s.body.message})`);
const token = s.body.token;

/** pow.js's solver, timed for the printout. */
async function timedSolve(nonce, bits) {
  const t0 = now();
  const solution = await solve(nonce, bits);
  console.log(`  solved ${bits}-bit proof of work in ${now() - t0} ms`);
  return solution;
}
const q = await api.admit(o.sale, token, { solve: timedSolve, turnstile: o.turnstile }).catch((e) => fail(`not admitted (${e.message})`));
const claim = await api.claim(o.sale, token, { pass: q.body.pass, key: crypto.randomUUID() });
if (claim.body.error === "limit_reached")
  fail(`no hold: ${account ? `shop account ${account}` : "this shopper"} has bought the sale's limit (another --account can buy)`);
if (claim.status >= 300) fail(`no hold (${claim.body.error})`);
if (!claim.body.hold) fail("waitlisted");
let paid = await api.pay(claim.body.hold.id, token, o.card);
while (paid.status === 202) {
  await new Promise((r) => setTimeout(r, 1000));
  paid = await api.hold(claim.body.hold.id, token);
  if (paid.body.hold?.status !== "pending") break;
}
const orderId = paid.body.hold?.order_id;
if (!orderId) fail(`not paid (${paid.body.hold?.status ?? paid.body.error})`);
await api.order(orderId, token);
console.log(`✓ order ${orderId}${account ? ` for shop account ${account}` : ""}`);
