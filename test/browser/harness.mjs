// What both browser tests share: the log's clock, screenshots, and one way out. The run goes
// under a time budget, and the browser, the crowd's pool and wrangler are stopped once, however
// it ends: a pass, a failure, the budget, Ctrl-C or a kill (exit 130).
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "../..");
export const SHOTS = join(ROOT, "test/screenshots");
export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

const t0 = performance.now();
export const elapsed = () => `${((performance.now() - t0) / 1000).toFixed(1)} s`;
export const log = (msg) => console.log(`[${elapsed().padStart(7)}] ${msg}`);
export const pause = (ms) => new Promise((r) => setTimeout(r, ms));

export async function shot(page, name) {
  const path = join(SHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  log(`screenshot ${relative(ROOT, path)}`);
  return path;
}

/** What to stop on the way out: the test sets each as it starts it. */
export const running = { server: null, browser: null, pool: null };

let cleaning = null;
let interrupted = false;
function cleanup() {
  cleaning ??= (async () => {
    running.pool?.close();
    await Promise.race([running.browser?.close().catch(() => {}), pause(5000)]);
    await running.server?.stop({ removeDir: true });
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

/** Runs the test within `budgetMs`, prints PASS (with `what`) or FAIL, cleans up and exits 0 or 1. */
export async function runWithin(budgetMs, run, what) {
  let ok = false;
  const budget = setTimeout(() => {
    console.error(`FAIL: over the ${budgetMs / 1000} s budget`);
    cleanup().finally(() => process.exit(1));
  }, budgetMs);
  try {
    await run();
    ok = true;
  } catch (e) {
    if (interrupted) await new Promise(() => {}); // the signal handler exits once cleaned up
    console.error(`\nFAIL after ${elapsed()}:`, e);
    if (running.server) console.error(`\n--- last wrangler output ---\n${running.server.logTail()}`);
    await e?.stop?.({ removeDir: true }); // wrangler failed to start (its log is in the error)
  } finally {
    clearTimeout(budget);
    await cleanup();
  }
  console.log(ok ? `PASS: ${what} in ${elapsed()}` : "FAIL");
  process.exit(ok ? 0 : 1);
}
