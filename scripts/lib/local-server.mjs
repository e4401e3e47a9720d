// Runs the app for a rehearsal: `wrangler dev` on a free port with its own --persist-to temp
// dir (the developer's .wrangler/state is never touched), its own throwaway secrets (so no
// .dev.vars is needed), and D1 migrations applied to that dir first, as scripts/dev.mjs does.
// The Worker is bundled once into the temp dir and served with --no-bundle from a snapshot of
// the config: wrangler dev rebuilds and restarts on every edit of the sources, the config or the
// assets, which mid-rehearsal would be an unannounced restart of every object (and a different
// version of the code under test).
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { cpSync, createWriteStream, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { sleep } from "./http.mjs";

const require = createRequire(import.meta.url);
// The same binary `npx wrangler` runs, started directly so the whole tree is one process group.
const WRANGLER = join(dirname(require.resolve("wrangler/package.json")), "bin", "wrangler.js");
// Offline and quiet: no Request.cf fetch, no telemetry, no prompts.
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
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts wrangler dev and resolves once it answers. `vars` are passed as `--var K:V` (they
 * override wrangler.toml and .dev.vars). Returns { base, adminToken, dir, d1, stop }.
 */
export async function startLocal({ cwd, vars = {}, port, keep = false, log = () => {} }) {
  const dir = mkdtempSync(join(tmpdir(), "flashsale-rehearsal-"));
  const persist = join(dir, "state");
  const adminToken = `rh-admin-${randomBytes(12).toString("hex")}`;
  const secrets = {
    ADMIN_TOKEN: adminToken,
    TOKEN_SECRET: `rh-secret-${randomBytes(24).toString("hex")}`,
    TOKEN_SECRET_PREVIOUS: "",
    TURNSTILE_SECRET: "", // Turnstile needs the network: off for rehearsals
  };

  log(`applying D1 migrations to ${persist}`);
  const mig = spawnSync(process.execPath, [WRANGLER, "d1", "migrations", "apply", "DB", "--local", "--persist-to", persist], {
    cwd, env: ENV, encoding: "utf8",
  });
  if (mig.status !== 0) throw new Error(`wrangler d1 migrations apply failed:\n${mig.stdout}\n${mig.stderr}`);

  log("bundling the Worker (wrangler deploy --dry-run)");
  const bundleDir = join(dir, "bundle");
  const b = spawnSync(process.execPath, [WRANGLER, "deploy", "--dry-run", "--outdir", bundleDir], { cwd, env: ENV, encoding: "utf8" });
  if (b.status !== 0) throw new Error(`bundling failed:\n${b.stdout}\n${b.stderr}`);

  // A snapshot of the config and the static assets too: wrangler dev also restarts when
  // wrangler.toml or a file under the assets directory changes. Relative paths in the copied
  // config resolve inside the snapshot; `main` is replaced by the bundle below. No .dev.vars
  // sits next to the copy, so the only secrets are the throwaway ones passed with --var.
  const configText = readFileSync(join(cwd, "wrangler.toml"), "utf8");
  const snap = join(dir, "app");
  mkdirSync(snap);
  writeFileSync(join(snap, "wrangler.toml"), configText);
  const assets = /^\[assets\][^[]*?^directory\s*=\s*"([^"]+)"/ms.exec(configText)?.[1];
  if (assets) cpSync(join(cwd, assets), join(snap, assets), { recursive: true });

  port ??= await freePort();
  const inspector = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const args = [
    WRANGLER, "dev", join(bundleDir, "index.js"), "--no-bundle", "--config", join(snap, "wrangler.toml"), "--ip", "127.0.0.1", "--port", String(port), "--inspector-port", String(inspector),
    "--persist-to", persist, "--show-interactive-dev-session=false", "--log-level", "info",
  ];
  for (const [k, v] of Object.entries({ ...secrets, ...vars })) args.push("--var", `${k}:${v}`);
  const logFile = join(dir, "wrangler-dev.log");
  const out = createWriteStream(logFile);
  log(`starting wrangler dev on ${base} (log: ${logFile})`);
  const child = spawn(process.execPath, args, { cwd: snap, env: ENV, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout.pipe(out);
  child.stderr.pipe(out);
  let exited = null;
  child.on("exit", (code, signal) => (exited = { code, signal }));

  const stop = async ({ removeDir = !keep } = {}) => {
    if (exited === null) {
      try {
        process.kill(-child.pid, "SIGTERM"); // the whole group: wrangler, esbuild, workerd
      } catch {}
      for (let i = 0; i < 50 && exited === null; i++) await sleep(100);
      if (exited === null) {
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {}
      }
    }
    out.end();
    if (removeDir) rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + 120_000;
  for (;;) {
    if (exited) throw Object.assign(new Error(`wrangler dev exited (${JSON.stringify(exited)}); log:\n${tail(logFile)}`), { stop });
    if (Date.now() > deadline) {
      await stop({ removeDir: false });
      throw new Error(`wrangler dev did not answer on ${base} within 120 s; log: ${logFile}`);
    }
    try {
      const res = await fetch(`${base}/api/sales/rehearsal-probe`, { headers: { "user-agent": "Mozilla/5.0 probe" } });
      const text = await res.text();
      // An unknown sale is a 404 from the Worker; anything else means it is not wired up right.
      if (res.status !== 404) {
        await stop({ removeDir: false });
        throw new Error(`wrangler dev answered ${res.status} ${text.slice(0, 200)} to a probe; log: ${logFile}\n${tail(logFile)}`);
      }
      break;
    } catch (e) {
      if (!(e instanceof TypeError)) throw e; // fetch failed: not listening yet
      await sleep(300);
    }
  }

  /** Runs SQL against the local D1 of this run (`wrangler d1 execute --local --json`). */
  const d1 = (sql) => {
    const r = spawnSync(process.execPath, [WRANGLER, "d1", "execute", "DB", "--local", "--persist-to", persist, "--json", "--command", sql], {
      cwd, env: D1_ENV, encoding: "utf8", maxBuffer: 256 * 1024 * 1024,
    });
    if (r.status !== 0) throw new Error(`wrangler d1 execute failed: ${r.stderr || r.stdout}`);
    const json = r.stdout.slice(r.stdout.indexOf("["));
    return JSON.parse(json).map((x) => x.results);
  };

  /** CPU seconds used so far by wrangler dev and its workerd processes (Linux /proc; else null). */
  const cpuSeconds = () => groupCpuSeconds(child.pid);

  return { base, adminToken, dir, persist, logFile, d1, stop, cpuSeconds, pid: child.pid };
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
