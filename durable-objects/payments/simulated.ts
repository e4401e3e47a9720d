import { gatewaySim } from "../../domain/objects";
import type { PaymentGateway } from "./gateway";

/** The simulated provider lives in its own object (GatewaySimulator) so it keeps a ledger. */
export function simulatedGateway(env: Env): PaymentGateway {
  const sim = () => gatewaySim(env);
  return {
    charge: (req) => sim().charge(req),
    lookup: (key) => sim().lookup(key),
    refund: (req) => sim().refund(req),
  };
}
