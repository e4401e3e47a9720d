#!/usr/bin/env node
// Browser test of the operator's dashboard (`npm run test:browser`, after the shopper page's).
// Starts its own `wrangler dev` (scripts/lib/local-server.mjs: a free port, throwaway state and
// secrets, the rehearsal's short payment timings), then drives headless Chromium through
// /admin/ while a small rehearsal runs (300 shoppers on 30 units, the rehearsal's own modules):
//   sign-in (a wrong token is refused, the right one kept for the tab) → the list of sales, whose
//   figures equal GET /admin/sales → the sale, live: its figures equal the admin API's answer it
//   rendered, mid-sale; a reload mid-sale still has the history (the objects keep it) → once the
//   crowd has settled, the figures equal a fresh GET /admin/sales/:id → actions from the page:
//   admission settings, a restock (confirmed), a pause that reaches the sale (the API says paused
//   and a claim gets 425), a close (confirmed by typing the id).
// Screenshots of each view go to test/screenshots/dash-*.png; with DASHBOARD_SHOT=<file> the
// mid-rehearsal one is also copied there (e.g. for a release note).
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync } from "node:fs";
import { chromium } from "playwright-core";
import { createClient, fetchTransport } from "../../domain/client.js";
import { saleConfig } from "../../domain/sale-config.js";
import { crowdContext, runCrowd } from "../../scripts/lib/crowd.mjs";
import { createPool } from "../../scripts/lib/http.mjs";
import { startLocal } from "../../scripts/lib/local-server.mjs";
import { PAY, readOptions } from "../../scripts/lib/rehearsal-options.mjs";
import { settle } from "../../scripts/lib/settle.mjs";
import { shopSigner } from "../../scripts/lib/shop-account.mjs";
import { powSolver } from "../../scripts/lib/solver.mjs";
import { CHROMIUM, log, pause, ROOT, running, runWithin, shot, SHOTS } from "./harness.mjs";

const MID_SHOT = process.env.DASHBOARD_SHOT;
const BUDGET_MS = 240_000;
const USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) flashsale-dashboard-test/1.0";
/** The test's own admin calls come from their own address: the page's budget (RL_ADMIN) is its own. */
const TEST_IP = { "cf-connecting-ip": "10.250.0.1" };

const at = (obj, path) => path.split(".").reduce((v, k) => v?.[k], obj);

/** Every figure the page shows (`data-figure` = its path in the API's answer), and how many renders it has done. */
const figuresOn = (page, scope = "#view-sale") =>
  page.evaluate((sel) => {
    const figs = {};
    for (const e of /** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll(`${sel} [data-figure]`)))
      figs[e.dataset.figure] = e.dataset.value;
    return { renders: Number(document.body.dataset.renders ?? 0), figs };
  }, scope);

/** The figures that differ from the API's answer `body` (raw values, compared as the page keeps them). */
function differences(figs, body, atLeast = 20) {
  assert.ok(Object.keys(figs).length >= atLeast, `the page shows its figures: ${JSON.stringify(figs)}`);
  return Object.entries(figs)
    .filter(([path, v]) => String(at(body, path) ?? "") !== v)
    .map(([path, v]) => `${path}: page ${v}, API ${at(body, path)}`);
}

async function until(what, check, ms = 60_000, every = 500) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await pause(every);
  }
}

async function run() {
  mkdirSync(SHOTS, { recursive: true });
  // Arrivals over 6 s and 15 admitted a second: a line forms, and the charts have a curve to draw.
  const { opts } = readOptions([
    "--shoppers",
    "300",
    "--stock",
    "30",
    "--arrival-s",
    "6",
    "--admission-rate",
    "15",
    "--settle-timeout-s",
    "90",
  ]);
  const server = (running.server = await startLocal({
    cwd: ROOT,
    log,
    vars: { LOG_LEVEL: "warn", ...Object.fromEntries(Object.entries(PAY).map(([k, v]) => [k, String(v)])) },
  }));
  const { base, adminToken } = server;
  log(`wrangler dev is up on ${base}`);
  const admin = createClient({ transport: fetchTransport(base), headers: { "user-agent": USER_AGENT, ...TEST_IP } }).admin(adminToken);

  // A quiet sale to list, and the rehearsal's sale, opening once the page is watching.
  const idle = `quiet-${Date.now().toString(36)}`;
  assert.equal((await admin.createSale(saleConfig({ id: idle, stock_total: 12, pow_difficulty: 0 }, { now: Date.now() }))).status, 201);
  const burstAt = Date.now() + 20_000;
  const saleInput = saleConfig(
    {
      id: `dash-${Date.now().toString(36)}`,
      product: { id: "dashboard-widget", name: "Dashboard widget", price: 4990, currency: "EUR" },
      stock_total: opts.stock,
      starts_at: new Date(burstAt + opts.openAfterS * 1000).toISOString(),
      ends_at: new Date(burstAt + 3600_000).toISOString(),
      hold_ttl_s: opts.holdTtlS,
      admission_rate: opts.admissionRate,
      max_active: opts.maxActive,
      pow_difficulty: opts.pow,
    },
    { now: burstAt },
  );
  assert.equal((await admin.createSale(saleInput)).status, 201);
  const id = saleInput.id;
  log(`sales ${idle} and ${id} created (${opts.stock} units, ${opts.shoppers} shoppers from ${new Date(burstAt).toISOString()})`);

  const browser = (running.browser = await chromium.launch({ executablePath: CHROMIUM, headless: true }));
  const ctx = await browser.newContext({ viewport: { width: 1366, height: 900 }, locale: "en-US", timezoneId: "UTC" });
  const page = await ctx.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));

  // ---- sign-in: nothing without the token
  await page.goto(`${base}/admin/`);
  await page.waitForFunction(() => document.body.dataset.view === "sign-in");
  assert.equal(await page.locator("#sales-rows tr").count(), 0, "no sales shown before signing in");
  await page.fill("#token", `${adminToken}-wrong`);
  await page.click("#token-form button[type=submit]");
  await page.waitForFunction(() => document.getElementById("sign-in-error").textContent.includes("refused"));
  await shot(page, "dash-01-sign-in");
  await page.fill("#token", adminToken);
  await page.click("#token-form button[type=submit]");
  await page.waitForFunction(() => document.body.dataset.view === "sales" && Number(document.body.dataset.listRenders) > 0);
  assert.equal(await page.evaluate(() => sessionStorage.getItem("flashsale:admin-token")), adminToken, "kept for the tab");

  // ---- the list equals GET /admin/sales (nothing moves before the burst)
  const list = (await admin.list()).body;
  for (const sid of [idle, id]) {
    const row = list.sales.find((s) => s.sale.id === sid);
    const shown = await page.evaluate(
      (s) =>
        Object.fromEntries(
          [.../** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll(`tr[data-sale="${s}"] [data-figure]`))].map((e) => [
            e.dataset.figure,
            e.dataset.value,
          ]),
        ),
      sid,
    );
    assert.deepEqual(differences(shown, row, 5), [], `list row ${sid}`);
    assert.equal(shown["stock.available"], String(row.stock.available));
  }
  assert.deepEqual(
    await page
      .locator("#sales-rows tr")
      .evaluateAll((trs) => trs.map((t) => t.dataset.sale))
      .then((ids) => ids.slice(0, 2)),
    [id, idle],
    "newest first",
  );
  await shot(page, "dash-02-sales");

  // ---- the sale, live, while the crowd arrives
  const rendered = []; // every GET /admin/sales/:id answer the page received, in order
  await page.route(`**/admin/sales/${id}`, async (route) => {
    const res = await route.fetch();
    if (route.request().method() === "GET") rendered.push(await res.json());
    await route.fulfill({ response: res });
  });
  await page.click(`tr[data-sale="${id}"] a`);
  await page.waitForFunction(() => document.body.dataset.view === "sale" && Number(document.body.dataset.renders) > 0);

  const pool = (running.pool = createPool({ base, concurrency: opts.concurrency }));
  const api = createClient({ transport: pool.transport, headers: { "user-agent": USER_AGENT } });
  // An account sale (the default): each shopper signs in as their own account, as the shop would.
  const sign = shopSigner(server.shopIdentitySecret);
  const crowdCtx = crowdContext({
    api,
    admin,
    opts,
    sale: { ...saleInput, starts_at_ms: Date.parse(saleInput.starts_at) },
    t0: burstAt,
    solve: await powSolver("node"),
    sign,
  });
  const crowd = runCrowd(crowdCtx, { server, saleCreatedAt: Date.now() });
  log("the crowd is on its way");

  // Mid-sale: units sold, shoppers still in line, and the charts have rows.
  await until(
    "the sale to be under way",
    async () => {
      const s = (await admin.stats(id)).body;
      return s.stock.sold >= 5 && s.queue.waiting >= 20;
    },
    90_000,
  );
  // The page keeps polling: a render of an answer asked for from here on (one already under way,
  // its stats answered but its series not yet, may land first under load: then the next).
  const before = rendered.length;
  let mid;
  do {
    await page.waitForFunction((n) => Number(document.body.dataset.renders) > n, (await figuresOn(page)).renders);
    mid = await figuresOn(page);
  } while (rendered.length <= before);
  const match = rendered.slice(-3).find((b) => differences(mid.figs, b).length === 0);
  assert.ok(match, `mid-sale, the page shows what the API answered: ${differences(mid.figs, rendered.at(-1)).join("; ")}`);
  assert.ok(Number(mid.figs["stock.sold"]) >= 5 && Number(mid.figs["queue.waiting"]) > 0, "figures from mid-sale");
  await page.waitForFunction(() =>
    [.../** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll('#chart-claims [data-total="claim_held"]'))].some(
      (e) => Number(e.dataset.value) > 0,
    ),
  );
  const midShot = await shot(page, "dash-03-sale-mid-rehearsal");
  if (MID_SHOT) {
    copyFileSync(midShot, MID_SHOT);
    log(`copied to ${MID_SHOT}`);
  }

  // A reload mid-sale: the history is the objects', not the page's.
  await page.reload();
  await page.waitForFunction(() => document.body.dataset.view === "sale" && Number(document.body.dataset.renders) > 0);
  const held = await page.locator('#chart-claims [data-total="claim_held"]').getAttribute("data-value");
  assert.ok(Number(held) >= 3, `after a reload the claims chart still has the holds made before it: ${held}`);
  const series = (await admin.series(id)).body;
  const apiHeld = series.values.claim_held.reduce((n, v) => n + (v ?? 0), 0);
  assert.ok(Number(held) <= apiHeld, `the page's total (${held}) is the API's history (${apiHeld} now)`);

  const { shoppers } = await crowd;
  log(`the crowd is done (${shoppers.length} shoppers); waiting for the sale to settle`);
  const quiet = await settle(crowdCtx, admin);
  assert.ok(quiet.settled, "the sale settled");
  log(`settled: ${quiet.stats.stock.sold} sold`);

  // Settled: the page's figures equal a fresh answer of the admin API (asked right after a render).
  await until(
    "the page to show the settled sale",
    async () => {
      const { renders } = await figuresOn(page);
      await page.waitForFunction((n) => Number(document.body.dataset.renders) > n, renders);
      const { figs } = await figuresOn(page);
      const fresh = (await admin.stats(id)).body;
      const diff = differences(figs, fresh);
      if (diff.length) log(`not yet equal: ${diff.join("; ")}`);
      return diff.length === 0;
    },
    30_000,
    0,
  );
  const totalHeld = Number(await page.locator('#chart-claims [data-total="claim_held"]').getAttribute("data-value"));
  const finalSeries = (await admin.series(id)).body;
  assert.equal(
    totalHeld,
    finalSeries.values.claim_held.reduce((n, v) => n + (v ?? 0), 0),
    "the claims chart's holds are the API's",
  );
  await shot(page, "dash-04-sale-settled");

  // ---- actions from the page
  await page.fill("#rate", "42");
  await page.fill("#max-active", "500");
  await page.click("#admission-submit");
  await page.waitForFunction(() => document.getElementById("toast").textContent.startsWith("Admission set"));
  let s = (await admin.stats(id)).body;
  assert.equal(s.queue.admission_rate, 42);
  assert.equal(s.queue.max_active, 500);

  const stockBefore = s.stock.stock_total;
  // A turn carries a unit, and the crowd's places are still in line (told sold out, they left):
  // the restock is one unit for each of them, so the late shopper below is reached at once.
  const RESTOCK = opts.shoppers;
  await page.fill("#restock-qty", String(RESTOCK));
  await page.click("#restock-submit");
  await page.waitForSelector("#confirm[open]");
  assert.match(await page.locator("#confirm-title").innerText(), new RegExp(`Add ${RESTOCK} units to ${id}\\?`));
  await shot(page, "dash-05-confirm-restock");
  await page.click("#confirm-ok");
  await page.waitForFunction((n) => document.getElementById("toast").textContent.startsWith(`Added ${n} units`), RESTOCK);
  s = (await admin.stats(id)).body;
  assert.equal(s.stock.stock_total, stockBefore + RESTOCK);
  assert.ok(s.stock.available >= 5);

  // A shopper with a pass, ready to claim the new units; then the operator pauses from the page.
  const shopper = createClient({
    transport: fetchTransport(base),
    headers: { "user-agent": USER_AGENT, "cf-connecting-ip": "10.251.0.1" },
  });
  const { token } = (await shopper.session({ identity: await sign("dashboard-late-shopper") })).body;
  const { pass } = (await shopper.admit(id, token, { minPollMs: 200, maxPolls: 200 })).body;
  await page.click("#pause");
  await page.waitForFunction(() => document.getElementById("sale-status").dataset.value === "paused");
  s = (await admin.stats(id)).body;
  assert.equal(s.sale.status, "paused", "the admin API says paused");
  const refusedClaim = await shopper.claim(id, token, { pass, key: `dash-after-pause-${Date.now()}` });
  assert.equal(refusedClaim.status, 425, `a claim after the pause: ${JSON.stringify(refusedClaim.body)}`);
  assert.equal(refusedClaim.body.error, "not_open");
  assert.equal(await page.locator("#resume").isVisible(), true);
  await shot(page, "dash-06-paused");

  // Closing asks for the sale's id before it lets the operator confirm.
  await page.click("#close");
  await page.waitForSelector("#confirm[open]");
  assert.equal(await page.locator("#confirm-ok").isDisabled(), true, "not before the id is typed");
  await page.fill("#confirm-input", id);
  assert.equal(await page.locator("#confirm-ok").isDisabled(), false);
  await shot(page, "dash-07-confirm-close");
  await page.click("#confirm-ok");
  await page.waitForFunction(() => document.getElementById("sale-status").dataset.value === "closed");
  assert.equal((await admin.stats(id)).body.sale.status, "closed");
  assert.equal(await page.locator("#close").isDisabled(), true);

  assert.deepEqual(errors, [], "no script errors on the page");
}

await runWithin(BUDGET_MS, run, "the operator's dashboard during a rehearsal");
