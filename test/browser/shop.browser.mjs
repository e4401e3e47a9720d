#!/usr/bin/env node
// Browser test of the shopper page (`npm run test:browser`; not part of vitest).
// Starts its own `wrangler dev` (scripts/lib/local-server.mjs: a free port, a throwaway state
// directory and throwaway secrets), creates a
// sale with ONE unit that needs a shop account (the default), and an anonymous one, through the
// admin API, then drives headless Chromium (Debian's /usr/bin/chromium, via playwright-core):
//   a forged assertion in the address (#identity=…) is refused: back to the sign-in, with why;
//   shopper 1 (375 px wide): the sign-in link → the demo shop's sign-in → back on the page signed
//     in (the assertion gone from the address bar) → countdown → proof of work → waiting room →
//     claim → pay (tok_ok) → order confirmed; the order id on the page must match
//     GET /api/orders/:id with the page's own session (an account session), the object's stats
//     must show the unit sold, a reload must resume on the confirmed order, and signing out
//     forgets the session;
//   shopper 2 (a fresh browser context): sees "Sold out";
//   shopper 3, on the anonymous sale: no sign-in, straight to the line and admitted.
// Screenshots of each step go to test/screenshots/. wrangler is stopped on exit, also on failure.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { chromium } from "playwright-core";
import { createClient, fetchTransport } from "../../domain/client.js";
import { saleConfig } from "../../domain/sale-config.js";
import { startLocal } from "../../scripts/lib/local-server.mjs";
import { CHROMIUM, log, ROOT, running, runWithin, shot, SHOTS } from "./harness.mjs";

const BUDGET_MS = 110_000; // the whole run, wrangler start-up included
// Difficulty 16 is ~65k SHA-256 tries (about a second in headless Chromium): long enough for the
// page to report progress (every 4096 tries), short enough for the budget.
const POW_BITS = 16;
// The sale opens this long after it is created, so shopper 1 signs in, then sees the countdown and
// the pre-queue.
const OPENS_IN_MS = 20_000;
// The anonymous sale's time to claim once admitted: short, so that shopper 3 sees it run out.
const PASS_TTL_S = 4;

// ------------------------------------------------------------------ wrangler dev, our own

// ------------------------------------------------------------------ page helpers

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
  const server = (running.server = await startLocal({ cwd: ROOT, vars: { BOT_UA_CHECK: "off" }, log }));
  const { base } = server;
  log(`wrangler dev is up on ${base}`);
  const api = createClient({ transport: fetchTransport(base) });
  const admin = api.admin(server.adminToken);

  const sale = `browser-${Date.now().toString(36)}`;
  const product = { id: `console-${sale}`, name: "Console X (browser test)", price: 49_900, currency: "EUR" };
  const now = Date.now();
  const created = await admin.createSale(
    saleConfig(
      {
        id: sale,
        product,
        stock_total: 1,
        starts_at: new Date(now + OPENS_IN_MS).toISOString(),
        ends_at: new Date(now + 3600_000).toISOString(),
        pow_difficulty: POW_BITS,
      },
      { now },
    ),
  );
  assert.equal(created.status, 201, `creating the sale: ${JSON.stringify(created.body)}`);
  assert.equal(created.body.sale.identity, "account", "sales need a shop account by default");
  log(`sale ${sale} created: 1 unit, shop accounts only, opens in ${OPENS_IN_MS / 1000} s, pow_difficulty ${POW_BITS}`);
  const anonSale = `${sale}-anon`;
  const anon = await admin.createSale(
    saleConfig(
      {
        id: anonSale,
        identity: "anonymous",
        product: { ...product, id: `tee-${sale}`, name: "T-shirt (browser test)", price: 2_000 },
        stock_total: 5,
        pow_difficulty: 8,
        pass_ttl_s: PASS_TTL_S,
      },
      { now },
    ),
  );
  assert.equal(anon.status, 201, `creating the anonymous sale: ${JSON.stringify(anon.body)}`);

  const browser = (running.browser = await chromium.launch({ executablePath: CHROMIUM, headless: true }));
  const errors = [];

  // ---- shopper 1, on a 375 px wide phone screen
  const ctx1 = await browser.newContext({ viewport: { width: 375, height: 812 }, locale: "en-US", timezoneId: "UTC" });
  await assertPageHeaders(base, `/sale?id=${sale}`);
  await assertPageHeaders(base, "/");

  // A forged assertion in the address: refused by POST /api/session, and gone from the address.
  const forger = await browser.newContext({ locale: "en-US", timezoneId: "UTC" });
  const forged = await forger.newPage();
  watchErrors(forged, "forged sign-in", errors);
  await forged.goto(`${base}/sale?id=${sale}#identity=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJtYWxsb3J5In0.forged`);
  await forged.waitForFunction(() => document.getElementById("signin-message").textContent.length > 0, null, { timeout: 8000 });
  assert.match(await text(forged, "#signin-message"), /could not be checked/);
  assert.equal(new URL(forged.url()).hash, "", "the assertion is taken out of the address bar");
  assert.equal(await forged.locator("#join").isVisible(), false);
  await forger.close();

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
  // An account sale, and nobody signed in: the shop's sign-in instead of the join button.
  assert.equal(await page.locator("#join").isVisible(), false);
  assert.equal(await page.locator("#account").isVisible(), false);
  const signin = page.getByRole("link", { name: "Sign in at the shop" });
  assert.equal(await signin.getAttribute("href"), `/demo/sign-in?return_to=${encodeURIComponent(`/sale?id=${sale}`)}`);
  await assertNoSideScroll(page);
  await shot(page, "01-sign-in");

  // The demo shop's sign-in (DEMO_SIGNIN) vouches for any name and sends the shopper back.
  await signin.click();
  await page.waitForURL(/\/demo\/sign-in/);
  await page.getByLabel("Account name").fill("alice");
  await shot(page, "02-shop-sign-in");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL((u) => u.pathname === "/sale");
  await page.waitForFunction(() => !document.getElementById("account").hidden, null, { timeout: 8000 });
  assert.equal(await text(page, "#account-name"), "alice");
  assert.equal(new URL(page.url()).hash, "", "the assertion is taken out of the address bar");
  assert.equal(await page.evaluate(() => location.hash), "");
  await waitStep(page, "start");
  assert.equal(await page.locator("#signin").isVisible(), false);
  assert.equal(await page.locator("#join").isVisible(), true);
  assert.equal(await text(page, "#h-start"), "Opens soon");
  assert.match(await text(page, "#start-countdown"), /^Opens in 0:\d\d$/);
  const session = await page.evaluate(() => JSON.parse(sessionStorage.getItem("flashsale:session")));
  assert.equal(session.account, "alice", "an account session");
  assert.equal(session.user_id, "acct:alice");
  log("signed in at the demo shop as alice");
  await assertNoSideScroll(page);
  await shot(page, "03-countdown");

  // Hold the queue POST until the proof of work has been photographed, so the step stays on
  // screen however fast this machine solves it.
  /** @type {(v?: unknown) => void} */
  let release = () => {};
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
  await shot(page, "04-proof-of-work");
  const pow = await page
    .locator("#pow-progress")
    .evaluate((/** @type {HTMLProgressElement} */ b) => ({ state: b.dataset.state, tries: Number(b.dataset.tries), value: b.value }));
  assert.ok(pow.tries > 0 && pow.value > 0, `the proof of work shows progress: ${JSON.stringify(pow)}`);
  release();
  await page.waitForFunction(() => document.getElementById("pow-progress").dataset.state === "done");

  // Joined before the opening: in the pre-queue, the place is drawn at the start.
  await page.waitForFunction(() => !document.getElementById("line").hidden);
  assert.equal(await text(page, "#position"), "You're in the line.");
  assert.match(await text(page, "#eta"), /opens in 0:\d\d|opening/);
  await shot(page, "05-waiting-room");
  await page.unroute(`**/api/sales/${sale}/queue`);

  // The sale opens; the page polls the line by itself and gets the pass.
  await waitStep(page, "claim", OPENS_IN_MS + 15_000);
  await assertFocusOn(page, "h-claim");
  assert.equal(await text(page, "#sale-status"), "On sale");
  assert.equal(await text(page, "#claim"), `Claim ${product.name} for €499.00`);
  await shot(page, "06-claim");
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
  await shot(page, "07-payment");

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
  await shot(page, "08-order-confirmed");
  log(`order ${orderId} confirmed on the page`);

  // The API agrees with the page, with shopper 1's own session.
  const res = await api.order(orderId, session.token);
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
  assert.equal(await text(page, "#account-name"), "alice");

  // Signing out forgets the session (and this tab's progress made with it).
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.waitForFunction(() => document.getElementById("account").hidden);
  assert.equal(await page.evaluate(() => JSON.parse(sessionStorage.getItem("flashsale:session") ?? "{}").token ?? null), null);
  assert.equal(await text(page, "#account-status"), "You are signed out.");

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
  await shot(page2, "09-shopper2-sold-out");

  // ---- shopper 3, on an anonymous sale: no sign-in, an anonymous session when joining
  const ctx3 = await browser.newContext({ viewport: { width: 375, height: 812 }, locale: "en-US", timezoneId: "UTC" });
  const page3 = await ctx3.newPage();
  watchErrors(page3, "shopper 3", errors);
  await page3.goto(`${base}/sale?id=${anonSale}`);
  await waitStep(page3, "start");
  assert.equal(await text(page3, "#h-start"), "On sale now");
  assert.equal(await page3.locator("#signin").isVisible(), false);
  await page3.click("#join");
  await waitStep(page3, "claim", 15_000);
  assert.equal(await text(page3, "#claim"), "Claim T-shirt (browser test) for €20.00");
  assert.match(await text(page3, "#claim-timer"), /^Your turn lasts another 0:0\d\.$/);
  const anonSession = await page3.evaluate(() => JSON.parse(sessionStorage.getItem("flashsale:session")));
  assert.equal(anonSession.account, null, "an anonymous session");
  assert.equal(await page3.locator("#account").isVisible(), false);
  await shot(page3, "10-anonymous-admitted");
  log("anonymous sale: admitted without signing in");
  // The time to claim runs out; a click then finds the place spent (`expired`) and joins again,
  // at the back, with the old ticket, and the shopper is told why.
  await page3.waitForFunction(() => document.getElementById("claim-timer").textContent.startsWith("Your turn has ended"), null, {
    timeout: (PASS_TTL_S + 2) * 1000,
  });
  // A ticket is a JWT; its `b` is the place's arrival bucket (100 ms each after the opening).
  const bucket = (ticket) => JSON.parse(Buffer.from(ticket.split(".")[1], "base64url").toString()).b;
  const firstPlace = bucket(await page3.evaluate((k) => JSON.parse(sessionStorage.getItem(k)).ticket, `flashsale:${anonSale}`));
  await page3.click("#claim");
  await page3.waitForFunction(() => /ran out/.test(document.getElementById("room-note").textContent), null, { timeout: 5000 });
  await waitStep(page3, "claim", 15_000);
  const again = await page3.evaluate((k) => JSON.parse(sessionStorage.getItem(k)), `flashsale:${anonSale}`);
  assert.ok(bucket(again.ticket) > firstPlace, `a new place, at the back: bucket ${bucket(again.ticket)} after ${firstPlace}`);
  assert.ok(again.passExp > Date.now(), "admitted again, with a fresh pass");
  assert.match(await text(page3, "#room-note"), /joining the line again, at the back/);
  log("anonymous sale: the time to claim ran out, joined again at the back and admitted");

  assert.deepEqual(errors, [], "no script errors on the page");
}

await runWithin(BUDGET_MS, run, "shopper page end to end");
