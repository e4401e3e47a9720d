import type { Settings } from "../../domain/config";
import type { ChargeOutcome, PaymentGateway } from "./gateway";

/**
 * A provider reached over HTTPS with Stripe-style idempotent requests:
 *   POST {PAYMENT_API_URL}/charges        Idempotency-Key: <key>   → 200 {id} | 402 {reason}
 *   GET  {PAYMENT_API_URL}/charges?key=…                            → 200 {id,status} | 404
 *   POST {PAYMENT_API_URL}/refunds        Idempotency-Key: <key>   → 200 {id}
 * A 5xx, a 409 (request in flight) or a network error is an unknown outcome, asked again later.
 */
export function httpGateway(env: Env, s: Settings): PaymentGateway {
  const base = s.PAYMENT_API_URL;
  const apiKey = env.PAYMENT_API_KEY;
  if (!base || !apiKey) {
    throw new Error("GATEWAY = \"http\" needs PAYMENT_API_URL in [vars] and `wrangler secret put PAYMENT_API_KEY`");
  }
  const call = (path: string, init: RequestInit & { key?: string }) =>
    fetch(`${base}${path}`, {
      ...init,
      headers: {
        authorization: `Bearer ${apiKey}`,
        "content-type": "application/json",
        ...(init.key ? { "idempotency-key": init.key } : {}),
      },
    });
  const charged = async (res: Response): Promise<ChargeOutcome> => {
    const body = (await res.json().catch(() => ({}))) as { id?: string; status?: string; reason?: string };
    if (res.status === 402 || body.status === "declined") return { status: "declined", reason: body.reason ?? "declined" };
    if (res.ok && body.id && (body.status ?? "succeeded") === "succeeded") return { status: "succeeded", charge_id: body.id };
    return { status: "unknown", reason: `provider answered ${res.status}` };
  };
  return {
    async charge(req) {
      const { key, ...rest } = req;
      return charged(await call("/charges", { method: "POST", key, body: JSON.stringify(rest) }));
    },
    async lookup(key) {
      const res = await call(`/charges?key=${encodeURIComponent(key)}`, { method: "GET" });
      return res.status === 404 ? { status: "not_found" } : charged(res);
    },
    async refund(req) {
      const { key, ...rest } = req;
      const res = await call("/refunds", { method: "POST", key, body: JSON.stringify(rest) });
      const body = (await res.json().catch(() => ({}))) as { id?: string };
      return res.ok && body.id ? { status: "refunded", refund_id: body.id } : { status: "failed", reason: `provider answered ${res.status}` };
    },
  };
}
