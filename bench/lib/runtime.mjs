// The bare runtime for the bench: flashsale bundled as it would be deployed, served by workerd
// through Miniflare's API (not `wrangler dev`, whose proxy caps throughput), with the bindings
// of wrangler.toml, plus the no-op Worker (the ceiling) and the bench-only filler Worker.
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { convertV4MiniflareOptions, Miniflare } from "miniflare";
import { unstable_readConfig, unstable_splitSqlQuery } from "wrangler";

const ROOT = resolve(fileURLToPath(import.meta.url), "../../..");
const BENCH = join(ROOT, "bench");
/** Offline and quiet, as scripts/dev.mjs runs wrangler. */
export const OFFLINE_ENV = { CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false", CI: "true" };
/** Far above anything the bench sends: the limiter still runs (one Map lookup per call), never refuses. */
export const BENCH_RATE_LIMIT = 1_000_000_000;

/**
 * Bundles src/index.ts. "wrangler" = `wrangler deploy --dry-run` (the deploy bundle, ~5 s,
 * works offline); "esbuild" = esbuild straight (faster; same conditions as workerd).
 * limiter "isolate" bundles it behind bench/workers/local-limits.mjs (the Rate Limiting
 * bindings answered in the isolate; see there why), copied into `root`'s .wrangler/bench/ so
 * that it wraps that tree's Worker; "emulated" bundles src/index.ts as it is.
 * Returns the path of the ES module to serve.
 */
export async function bundle(how = "wrangler", root = ROOT, limiter = "isolate") {
  const out = mkdtempSync(join(tmpdir(), "flashsale-bench-"));
  let entry = join(root, "src/index.ts");
  if (limiter === "isolate") {
    mkdirSync(join(root, ".wrangler/bench"), { recursive: true });
    entry = join(root, ".wrangler/bench/entry.mjs");
    copyFileSync(join(BENCH, "workers/local-limits.mjs"), entry);
  }
  const built = (path) => ({ dir: out, path, limiter });
  if (how === "wrangler") {
    const r = spawnSync("npx", ["wrangler", "deploy", "--dry-run", "--outdir", out, entry], {
      cwd: root,
      env: { ...process.env, ...OFFLINE_ENV },
      encoding: "utf8",
    });
    if (r.status !== 0) {
      rmSync(out, { recursive: true, force: true });
      throw new Error(`wrangler deploy --dry-run failed:\n${r.stdout}\n${r.stderr}`);
    }
    const js = readdirSync(out).filter((f) => f.endsWith(".js"));
    if (js.length !== 1) throw new Error(`wrangler deploy --dry-run wrote ${js.join(", ") || "no .js"} in ${out}`);
    return built(join(out, js[0]));
  }
  const esbuild = await import("esbuild");
  await esbuild.build({
    entryPoints: [entry],
    outfile: join(out, "index.js"),
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    conditions: ["workerd", "worker", "browser"],
    mainFields: ["module", "main"],
    external: ["cloudflare:*", "node:*"],
    logLevel: "error",
  });
  return built(join(out, "index.js"));
}

/** wrangler.toml as wrangler reads it (without .dev.vars: the bench sets its own secrets). */
export function readWranglerConfig(root = ROOT) {
  return unstable_readConfig({ config: join(root, "wrangler.toml") }, { hideWarnings: true });
}

/**
 * Starts workerd with flashsale (+ the no-op and filler Workers). `vars` override wrangler.toml's
 * [vars] (e.g. GROUP_COMMIT); secrets are generated per run. Each Worker is reachable two ways:
 * its own socket (Miniflare's unsafeDirectSockets: straight into workerd's Worker) and through
 * Miniflare's entry Worker (one more Worker hop per request, as `wrangler dev` does minus its proxy).
 */
/** @param {{ script: string, limiter?: string, vars?: Record<string, string>, log?: (msg: string) => void, inspector?: boolean, root?: string }} o */
export async function startRuntime({ script, limiter = "isolate", vars = {}, log = () => {}, inspector = false, root = ROOT }) {
  const cfg = readWranglerConfig(root);
  const secrets = {
    ADMIN_TOKEN: `bench-admin-${crypto.randomUUID()}`,
    TOKEN_SECRET: `bench-secret-${crypto.randomUUID()}${crypto.randomUUID()}`,
    TOKEN_SECRET_PREVIOUS: "",
    TURNSTILE_SECRET: "",
    // Sales need a shop account: the bench's shoppers sign in with assertions made with this.
    SHOP_IDENTITY_SECRET: `bench-shop-${crypto.randomUUID()}${crypto.randomUUID()}`,
  };
  const sqliteClasses = new Set(cfg.migrations.flatMap((m) => m.new_sqlite_classes ?? []));
  const durableObjects = Object.fromEntries(
    cfg.durable_objects.bindings.map((b) => [b.name, { className: b.class_name, useSQLite: sqliteClasses.has(b.class_name) }]),
  );
  // Every limiter of wrangler.toml with its period, and a limit the bench never reaches: in the
  // isolate (BENCH_LIMITS, read by local-limits.mjs) or Miniflare's emulation.
  const limits = Object.fromEntries(cfg.ratelimits.map((r) => [r.name, [BENCH_RATE_LIMIT, r.simple.period]]));
  const ratelimits =
    limiter === "emulated"
      ? Object.fromEntries(
          cfg.ratelimits.map((r) => [
            r.name,
            { namespace_id: r.namespace_id, simple: { limit: BENCH_RATE_LIMIT, period: r.simple.period } },
          ]),
        )
      : {};
  const d1 = cfg.d1_databases[0];
  const socket = () => ({ unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }] });
  // Miniflare 5 takes each Worker's options under `config`; these are written in the v4 shape
  // (as wrangler's own tooling still does) and converted.
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      host: "127.0.0.1",
      port: 0,
      logRequests: false,
      ...(inspector ? { inspectorPort: 0 } : {}),
      // Worker console output (JSON log lines) goes to the run's log file, not the table.
      handleStructuredLogs: ({ message }) => log(`${message}\n`),
      workers: [
        {
          name: "flashsale",
          modules: [{ type: "ESModule", path: script }],
          modulesRoot: dirname(script),
          compatibilityDate: cfg.compatibility_date,
          compatibilityFlags: cfg.compatibility_flags,
          // wrangler.toml's [vars] are production's: the bench runs locally, with test cards.
          bindings: { ...cfg.vars, DEPLOYMENT: "local", GATEWAY: "simulated", BENCH_LIMITS: JSON.stringify(limits), ...secrets, ...vars },
          durableObjects,
          d1Databases: { [d1.binding]: d1.database_id },
          ratelimits,
          ...socket(),
        },
        {
          name: "noop",
          modules: [{ type: "ESModule", path: join(BENCH, "workers/noop.mjs") }],
          modulesRoot: join(BENCH, "workers"),
          compatibilityDate: cfg.compatibility_date,
          ...socket(),
        },
        {
          // Bench-only: the floor under a claim (read a body; the same plus one object call).
          name: "floor",
          modules: [{ type: "ESModule", path: join(BENCH, "workers/floor.mjs") }],
          modulesRoot: join(BENCH, "workers"),
          compatibilityDate: cfg.compatibility_date,
          durableObjects: { ECHO: { className: "Echo", useSQLite: true } },
          ...socket(),
        },
        {
          // Bench-only: reaches flashsale's product objects over RPC to pre-fill past holds.
          name: "filler",
          modules: [{ type: "ESModule", path: join(BENCH, "workers/filler.mjs") }],
          modulesRoot: join(BENCH, "workers"),
          compatibilityDate: cfg.compatibility_date,
          durableObjects: { INVENTORY: { ...durableObjects.INVENTORY, scriptName: "flashsale" } },
          ...socket(),
        },
      ],
    }),
  );
  const entry = await mf.ready;
  await applyMigrations(mf, join(root, d1.migrations_dir ?? "migrations"), d1.binding);
  const direct = {};
  for (const w of ["flashsale", "noop", "floor", "filler"]) direct[w] = String(await mf.unsafeGetDirectURL(w)).replace(/\/$/, "");
  return {
    mf,
    secrets,
    /**
     * Where to send requests for `worker`: its direct socket, or the entry Worker with the header
     * that routes there (Miniflare's MF-Route-Override).
     */
    target: (worker, via = "direct") =>
      via === "direct"
        ? { base: direct[worker], headers: {} }
        : { base: String(entry).replace(/\/$/, ""), headers: { "MF-Route-Override": worker } },
    inspectorUrl: () => mf.getInspectorURL(),
    dispose: () => mf.dispose(),
  };
}

/** migrations/*.sql in order, as `wrangler d1 migrations apply --local` would. */
async function applyMigrations(mf, dir, binding) {
  const db = await mf.getD1Database(binding);
  for (const f of readdirSync(dir)
    .filter((f) => f.endsWith(".sql"))
    .sort()) {
    const stmts = unstable_splitSqlQuery(readFileSync(join(dir, f), "utf8")).filter((s) => s.trim());
    await db.batch(stmts.map((s) => db.prepare(s)));
  }
}

export function cleanup(dir) {
  rmSync(dir, { recursive: true, force: true });
}
