import { SALE_ID } from "../ids";
import { MAX_SHARDS } from "../shards";
import { z } from "zod";

/** Sale ids appear in URLs, object names and hold ids, so they are kept to a safe alphabet. */
export const SaleId = z.string().regex(SALE_ID, "a sale id is 1-63 lowercase letters, digits or dashes");

const Instant = z.iso
  .datetime({ offset: true })
  .transform((s) => Date.parse(s))
  // Capped at the last instant a Date can hold: beyond it toISOString() throws (a 500, not a 400).
  .or(z.number().int().positive().max(8_640_000_000_000_000, "beyond the range of a date").describe("epoch milliseconds"));

export const ReleasePolicy = z.enum(["release", "undersell", "waitlist"]);

/**
 * Who a shopper is, for the per-user limit, the line and the lottery: the shop's account
 * ("account": a session made with an identity the shop signed), or the shopper's network
 * ("anonymous": an IPv4 address or IPv6 /64, with at most `network_cap` identities each).
 */
export const Identity = z.enum(["account", "anonymous"]);

/** An instant in an answer: always `toISOString()` (UTC, milliseconds). */
export const Timestamp = z.iso.datetime();
/** A count of units or events. */
export const Count = z.number().int().nonnegative();

const Product = z.strictObject({
  id: z.string().min(1).max(64),
  name: z.string().min(1).max(200),
  price: z.number().int().nonnegative().describe("minor units, e.g. cents"),
  currency: z.string().regex(/^[A-Z]{3}$/, "an ISO 4217 code such as EUR"),
});

const tunable = {
  hold_ttl_s: z.number().int().min(1).max(3600),
  pass_ttl_s: z.number().int().min(1).max(3600).describe("how long an admitted shopper may claim, and counts against max_active"),
  admission_rate: z.number().positive().max(100_000),
  max_active: z.number().int().min(1).max(10_000_000),
  pow_difficulty: z.number().int().min(0).max(28),
  admit_per_unit: z
    .number()
    .min(0.1)
    .max(2)
    .describe(
      "shoppers admitted per unit they can still claim: 1 keeps each admitted shopper's unit for them (fair); up to 2 for sales that expect no-shows (a faster sell-out, and a race among the admitted)",
    ),
  lottery_s: z
    .number()
    .int()
    .min(0)
    .max(600)
    .describe(
      "arrivals in this many seconds after the opening join the pre-queue's draw (reaction time buys nothing); later ones are first come, first served",
    ),
};

/** What an operator sends to create a sale (ARCHITECTURE.md "Sale configuration"). */
export const SaleInput = z
  .strictObject({
    id: SaleId,
    product: Product,
    stock_total: z.number().int().min(1).max(10_000_000),
    starts_at: Instant,
    ends_at: Instant,
    hold_ttl_s: tunable.hold_ttl_s.default(300),
    per_user_limit: z.number().int().min(1).max(100).default(1),
    release_policy: ReleasePolicy.default("release"),
    admission_rate: tunable.admission_rate.default(50),
    max_active: tunable.max_active.default(1000),
    pass_ttl_s: tunable.pass_ttl_s.default(120),
    admit_per_unit: tunable.admit_per_unit.default(1),
    lottery_s: tunable.lottery_s.default(10),
    pow_difficulty: tunable.pow_difficulty.default(16),
    identity: Identity.default("account"),
    network_cap: z.number().int().min(1).max(1000).default(1).describe("anonymous sales: places in line and holds per client network"),
    // No default: a sale created without it stores the very configuration it always did.
    shards: z
      .number({ error: `shards is a whole number from 1 to ${MAX_SHARDS}` })
      .int(`shards is a whole number from 1 to ${MAX_SHARDS}`)
      .min(1, `shards is a whole number from 1 to ${MAX_SHARDS}`)
      .max(MAX_SHARDS, `shards is a whole number from 1 to ${MAX_SHARDS}`)
      .optional()
      .describe("stock split over this many product objects, each shopper served by one (default 1; fixed once created)"),
  })
  .refine((s) => s.ends_at > s.starts_at, { message: "ends_at must be after starts_at", path: ["ends_at"] })
  .refine((s) => (s.shards ?? 1) === 1 || s.release_policy !== "waitlist", {
    message: "release_policy waitlist needs one shard: a waitlist's order of arrival cannot be kept across shards",
    path: ["release_policy"],
  });
export type SaleConfig = z.output<typeof SaleInput>;

const SHARDS_FIXED =
  "shards cannot be changed: the number of shards is fixed when the sale is created (its stock and its shoppers are split by it); create another sale to change it";

/** Settings an operator may change while the sale runs. */
export const SaleUpdate = z
  .strictObject(
    {
      hold_ttl_s: tunable.hold_ttl_s,
      admission_rate: tunable.admission_rate,
      max_active: tunable.max_active,
      pass_ttl_s: tunable.pass_ttl_s,
      admit_per_unit: tunable.admit_per_unit,
      pow_difficulty: tunable.pow_difficulty,
      ends_at: Instant,
    },
    {
      // The refusal of `shards` says why, rather than "unrecognized key".
      error: (iss) => (iss.code === "unrecognized_keys" && iss.keys.includes("shards") ? SHARDS_FIXED : undefined),
    },
  )
  .partial()
  .refine((u) => Object.keys(u).length > 0, { message: "nothing to update" });
export type SaleUpdate = z.output<typeof SaleUpdate>;

export const Restock = z.strictObject({ qty: z.number().int().min(1).max(10_000_000) });

/** Operator switches; the clock decides scheduled/open. */
export const SaleState = z.enum(["live", "paused", "closed"]);
export type SaleState = z.infer<typeof SaleState>;
export const SaleStatus = z.enum(["scheduled", "open", "paused", "closed"]);
export type SaleStatus = z.infer<typeof SaleStatus>;

/**
 * Stock counters; `available + held + sold + withdrawn = stock_total` always, plus `in_transit`
 * for a sharded sale as a whole (units on their way from one shard to another).
 */
export const Stock = z
  .object({
    stock_total: Count,
    available: Count,
    held: Count,
    sold: Count,
    withdrawn: Count,
    in_transit: z
      .number()
      .int()
      .optional()
      .describe(
        "sharded sales: units one shard gave and another has not applied yet. The shards are read a moment apart, so a transfer " +
          "completed between two reads shows here as negative while the receiver's units are counted twice: the sum stays exact",
      ),
  })
  .meta({ id: "Stock", description: "stock counters: available + held + sold + withdrawn (+ in_transit, sharded sales) = stock_total" });
export type Stock = z.infer<typeof Stock>;

/** The public view of a sale (`GET /api/sales/:id`). */
export const SaleView = z
  .object({
    id: SaleId,
    product: Product,
    status: SaleStatus,
    starts_at: Timestamp,
    ends_at: Timestamp,
    hold_ttl_s: z.number().int(),
    per_user_limit: z.number().int(),
    release_policy: ReleasePolicy,
    pow_difficulty: z.number().int(),
    identity: Identity,
    network_cap: z.number().int(),
    lottery_s: z.number().int().describe("everyone who joins within this many seconds after the opening has the same chance (the draw)"),
    stock_total: Count,
    available: Count,
    held: Count.describe("units in someone's payment window: under `release` some may come back"),
    sold_out: z.boolean(),
  })
  .meta({ id: "SaleView", description: "a sale as shoppers see it, with availability" });
export type SaleView = z.infer<typeof SaleView>;
