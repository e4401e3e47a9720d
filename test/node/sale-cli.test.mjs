// The operator's CLI (`npx flashsale`, bin/flashsale.mjs → scripts/sale.ts), run as a process:
// its help, its one-line answers to every kind of bad argument (no stack trace, exit code 2,
// nothing sent), and its calls against a small fake of the admin API whose answers are checked
// with the server's own zod schemas (test/node/support/fake-admin-api.mjs).
// Most runs use scripts/sale.ts bundled once by esbuild (0.1 s a run instead of tsx's 0.5 s);
// a few go through the bin itself.
import { build } from "esbuild";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { answer, startFakeAdminApi } from "./support/fake-admin-api.mjs";

const ROOT = join(import.meta.dirname, "../..");
const BIN = join(ROOT, "bin/flashsale.mjs");
const TOKEN = "cli-test-token-0123456789abcdef";
const COMMANDS = ["list", "create", "update", "pause", "resume", "close", "restock", "stats", "reconcile"];

let fake;
let url;

const cwd = mkdtempSync(join(tmpdir(), "flashsale-cli-"));
const BUNDLE = join(cwd, "sale.mjs");

before(async () => {
  await build({
    entryPoints: [join(ROOT, "scripts/sale.ts")],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    outfile: BUNDLE,
    logLevel: "warning",
    // commander is CommonJS: its require()s of node: modules need a require in an ES module.
    banner: { js: 'import { createRequire } from "node:module"; const require = createRequire(import.meta.url);' },
  });
  fake = await startFakeAdminApi(TOKEN);
  url = fake.url;
});
after(() => fake.close());

// ------------------------------------------------------------------ running the CLI

const CLEAN_ENV = Object.fromEntries(
  Object.entries(process.env).filter(
    ([k]) => !["ADMIN_TOKEN", "FLASHSALE_URL", "CF_ACCESS_CLIENT_ID", "CF_ACCESS_CLIENT_SECRET"].includes(k),
  ),
);

/** Runs the CLI (the bundle, or `bin`) in an empty directory (no .dev.vars) with stdin closed (no terminal). */
function cli(args, { env = {}, dir = cwd, bin = false } = {}) {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [bin ? BIN : BUNDLE, ...args], {
      cwd: dir,
      env: { ...CLEAN_ENV, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (c) => (stdout += c));
    p.stderr.on("data", (c) => (stderr += c));
    p.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}
const withServer = (args) => [...args, "--url", url, "--token", TOKEN];
const requestsTo = (path) => fake.seen.filter((r) => r.path === path);

// ------------------------------------------------------------------ help

describe("help", { concurrency: 3 }, () => {
  test("--help, and no command at all, print the commands and examples on stdout (exit 0)", async () => {
    for (const [args, bin] of /** @type {[string[], boolean][]} */ ([
      [["--help"], true],
      [[], false],
    ])) {
      const r = await cli(args, { bin });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^Usage: flashsale \[options\] \[command\]/);
      for (const c of COMMANDS) assert.match(r.stdout, new RegExp(`^  ${c}\\b`, "m"), `lists ${c}`);
      assert.match(r.stdout, /Examples:\n {2}\$ npm run sale -- create drop-1 /);
      assert.match(r.stdout, /\/admin\//, "points at the dashboard");
      assert.equal(r.stderr, "");
    }
  });

  for (const c of COMMANDS) {
    test(`${c} --help says what it does, with an example`, async () => {
      const r = await cli([c, "--help"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^Usage: flashsale ${c} `));
      assert.match(r.stdout, new RegExp(`Examples:\\n  \\$ npm run sale -- ${c}\\b`));
      assert.match(r.stdout, /--url <url>/, "shows the global options too");
    });
  }
});

// ------------------------------------------------------------------ bad arguments

const file = (name, text) => {
  const path = join(cwd, name);
  writeFileSync(path, text);
  return path;
};
const BAD = [
  [
    ["create", "x", "--name", "A", "--price", "100", "--stock", "-5"],
    /^✗ --stock -5: too small: expected number to be >=1; e\.g\. --stock 100$/,
  ],
  [["create", "x", "--stok", "5"], /^✗ unknown option '--stok' \(Did you mean --stock\?\) \(usage: flashsale create /],
  [["pause"], /^✗ missing required argument 'id' \(usage: flashsale pause .*<id>/],
  [["restock", "drop-1"], /^✗ missing required argument 'qty'/],
  [["restock", "drop-1", "many"], /'many' is invalid .*not a number; e\.g\. restock drop-1 20/],
  [["restock", "drop-1", "0"], /^✗ <qty> 0: too small/],
  [
    ["create", "x", "--name", "A", "--price", "lots", "--stock", "5"],
    /--price <minor>' argument 'lots' is invalid\. it is not a number; e\.g\. --price 49900/,
  ],
  [
    ["create", "x", "--name", "A", "--price", "1", "--stock", "5", "--policy", "lottery"],
    /Allowed choices are release, undersell, waitlist/,
  ],
  [
    ["create", "x", "--name", "A", "--price", "1", "--stock", "5", "--starts", "tomorrow"],
    /^✗ --starts "tomorrow": not an ISO 8601 time with a zone; e\.g\. --starts 2026/,
  ],
  [
    ["create", "x", "--name", "A", "--price", "1", "--stock", "5", "--starts-in", "9", "--starts", "2026-12-01T10:00:00Z"],
    /cannot be used with option '--starts-in/,
  ],
  [
    ["create", "Drop_1", "--name", "A", "--price", "1", "--stock", "5"],
    /^✗ <id> "Drop_1": a sale id is 1-63 lowercase letters, digits or dashes; e\.g\. drop-1$/,
  ],
  [["create", "--name", "A"], /^✗ create needs the sale's id: `create drop-1 /],
  [["update", "drop-1"], /^✗ nothing to update: give at least one of --rate/],
  [["update", "drop-1", "--rate", "0"], /^✗ --rate 0: too small: expected number to be >0; e\.g\. --rate 50/],
  [["close", "drop-1"], /^✗ close ends drop-1 for good and there is no terminal to ask: add --yes$/],
  [["frobnicate", "drop-1"], /^✗ unknown command 'frobnicate' \(see `flashsale --help`\)$/],
  [["create", "--file", "/nowhere/sale.json"], /^✗ --file \/nowhere\/sale\.json: cannot read it \(ENOENT\)$/],
  [["create", "--file", file("broken.json", "{ not json")], /^✗ --file .*broken\.json: not JSON/],
  [
    [
      "create",
      "--file",
      file(
        "sale.json",
        JSON.stringify({
          id: "f",
          product: { id: "f", name: "F", price: 1, currency: "EUR" },
          stock_total: 0,
          starts_at: "2026-12-01T10:00:00Z",
          ends_at: "2026-12-01T11:00:00Z",
        }),
      ),
    ],
    /^✗ .*sale\.json: stock_total: too small: expected number to be >=1$/,
  ],
  [["list", "--access-id", "abc"], /^✗ a Cloudflare Access service token needs both --access-id and --access-secret/],
  [
    ["create", "x", "--name", "A", "--price", "1", "--stock", "5", "--shards", "65"],
    /^✗ --shards 65: shards is a whole number from 1 to 64; e\.g\. --shards 8/,
  ],
  [
    ["create", "x", "--name", "A", "--price", "1", "--stock", "5", "--shards", "4", "--policy", "waitlist"],
    /^✗ --policy "waitlist": release_policy waitlist needs one shard/,
  ],
];

describe("bad arguments: one line each, exit code 2, no stack trace, nothing sent", { concurrency: 3 }, () => {
  for (const [args, expected] of /** @type {[string[], RegExp][]} */ (BAD)) {
    test(args.join(" "), async () => {
      const before = fake.seen.length;
      const r = await cli(withServer(args), { bin: args[0] === "frobnicate" });
      assert.equal(r.code, 2, `exit code (stderr: ${r.stderr})`);
      assert.equal(r.stdout, "");
      const lines = r.stderr.trimEnd().split("\n");
      assert.equal(lines.length, 1, `one line: ${r.stderr}`);
      assert.match(lines[0], expected);
      assert.doesNotMatch(r.stderr, /\n\s+at |node:internal|Error:/, "no stack trace");
      assert.equal(fake.seen.length, before, "nothing reached the server");
    });
  }

  test("several bad arguments: one line for each", async () => {
    const r = await cli(withServer(["create", "x", "--stock", "-5"]));
    assert.equal(r.code, 2);
    assert.deepEqual(
      r.stderr
        .trimEnd()
        .split("\n")
        .map((l) => l.split(":")[0]),
      [
        '✗ --name is required; e.g. --name "Console X"',
        "✗ --price is required; e.g. --price 49900 for 499.00 (minor units)",
        "✗ --stock -5",
      ],
    );
  });
});

// ------------------------------------------------------------------ calls

describe("calls to the admin API", () => {
  test("create sends the checked config with the bearer token and prints the sale", async () => {
    const r = await cli(
      withServer([
        "create",
        "drop-9",
        "--name",
        "Console X",
        "--price",
        "49900",
        "--stock",
        "100",
        "--starts-in",
        "600",
        "--ends-in",
        "7200",
        "--rate",
        "200",
        "--policy",
        "waitlist",
      ]),
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /✓ created/);
    assert.match(r.stdout, /sale +drop-9 \(open\)/);
    const [req] = requestsTo("/admin/sales").filter((q) => q.method === "POST" && q.body.id === "drop-9");
    assert.equal(req.headers.authorization, `Bearer ${TOKEN}`);
    assert.deepEqual(req.body.product, { id: "drop-9", name: "Console X", price: 49900, currency: "EUR" });
    assert.equal(req.body.stock_total, 100);
    assert.equal(req.body.admission_rate, 200);
    assert.equal(req.body.release_policy, "waitlist");
    const startsIn = Date.parse(req.body.starts_at) - Date.now();
    assert.ok(startsIn > 590_000 && startsIn <= 600_000, `starts in ~600 s: ${req.body.starts_at}`);
    assert.equal(Date.parse(req.body.ends_at) - Date.parse(req.body.starts_at), 6_600_000);
  });

  test("create warns when the Stripe account cannot take the sale's payments within a hold window, with the figures and the ways out", async () => {
    // 100,000 units in a 600 s window: far more paid holds a second than Stripe's default limits.
    const bigSale = [
      "create",
      "drop-big",
      "--name",
      "Sneaker",
      "--price",
      "18000",
      "--stock",
      "100000",
      "--hold-ttl",
      "600",
      "--ends-in",
      "7200",
    ];
    const big = await cli(withServer(bigSale));
    assert.equal(big.code, 0, big.stderr);
    assert.match(big.stdout, /✓ created/);
    assert.match(big.stdout, /100,000 units in a 600 s hold window need 167 paid holds\/s/);
    assert.match(big.stdout, /167 requests\/s on each of POST \/v1\/payment_intents and …\/confirm and 667\/s for the account/);
    assert.match(big.stdout, /the pacer clears 20\.0 payments\/s/);
    assert.match(big.stdout, /higher limit from Stripe: 208\/s per endpoint/);
    assert.match(big.stdout, /--rate 20 admits no faster than payments clear/);
    const json = await cli(withServer([...bigSale, "--json"]));
    assert.match(JSON.parse(json.stdout).payment_warning, /167 paid holds\/s/);
    // 100 units in 300 s: a third of a payment a second, far below 20: no warning.
    const small = await cli(
      withServer(["create", "drop-9", "--name", "Console X", "--price", "49900", "--stock", "100", "--ends-in", "7200"]),
    );
    assert.equal(small.code, 0, small.stderr);
    assert.doesNotMatch(small.stdout, /paid holds\/s/);
  });

  test("list prints a line per sale; --json prints the API's answer as it is", async () => {
    const human = await cli(withServer(["list"]));
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /^SALE +STATUS +STOCK/);
    assert.match(human.stdout, /^drop-1 +open +97\/100 left · 2 held · 1 sold +Console X/m);
    const json = await cli(withServer(["list", "--json"]));
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(
      JSON.parse(json.stdout),
      answer({ method: "GET", url: "/admin/sales", headers: { authorization: `Bearer ${TOKEN}` } }, {}, TOKEN)[1],
    );
  });

  test("pause, close --yes, restock, update and stats call their routes", async () => {
    const runs = [
      [["pause", "drop-1"], "POST", "/admin/sales/drop-1/pause", undefined, /drop-1 \(paused\)/],
      [["close", "drop-1", "--yes"], "POST", "/admin/sales/drop-1/close", undefined, /drop-1 \(closed\)/],
      [["restock", "drop-1", "20"], "POST", "/admin/sales/drop-1/restock", { qty: 20 }, /stock/],
      [
        ["update", "drop-1", "--rate", "200", "--max-active", "5000"],
        "PATCH",
        "/admin/sales/drop-1",
        { admission_rate: 200, max_active: 5000 },
        /drop-1/,
      ],
      [["stats", "drop-1"], "GET", "/admin/sales/drop-1", undefined, /queue +5 in line · 2 waiting · 3 admitted/],
      // The shop's order events: a dead letter is shown with the command that resends it (issue 20).
      [
        ["stats", "drop-1"],
        "GET",
        "/admin/sales/drop-1",
        undefined,
        /shop events +3 recorded · webhook 2 delivered .* 1 DEAD \(last order\.confirmed:drop-1_o1: HTTP 503; `events resend`/,
      ],
      [["events", "resend", "drop-1"], "POST", "/admin/sales/drop-1/events/resend", undefined, /1 event\(s\) back in line/],
      // The line's arrival curve and the room's calls (issue 13: operators still see the line).
      [
        ["stats", "drop-1"],
        "GET",
        "/admin/sales/drop-1",
        undefined,
        /line +0 before the opening · arrivals\/s \S+ \(peak 5\/s, last 1 s\) · 2 edge reports, 4 watermark reads/,
      ],
    ];
    for (const [args, method, path, body, printed] of /** @type {[string[], string, string, any, RegExp][]} */ (runs)) {
      const r = await cli(withServer(args));
      assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stdout, printed);
      const req = requestsTo(path)
        .filter((q) => q.method === method)
        .at(-1);
      assert.ok(req, `${method} ${path} was sent`);
      assert.deepEqual(req.body, body);
    }
  });

  test("create --shards sends it; stats and reconcile of a sharded sale print a line per shard", async () => {
    const made = await cli(withServer(["create", "drop-8", "--name", "Console X", "--price", "49900", "--stock", "100", "--shards", "8"]));
    assert.equal(made.code, 0, made.stderr);
    assert.equal(requestsTo("/admin/sales").at(-1).body.shards, 8);
    const st = await cli(withServer(["stats", "sharded"]));
    assert.equal(st.code, 0, st.stderr);
    assert.match(st.stdout, /95 available · 2 held · 2 sold · 0 withdrawn · 1 in transit · of 100/);
    assert.match(st.stdout, /2 shards \(stock_total = base − given \+ received/);
    assert.match(st.stdout, /^ +0 +47 +1 +1 +0 +49 +50 +1 +0 +0 +2 +0$/m);
    assert.match(st.stdout, /^ +1 +48 +1 +1 +0 +50 +50 +0 +0 +0 +2 +0$/m);
    const rec = await cli(withServer(["reconcile", "sharded"]));
    assert.equal(rec.code, 0, rec.stderr);
    assert.match(rec.stdout, /orders +2 in the object · 2 in D1/);
    assert.match(rec.stdout, /shard 1: orders 1 in the object · 1 in D1 · 0 missing/);
  });

  test("the token comes from ADMIN_TOKEN, then .dev.vars; a Cloudflare Access service token replaces it", async () => {
    assert.equal((await cli(["list", "--url", url], { env: { ADMIN_TOKEN: TOKEN } })).code, 0);
    const dir = mkdtempSync(join(tmpdir(), "flashsale-cli-devvars-"));
    writeFileSync(join(dir, ".dev.vars"), `DEPLOYMENT=local\nADMIN_TOKEN=${TOKEN}\n`);
    assert.equal((await cli(["list", "--url", url], { dir })).code, 0);
    const none = await cli(["list", "--url", url]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /^✗ no admin token: pass --token, set ADMIN_TOKEN/);

    const r = await cli(["list", "--url", url], { env: { CF_ACCESS_CLIENT_ID: "id.access", CF_ACCESS_CLIENT_SECRET: "s3cret" } });
    assert.equal(r.code, 0, r.stderr);
    const req = fake.seen.at(-1);
    assert.equal(req.headers["cf-access-client-id"], "id.access");
    assert.equal(req.headers["cf-access-client-secret"], "s3cret");
    assert.equal(req.headers.authorization, undefined);
  });

  test("a refusal, a wrong token and an unreachable server: one line each, exit code 1", async () => {
    const conflict = await cli(withServer(["create", "taken", "--name", "A", "--price", "1", "--stock", "5"]), { bin: true });
    assert.equal(conflict.code, 1);
    assert.equal(conflict.stderr, "✗ 409 conflict: sale taken already exists with another configuration\n");
    const missing = await cli(withServer(["stats", "ghost"]));
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, "✗ 404 not_found: no sale ghost\n");
    const wrong = await cli(["list", "--url", url, "--token", "nope"]);
    assert.equal(wrong.code, 1);
    assert.equal(wrong.stderr, "✗ 401 unauthorized: the admin token is wrong (check --token or ADMIN_TOKEN)\n");
    const gone = await cli(["list", "--url", "http://127.0.0.1:1", "--token", TOKEN]);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /^✗ cannot reach http:\/\/127\.0\.0\.1:1 \(.+\): is `npm start` running, or is --url right\?\n$/);
  });
});
