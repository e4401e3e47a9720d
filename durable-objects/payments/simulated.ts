import { gatewaySim } from "../../domain/objects";
import type { SimAnswer } from "../gateway-simulator";
import type { PaymentGateway } from "./gateway";
import { fingerprintAfter, fingerprintBefore } from "./test-cards";

/**
 * The simulator's answer as the caller gets it: `after_ms` later (the network's latency, or a
 * timeout's wait), waited out here, in the calling object, and never in the simulator: that one
 * object serves every product object, and a wait inside it queued every call behind the others'
 * (gateway-simulator.ts). The client's own timeout (PAY_TIMEOUT_MS, payments/index.ts) races it.
 */
async function arrived<T>(call: Promise<SimAnswer<T>>): Promise<T> {
  const a = await call;
  if (a.after_ms > 0) await new Promise((r) => setTimeout(r, a.after_ms));
  if ("error" in a) throw new Error(a.error);
  return a.outcome;
}

/** A success names the card that paid (the per-card limit counts it), as a provider's charge does. */
function withCard<O extends { status: string }>(req: { method: string; payer: string }, outcome: O) {
  return outcome.status === "succeeded" ? { ...outcome, fingerprint: fingerprintAfter(req.method, req.payer) } : outcome;
}

/**
 * The simulated provider lives in its own object (GatewaySimulator) so it keeps a ledger. It
 * names payments by their key (no `open`), and a charge asked again by key is replayed, never
 * repeated, so a recheck is the charge sent again.
 */
export function simulatedGateway(env: Env): PaymentGateway {
  const sim = () => gatewaySim(env);
  return {
    fingerprint: async (method, payer) => fingerprintBefore(method, payer),
    charge: async (req) => withCard(req, await arrived(sim().charge(req))),
    recheck: async (req) => withCard(req, await arrived(sim().charge(req))),
    lookup: async (req) => withCard(req, await arrived(sim().lookup(req.key))),
    refund: (req) => arrived(sim().refund(req)),
  };
}
