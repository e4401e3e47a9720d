import { refuse, type Refusal } from "./result";
import { SOLD_OUT_FOR_NOW } from "./schemas/hold";
import type { SaleStatus } from "./schemas/sale";

/**
 * The claim's refusal rules, one home for the edge and the object: "not open" (ended, paused,
 * not started) and "sold out". The object decides with them in the claim's transaction
 * (durable-objects/inventory/claims.ts); the edge gives the same answers early from its cached
 * view (src/edge/sold-out.ts, src/routes/sales.ts, src/routes/queue.ts) and reads the object's
 * answer with them. Pure functions, no clock: the status comes in already on time
 * (domain/clock.ts).
 */

type Policy = "release" | "undersell" | "waitlist";
/** Units a claim is judged against. */
export type Stock = { available: number; held: number };

/** An ended sale: no claim, and no joining its line either. */
export function ended(status: SaleStatus): Refusal | undefined {
  return status === "closed" ? refuse("sale_closed", "the sale has ended") : undefined;
}

/** Why a sale in this status takes no claim (ended, paused, not started), or undefined when it is open. */
export function notOpen(status: SaleStatus, startsAt: string): Refusal | undefined {
  if (status === "open") return undefined;
  return (
    ended(status) ?? refuse("not_open", status === "paused" ? "the sale is paused" : "the sale has not started", { starts_at: startsAt })
  );
}

/**
 * The refusal of a claim for `qty` units that the stock cannot give, or undefined when it can.
 * "For now" when units in unpaid holds may still come back (the `release` policy).
 */
export function soldOut(stock: Stock, qty: number, policy: Policy): Refusal | undefined {
  if (stock.available >= qty) return undefined;
  return refuse("sold_out", stock.held > 0 && policy === "release" ? SOLD_OUT_FOR_NOW : "sold out", {
    available: stock.available,
    held: stock.held,
  });
}

/**
 * Sold out for everyone: an open sale with nothing left, whose claims all get `soldOut` (a
 * waitlist sale takes names instead). What the edge may answer without the object; `sold_out` is
 * the view's "no unit available anywhere" (for a sharded sale, none on its way either).
 */
export function soldOutForEveryone(sale: { status: SaleStatus; release_policy: Policy; sold_out: boolean }): boolean {
  return sale.sold_out && sale.status === "open" && sale.release_policy !== "waitlist";
}

/** Whether the object's refusal says nothing is left at all (not merely fewer units than asked for). */
export function refusedForEveryone(r: Refusal): boolean {
  return r.error === "sold_out" && r.extra?.available === 0;
}
