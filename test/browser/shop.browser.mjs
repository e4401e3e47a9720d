#!/usr/bin/env node
// Browser test of the shopper page (`npm run test:browser`; not part of vitest).
// Starts its own `wrangler dev` (scripts/lib/local-server.mjs: a free port, a throwaway state
// directory and throwaway secrets), creates a
// sale with ONE unit through the admin API, then drives headless Chromium (Debian's
// /usr/bin/chromium, via playwright-core):
//   shopper 1 (375 px wide): countdown → proof of work → waiting room → claim → pay (tok_ok) →
//     order confirmed; the order id on the page must match GET /api/orders/:id, the object's
//     stats must show the unit sold, and a reload must resume on the confirmed order;
//   shopper 2 (a fresh browser context): sees "Sold out".
// Screenshots of each step go to test/screenshots/. wrangler is stopped on exit, also on failure.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { createClient, fetchTransport } from "../../domain/client.js";
import { saleConfig } from "../../domain/sale-config.js";
import { startLocal } from "../../scripts/lib/local-server.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "../..");
const SHOTS = join(ROOT, "test/screenshots");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const BUDGET_MS = 85_000; // the whole run, wrangler start-up included
// Difficulty 16 is ~65k SHA-256 tries (about a second in headless Chromium): long enough for the
// page to report progress (every 4096 tries), short enough for the budget.
const POW_BITS = 16;
// The sale opens this long after it is created, so shopper 1 sees the countdown and the pre-queue.
const OPENS_IN_MS = 12_000;

const t0 = performance.now();
const elapsed = () => `${((performance.now() - t0) / 1000).toFixed(1)} s`;
const log = (msg) => console.log(`[${elapsed().padStart(7)}] ${msg}`);

// ------------------------------------------------------------------ wrangler dev, our own

let server = null;
let browser = null;

const pause = (ms) => new Promise((r) => setTimeout(r, ms));
let interrupted = false;
let cleaning = null;
function cleanup() {
  cleaning ??= (async () => {
    await Promise.race([browser?.close().catch(() => {}), pause(5000)]);
    await server?.stop({ removeDir: true });
  })();
  return cleaning;
}
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(sig, () => {
    interrupted = true;
    console.error(`\n${sig}: stopping the browser and wrangler`);
    cleanup().finally(() => process.exit(130));
  });
}

// ------------------------------------------------------------------ page helpers

async function shot(page, name) {
  const path = join(SHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  log(`screenshot ${relative(ROOT, path)}`);
}

const text = (page, sel) => page.locator(sel).innerText();

async function waitStep(page, stepName, timeout = 15_000) {
  await page.waitForFunction((s) => document.body.dataset.step === s, stepName, { timeout });
}

async function assertFocusOn(page, id) {
  await page.waitForFunction((i) => document.activeElement?.id === i, id, { timeout: 3000 });
}

async function assertNoSideScroll(page) {
  const { scroll, width } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, width: window.innerWidth }));
  assert.ok(scroll <= width, `the page scrolls sideways: ${scroll} px content in a ${width} px viewport`);
}

function watchErrors(page, who, errors) {
  page.on("pageerror", (e) => errors.push(`${who}: ${e.message}`));
  // A script, worker or request the page's CSP blocks is a broken page.
  page.on("console", (m) => /Content Security Policy|Refused to/i.test(m.text()) && errors.push(`${who}: ${m.text()}`));
}

/** The page's own answer carries its security headers (public/_headers). */
async function assertPageHeaders(base, path) {
  const res = await fetch(`${base}${path}`);
  const csp = res.headers.get("content-security-policy") ?? "";
  assert.match(csp, /default-src 'self'/, `${path}: CSP`);
  assert.match(csp, /frame-ancestors 'none'/, `${path}: frame-ancestors`);
  assert.match(csp, /script-src[^;]*https:\/\/challenges\.cloudflare\.com/, `${path}: Turnstile's script is allowed`);
  assert.equal(res.headers.get("x-content-type-options"), "nosniff", `${path}: nosniff`);
  assert.ok(res.headers.get("referrer-policy"), `${path}: Referrer-Policy`);
  const api = await fetch(`${base}/api/session`, { method: "POST", headers: { "user-agent": "Mozilla/5.0 headers-check" } });
  assert.equal(api.headers.get("cache-control"), "no-store", "an API answer with a token is not cached");
}

// ------------------------------------------------------------------ the test

async function run() {
  mkdirSync(SHOTS, { recursive: true });
  // A throwaway state dir and secrets; headless Chromium's User-Agent says HeadlessChrome, which
  // the bot check refuses.
  server = await startLocal({ cwd: ROOT, vars: { BOT_UA_CHECK: "off" }, log });
  const { base } = server;
  log(`wrangler dev is up on ${base}`);
  const api = createClient({ transport: fetchTransport(base) });
  const admin = api.admin(server.adminToken);

  const sale = `browser-${Date.now().toString(36)}`;
  const product = { id: `console-${sale}`, name: "Console X (browser test)", price: 49_900, currency: "EUR" };
  const now = Date.now();
  const created = await admin.createSale(
    saleConfig({ id: sale, product, stock_total: 1, starts_at: new Date(now + OPENS_IN_MS).toISOString(), ends_at: new Date(now + 3600_000).toISOString(), pow_difficulty: POW_BITS }),
  );
  assert.equal(created.status, 201, `creating the sale: ${JSON.stringify(created.body)}`);
  log(`sale ${sale} created: 1 unit, opens in ${OPENS_IN_MS / 1000} s, pow_difficulty ${POW_BITS}`);

  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
  const errors = [];

  // ---- shopper 1, on a 375 px wide phone screen
  const ctx1 = await browser.newContext({ viewport: { width: 375, height: 812 }, locale: "en-US", timezoneId: "UTC" });
  await assertPageHeaders(base, `/sale?id=${sale}`);
  await assertPageHeaders(base, "/");
  const page = await ctx1.newPage();
  watchErrors(page, "shopper 1", errors);
  const landing = await page.goto(`${base}/sale?id=${sale}`);
  // The page's CSP allows Stripe.js (the card form when a publishable key is configured).
  assert.match(landing.headers()["content-security-policy"] ?? "", /script-src 'self' https:\/\/js\.stripe\.com/);
  await waitStep(page, "start");
  assert.equal(await text(page, "#product-name"), product.name);
  assert.equal(await text(page, "#price"), new Intl.NumberFormat("en-US", { style: "currency", currency: "EUR" }).format(499));
  assert.equal(await text(page, "#h-start"), "Opens soon");
  assert.match(await text(page, "#start-countdown"), /^Opens in 0:\d\d$/);
  assert.equal(await text(page, "#availability"), "1 of 1 left");
  await assertNoSideScroll(page);
  await shot(page, "01-countdown");

  // Hold the queue POST until the proof of work has been photographed, so the step stays on
  // screen however fast this machine solves it.
  let release;
  const held = new Promise((r) => (release = r));
  await page.route(`**/api/sales/${sale}/queue`, async (route) => {
    if (route.request().method() === "POST") await held;
    await route.continue();
  });
  await page.click("#join");
  await waitStep(page, "room");
  await assertFocusOn(page, "h-room");
  await page.waitForFunction(() => {
    const bar = document.getElementById("pow-progress");
    return Number(bar.dataset.tries) > 0 || bar.dataset.state === "done";
  });
  await shot(page, "02-proof-of-work");
  const pow = await page.locator("#pow-progress").evaluate((b) => ({ state: b.dataset.state, tries: Number(b.dataset.tries), value: b.value }));
  assert.ok(pow.tries > 0 && pow.value > 0, `the proof of work shows progress: ${JSON.stringify(pow)}`);
  release();
  await page.waitForFunction(() => document.getElementById("pow-progress").dataset.state === "done");

  // Joined before the opening: in the pre-queue, the place is drawn at the start.
  await page.waitForFunction(() => !document.getElementById("line").hidden);
  assert.equal(await text(page, "#position"), "You're in the line.");
  assert.match(await text(page, "#eta"), /opens in 0:\d\d|opening/);
  await shot(page, "03-waiting-room");
  await page.unroute(`**/api/sales/${sale}/queue`);

  // The sale opens; the page polls the line by itself and gets the pass.
  await waitStep(page, "claim", OPENS_IN_MS + 15_000);
  await assertFocusOn(page, "h-claim");
  assert.equal(await text(page, "#sale-status"), "On sale");
  assert.equal(await text(page, "#claim"), `Claim ${product.name} for €499.00`);
  await shot(page, "04-claim");
  log("admitted: claiming");

  await page.click("#claim");
  await waitStep(page, "pay");
  await assertFocusOn(page, "h-pay");
  const timer1 = await text(page, "#hold-timer");
  assert.match(timer1, /^[12]:\d\d$/, "the hold's window is on screen");
  // Availability refreshes without a reload: the only unit is now in our cart.
  await page.waitForFunction(() => document.getElementById("availability").textContent.startsWith("Sold out"), null, { timeout: 6000 });
  assert.match(await text(page, "#card-hint"), /test cards/i);
  await page.selectOption("#card", "tok_ok");
  await page.waitForFunction((t) => document.getElementById("hold-timer").textContent !== t, timer1, { timeout: 3000 });
  await assertNoSideScroll(page);
  await shot(page, "05-payment");

  await page.click("#pay");
  await waitStep(page, "result");
  await page.waitForSelector('[data-result="confirmed"] #order-amount');
  await assertFocusOn(page, "h-result");
  assert.equal(await text(page, "#h-result"), "Order confirmed");
  const orderId = await text(page, "#order-id");
  assert.match(orderId, /\S{6,}/);
  assert.equal(await text(page, "#order-amount"), "€499.00");
  // Live availability again: once the edge's ~1 s cache catches up, the unit shows as sold.
  await page.waitForFunction(() => document.getElementById("availability").textContent === "Sold out", null, { timeout: 6000 });
  await shot(page, "06-order-confirmed");
  log(`order ${orderId} confirmed on the page`);

  // The API agrees with the page, with shopper 1's own session.
  const token = await page.evaluate((k) => JSON.parse(sessionStorage.getItem(k)).token, `flashsale:${sale}`);
  const res = await api.order(orderId, token);
  assert.equal(res.status, 200);
  const { order } = res.body;
  assert.equal(order.id, orderId);
  assert.equal(order.sale_id, sale);
  assert.equal(order.qty, 1);
  assert.equal(order.amount, product.price);
  const stats = await admin.stats(sale);
  assert.deepEqual(stats.body.stock, { stock_total: 1, available: 0, held: 0, sold: 1, withdrawn: 0 });

  // A reload resumes from sessionStorage on the same order.
  await page.reload();
  await page.waitForSelector('[data-result="confirmed"] #order-id');
  assert.equal(await text(page, "#order-id"), orderId);

  // ---- shopper 2: a fresh context (new sessionStorage, new session), desktop width
  const ctx2 = await browser.newContext({ viewport: { width: 1024, height: 768 }, locale: "en-US", timezoneId: "UTC" });
  const page2 = await ctx2.newPage();
  watchErrors(page2, "shopper 2", errors);
  await page2.goto(`${base}/sale?id=${sale}`);
  // The edge may serve sale info up to ~1 s old ("sold out for now"); it settles on sold out.
  await page2.waitForSelector('[data-result="soldout"]', { timeout: 8000 });
  assert.equal(await text(page2, "#h-result"), "Sold out");
  assert.equal(await text(page2, "#availability"), "Sold out");
  assert.equal(await page2.locator("#join").isVisible(), false);
  await shot(page2, "07-shopper2-sold-out");

  assert.deepEqual(errors, [], "no script errors on the page");
}

let ok = false;
const budget = setTimeout(() => {
  console.error(`FAIL: over the ${BUDGET_MS / 1000} s budget`);
  cleanup().finally(() => process.exit(1));
}, BUDGET_MS);
try {
  await run();
  ok = true;
} catch (e) {
  if (interrupted) await new Promise(() => {}); // the signal handler exits once cleaned up
  console.error(`\nFAIL after ${elapsed()}:`, e);
  if (server) console.error(`\n--- last wrangler output ---\n${server.logTail()}`);
  await e?.stop?.({ removeDir: true }); // wrangler failed to start (its log is in the error)
} finally {
  clearTimeout(budget);
  await cleanup();
}
console.log(ok ? `PASS: shopper page end to end in ${elapsed()}` : "FAIL");
process.exit(ok ? 0 : 1);
