import type { z } from "zod";
import type { SaleInput } from "./schemas/sale";

/** Every field of POST /admin/sales, as sent. */
export type SaleConfigInput = Required<z.input<typeof SaleInput>>;

export function saleConfig<O extends Record<string, unknown> = {}>(overrides?: O, opts?: { now?: number }): Omit<SaleConfigInput, keyof O> & O;
