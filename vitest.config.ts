import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { execFileSync } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { availableParallelism } from "node:os";
import { defineConfig } from "vitest/config";
import { createShopHooksFake } from "./scripts/lib/shop-hooks-fake.mjs";
import { createStripeFake } from "./scripts/lib/stripe-fake.mjs";

/**
 * Cloudflare Access's signing key for the tests: the fake team's certs endpoint (below) publishes
 * its public half, the tests sign application tokens with its private half (TEST_ACCESS_KEY).
 */
export const ACCESS_TEAM = "flashsale-test.cloudflareaccess.com";
/** A team whose certs endpoint is down. */
export const ACCESS_TEAM_DOWN = "down-test.cloudflareaccess.com";
const accessKey = (() => {
  const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const meta = { kid: randomBytes(16).toString("hex"), alg: "RS256", use: "sig" };
  return { public: { ...publicKey.export({ format: "jwk" }), ...meta }, private: { ...privateKey.export({ format: "jwk" }), ...meta } };
})();

/**
 * Tests run inside workerd with the real bindings from wrangler.toml: SQLite-backed Durable
 * Objects with real alarms, and a local D1 with the migrations applied (test/setup.ts).
 * Secrets and timings are set here so the suite never depends on a developer's .dev.vars, and
 * the payment timings are short so timeouts and give-ups happen within a test. The secrets are
 * random per run: a published one would be refused (domain/secrets.ts).
 */
export const TEST_BINDINGS = {
  ADMIN_TOKEN: randomBytes(24).toString("hex"),
  TOKEN_SECRET: randomBytes(32).toString("hex"),
  TOKEN_SECRET_PREVIOUS: "",
  TURNSTILE_SECRET: "",
  // The shop's identity (account sales): tests sign assertions with this (test/support/identity.ts).
  SHOP_IDENTITY_SECRET: randomBytes(32).toString("hex"),
  SHOP_SIGNIN_URL: "https://shop.test/sign-in",
  DEMO_SIGNIN: "",
  // wrangler.toml's [vars] are production's; tests run locally, with the simulated gateway.
  DEPLOYMENT: "local",
  // A deliberate bug for testing the tests (`npm run mutants`; docs/testing.md), off unless set.
  MUTATION: process.env.MUTATION ?? "",
  // The model test's replay and size (test/inventory.model.test.ts), from the shell.
  ...Object.fromEntries(["FC_SEED", "FC_PATH", "FC_REPLAY_PATH", "FC_RUNS", "FC_BUDGET_S"].map((k) => [k, process.env[k] ?? ""])),
  GATEWAY: "simulated",
  GATEWAY_LATENCY_MS: "5",
  GATEWAY_DECLINE_RATE: "0",
  GATEWAY_TIMEOUT_RATE: "0",
  GATEWAY_DUPLICATE_RATE: "0",
  GATEWAY_LATE_MS: "300",
  PAY_TIMEOUT_MS: "250",
  PAY_RETRY_MS: "100",
  PAY_GIVE_UP_S: "1",
  FLUSH_DELAY_MS: "0",
  LOG_LEVEL: "warn",
  // A quarter second: the line's watermark reaches a poll soon after it moves (the sold-out
  // tests wait for whatever this is).
  EDGE_CACHE_MS: "250",
  // Reports reach the room at once here (COUNTER_FLUSH_MS 0): a bucket is served 50 ms after it ends.
  LINE_SLACK_MS: "50",
  // Every edge counter reaches the waiting room at once, so tests can read it back.
  COUNTER_FLUSH_MS: "0",
  BOT_UA_CHECK: "on",
  // Never the real siteverify: the fake below answers (Turnstile is off unless a test sets a secret).
  TURNSTILE_URL: "https://siteverify.test/turnstile/v0/siteverify",
  TURNSTILE_TIMEOUT_MS: "1000",
  // Access is off unless a test turns it on for a request (test/admin-access.test.ts).
  ACCESS_TEAM_DOMAIN: "",
  ACCESS_AUD: "",
  TEST_ACCESS_KEY: JSON.stringify(accessKey.private),
};

/**
 * The Stripe gateway's tests (test/stripe.*.test.ts) run in a second project, the same bindings
 * but GATEWAY = "stripe" pointed at the fake Stripe below (a Durable Object reads its settings
 * from the bindings, so a test cannot switch an object's gateway per request). The webhook
 * secrets are random too; the previous one signs events as a rotated-out key would.
 */
export const STRIPE_BINDINGS = {
  GATEWAY: "stripe",
  STRIPE_API_BASE: "http://stripe.test",
  STRIPE_SECRET_KEY: `sk_test_${randomBytes(16).toString("hex")}`,
  STRIPE_WEBHOOK_SECRET: `whsec_${randomBytes(24).toString("hex")}`,
  STRIPE_WEBHOOK_SECRET_PREVIOUS: `whsec_${randomBytes(24).toString("hex")}`,
  STRIPE_PUBLISHABLE_KEY: "pk_test_flashsale",
};

/**
 * The shop's order events (test/events.*.test.ts) run in a third project: the product objects
 * read the pipes from their bindings. Webhooks go to the fake shop at shop-hooks.test (scripts/lib/
 * shop-hooks-fake.mjs), which accepts only the previous key, as a shop that has not moved to the
 * new one yet; the queue is miniflare's, consumed by the example consumer (examples/order-consumer/).
 */
export const EVENTS_BINDINGS = {
  SHOP_WEBHOOK_URL: "http://shop-hooks.test/hooks",
  SHOP_WEBHOOK_SECRET: randomBytes(32).toString("hex"),
  SHOP_WEBHOOK_SECRET_PREVIOUS: randomBytes(32).toString("hex"),
  SHOP_WEBHOOK_TIMEOUT_MS: "300",
  SHOP_WEBHOOK_RETRY_MS: "50",
  SHOP_WEBHOOK_GIVE_UP_S: "2",
  // The faults these tests make on purpose log a warning each.
  LOG_LEVEL: "error",
};
const ORDER_QUEUE = "flashsale-order-events";
const shopHooks = createShopHooksFake({ secret: EVENTS_BINDINGS.SHOP_WEBHOOK_SECRET_PREVIOUS, timeoutMs: 300, neverMs: 60_000 });
const eventsWorld = {
  queueProducers: { ORDER_EVENTS: { queueName: ORDER_QUEUE } },
  serviceBindings: { ORDER_CONSUMER: "order-consumer" },
  workers: [
    {
      name: "order-consumer",
      modules: true,
      scriptPath: "./examples/order-consumer/src/index.js",
      compatibilityDate: "2026-04-20",
      d1Databases: ["SHOP_DB"],
      queueConsumers: { [ORDER_QUEUE]: { maxBatchTimeout: 0.05, maxRetries: 3, deadLetterQueue: `${ORDER_QUEUE}-dlq` } },
    },
  ],
};

/** The fake Stripe (scripts/lib/stripe-fake.mjs, also the rehearsal's): `timeout` answers after the client gave up. */
// Unlimited for the gateway tests, which run several files at once; the pacer's tests have their
// own at http://stripe-paced.test with the sandbox's limits (25/s), so both run at the same time.
const stripe = createStripeFake({
  webhookSecret: STRIPE_BINDINGS.STRIPE_WEBHOOK_SECRET,
  timeoutMs: 600,
  rateLimit: { account: 0, endpoint: 0 },
});
const stripePaced = createStripeFake({ webhookSecret: STRIPE_BINDINGS.STRIPE_WEBHOOK_SECRET, timeoutMs: 600 });

/**
 * The outside world, faked with its faults: Turnstile's siteverify answers by the token it is
 * given ("pass", "fail", "duplicate", "slow" = later than the timeout, "down" = 500,
 * "garbage" = not JSON). `GET https://siteverify.test/requests` returns what it was sent.
 * Stripe's API is the fake Stripe at http://stripe.test.
 * Cloudflare Access's certs endpoint for the test team publishes the test key (and counts how
 * often it was fetched: `GET https://<team>/requests`); the "down" team's answers 500.
 * Any other outbound request fails the test loudly: tests never reach the network.
 */
const siteverifySeen: Record<string, string>[] = [];
let certsFetched = 0;
/**
 * The shop's key set (SHOP_JWKS_URL in the identity tests): `GET https://shop.test/jwks.json`
 * serves what a test last `POST`ed to `/jwks` (its public keys, `{ keys, down }`), or a 503 while
 * `down`; `GET /jwks/requests` counts the fetches (so rotation and caching can be seen).
 */
let shopKeys: { keys: unknown[]; down?: boolean } = { keys: [] };
let shopKeyFetches = 0;
async function shopKeySet(request: Request, url: URL): Promise<Response> {
  if (request.method === "POST" && url.pathname === "/jwks") {
    shopKeys = (await request.json()) as typeof shopKeys;
    return Response.json({ ok: true });
  }
  if (url.pathname === "/jwks/requests") return Response.json({ fetches: shopKeyFetches });
  shopKeyFetches++;
  return shopKeys.down ? new Response("down", { status: 503 }) : Response.json({ keys: shopKeys.keys });
}

async function outside(request: Request): Promise<Response> {
  const url = new URL(request.url);
  if (url.host === "stripe.test") return stripe.handle(request);
  if (url.host === "stripe-paced.test") return stripePaced.handle(request);
  if (url.host === "shop.test") return shopKeySet(request, url);
  if (url.host === "shop-hooks.test") return shopHooks.handle(request);
  if (url.host === ACCESS_TEAM && url.pathname === "/cdn-cgi/access/certs") {
    certsFetched++;
    return Response.json({ keys: [accessKey.public] });
  }
  if (url.host === ACCESS_TEAM && url.pathname === "/requests") return Response.json({ certs: certsFetched });
  if (url.host === ACCESS_TEAM_DOWN) return new Response("upstream unavailable", { status: 500 });
  if (url.host !== "siteverify.test") return new Response(`tests must not reach ${url.host}`, { status: 599 });
  if (request.method === "GET" && url.pathname === "/requests") return Response.json(siteverifySeen);
  const form = Object.fromEntries((await request.formData()) as unknown as Iterable<[string, string]>);
  siteverifySeen.push(form);
  switch (form.response) {
    case "pass":
      return Response.json({ success: true, "error-codes": [], hostname: "flashsale.test" });
    case "duplicate":
      return Response.json({ success: false, "error-codes": ["timeout-or-duplicate"] });
    case "slow":
      await new Promise((r) => setTimeout(r, 2000));
      return Response.json({ success: true, "error-codes": [] });
    case "down":
      return new Response("upstream unavailable", { status: 500 });
    case "garbage":
      return new Response("<html>not json</html>", { status: 200 });
    default:
      return Response.json({ success: false, "error-codes": ["invalid-input-response"] });
  }
}

export default defineConfig(async () => {
  // wrangler.toml serves the built pages (dist/public), and the pool reads that config: build
  // them first, as `wrangler dev` does.
  execFileSync(process.execPath, ["scripts/build-pages.mjs"], { stdio: "ignore" });
  const migrations = await readD1Migrations("./migrations");
  const project = (
    name: string,
    bindings: Record<string, string>,
    include: string[],
    exclude: string[],
    run: { maxWorkers: number; groupOrder: number; isolate?: boolean },
    world = {},
  ) => ({
    plugins: [
      cloudflareTest({
        wrangler: { configPath: "./wrangler.toml" },
        miniflare: { bindings: { ...bindings, TEST_MIGRATIONS: migrations }, outboundService: outside, ...world },
      }),
    ],
    test: {
      name,
      include,
      exclude,
      setupFiles: ["./test/setup.ts"],
      testTimeout: 30_000,
      maxWorkers: run.maxWorkers,
      // One runtime per worker, not per file (test/setup.ts gives each file a cold edge): a
      // workerd and the Worker's modules cost about a second of CPU each time, 45 files over.
      isolate: run.isolate ?? false,
      sequence: { groupOrder: run.groupOrder },
    },
  });
  // Each worker is one workerd running its files one after another. Most files mostly wait (alarms,
  // payment timeouts, the line's ticks, the edge cache), so several run at once and their waits
  // overlap: vitest's own default (cores − 1) ran them one by one on a 2-core machine. The load
  // files (hundreds to thousands of concurrent requests, the model test's thousand sequences) run
  // one at a time beside them, on a runtime of their own; none of them measures time.
  const parallel = { maxWorkers: Math.max(4, availableParallelism()), groupOrder: 0 };
  // The Stripe tests talk to a fake Stripe in this (Node) process with a 250 ms client timeout
  // (PAY_TIMEOUT_MS): they run after the rest, so a busy machine does not turn a slow fake into an
  // unknown outcome. The pacer's tests (their own fake, with the sandbox's limits) run beside them.
  const last = { maxWorkers: 2, groupOrder: 1 };
  const LOAD = ["test/claims.concurrency.test.ts", "test/shards.test.ts", "test/waiting-room.test.ts", "test/inventory.model.test.ts"];
  const STRIPE = ["test/stripe.*.test.ts"];
  // The pacer's own tests need Stripe's sandbox limits (they measure slots and waits); the other
  // Stripe tests are about the gateway, so their pacer is set far above what they send (a payment
  // is never queued behind another file's).
  const PACING = ["test/stripe.pacing.test.ts"];
  const UNPACED = { STRIPE_RATE_ACCOUNT: "10000", STRIPE_RATE_ENDPOINT: "10000" };
  const EVENTS = ["test/events.*.test.ts"];
  return {
    test: {
      projects: [
        project("workers", TEST_BINDINGS, ["test/**/*.test.ts"], [...STRIPE, ...LOAD, ...EVENTS], parallel),
        project("stripe", { ...TEST_BINDINGS, ...STRIPE_BINDINGS, ...UNPACED }, STRIPE, PACING, last),
        project("pacing", { ...TEST_BINDINGS, ...STRIPE_BINDINGS, STRIPE_API_BASE: "http://stripe-paced.test" }, PACING, [], last),
        project("events", { ...TEST_BINDINGS, ...EVENTS_BINDINGS }, EVENTS, [], parallel, eventsWorld),
        // The load files keep a runtime each (isolate on). A refund the model test waited for that
        // stayed pending (seen in shared and fresh runtimes alike) was the simulated gateway falling
        // behind, not this: durable-objects/gateway-simulator.ts, charge().
        project("load", TEST_BINDINGS, LOAD, [], { ...parallel, isolate: true }),
      ],
    },
  };
});
