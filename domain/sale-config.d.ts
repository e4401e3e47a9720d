import type { z } from "zod";
import type { SaleInput } from "./schemas/sale";

type Input = z.input<typeof SaleInput>;
/** Every field of POST /admin/sales, as sent (`shards` only when asked for: absent is one). */
export type SaleConfigInput = Required<Omit<Input, "shards">> & Pick<Input, "shards">;

export function saleConfig<O extends Record<string, unknown> = Record<never, never>>(
  overrides: O,
  opts: { now: number },
): Omit<SaleConfigInput, keyof O> & O;
