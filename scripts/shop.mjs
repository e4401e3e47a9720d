#!/usr/bin/env node
// One shopper through the whole flow against a running flashsale, printing each step:
//   session → challenge (proof of work) → queue → pass → claim → pay
// Usage: npm run shop -- [--url http://127.0.0.1:8787] [--sale demo] [--card tok_ok] [--turnstile <token>]
import { parseArgs } from "node:util";
import { createClient, fetchTransport } from "../domain/client.js";
import { solve } from "../domain/pow.js";

const { values: o } = parseArgs({
  options: {
    url: { type: "string", default: "http://127.0.0.1:8787" },
    sale: { type: "string", default: "demo" },
    card: { type: "string", default: "tok_ok" },
    turnstile: { type: "string" },
  },
});

/** Long strings (tokens) shortened, so each answer fits on a line or two. */
const short = (k, v) => (typeof v === "string" && v.length > 60 ? `${v.slice(0, 24)}…` : v);
const api = createClient({
  transport: fetchTransport(o.url),
  headers: { "user-agent": "flashsale-shop-script/1.0 (Mozilla/5.0 compatible)" },
  onAnswer: (method, path, r) => console.log(`${method} ${path} → ${r.status}`, JSON.stringify(r.body, short)),
});
const fail = (msg) => {
  console.error(`✗ ${msg}`);
  process.exit(1);
};

const s = await api.session();
const token = s.body.token;
await api.sale(o.sale);
/** pow.js's solver, timed for the printout. */
async function timedSolve(nonce, bits) {
  const t0 = Date.now();
  const solution = await solve(nonce, bits);
  console.log(`  solved ${bits}-bit proof of work in ${Date.now() - t0} ms`);
  return solution;
}
const q = await api.admit(o.sale, token, { solve: timedSolve, turnstile: o.turnstile }).catch((e) => fail(`not admitted (${e.message})`));
const claim = await api.claim(o.sale, token, { pass: q.body.pass, key: crypto.randomUUID() });
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
console.log(`✓ order ${orderId}`);
