// The dashboard's charts: what each one draws from the sale's per-second history
// (GET /admin/sales/:id/series), the history the page keeps between polls, and uPlot around it.
import uPlot from "uplot";

/**
 * Each chart: its title, and its lines as [field, label, colour]. `count` fields are per-second
 * counts (a second with no row counted nothing: 0); `gauge` fields are values sampled in some
 * seconds (drawn across the gaps). `right` lines use the right-hand axis.
 */
export const CHARTS = [
  {
    id: "claims",
    title: "Claims per second, by outcome",
    kind: "count",
    lines: [
      ["claim_held", "held", "#146c2e"],
      ["claim_replayed", "replayed", "#7fb48d"],
      ["claim_waitlisted", "waitlisted", "#8a6d00"],
      ["claim_sold_out", "sold out", "#b3261e"],
      ["sold_out_fast_path", "sold out (edge)", "#e8867f"],
      ["claim_limit_reached", "limit reached", "#6b4fa0"],
      ["claim_not_open", "not open", "#4a5058"],
      ["claim_sale_closed", "closed", "#1a1c1e"],
      ["claim_other", "other", "#9aa0a6"],
    ],
  },
  {
    id: "admissions",
    title: "The line: joins and admissions per second",
    kind: "count",
    lines: [
      ["queued", "joined", "#0b57d0"],
      ["admitted", "admitted", "#146c2e"],
    ],
  },
  {
    id: "waiting",
    title: "The line: waiting and active",
    kind: "gauge",
    lines: [
      ["waiting", "waiting", "#0b57d0"],
      ["active", "active", "#146c2e"],
    ],
  },
  {
    id: "rejections",
    title: "Rejections per second, by reason",
    kind: "count",
    lines: [
      ["rejected_pow", "proof of work", "#b3261e"],
      ["rejected_turnstile", "Turnstile", "#8a6d00"],
      ["rejected_rate_limit", "rate limit", "#6b4fa0"],
      ["rejected_heuristics", "bot heuristics", "#4a5058"],
    ],
  },
  {
    id: "payments",
    title: "Payments and holds ended, per second",
    kind: "count",
    lines: [
      ["paid", "paid", "#146c2e"],
      ["declined", "declined", "#b3261e"],
      ["pay_unknown", "unknown (asked again)", "#8a6d00"],
      ["pay_429", "Stripe 429 (rate limited)", "#d14900"],
      ["refunded", "refunded", "#6b4fa0"],
      ["expired", "hold expired", "#9aa0a6"],
      ["cancelled", "hold cancelled", "#4a5058"],
    ],
  },
  {
    id: "stock",
    title: "Stock",
    kind: "gauge",
    lines: [
      ["available", "available", "#0b57d0"],
      ["held", "held", "#8a6d00"],
      ["sold", "sold", "#146c2e"],
    ],
  },
  {
    id: "outbox",
    title: "Outbox to D1: backlog and lag",
    kind: "gauge",
    lines: [
      ["backlog", "records waiting", "#0b57d0"],
      ["d1_lag_ms", "D1 lag (ms)", "#b3261e", "right"],
    ],
  },
  {
    id: "expiry",
    title: "Expiry lateness (ms)",
    kind: "gauge",
    lines: [["expiry_late_ms", "late by (ms)", "#8a6d00"]],
  },
];

/** The rows the page has seen, by second; each poll brings the seconds after the last one. */
export class History {
  rows = new Map();
  /** The latest second with a row (for the next poll's `since`), and the server's clock. */
  last = 0;
  now = 0;

  /** Adds a series answer (`{ now, t, values }`); later answers for a second replace earlier ones. */
  merge(body) {
    this.now = body.now;
    body.t.forEach((t, i) => {
      const row = {};
      for (const [f, col] of Object.entries(body.values)) if (col[i] !== null) row[f] = col[i];
      this.rows.set(t, row);
      if (t > this.last) this.last = t;
    });
    // Nothing older than an hour is drawn: forget it.
    for (const t of this.rows.keys()) if (t < this.now - 3600) this.rows.delete(t);
  }

  /** The earliest second with a row (null: none yet). */
  first() {
    let t = null;
    for (const s of this.rows.keys()) if (t === null || s < t) t = s;
    return t;
  }

  /** One field summed over all kept seconds (what the totals under a chart show). */
  total(field) {
    let n = 0;
    for (const row of this.rows.values()) n += row[field] ?? 0;
    return n;
  }

  /** uPlot's data for `chart` over [from, to] (epoch seconds), one point per second. */
  columns(chart, from, to) {
    const xs = [];
    for (let t = from; t <= to; t++) xs.push(t);
    const gap = chart.kind === "count" ? 0 : null;
    return [xs, ...chart.lines.map(([f]) => xs.map((t) => this.rows.get(t)?.[f] ?? gap))];
  }
}

const fmt = new Intl.NumberFormat();
/** A gauge holds its value until the next sample: steps, not slopes between samples. */
const stepped = uPlot.paths.stepped({ align: 1 });

/** A chart in `el` (its card); `update(history, from, to)` redraws it with the window given. */
export function mountChart(el, chart) {
  const plotEl = el.querySelector(".plot");
  const right = chart.lines.some((l) => l[3] === "right");
  const width = () => Math.max(280, plotEl.clientWidth);
  const plot = new uPlot(
    {
      width: width(),
      height: 180,
      scales: {
        x: { time: true },
        y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] },
        ...(right ? { r: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } } : {}),
      },
      axes: [{}, { size: 50 }, ...(right ? [{ scale: "r", side: 1, size: 50, grid: { show: false } }] : [])],
      series: [
        {},
        ...chart.lines.map(([, label, stroke, side]) => ({
          label,
          stroke,
          width: 1.5,
          scale: side === "right" ? "r" : "y",
          spanGaps: chart.kind === "gauge",
          ...(chart.kind === "gauge" ? { paths: stepped } : {}),
          points: { show: false },
          value: (_u, v) => (v === null || v === undefined ? "–" : fmt.format(v)),
        })),
      ],
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
    },
    [[], ...chart.lines.map(() => [])],
    plotEl,
  );
  new ResizeObserver(() => plot.setSize({ width: width(), height: 180 })).observe(plotEl);
  const totals = el.querySelector(".totals");
  return {
    plot,
    update(history, from, to) {
      plot.setData(history.columns(chart, from, to));
      if (chart.kind === "count" && totals) {
        // Totals over the kept hour, each with its raw figure for tests and screen readers.
        totals.replaceChildren(
          ...chart.lines.map(([f, label]) => {
            const li = document.createElement("li");
            const n = history.total(f);
            li.dataset.total = f;
            li.dataset.value = String(n);
            li.textContent = `${label} ${fmt.format(n)}`;
            return li;
          }),
        );
      }
    },
  };
}
