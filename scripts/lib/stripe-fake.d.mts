/** Types for stripe-fake.mjs (the fake Stripe used by vitest.config.ts and the rehearsal). */
export type FakeEvent = { id: string; type: string; hold: string | undefined; payload: string; header: string };
export type FakeLedgerEntry = {
  key: string;
  reference: string;
  status: "succeeded" | "declined" | "processing" | "not_charged";
  charge_id: string;
  amount: number;
  calls: number;
  refund_id: string | null;
};
export type FakeRates = Partial<Record<"decline" | "error" | "error_after" | "timeout" | "ratelimit" | "three_ds" | "slow", number>>;
export interface StripeFake {
  handle(request: Request): Promise<Response>;
  ledger(): FakeLedgerEntry[];
  events: FakeEvent[];
  setRates(rates: FakeRates): FakeRates;
  authenticate(intent: string, result?: "succeeded" | "failed"): object | null;
}
export type FakeSecond = { t: number; received: number; limited: number; endpoints: Record<string, number> };
export interface RateLimiter {
  limits: { account: number; endpoint: number };
  take(endpoint: string, now?: number): "global-rate" | "endpoint-rate" | null;
  traffic(): FakeSecond[];
}
export function createStripeFake(o?: {
  webhookSecret?: string;
  timeoutMs?: number;
  onEvent?: (ev: FakeEvent) => void;
  rateLimit?: { account?: number; endpoint?: number };
}): StripeFake & { limiter: RateLimiter };
export function rateLimiter(limits: { account: number; endpoint: number }): RateLimiter;
export function endpointOf(method: string, path: string): string;
export function signature(payload: string, secrets: string | string[], t?: number): string;
export function parseForm(text: string): Record<string, unknown>;
export function methodOf(id: string): { behaviour: string; ms: number; late: boolean; card: string | null } | null;
