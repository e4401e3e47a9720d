// The table and the files: every figure next to the no-op ceiling at the same concurrency,
// then the two A/B ratios (group commit on/off, 100k/100 past holds).
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { BENCH_RATE_LIMIT } from "./runtime.mjs";

const pad = (s, n, right = false) => (right ? String(s).padStart(n) : String(s).padEnd(n));
const ratio = (a, b) => (a && b ? +(a / b).toFixed(3) : null);

/** rows: [{ scenario, label, expect, c, ...measure() }] */
export function table(rows, ceiling) {
  const head = ["scenario", "c", "req/s", "p50 ms", "p99 ms", "non-2xx", "conns served (min-max)", "x noop", "load1", "notes"];
  const w = [30, 4, 7, 6, 6, 15, 24, 6, 5, 0];
  const lines = [
    head
      .map((h, i) => pad(h, w[i], i > 0 && i < 6))
      .join("  ")
      .trimEnd(),
  ];
  lines.push("-".repeat(130));
  for (const r of rows) {
    const base = ceiling(r.c);
    const non2xx = r.expect_non2xx ? `${r.non2xx} (expected)` : String(r.non2xx);
    const served =
      r.conns_served === null ? `(${r.connections} RPC loops)` : `${r.conns_served}/${r.connections} (${r.conn_min}-${r.conn_max})`;
    const notes = [...(r.notes ?? [])];
    if (r.conn_starved) notes.push(`${r.conn_starved} conn starved`);
    if (r.errors) notes.push(`${r.errors} errors (${r.timeouts} timeouts)`);
    lines.push(
      [
        pad(r.label, w[0]),
        pad(r.c, w[1], true),
        pad(r.rps, w[2], true),
        pad(r.p50_ms, w[3], true),
        pad(r.p99_ms, w[4], true),
        pad(non2xx, w[5], true),
        pad(served, w[6]),
        pad(base ? (r.rps / base).toFixed(3) : "-", w[7], true),
        pad(r.load1 ?? "", w[8], true),
        notes.join("; "),
      ]
        .join("  ")
        .trimEnd(),
    );
  }
  return lines.join("\n");
}

/** The ratios printed under the table: [numerator scenario, denominator scenario, what it says]. */
const RATIOS = [
  ["claim", "claim_gc_off", "claims/s GROUP_COMMIT on / off"],
  ["claim", "claim_object", "claims/s full stack / object alone"],
  ["claim_object", "claim_object_gc_off", "object alone: GROUP_COMMIT on / off"],
  ["claim_cmp", "claim", "claims/s --compare copy / this tree"],
  ["claim_past_big", "claim", "claims/s big / small past holds"],
  ["claim_shards8", "claim", "claims/s 8 shards / one object (one thread locally: the overhead)"],
  ["claim_hooks_never", "claim", "claims/s with the shop's webhooks hanging / without (docs/events.md)"],
  ["poll_edge", "poll_object", "polls/s edge-only / via object"],
  ["poll_edge", "noop", "polls/s (edge only) / no-op ceiling"],
  ["poll_edge", "noop_poll", "polls/s / no-op sent the poll's request"],
  ["join", "poll_edge", "joins/s / polls/s (both edge only)"],
  ["join", "noop", "joins/s / no-op ceiling"],
  ["noop", "noop_entry", "no-op/s direct socket / entry Worker"],
  ["sold_out", "claim", "sold-out answers/s / claims/s"],
  ["sold_out", "noop_claim", "sold-out / no-op sent the same request"],
  ["sold_out_pass", "sold_out", "sold-out: pass holders' retries / the crowd without a pass"],
  ["claim", "noop_claim", "claims / no-op sent the same request"],
  ["floor_object", "floor_body", "floor: one object call / none"],
  ["claim", "floor_object", "claims / floor with one object call"],
];

/** Ratios of the medians (by req/s) when a scenario was repeated. */
export function ratios(rows) {
  const find = (scenario, c) => {
    const xs = rows.filter((r) => r.scenario === scenario && r.c === c).sort((a, b) => a.rps - b.rps);
    return xs[(xs.length - 1) >> 1];
  };
  const cs = [...new Set(rows.map((r) => r.c))].sort((a, b) => a - b);
  const out = [];
  for (const c of cs) {
    for (const [a, b, what] of RATIOS) {
      const x = find(a, c),
        y = find(b, c);
      if (x && y) out.push({ what, c, a: x.rps, b: y.rps, ratio: ratio(x.rps, y.rps), p99_a: x.p99_ms, p99_b: y.p99_ms });
    }
  }
  return out;
}

export function ratioText(rs) {
  return rs
    .map(
      (r) =>
        `${pad(r.what, 40)} c=${pad(r.c, 3, true)}  ${pad(r.a, 6, true)} / ${pad(r.b, 6, true)} = ${r.ratio}   (p99 ${r.p99_a} vs ${r.p99_b} ms)`,
    )
    .join("\n");
}

export function write(dir, stamp, json, text) {
  mkdirSync(dir, { recursive: true });
  const base = join(dir, `bench-${stamp}`);
  writeFileSync(`${base}.json`, JSON.stringify(json, null, 2));
  writeFileSync(`${base}.txt`, text);
  return base;
}

/**
 * The end of a bench: each row next to the no-op ceiling, the ratios, the environment, the CPU
 * profiles' summaries; printed and written as bench-<stamp>.{json,txt} in `opt.out`.
 */
export function finish({ root, opt, stamp, started, load0, runtimeLog, rows, setup, profiles }) {
  const ceiling = (c) => rows.find((r) => r.scenario === "noop" && r.c === c)?.rps;
  for (const r of rows) r.x_noop = ceiling(r.c) ? +(r.rps / ceiling(r.c)).toFixed(3) : null;
  const rs = ratios(rows);
  let runtimeWarnings = 0;
  try {
    runtimeWarnings = readFileSync(runtimeLog, "utf8")
      .split("\n")
      .filter((l) => /"level":"(warn|error)"|Uncaught|error:/.test(l)).length;
  } catch {}
  const version = (pkg) => JSON.parse(readFileSync(join(root, `node_modules/${pkg}/package.json`), "utf8")).version;
  const workerd = version("workerd");
  const env = {
    node: process.version,
    workerd,
    miniflare: version("miniflare"),
    autocannon: version("autocannon"),
    cpus: os.cpus().length,
    loadavg_before: load0.map((x) => +x.toFixed(2)),
    loadavg_after: os.loadavg().map((x) => +x.toFixed(2)),
  };
  const text = [
    `flashsale bench ${started}  (node ${env.node}, workerd ${workerd}, ${env.cpus} cpus, load ${env.loadavg_before.join(" ")} -> ${env.loadavg_after.join(" ")})`,
    `${opt.duration} s per run, scenarios reach the Worker via ${opt.via === "direct" ? "its direct socket (unsafeDirectSockets)" : "Miniflare's entry Worker"}; rate limits ${opt.limiter === "isolate" ? "counted in the isolate (bench/workers/local-limits.mjs)" : "by Miniflare's emulation"}, set to ${BENCH_RATE_LIMIT}/period`,
    "",
    table(rows, ceiling),
    "",
    "ratios (req/s):",
    ratioText(rs),
    "",
    `setup: ${JSON.stringify(setup)}`,
    `runtime log: ${runtimeLog} (${runtimeWarnings} warn/error lines)`,
    ...Object.entries(profiles).flatMap(([sc, p]) => [
      "",
      `CPU profile of ${sc} at c=${p.c} (${p.sampled_ms} ms sampled, ${p.busy_ms} ms busy: shares are of the busy time; ${p.file}):`,
      `  self, by module:      ${p.self_by_module
        .slice(0, 15)
        .map((m) => `${m.what} ${m.pct}%`)
        .join(", ")}`,
      `  inclusive, by module: ${p.inclusive_by_module
        .slice(0, 15)
        .map((m) => `${m.what} ${m.pct}%`)
        .join(", ")}`,
      "  top frames (inclusive = on the synchronous stack; an await starts a new stack):",
      "    incl %  self %  function  module:line",
      ...(p.frames ?? [])
        .slice(0, 25)
        .map((f) => `    ${pad(f.incl_pct.toFixed(1), 6, true)}  ${pad(f.self_pct.toFixed(1), 6, true)}  ${f.what}`),
      "  top self time:",
      ...p.self_by_function.slice(0, 12).map((f) => `    ${pad(f.pct.toFixed(1), 6, true)}  ${f.what}`),
    ]),
  ].join("\n");
  const base = write(
    opt.out,
    stamp,
    { started, options: { ...opt, only: [...opt.only] }, env, setup, rows, ratios: rs, profiles, runtime_warnings: runtimeWarnings },
    text,
  );
  console.log(text);
  console.log(`\nwritten: ${base}.json, ${base}.txt`);
}
