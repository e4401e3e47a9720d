import { z } from "zod";
import type { Mark, Place, Waiting } from "../line";

/** What the waiting room needs of a sale's configuration (pushed by the admin routes). */
export type RoomConfig = {
  sale_id: string;
  starts_at: number;
  ends_at: number;
  admission_rate: number;
  max_active: number;
  /** How long an admitted shopper may claim (and counts against max_active). */
  pass_ttl_s: number;
  /** Shoppers admitted per unit they can still claim (1: each admitted shopper's unit waits for them). Absent in rooms configured before it: 1. */
  admit_per_unit?: number;
  /** Arrivals this long after the opening still join the pre-queue's draw. Absent: 0. */
  lottery_s?: number;
  /** The sale's product objects (stock shards), whose claimable units the room reads. Absent: 1. */
  shards?: number;
  /** Under `undersell` an ended hold's unit never comes back. */
  release_policy?: "release" | "undersell" | "waitlist";
};

/**
 * What one product object tells the room (at most once per tick, never per claim): its units
 * available and in open holds, transfers it waits for (a sharded sale), and the turns used:
 * `[pass end (ms), identities whose pass made a hold]` for passes that have not ended.
 */
export type Claimable = { available: number; held: number; asking: number; used: [number, number][] };

/** Edge counters an operator sees in stats; incremented in the isolate, flushed to the room. */
export const COUNTERS = [
  "queued",
  "rejected_pow",
  "rejected_turnstile",
  "rejected_rate_limit",
  "rejected_heuristics",
  "sold_out_fast_path",
] as const;
export type Counter = (typeof COUNTERS)[number];
export type Counts = Partial<Record<Counter, number>>;

/**
 * Late places (reported after the watermark had passed them) as the edge needs them: those held
 * back for a unit, in the order they are admitted, and those admitted within their pass (when).
 * A place under the watermark whose identity is here is not admitted by the watermark's marks.
 */
export const LatePlaces = z.object({
  held: z.array(z.object({ b: z.number().int(), k: z.number().int() })).describe("waiting for a unit, first first"),
  admitted: z.array(z.object({ b: z.number().int(), k: z.number().int(), at: z.number().int() })).describe("admitted at `at` (ms)"),
});
export type LatePlaces = z.infer<typeof LatePlaces>;

/**
 * The room's admission state as the edge caches it (~1 s) to hand out places and answer polls
 * without a hop. Never sent to shoppers: `salt` draws their keys in line (domain/line.ts).
 */
export type Watermark = {
  configured: boolean;
  starts_at: number;
  ends_at: number;
  salt: string;
  /** The last place admitted: every ticket at or under it is admitted. */
  upto: Place | null;
  /** Admission history for the active window (when the watermark passed which place). */
  marks: Mark[];
  /** Late places held back or admitted within their pass (absent from a room older than them: none). */
  late?: LatePlaces;
  /** Shoppers admitted so far, and counted in line (reported by the edge). */
  admitted: number;
  queued: number;
  /** Who still waits, per arrival bucket from the watermark's on (coarsened when long). */
  waiting: Waiting[];
  /** The last bucket whose arrivals are all in (-1 before the pre-queue is). */
  sealed: number;
  /** When the draw closes: arrivals before it (the opening + lottery_s) are in the pre-queue's lottery. */
  draw_at: number;
  /** No unit can come back (none available, no hold open, none on its way): those still waiting are told `sold_out`. */
  sold_out: boolean;
  /** Each admitted shopper's unit is kept for them while their pass lasts (admit_per_unit ≤ 1). */
  keeps_units: boolean;
  rate: number;
  max_active: number;
  pass_ttl_s: number;
  active: number;
  at: number;
};

/** The answer of a room no sale has configured (yet): no line. */
export const unconfiguredWatermark = (now: number): Watermark => ({
  configured: false,
  starts_at: 0,
  ends_at: 0,
  salt: "",
  upto: null,
  marks: [],
  late: { held: [], admitted: [] },
  admitted: 0,
  queued: 0,
  waiting: [],
  sealed: -1,
  draw_at: 0,
  sold_out: false,
  keeps_units: true,
  rate: 0,
  max_active: 0,
  pass_ttl_s: 0,
  active: 0,
  at: now,
});

/** Body of `POST /api/sales/:id/queue`. */
export const QueueBody = z.strictObject({
  challenge: z.string().min(1).max(2048),
  solution: z.string().min(1).max(64),
  turnstile: z.string().min(1).max(4096).optional(),
});

/**
 * A shopper's place in line as the edge reports it. Field names overlap Cloudflare Waiting
 * Room's JSON where they mean the same thing (`inWaitingRoom`, `waitTimeKnown`, `waitTime` in
 * minutes, `refreshIntervalSeconds`).
 */
export const QueueStatus = z.object({
  state: z
    .enum(["waiting", "admitted", "expired", "sold_out"])
    .describe(
      "`expired`: admitted, but the time to claim has passed; queue again (at the back). `sold_out`: still waiting, but no unit can " +
        "come back (none left, no hold open): the place is kept, and polling again (every `refresh_s`) admits it if units return (a restock)",
    ),
  position: z.number().int().nonnegative().nullable().describe("null before the sale opens: the pre-queue is drawn at the start"),
  eta_s: z.number().int().nonnegative().nullable(),
  refresh_s: z.number().int().nonnegative().describe("when to poll again"),
  opens_in_s: z.number().int().nonnegative().nullable(),
  inWaitingRoom: z.boolean(),
  waitTimeKnown: z.boolean(),
  waitTime: z.number().int().nonnegative().describe("minutes"),
  refreshIntervalSeconds: z.number().int().nonnegative(),
  place: z
    .object({ bucket: z.number().int().nonnegative(), key: z.number().int().nonnegative() })
    .describe("the shopper's place: arrival bucket (0 = before the opening) and line key; the line is served in this order"),
  admitted_at: z.iso.datetime().nullable().describe("when the watermark passed this place"),
  unit_kept_until: z.iso
    .datetime()
    .nullable()
    .describe("admitted: a unit is kept for this shopper until then (the end of the pass), when the sale admits one shopper per unit"),
  draw_at: z.iso
    .datetime()
    .nullable()
    .describe("in the pre-queue: everyone who joins by then has the same chance (places are drawn after it); null once drawn"),
});
export type QueueStatus = z.infer<typeof QueueStatus>;

const n = z.number().int().nonnegative();

/** The waiting room's figures in the operator's stats. */
export const RoomStats = z
  .object({
    in_line: n,
    waiting: n,
    admitted: n,
    active: n,
    opened: z.boolean(),
    admission_rate: z.number().nonnegative(),
    max_active: n,
    admit_per_unit: z.number().nonnegative(),
    claimable: z
      .object({
        available: n,
        held: n,
        outstanding: n.describe("turns handed out and not yet used"),
        sold_out: z.boolean(),
        read_at: z.iso.datetime().nullable(),
      })
      .describe("what the room last read from the product objects"),
    counters: z.object(Object.fromEntries(COUNTERS.map((c) => [c, n])) as Record<Counter, typeof n>),
    prequeued: n.describe("arrivals before the opening (the lottery)"),
    /** Arrivals per second after the opening (the last ten minutes of them, at most). */
    arrivals: z.array(z.object({ t: z.iso.datetime(), n })),
    served: z
      .object({
        reports: n,
        reported_places: n.describe("places the edge's reports carried (a place given out twice before its report left is carried once)"),
        watermarks: n,
        late: n.describe("places reported after the watermark had passed them: each waits for a unit, first in line"),
        late_held: n.describe("late places waiting for a unit now"),
        late_over_cap: n.describe("late places admitted at once because the late list was full (as before it existed)"),
        stock_reads: n.describe(
          "calls to the product objects for their claimable units (at most one per object per tick, never one per claim)",
        ),
      })
      .describe("the room's calls and late places since the object started"),
  })
  .meta({ id: "RoomStats" });
export type RoomStats = z.infer<typeof RoomStats>;
