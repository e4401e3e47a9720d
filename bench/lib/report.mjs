// The table and the files: every figure next to the no-op ceiling at the same concurrency,
// then the two A/B ratios (group commit on/off, 100k/100 past holds).
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const pad = (s, n, right = false) => (right ? String(s).padStart(n) : String(s).padEnd(n));
const ratio = (a, b) => (a && b ? +(a / b).toFixed(3) : null);

/** rows: [{ scenario, label, expect, c, ...measure() }] */
export function table(rows, ceiling) {
  const head = ["scenario", "c", "req/s", "p50 ms", "p99 ms", "non-2xx", "conns served (min-max)", "x noop", "load1", "notes"];
  const w = [30, 4, 7, 6, 6, 15, 24, 6, 5, 0];
  const lines = [head.map((h, i) => pad(h, w[i], i > 0 && i < 6)).join("  ").trimEnd()];
  lines.push("-".repeat(130));
  for (const r of rows) {
    const base = ceiling(r.c);
    const non2xx = r.expect_non2xx ? `${r.non2xx} (expected)` : String(r.non2xx);
    const served = r.conns_served === null ? `(${r.connections} RPC loops)` : `${r.conns_served}/${r.connections} (${r.conn_min}-${r.conn_max})`;
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
      ].join("  ").trimEnd(),
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
  ["poll_edge", "poll_object", "polls/s edge-only / via object"],
  ["noop", "noop_entry", "no-op/s direct socket / entry Worker"],
  ["sold_out", "claim", "sold-out answers/s / claims/s"],
  ["sold_out", "noop_claim", "sold-out / no-op sent the same request"],
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
      const x = find(a, c), y = find(b, c);
      if (x && y) out.push({ what, c, a: x.rps, b: y.rps, ratio: ratio(x.rps, y.rps), p99_a: x.p99_ms, p99_b: y.p99_ms });
    }
  }
  return out;
}

export function ratioText(rs) {
  return rs.map((r) => `${pad(r.what, 40)} c=${pad(r.c, 3, true)}  ${pad(r.a, 6, true)} / ${pad(r.b, 6, true)} = ${r.ratio}   (p99 ${r.p99_a} vs ${r.p99_b} ms)`).join("\n");
}

export function write(dir, stamp, json, text) {
  mkdirSync(dir, { recursive: true });
  const base = join(dir, `bench-${stamp}`);
  writeFileSync(`${base}.json`, JSON.stringify(json, null, 2));
  writeFileSync(`${base}.txt`, text);
  return base;
}
