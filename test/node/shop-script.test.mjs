// `npm run shop` (scripts/shop.mjs), run as a process against a small fake of the shopper API
// whose answers are checked with the server's own zod schemas: on an account sale it signs in as
// the shop would (an assertion signed with SHOP_IDENTITY_SECRET from the environment or
// .dev.vars, for the audience and issuer the Worker checks), on an anonymous sale it makes an
// anonymous session, and without the shop's secret it says so and sends nothing else.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { jwtVerify } from "jose";
import {
  ChallengeAnswer,
  HoldAnswer,
  OrderAnswer,
  PaidAnswer,
  QueueAnswer,
  SaleAnswer,
  SessionAnswer,
} from "../../domain/schemas/answers.ts";

const ROOT = join(import.meta.dirname, "../..");
const SECRET = "shop-script-test-secret-0123456789abcdef";
const key = new TextEncoder().encode(SECRET);
const at = (s) => new Date(Date.UTC(2026, 11, 1, 10, 0, s)).toISOString();

const sale = (id) => ({
  id,
  product: { id: "console-x", name: "Console X", price: 49900, currency: "EUR" },
  status: "open",
  starts_at: at(0),
  ends_at: at(3600),
  hold_ttl_s: 120,
  per_user_limit: 1,
  release_policy: "release",
  pow_difficulty: 0,
  identity: id.startsWith("anon") ? "anonymous" : "account",
  network_cap: 1,
  lottery_s: 10,
  stock_total: 10,
  available: 10,
  held: 0,
  sold_out: false,
});
const hold = (status) => ({
  id: "demo_h1",
  sale_id: "demo",
  status,
  qty: 1,
  amount: 49900,
  currency: "EUR",
  created_at: at(1),
  expires_at: at(121),
  ended_at: status === "held" ? null : at(2),
  reason: null,
  order_id: status === "confirmed" ? "demo_o1" : null,
  source: "claim",
  refund: null,
  action: null,
});

/** Every request the fake was sent: method, path, body. */
let seen = [];

/** The fake's answer: what the Worker would say to one shopper, in the shapes its routes answer with. */
async function answer(method, path, body) {
  if (method === "GET" && /^\/api\/sales\/[\w-]+$/.test(path)) return [200, SaleAnswer.parse({ sale: sale(path.split("/")[3]) })];
  if (method === "POST" && path === "/api/session") {
    if (!body?.identity) return [201, SessionAnswer.parse({ token: "anon-token", user_id: "u1", account: null, expires_at: at(86400) })];
    try {
      const { payload } = await jwtVerify(body.identity, key, { audience: "flashsale", issuer: process.env.FAKE_ISSUER || undefined });
      return [
        201,
        SessionAnswer.parse({
          token: `acct-token-${payload.sub}`,
          user_id: `acct:${payload.sub}`,
          account: payload.sub,
          expires_at: at(86400),
        }),
      ];
    } catch (e) {
      return [401, { error: "identity_invalid", message: String(e.message) }];
    }
  }
  if (method === "POST" && path.endsWith("/challenge"))
    return [200, ChallengeAnswer.parse({ challenge: "c", nonce: "n", bits: 0, expires_at: at(120) })];
  if (path.endsWith("/queue")) {
    return [
      201,
      QueueAnswer.parse({
        state: "admitted",
        position: 0,
        eta_s: 0,
        refresh_s: 0,
        opens_in_s: null,
        inWaitingRoom: false,
        waitTimeKnown: true,
        waitTime: 0,
        refreshIntervalSeconds: 0,
        place: { bucket: 1, key: 7 },
        admitted_at: at(1),
        unit_kept_until: at(121),
        draw_at: null,
        ticket: "t",
        ticket_expires_at: at(600),
        pass: "p",
        pass_expires_at: at(121),
      }),
    ];
  }
  if (path.endsWith("/claim")) return [201, HoldAnswer.parse({ hold: hold("held") })];
  if (path.endsWith("/pay")) return [200, PaidAnswer.parse({ hold: hold("confirmed"), order_id: "demo_o1" })];
  if (path.startsWith("/api/orders/")) {
    return [
      200,
      OrderAnswer.parse({
        order: {
          id: "demo_o1",
          sale_id: "demo",
          hold_id: "demo_h1",
          qty: 1,
          amount: 49900,
          currency: "EUR",
          charge_id: "ch_1",
          confirmed_at: at(2),
        },
      }),
    ];
  }
  return [404, { error: "not_found", message: `no route ${method} ${path}` }];
}

let server;
let url;
before(async () => {
  server = createServer((req, res) => {
    let text = "";
    req.on("data", (c) => (text += c));
    req.on("end", async () => {
      const body = text ? JSON.parse(text) : undefined;
      seen.push({ method: req.method, path: req.url, body, auth: req.headers.authorization });
      // The fake's own answer no longer fitting the Worker's schema fails the test, never hangs it.
      const [status, out] = /** @type {[number, unknown]} */ (
        await answer(req.method, req.url, body).catch((e) => [
          500,
          { error: "internal", message: `the fake's answer does not fit the schema: ${String(e).slice(0, 300)}` },
        ])
      );
      res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(out));
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", () => r(undefined)));
  url = `http://127.0.0.1:${/** @type {import("node:net").AddressInfo} */ (server.address()).port}`;
});
after(() => server.close());

const dir = mkdtempSync(join(tmpdir(), "flashsale-shop-"));
function devVars(text) {
  const file = join(dir, `dev-vars-${Math.random().toString(36).slice(2)}`);
  writeFileSync(file, text);
  return file;
}

/** Runs the script; resolves with its exit code and output. The caller's own shop settings are not passed on. */
function shop(args, env = {}) {
  seen = [];
  const { SHOP_IDENTITY_SECRET, SHOP_IDENTITY_AUDIENCE, SHOP_IDENTITY_ISSUER, ...rest } = process.env;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, "scripts/shop.mjs"), "--url", url, ...args], { env: { ...rest, ...env } });
    let out = "";
    child.stdout.on("data", (c) => (out += c));
    child.stderr.on("data", (c) => (out += c));
    child.on("exit", (code) => resolve({ code, out }));
  });
}

const sessionRequest = () => seen.find((r) => r.path === "/api/session");

test("an account sale: signs in as --account with the secret (and issuer) from .dev.vars, and shops with that session", async () => {
  process.env.FAKE_ISSUER = "https://shop.test";
  try {
    const file = devVars(`SHOP_IDENTITY_SECRET=${SECRET}\nSHOP_IDENTITY_ISSUER=https://shop.test\n`);
    const { code, out } = await shop(["--sale", "demo", "--account", "alice", "--dev-vars", file]);
    assert.equal(code, 0, out);
    const { payload } = await jwtVerify(sessionRequest().body.identity, key, { audience: "flashsale", issuer: "https://shop.test" });
    assert.equal(payload.sub, "alice");
    assert.ok(payload.exp - payload.iat <= 600, "a short-lived assertion");
    assert.ok(
      seen.filter((r) => r.path.startsWith("/api/sales/demo/")).every((r) => r.auth === "Bearer acct-token-alice"),
      "every step with the account's session",
    );
    assert.match(out, /✓ order demo_o1 for shop account alice/);
  } finally {
    delete process.env.FAKE_ISSUER;
  }
});

test("an account sale without --account: a new account per run; SHOP_IDENTITY_SECRET in the environment wins over .dev.vars", async () => {
  const file = devVars("SHOP_IDENTITY_SECRET=not-the-shops-secret-0123456789abcdef\n");
  const runs = [
    await shop(["--dev-vars", file], { SHOP_IDENTITY_SECRET: SECRET }),
    await shop(["--dev-vars", file], { SHOP_IDENTITY_SECRET: SECRET }),
  ];
  const accounts = [];
  for (const { code, out } of runs) {
    assert.equal(code, 0, out);
    accounts.push(/for shop account (shopper-[0-9a-f]{6})/.exec(out)?.[1]);
  }
  assert.ok(accounts.every(Boolean), `named accounts: ${accounts}`);
  assert.notEqual(accounts[0], accounts[1]);
});

test("an anonymous sale: an anonymous session, no secret needed", async () => {
  const { code, out } = await shop(["--sale", "anon-drop", "--dev-vars", join(dir, "none")]);
  assert.equal(code, 0, out);
  assert.equal(sessionRequest().body, undefined, "no identity sent");
  assert.match(out, /✓ order demo_o1$/m);
});

test("an account sale and no shop secret anywhere: one line saying where to find it, exit code 2, no session asked for", async () => {
  const { code, out } = await shop(["--dev-vars", join(dir, "none")]);
  assert.equal(code, 2, out);
  assert.match(out, /✗ no SHOP_IDENTITY_SECRET .*npm start/);
  assert.deepEqual(
    seen.map((r) => `${r.method} ${r.path}`),
    ["GET /api/sales/demo"],
  );
});

test("a wrong secret: the session is refused and the script stops there", async () => {
  const { code, out } = await shop(["--account", "mallory"], { SHOP_IDENTITY_SECRET: "a-wrong-secret-0123456789abcdefghijkl" });
  assert.equal(code, 1, out);
  assert.match(out, /✗ no session \(identity_invalid/);
  assert.equal(seen.at(-1).path, "/api/session");
});
