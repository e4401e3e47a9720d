import { settings } from "../../domain/config";
import type { PaymentGateway } from "./gateway";
import { httpGateway } from "./http";
import { simulatedGateway } from "./simulated";

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

/** The gateway this Worker is configured for (GATEWAY), each call bounded by PAY_TIMEOUT_MS. */
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
