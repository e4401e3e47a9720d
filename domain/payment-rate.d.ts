/** Types for payment-rate.js (the pacer's arithmetic, shared by the objects, the CLI and the dashboard). */
export type Bucket = "account" | "calls" | "create" | "confirm" | "retrieve" | "methods";
export type Rates = Record<Bucket, number>;
export type Cost = Partial<Record<Bucket, number>>;
export const STRIPE_ENDPOINT_RATE: number;
export function stripeAccountRate(live: boolean): number;
export const COST: { payment: Cost; retry: Cost; call: Cost; recheck: Cost };
export const CALL_SHARE: number;
export const ENDPOINTS: Record<Exclude<Bucket, "account">, string>;
export function pacerRates(o: { account: number; endpoint: number; headroom: number }): Rates;
export function paymentsPerSecond(rates: Rates, cost?: Cost): number;
export function reserve(
  next: Partial<Record<Bucket, number>>,
  rates: Rates,
  cost: Cost,
  now: number,
): { at: number; next: Partial<Record<Bucket, number>> };
export function backoffMs(retryMs: number, attempts: number, rateLimited: boolean, maxMs: number, random?: () => number): number;
export type PaymentNeeds = {
  paid_holds_per_s: number;
  endpoint_rps: number;
  account_rps: number;
  capacity_per_s: number;
  clears_s: number;
  over: boolean;
  hold_ttl_needed_s: number;
};
export function paymentNeeds(o: { stock: number; hold_ttl_s: number; rates: Rates }): PaymentNeeds;
export function paymentWarning(o: { stock: number; hold_ttl_s: number; rates: Rates; headroom: number }): string | null;
