import { gatewaySim } from "../../domain/objects";
import type { PaymentGateway } from "./gateway";
import { fingerprintAfter, fingerprintBefore } from "./test-cards";

/**
 * The simulated provider lives in its own object (GatewaySimulator) so it keeps a ledger. It
 * names payments by their key (no `open`), and a charge asked again by key is replayed, never
 * repeated, so a recheck is the charge sent again.
 */
export function simulatedGateway(env: Env): PaymentGateway {
  const sim = () => gatewaySim(env);
  return {
    fingerprint: async (method, payer) => fingerprintBefore(method, payer),
    async charge(req) {
      const outcome = await sim().charge(req);
      return outcome.status === "succeeded" ? { ...outcome, fingerprint: fingerprintAfter(req.method, req.payer) } : outcome;
    },
    async recheck(req) {
      const outcome = await sim().charge(req);
      return outcome.status === "succeeded" ? { ...outcome, fingerprint: fingerprintAfter(req.method, req.payer) } : outcome;
    },
    async lookup(req) {
      const outcome = await sim().lookup(req.key);
      return outcome.status === "succeeded" ? { ...outcome, fingerprint: fingerprintAfter(req.method, req.payer) } : outcome;
    },
    refund: (req) => sim().refund(req),
  };
}
