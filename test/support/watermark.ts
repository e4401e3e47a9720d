import type { Watermark } from "../../domain/schemas/room";

/**
 * A room's watermark as the edge caches it, for the edge's answer in unit tests (`standingOf`):
 * an open sale at 5/s with ten admitted up to bucket 3, a thousand active at most, two-minute
 * passes; each test names what it changes.
 */
export const watermarkOf = (over: Partial<Watermark> = {}): Watermark => ({
  configured: true,
  starts_at: 0,
  ends_at: 10_000_000,
  salt: "00",
  upto: null,
  admitted: 10,
  queued: 200,
  marks: [],
  waiting: [],
  sealed: 10,
  draw_at: 0,
  sold_out: false,
  keeps_units: true,
  rate: 5,
  max_active: 1000,
  pass_ttl_s: 120,
  active: 10,
  at: 0,
  ...over,
});
