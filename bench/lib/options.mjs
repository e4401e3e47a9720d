// `npm run bench` options: the scenarios, the help text, and the parsed settings (`opt`).
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";

export const SCENARIOS = [
  "noop",
  "noop_entry",
  "noop_claim",
  "floor_body",
  "floor_object",
  "sold_out",
  "sold_out_pass",
  "noop_poll",
  "poll_edge",
  "poll_object",
  "join",
  "claim",
  "claim_object",
  "claim_past_big",
  "claim_gc_off",
  "claim_shards8",
  "claim_hooks_never",
];
// claim_object runs inside workerd (no autocannon): profile "claim" for the object's share.
const PROFILABLE = SCENARIOS.filter((x) => x !== "claim_object").concat("claim_cmp");

export const HELP = `npm run bench -- [options]
  --quick                 CI-size smoke: c=8, 2 s runs, small pools (seconds, not minutes)
  --duration <s>          seconds per measurement (default 6)
  --connections <list>    autocannon concurrencies, comma-separated (default 16,64)
  --warmup <s>            unrecorded warm-up before repeatable scenarios (default 1)
  --shoppers <n>          most pre-made shoppers per claim measurement (default 24000)
  --past-small <n>        past holds in the "claim" sale's object (default 100)
  --past-big <n>          past holds in the "claim_past_big" sale's object (default 100000)
  --poll-shoppers <n>     shoppers the poll scenarios rotate over (default 1000)
  --repeat <n>            repeat the claim comparisons n times (ratios use the medians; default 1)
  --rounds <n>            measure each other row n times back to back, record the median (default 1)
  --only <list>           scenarios to run (noop is always run: it is the ceiling):
                          ${SCENARIOS.join(", ")}
  --via <direct|entry>    how the scenarios reach the Worker (default direct = unsafeDirectSockets)
  --bundler <wrangler|esbuild>  wrangler deploy --dry-run (default) or esbuild
  --limiter <isolate|emulated>  the Rate Limiting bindings: a counter in the isolate, as
                          production's in-location cache (default), or Miniflare's emulation
                          (a Durable Object call and a SQLite write per limit() call)
  --profile <list>        CPU-profile the flashsale isolate during these scenarios (comma-
                          separated; highest c; not claim_object): writes
                          bench-<time>.<scenario>.cpuprofile and prints its top frames
  --root <dir>            bench another checkout of the project (e.g. a patched copy; it needs
                          node_modules), default this one
  --compare <dir>         A/B a patched copy of the project (it needs node_modules): runs its
                          claims in a third workerd, interleaved with "claim" (row claim_cmp)
  --var KEY=VALUE         override a wrangler.toml var in both runtimes (repeatable)
  --out <dir>             where results go (default bench/results)`;

/** The bench's settings from the command line (`root` is this checkout); exits on --help. */
export function readOptions(root, args = process.argv.slice(2)) {
  const { values: a } = parseArgs({
    args,
    options: {
      quick: { type: "boolean", default: false },
      duration: { type: "string" },
      connections: { type: "string" },
      warmup: { type: "string" },
      shoppers: { type: "string" },
      "past-small": { type: "string" },
      "past-big": { type: "string" },
      "poll-shoppers": { type: "string" },
      only: { type: "string" },
      repeat: { type: "string" },
      rounds: { type: "string" },
      via: { type: "string", default: "direct" },
      bundler: { type: "string", default: "wrangler" },
      limiter: { type: "string", default: "isolate" },
      profile: { type: "string" },
      root: { type: "string", default: root },
      compare: { type: "string" },
      var: { type: "string", multiple: true, default: [] },
      out: { type: "string", default: join(root, "bench/results") },
      help: { type: "boolean", default: false },
    },
  });
  if (a.help) {
    console.log(HELP);
    process.exit(0);
  }
  const q = a.quick;
  const opt = {
    duration: Number(a.duration ?? (q ? 2 : 6)),
    connections: (a.connections ?? (q ? "8" : "16,64")).split(",").map(Number),
    warmup: Number(a.warmup ?? (q ? 0.5 : 1)),
    shoppers: Number(a.shoppers ?? (q ? 600 : 24000)),
    pastSmall: Number(a["past-small"] ?? 100),
    pastBig: Number(a["past-big"] ?? (q ? 2000 : 100_000)),
    pollShoppers: Number(a["poll-shoppers"] ?? (q ? 200 : 1000)),
    repeat: Number(a.repeat ?? 1),
    rounds: Math.max(1, Number(a.rounds ?? 1)),
    only: new Set(["noop", ...(a.only ? a.only.split(",") : SCENARIOS)]),
    via: a.via,
    bundler: a.bundler,
    limiter: a.limiter,
    out: a.out,
    profile: a.profile ? a.profile.split(",") : [],
    root: resolve(a.root),
    compare: a.compare ? resolve(a.compare) : null,
    vars: Object.fromEntries(a.var.map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)])),
  };
  for (const s of opt.only) if (!SCENARIOS.includes(s)) throw new Error(`unknown scenario ${s}: one of ${SCENARIOS.join(", ")}`);
  for (const p of opt.profile) if (!PROFILABLE.includes(p)) throw new Error(`--profile takes some of ${PROFILABLE.join(", ")}`);
  if (!["direct", "entry"].includes(opt.via)) throw new Error("--via is direct or entry");
  if (!["isolate", "emulated"].includes(opt.limiter)) throw new Error("--limiter is isolate or emulated");
  return opt;
}
