import { settings } from "../../domain/config";
import { ApiError } from "./api-error";
import { log } from "../../domain/log";

/**
 * Cloudflare Turnstile, when TURNSTILE_SECRET is set: the token from the widget is checked with
 * siteverify (with the client's IP and an idempotency key, so a retried check is not reported
 * as a duplicate). Fails closed: if siteverify cannot be reached in time, nobody is let through.
 */
export async function verifyTurnstile(env: Env, token: string | undefined, ip: string | undefined, nonce: string): Promise<void> {
  const secret = env.TURNSTILE_SECRET;
  if (!secret) return;
  if (!token) throw new ApiError("turnstile_failed", "a Turnstile token is needed (`turnstile` in the body)");
  const s = settings(env);
  const body = new FormData();
  body.set("secret", secret);
  body.set("response", token);
  if (ip) body.set("remoteip", ip);
  // The same challenge and widget token is the same check; a fresh widget token is a new one.
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(token)));
  body.set("idempotency_key", `${nonce}-${[...digest.slice(0, 8)].map((b) => b.toString(16).padStart(2, "0")).join("")}`);
  let outcome: { success?: boolean; "error-codes"?: string[] };
  try {
    const res = await fetch(s.TURNSTILE_URL, { method: "POST", body, signal: AbortSignal.timeout(s.TURNSTILE_TIMEOUT_MS) });
    if (!res.ok) throw new Error(`siteverify answered ${res.status}`);
    outcome = await res.json();
  } catch (e) {
    log("warn", "turnstile_unreachable", { error: String(e) });
    throw new ApiError(
      "turnstile_unavailable",
      "the bot check could not be completed: try again in a few seconds",
      {},
      { "retry-after": "2" },
    );
  }
  if (!outcome.success) {
    throw new ApiError(
      "turnstile_failed",
      `the Turnstile check failed (${(outcome["error-codes"] ?? []).join(", ") || "no reason given"}): reload the widget and try again`,
    );
  }
}
