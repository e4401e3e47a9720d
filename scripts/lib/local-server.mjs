// "Start wrangler locally", once for everyone: `npm start` (scripts/dev.mjs), the rehearsal and
// the browser test. Two ways:
//  - throwaway (the rehearsal, the browser test): `wrangler dev` on a free port with its own
//    --persist-to temp dir (the developer's .wrangler/state is never touched), its own throwaway
//    secrets (no .dev.vars needed), D1 migrations applied to that dir first. The Worker is
//    bundled once into the temp dir and served with --no-bundle from a snapshot of the config:
//    wrangler dev rebuilds and restarts on every edit of the sources, the config or the assets,
//    which mid-run would be an unannounced restart of every object (and a different version of
//    the code under test). Output goes to a log file in the temp dir.
//  - the developer's (`npm start`): plain `wrangler dev` in the project, with .wrangler/state,
//    .dev.vars and wrangler's watcher (edits reload), its output on this terminal.
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { cpSync, createWriteStream, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { sleep } from "./http.mjs";
import { now } from "./clock.mjs";

const require = createRequire(import.meta.url);
// The same binary `npx wrangler` runs, started directly so the whole tree is one process group.
const WRANGLER = join(dirname(require.resolve("wrangler/package.json")), "bin", "wrangler.js");
// Offline and quiet: no Request.cf fetch, no telemetry, no prompts.
/** @type {Record<string, string | undefined>} */
const ENV = { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false", CI: "true" };
// `d1 execute --json` prints its JSON through wrangler's logger: any WRANGLER_LOG setting would
// add to it (debug) or remove it (error).
const { WRANGLER_LOG: _, ...D1_ENV } = ENV;

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = /** @type {import("node:net").AddressInfo} */ (srv.address());
      srv.close(() => resolve(port));
    });
  });
}

/** `wrangler d1 migrations apply DB --local` (into `persist`, else .wrangler/state). */
function migrate({ cwd, persist, inherit }) {
  const args = [WRANGLER, "d1", "migrations", "apply", "DB", "--local", ...(persist ? ["--persist-to", persist] : [])];
  const r = spawnSync(process.execPath, args, { cwd, env: ENV, encoding: "utf8", stdio: inherit ? "inherit" : "pipe" });
  if (r.status !== 0) throw new Error(`wrangler d1 migrations apply failed${inherit ? " (see above)" : `:\n${r.stdout}\n${r.stderr}`}`);
}

/**
 * @param {{ cwd: string, vars?: Record<string, string>, port?: number, throwaway?: boolean, keep?: boolean, log?: (msg: string) => void }} o
 * Starts wrangler dev and resolves once the Worker answers. `vars` are passed as `--var K:V`
 * (they override wrangler.toml and .dev.vars). `throwaway: false` is `npm start`'s way (above).
 * Returns { base, adminToken and shopIdentitySecret (throwaway only), dir, persist, logFile, d1, stop, cpuSeconds, pid, exited }.
 */
export async function startLocal({ cwd, vars = {}, port, throwaway = true, keep = false, log = () => {} }) {
  const dir = throwaway ? mkdtempSync(join(tmpdir(), "flashsale-local-")) : null;
  const persist = throwaway ? join(dir, "state") : null;
  const adminToken = throwaway ? `rh-admin-${randomBytes(12).toString("hex")}` : null;
  // The shop's identity secret: scripts sign account assertions with it (sales need an account
  // by default), and the page signs in through the local demo sign-in.
  const shopIdentitySecret = throwaway ? `rh-shop-${randomBytes(24).toString("hex")}` : null;
  const secrets = throwaway
    ? {
        ADMIN_TOKEN: adminToken,
        TOKEN_SECRET: `rh-secret-${randomBytes(24).toString("hex")}`,
        TOKEN_SECRET_PREVIOUS: "",
        TURNSTILE_SECRET: "", // Turnstile needs the network: off for throwaway runs
        // wrangler.toml's [vars] are production's: a local run is local, with test cards.
        DEPLOYMENT: "local",
        GATEWAY: "simulated",
        SHOP_IDENTITY_SECRET: shopIdentitySecret,
        DEMO_SIGNIN: "on",
        SHOP_SIGNIN_URL: "/demo/sign-in",
      }
    : {};

  log(`applying D1 migrations to ${persist ?? ".wrangler/state"}`);
  migrate({ cwd, persist, inherit: !throwaway });

  port ??= await freePort();
  const base = `http://127.0.0.1:${port}`;
  const args = [WRANGLER, "dev"];
  let runIn = cwd;
  if (throwaway) {
    log("bundling the Worker (wrangler deploy --dry-run)");
    const bundleDir = join(dir, "bundle");
    const b = spawnSync(process.execPath, [WRANGLER, "deploy", "--dry-run", "--outdir", bundleDir], { cwd, env: ENV, encoding: "utf8" });
    if (b.status !== 0) throw new Error(`bundling failed:\n${b.stdout}\n${b.stderr}`);
    // A snapshot of the config and the static assets too: wrangler dev also restarts when
    // wrangler.toml or a file under the assets directory changes. Relative paths in the copied
    // config resolve inside the snapshot; `main` is replaced by the bundle. No .dev.vars sits
    // next to the copy, so the only secrets are the throwaway ones passed with --var. The [build]
    // step (the pages) has run with the bundling and its output is copied: the snapshot has none.
    const configText = readFileSync(join(cwd, "wrangler.toml"), "utf8").replace(/^\[build\]\n(?:(?!\[)[^\n]*\n)*/m, "");
    runIn = join(dir, "app");
    mkdirSync(runIn);
    writeFileSync(join(runIn, "wrangler.toml"), configText);
    const assets = /^\[assets\][^[]*?^directory\s*=\s*"([^"]+)"/ms.exec(configText)?.[1];
    if (assets) cpSync(join(cwd, assets), join(runIn, assets), { recursive: true });
    args.push(
      join(bundleDir, "index.js"),
      "--no-bundle",
      "--config",
      join(runIn, "wrangler.toml"),
      "--inspector-port",
      String(await freePort()),
    );
    args.push("--persist-to", persist, "--log-level", "info");
  }
  args.push("--ip", "127.0.0.1", "--port", String(port), "--show-interactive-dev-session=false");
  for (const [k, v] of Object.entries({ ...secrets, ...vars })) args.push("--var", `${k}:${v}`);
  const logFile = throwaway ? join(dir, "wrangler-dev.log") : null;
  log(`starting wrangler dev on ${base}${logFile ? ` (log: ${logFile})` : ""}`);
  // Its own process group, so that stop() reaches wrangler, esbuild and workerd alike.
  /** @type {import("node:child_process").ChildProcess} */
  let child;
  let exited;
  /** @type {Promise<{ code: number | null, signal?: string | null }>} */
  let exit;
  const out = logFile ? createWriteStream(logFile) : null;
  const launch = () => {
    child = spawn(process.execPath, args, {
      cwd: runIn,
      env: ENV,
      detached: true,
      stdio: ["ignore", throwaway ? "pipe" : "inherit", throwaway ? "pipe" : "inherit"],
    });
    if (out) {
      child.stdout.pipe(out, { end: false });
      child.stderr.pipe(out, { end: false });
    }
    exited = null;
    exit = new Promise((resolve) => child.on("exit", (code, signal) => resolve((exited = { code, signal }))));
  };
  launch();
  const signal = (sig) => {
    try {
      process.kill(-child.pid, sig); // the whole group: wrangler, esbuild, workerd
    } catch {}
  };
  // Last resort: whatever happens to this process, no wrangler is left behind.
  const onExit = () => signal("SIGKILL");
  process.on("exit", onExit);

  const stop = async ({ removeDir = !keep } = {}) => {
    if (exited === null) {
      signal("SIGTERM");
      for (let i = 0; i < 50 && exited === null; i++) await sleep(100);
      if (exited === null) signal("SIGKILL");
    }
    // workerd can outlive wrangler by a moment.
    for (let i = 0; i < 20 && groupAlive(child.pid); i++) await sleep(100);
    signal("SIGKILL");
    process.off("exit", onExit);
    out?.end();
    if (dir && removeDir) rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  };
  const logTail = () => (logFile ? tail(logFile) : "(see above)");

  const ready = async () => {
    const deadline = now() + 120_000;
    for (;;) {
      if (exited) throw Object.assign(new Error(`wrangler dev exited (${JSON.stringify(exited)}); log:\n${logTail()}`), { stop });
      if (now() > deadline) {
        await stop({ removeDir: false });
        throw new Error(`wrangler dev did not answer on ${base} within 120 s; log: ${logFile ?? "above"}`);
      }
      try {
        const res = await fetch(`${base}/api/sales/local-server-probe`, { headers: { "user-agent": "Mozilla/5.0 probe" } });
        const text = await res.text();
        // An unknown sale is a 404 from the Worker; anything else means it is not wired up right.
        if (res.status !== 404) {
          await stop({ removeDir: false });
          throw new Error(`wrangler dev answered ${res.status} ${text.slice(0, 200)} to a probe; log: ${logFile ?? "above"}\n${logTail()}`);
        }
        break;
      } catch (e) {
        if (!(e instanceof TypeError)) throw e; // fetch failed: not listening yet
        await sleep(300);
      }
    }
  };
  await ready();

  /**
   * `kill -9` of the whole server (wrangler and workerd at once, no goodbye), then the same
   * server again on the same state dir and port (the soak's nemesis: scripts/lib/soak/).
   */
  const crash = async () => {
    signal("SIGKILL");
    await exit;
    for (let i = 0; i < 50 && groupAlive(child.pid); i++) await sleep(100);
    out?.write(`\n----- kill -9 at ${new Date(now()).toISOString()}; restarting on the same state -----\n`);
    launch();
    await ready();
  };

  /** Runs SQL against the local D1 of this run (`wrangler d1 execute --local --json`). */
  const d1 = (sql) => {
    const r = spawnSync(
      process.execPath,
      [WRANGLER, "d1", "execute", "DB", "--local", ...(persist ? ["--persist-to", persist] : []), "--json", "--command", sql],
      {
        cwd,
        env: D1_ENV,
        encoding: "utf8",
        maxBuffer: 256 * 1024 * 1024,
      },
    );
    if (r.status !== 0) throw new Error(`wrangler d1 execute failed: ${r.stderr || r.stdout}`);
    const json = r.stdout.slice(r.stdout.indexOf("["));
    return JSON.parse(json).map((x) => x.results);
  };

  /** CPU seconds used so far by wrangler dev and its workerd processes (Linux /proc; else null). */
  const cpuSeconds = () => groupCpuSeconds(child.pid);

  return {
    base,
    adminToken,
    shopIdentitySecret,
    dir,
    persist,
    logFile,
    d1,
    stop,
    crash,
    cpuSeconds,
    pid: child.pid,
    exited: exit,
    logTail,
  };
}

function groupAlive(pgid) {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false; // ESRCH: the group is gone
  }
}

function groupCpuSeconds(pgid) {
  try {
    const hz = 100; // USER_HZ on Linux
    let ticks = 0;
    for (const p of readdirSync("/proc")) {
      if (!/^\d+$/.test(p)) continue;
      let stat;
      try {
        stat = readFileSync(`/proc/${p}/stat`, "utf8");
      } catch {
        continue;
      }
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(f[2]) === pgid) ticks += Number(f[11]) + Number(f[12]); // pgrp, utime, stime
    }
    return ticks / hz;
  } catch {
    return null;
  }
}

function tail(file, n = 40) {
  try {
    return readFileSync(file, "utf8").split("\n").slice(-n).join("\n");
  } catch {
    return "(no log)";
  }
}
