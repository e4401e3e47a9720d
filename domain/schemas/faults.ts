import { z } from "zod";
import { Timestamp } from "./sale";

/** What a rehearsal may break on purpose (`POST /admin/faults`); refused unless ALLOW_FAULTS is on. */
export const Faults = z.strictObject({
  sale: z.string().optional(),
  d1_down_ms: z.number().int().min(0).max(600_000).optional(),
  restart: z.boolean().optional(),
  gateway: z
    .strictObject({
      latency_ms: z.number().min(0).max(60_000),
      decline_rate: z.number().min(0).max(1),
      timeout_rate: z.number().min(0).max(1),
      late_success_rate: z.number().min(0).max(1),
      late_ms: z.number().min(0).max(600_000),
      duplicate_rate: z.number().min(0).max(1),
    })
    .partial()
    .optional(),
});
export type Faults = z.infer<typeof Faults>;

/** `POST /admin/faults`: what was set. */
export const FaultsSet = z.strictObject({
  gateway: Faults.shape.gateway,
  inventory: z.strictObject({ d1_down_until: Timestamp.nullable() }).optional(),
});
export type FaultsSet = z.infer<typeof FaultsSet>;
