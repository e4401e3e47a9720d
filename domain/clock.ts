import type { SaleState, SaleStatus } from "./schemas/sale";

/**
 * The clock's part of a sale's status, one rule for the object, the edge and the page: the
 * operator's switch (live, paused, closed) and the sale's window decide it.
 */
export function statusOf(state: SaleState, window: { starts_at: number; ends_at: number }, now: number): SaleStatus {
  if (state === "closed" || now >= window.ends_at) return "closed";
  if (state === "paused") return "paused";
  return now < window.starts_at ? "scheduled" : "open";
}

const ORDER: Record<SaleStatus, number> = { scheduled: 0, open: 1, paused: 1, closed: 2 };

/**
 * A status that was computed earlier (a cached view, an answer in flight), brought up to `now`:
 * a "scheduled" sale opens on time and an open one closes at its end without asking the object.
 * It only ever moves a status forward, so an answer computed on a clock a little ahead of this
 * one is never turned back.
 */
export function onTheClock<S extends { status: SaleStatus; starts_at: string; ends_at: string }>(sale: S, now: number): S {
  const state: SaleState = sale.status === "closed" ? "closed" : sale.status === "paused" ? "paused" : "live";
  const status = statusOf(state, { starts_at: Date.parse(sale.starts_at), ends_at: Date.parse(sale.ends_at) }, now);
  return ORDER[status] > ORDER[sale.status] ? { ...sale, status } : sale;
}
