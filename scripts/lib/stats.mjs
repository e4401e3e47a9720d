// Numbers for the rehearsal report: latency samples per step, percentiles, Spearman's rank
// correlation, a text histogram.

export class Samples {
  constructor() {
    this.by = new Map();
  }
  add(step, ms) {
    let a = this.by.get(step);
    if (!a) this.by.set(step, (a = []));
    a.push(ms);
  }
  get(step) {
    return this.by.get(step) ?? [];
  }
}

/** Nearest-rank percentile of an unsorted array (p in 0..100). */
export function percentile(xs, p) {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[i];
}

/** Ranks with ties given their average rank (1-based). */
function ranks(xs) {
  const idx = xs.map((x, i) => [x, i]).sort((a, b) => a[0] - b[0]);
  const r = new Array(xs.length);
  for (let i = 0; i < idx.length; ) {
    let j = i;
    while (j + 1 < idx.length && idx[j + 1][0] === idx[i][0]) j++;
    const avg = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) r[idx[k][1]] = avg;
    i = j + 1;
  }
  return r;
}

/** Spearman's rho: Pearson's correlation of the ranks (ties averaged). NaN if undefined. */
export function spearman(xs, ys) {
  if (xs.length < 3) return NaN;
  const rx = ranks(xs);
  const ry = ranks(ys);
  const n = xs.length;
  const mx = rx.reduce((a, b) => a + b, 0) / n;
  const my = ry.reduce((a, b) => a + b, 0) / n;
  let sxy = 0,
    sxx = 0,
    syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = rx[i] - mx,
      dy = ry[i] - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  return sxx === 0 || syy === 0 ? NaN : sxy / Math.sqrt(sxx * syy);
}

const BOUNDS = [5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000];

/** A log-scale histogram as text lines, bars scaled to `width`. */
export function histogram(xs, width = 40) {
  if (xs.length === 0) return ["  (no samples)"];
  const counts = new Array(BOUNDS.length + 1).fill(0);
  for (const x of xs) {
    let i = BOUNDS.findIndex((b) => x < b);
    if (i < 0) i = BOUNDS.length;
    counts[i]++;
  }
  const max = Math.max(...counts);
  const first = counts.findIndex((c) => c > 0);
  const last = counts.length - 1 - [...counts].reverse().findIndex((c) => c > 0);
  const lines = [];
  for (let i = first; i <= last; i++) {
    const lo = i === 0 ? 0 : BOUNDS[i - 1];
    const label = i === BOUNDS.length ? `≥ ${lo} ms` : `${lo}-${BOUNDS[i]} ms`;
    const bar = "#".repeat(Math.round((counts[i] / max) * width)) || (counts[i] ? "." : "");
    lines.push(
      `  ${label.padStart(14)} │${bar.padEnd(width)}│ ${String(counts[i]).padStart(6)} (${((100 * counts[i]) / xs.length).toFixed(1)}%)`,
    );
  }
  return lines;
}

export const fmtMs = (ms) => (Number.isNaN(ms) ? "-" : ms >= 10_000 ? `${(ms / 1000).toFixed(1)}s` : `${Math.round(ms)}ms`);
