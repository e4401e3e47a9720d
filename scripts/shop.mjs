#!/usr/bin/env node
// One shopper through the whole flow against a running flashsale, printing each step:
//   session → challenge (proof of work) → queue → pass → claim → pay
// Usage: npm run shop -- [--url http://127.0.0.1:8787] [--sale demo] [--card tok_ok] [--turnstile <token>]
import { parseArgs } from "node:util";
import { solve } from "../domain/pow.js";

const { values: o } = parseArgs({
  options: {
    url: { type: "string", default: "http://127.0.0.1:8787" },
    sale: { type: "string", default: "demo" },
    card: { type: "string", default: "tok_ok" },
    turnstile: { type: "string" },
  },
});

const UA = "flashsale-shop-script/1.0 (Mozilla/5.0 compatible)";
async function api(method, path, { token, body, headers = {} } = {}) {
  const res = await fetch(`${o.url}${path}`, {
    method,
    headers: {
      "user-agent": UA,
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body ? { "content-type": "application/json" } : {}),
      ...headers,
    },
    body: body && JSON.stringify(body),
  });
  const json = await res.json();
  console.log(`${method} ${path} → ${res.status}`, JSON.stringify(json, (k, v) => (typeof v === "string" && v.length > 60 ? `${v.slice(0, 24)}…` : v)));
  return { status: res.status, body: json };
}
const fail = (msg) => {
  console.error(`✗ ${msg}`);
  process.exit(1);
};

const s = await api("POST", "/api/session");
const token = s.body.token;
await api("GET", `/api/sales/${o.sale}`);
const ch = await api("POST", `/api/sales/${o.sale}/challenge`, { token });
if (ch.status !== 200) fail("no challenge");
const t0 = Date.now();
const solution = await solve(ch.body.nonce, ch.body.bits);
console.log(`  solved ${ch.body.bits}-bit proof of work in ${Date.now() - t0} ms`);
let q = await api("POST", `/api/sales/${o.sale}/queue`, { token, body: { challenge: ch.body.challenge, solution, ...(o.turnstile ? { turnstile: o.turnstile } : {}) } });
while (q.status < 300 && q.body.state !== "admitted") {
  await new Promise((r) => setTimeout(r, Math.min(q.body.refresh_s ?? 1, 5) * 1000));
  q = await api("GET", `/api/sales/${o.sale}/queue`, { token, headers: { "x-ticket": q.body.ticket } });
}
if (q.body.state !== "admitted") fail("not admitted");
const claim = await api("POST", `/api/sales/${o.sale}/claim`, {
  token,
  headers: { "x-pass": q.body.pass, "idempotency-key": crypto.randomUUID() },
});
if (claim.status >= 300) fail(`no hold (${claim.body.error})`);
if (!claim.body.hold) fail("waitlisted");
let paid = await api("POST", `/api/holds/${claim.body.hold.id}/pay`, { token, body: { payment_method: o.card } });
while (paid.status === 202) {
  await new Promise((r) => setTimeout(r, 1000));
  paid = await api("GET", `/api/holds/${claim.body.hold.id}`, { token });
  if (paid.body.hold?.status !== "pending") break;
}
const orderId = paid.body.hold?.order_id;
if (!orderId) fail(`not paid (${paid.body.hold?.status ?? paid.body.error})`);
await api("GET", `/api/orders/${orderId}`, { token });
console.log(`✓ order ${orderId}`);
