export type ShopHooksAnswer = "ok" | "500" | "timeout" | "slow" | "late-ok" | "never";
export interface ShopHooksFake {
  counts: { deliveries: number; refused: number; answered: Record<string, number> };
  script(sale: string, answers: ShopHooksAnswer[]): void;
  setRates(rates: Partial<Record<ShopHooksAnswer, number>>): void;
  of(sale: string): {
    events: { id: string; type: string; version: number; created: string; data: Record<string, unknown> }[];
    deliveries: { id: string; count: number; bodies: string[]; signature: string }[];
    arrivals: string[];
    attempts: number;
  };
  handle(request: Request): Promise<Response>;
}
export function createShopHooksFake(o: {
  secret: string | string[];
  toleranceS?: number;
  timeoutMs: number;
  slowMs?: number;
  neverMs?: number;
}): ShopHooksFake;
