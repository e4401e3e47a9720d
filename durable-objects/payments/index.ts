import { settings } from "../../domain/config";
import type { PaymentGateway } from "./gateway";
import { simulatedGateway } from "./simulated";
import { stripeGateway } from "./stripe";

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
  const inner = s.GATEWAY === "stripe" ? stripeGateway(env, s) : simulatedGateway(env);
  const ms = s.PAY_TIMEOUT_MS;
  const unknown = (reason: string) => ({ status: "unknown" as const, reason });
  const open = inner.open?.bind(inner);
  const cancel = inner.cancel?.bind(inner);
  return {
    fingerprint: (method, payer) =>
      bounded(
        ms,
        () => inner.fingerprint(method, payer),
        () => null,
      ),
    ...(open ? { open: (req) => bounded(ms, () => open(req), unknown) } : {}),
    charge: (req) => bounded(ms, () => inner.charge(req), unknown),
    recheck: (req) => bounded(ms, () => inner.recheck(req), unknown),
    lookup: (req) => bounded(ms, () => inner.lookup(req), unknown),
    ...(cancel
      ? {
          cancel: (req) =>
            bounded(
              ms,
              () => cancel(req),
              () => undefined,
            ),
        }
      : {}),
    refund: (req) =>
      bounded(
        ms,
        () => inner.refund(req),
        (reason) => ({ status: "failed", reason }),
      ),
  };
}
