import { saleConfig as demoSale } from "../../domain/sale-config.js";
import { now } from "./clock";
import { ops, stats } from "./worker";

let n = 0;
/** A unique sale id per call, so tests in one file do not share objects. */
export const saleId = (prefix = "s") => `${prefix}-${now().toString(36)}-${(n++).toString(36)}`;

/** A test sale: open since a second ago for an hour, 10 units, no proof of work, everyone admitted at once. */
export function saleConfig<O extends Record<string, unknown>>(overrides: O = {} as O) {
  const t = now();
  return demoSale(
    {
      id: saleId(),
      stock_total: 10,
      starts_at: new Date(t - 1000).toISOString(),
      ends_at: new Date(t + 3600_000).toISOString(),
      hold_ttl_s: 300,
      pow_difficulty: 0,
      // Tests admit everyone at once unless they are about admission.
      admission_rate: 100_000,
      // …and the opening is not a lottery window (test/fair-admission.test.ts is about it).
      lottery_s: 0,
      // A turn carries a unit: the room admits no more shoppers than units left for them. Tests not
      // about that admit two per unit (the most a sale may), so a second shopper can still hold a
      // pass and race for a unit that is taken or comes back; test/fair-admission.test.ts is about the default (1).
      admit_per_unit: 2,
      max_active: 10_000_000,
      ...overrides,
    },
    { now: t },
  );
}

/** Creates an open sale and returns its id. */
export async function createSale(overrides: Record<string, unknown> = {}): Promise<string> {
  const cfg = saleConfig(overrides);
  const res = await ops.createSale(cfg);
  if (res.status !== 201) throw new Error(`create sale: ${res.status} ${JSON.stringify(res.body)}`);
  return cfg.id as string;
}

/** Invariant 1, from the object's own ledger: counters add up and match the holds. */
export async function expectStockInvariant(sale: string, expect: (v: unknown) => any) {
  const s = await stats(sale);
  const st = s.stock!;
  expect(st.available + st.held + st.sold + st.withdrawn).toBe(st.stock_total);
  expect(st.sold + st.held).toBeLessThanOrEqual(st.stock_total);
  expect(st.held).toBe(s.units.held + s.units.pending);
  expect(st.sold).toBe(s.units.confirmed);
  return s;
}
