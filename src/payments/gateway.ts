import { settings } from "../config";
import { httpGateway } from "./http";
import { simulatedGateway } from "./simulated";

/**
 * The payment provider, seen from a product object. Every call carries an idempotency key
 * derived from the hold, so asking again (after a timeout, a crash, an alarm retry) can never
 * charge twice. "unknown" means exactly that: the charge may or may not have happened, and the
 * hold stays pending until the provider has been asked again by the same key.
 */
export type ChargeRequest = { key: string; amount: number; currency: string; method: string; reference: string };
export type ChargeOutcome =
  | { status: "succeeded"; charge_id: string }
  | { status: "declined"; reason: string }
  | { status: "unknown"; reason: string };
export type LookupOutcome = ChargeOutcome | { status: "not_found" };
export type RefundRequest = { key: string; charge_id: string; amount: number; currency: string };
export type RefundOutcome = { status: "refunded"; refund_id: string } | { status: "failed"; reason: string };

export interface PaymentGateway {
  charge(req: ChargeRequest): Promise<ChargeOutcome>;
  lookup(key: string): Promise<LookupOutcome>;
  refund(req: RefundRequest): Promise<RefundOutcome>;
}

/** Races a provider call against the client timeout; a throw or a timeout is "unknown". */
async function bounded<T>(ms: number, call: () => Promise<T>, onUnknown: (reason: string) => T): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(onUnknown(`no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([call().catch((e: unknown) => onUnknown(`error: ${String(e)}`)), timeout]);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

export function gatewayFor(env: Env): PaymentGateway {
  const s = settings(env);
  const inner = s.GATEWAY === "http" ? httpGateway(env, s) : simulatedGateway(env);
  const ms = s.PAY_TIMEOUT_MS;
  return {
    charge: (req) => bounded(ms, () => inner.charge(req), (reason) => ({ status: "unknown", reason })),
    lookup: (key) => bounded(ms, () => inner.lookup(key), (reason) => ({ status: "unknown", reason })),
    refund: (req) => bounded(ms, () => inner.refund(req), (reason) => ({ status: "failed", reason })),
  };
}
