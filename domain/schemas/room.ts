import { z } from "zod";

/** What the waiting room needs of a sale's configuration (pushed by the admin routes). */
export type RoomConfig = { sale_id: string; starts_at: number; ends_at: number; admission_rate: number; max_active: number };

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

/** The room's admission state as the edge caches it (~1 s) to answer polls without a hop. */
export type Watermark = {
  configured: boolean;
  opened: boolean;
  starts_at: number;
  /** Everyone ranked ≤ upto is admitted. */
  upto: number;
  /** Shoppers given a rank (post-start arrivals and the shuffled pre-queue). */
  ranked: number;
  prequeued: number;
  rate: number;
  max_active: number;
  active: number;
  at: number;
};

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
  state: z.enum(["waiting", "admitted"]),
  position: z.number().int().nonnegative().nullable().describe("null before the sale opens: the pre-queue is drawn at the start"),
  eta_s: z.number().int().nonnegative().nullable(),
  refresh_s: z.number().int().nonnegative().describe("when to poll again"),
  opens_in_s: z.number().int().nonnegative().nullable(),
  inWaitingRoom: z.boolean(),
  waitTimeKnown: z.boolean(),
  waitTime: z.number().int().nonnegative().describe("minutes"),
  refreshIntervalSeconds: z.number().int().nonnegative(),
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
    counters: z.object(Object.fromEntries(COUNTERS.map((c) => [c, n])) as Record<Counter, typeof n>),
    served: z.object({ joins: n, places: n, watermarks: n }),
  })
  .meta({ id: "RoomStats" });
export type RoomStats = z.infer<typeof RoomStats>;
