import { z } from "zod";
import { COUNTERS, type Counter } from "./room";
import { Count } from "./sale";

/**
 * The per-second history an operator's dashboard draws (`GET /admin/sales/:id/series`). Each
 * sale's objects keep their own (durable-objects/series.ts); the route merges the two by second.
 */

/** How many seconds of history each object keeps: a ring of this many one-second rows. */
export const SERIES_KEEP_S = 3600;

/** Claim outcomes the product object counts (any other refusal counts as `claim_other`). */
export const CLAIM_OUTCOMES = ["held", "replayed", "waitlisted", "sold_out", "limit_reached", "not_open", "sale_closed"] as const;
type ClaimField = `claim_${(typeof CLAIM_OUTCOMES)[number]}`;

/** Every field a row may carry, and what it is: counts are per second, gauges are a second's highest or last value. */
export const SERIES_FIELDS = {
  ...(Object.fromEntries(CLAIM_OUTCOMES.map((k) => [`claim_${k}`, `claims answered ${k} (count)`])) as Record<ClaimField, string>),
  claim_other: "claims refused for another reason (count)",
  paid: "payments confirmed (count)",
  declined: "payments declined (count)",
  pay_unknown: "payment outcomes unknown, to be asked again (count)",
  pay_429: "the payment provider's 429 answers, rate limited (count)",
  refunded: "refunds completed (count)",
  expired: "holds expired (count)",
  cancelled: "holds cancelled by their shopper (count)",
  flushed: "records written to D1 (count)",
  d1_lag_ms: "the oldest record's wait before D1 took it, highest in the second (gauge)",
  expiry_late_ms: "how late the alarm expired a hold, highest in the second (gauge)",
  backlog: "records waiting in the outbox (gauge)",
  available: "units available (gauge)",
  held: "units in holds, paying or not (gauge)",
  sold: "units sold (gauge)",
  // The waiting room's: its joins and admissions, and the edge's counters it is handed.
  ...(Object.fromEntries(COUNTERS.map((k) => [k, `${k.replaceAll("_", " ")} (count, from the edge)`])) as Record<Counter, string>),
  queued: "shoppers who took a new place in line (count)",
  admitted: "shoppers admitted (count)",
  waiting: "shoppers in line and not yet admitted (gauge)",
  active: "admitted shoppers whose pass is still valid (gauge)",
} as const satisfies Record<string, string>;
export type SeriesField = keyof typeof SERIES_FIELDS;

/** Rows as columns: `t[i]` is a second, `values[f][i]` its value of `f` (null: not recorded that second). */
export type Columns = { t: number[]; values: Partial<Record<SeriesField, (number | null)[]>> };

const column = (description: string) => z.array(z.number().nullable()).optional().describe(description);

/** `GET /admin/sales/:id/series` */
export const SaleSeries = z
  .strictObject({
    step_s: z.literal(1).describe("one row per second"),
    keep_s: Count.describe("how far back the objects keep rows"),
    now: z.number().int().describe("the server's time, epoch seconds"),
    t: z
      .array(z.number().int())
      .describe("the seconds that have a row, epoch seconds, ascending (a second with nothing to record has none)"),
    values: z
      .strictObject(
        Object.fromEntries(Object.entries(SERIES_FIELDS).map(([k, d]) => [k, column(d)])) as Record<SeriesField, ReturnType<typeof column>>,
      )
      .describe("one array per field recorded in the range, aligned with `t`"),
  })
  .meta({ id: "SaleSeries" });
export type SaleSeries = z.infer<typeof SaleSeries>;

/** `?since=` of `GET /admin/sales/:id/series`: rows after this second only (a dashboard's next poll). */
export const SeriesQuery = z.strictObject({
  since: z.coerce.number().int().nonnegative().optional().describe("epoch seconds: only rows after it (default: the whole kept history)"),
});

/** Merges column sets whose fields do not overlap (the product object's and the room's) by second. */
export function mergeColumns(...sets: Columns[]): Columns {
  const t = [...new Set(sets.flatMap((s) => s.t))].sort((a, b) => a - b);
  const at = new Map(t.map((s, i) => [s, i]));
  const values: Columns["values"] = {};
  for (const s of sets) {
    for (const [f, col] of Object.entries(s.values) as [SeriesField, (number | null)[]][]) {
      const out = (values[f] ??= new Array<number | null>(t.length).fill(null));
      col.forEach((v, i) => {
        if (v !== null) out[at.get(s.t[i]!)!] = v;
      });
    }
  }
  return { t, values };
}

/** Gauges sampled when a second is written (a second without a row keeps the last value). */
const SAMPLED: ReadonlySet<string> = new Set<SeriesField>(["available", "held", "sold", "backlog"]);
/** Gauges that are a second's highest value. */
const PEAKS: ReadonlySet<string> = new Set<SeriesField>(["d1_lag_ms", "expiry_late_ms"]);

/**
 * Sums column sets of the same fields by second: a sharded sale's shards (domain/shards.ts).
 * Counts are added; lags are the highest; stock and backlog are added as each shard last
 * recorded them (a shard writes a second only when something happened in it, so a quiet shard's
 * stock is the value it had when it last wrote one).
 */
export function sumColumns(sets: Columns[]): Columns {
  const t = [...new Set(sets.flatMap((s) => s.t))].sort((a, b) => a - b);
  const fields = new Set(sets.flatMap((s) => Object.keys(s.values) as SeriesField[]));
  const values: Columns["values"] = {};
  for (const f of fields) {
    const out = new Array<number | null>(t.length).fill(null);
    for (const s of sets) {
      const col = s.values[f];
      if (!col) continue;
      let j = 0; // this set's row at or before t[i]
      let last: number | null = null;
      t.forEach((sec, i) => {
        while (j < s.t.length && s.t[j]! <= sec) {
          if (col[j] !== null && col[j] !== undefined) last = col[j]!;
          j++;
        }
        const here = s.t[j - 1] === sec ? (col[j - 1] ?? null) : null;
        const v = SAMPLED.has(f) ? last : here;
        if (v === null) return;
        out[i] = out[i] === null ? v : PEAKS.has(f) ? Math.max(out[i]!, v) : out[i]! + v;
      });
    }
    values[f] = out;
  }
  return { t, values };
}
