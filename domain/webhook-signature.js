// The shop's webhooks, signed and checked: one implementation for the product object (which
// signs), the shop's receiver (which verifies: copy this file, it imports nothing), the fake
// receivers and the tests. Stripe's scheme: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`,
// one v1 per secret in use (during a rotation, the new one and the previous one). WebCrypto only,
// so it runs in Workers, Node ≥ 20, Deno and browsers.

/** The request header that carries the signature. */
export const SIGNATURE_HEADER = "flashsale-signature";
/** How old (or how far in the future) a signed timestamp may be, by default, in seconds. */
export const DEFAULT_TOLERANCE_S = 300;

const enc = new TextEncoder();

async function hmacHex(secret, text) {
  const key = await crypto.subtle.importKey("raw", enc.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, enc.encode(text)));
  return Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Compares two strings in time that depends only on their length (no early exit on a mismatch). */
function sameText(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/**
 * The header for `body` signed at `t` (unix seconds) with each of `secrets` (the current one
 * first). The time is the caller's: the sender passes its own clock's.
 */
export async function signatureHeader(secrets, body, t) {
  if (!Number.isInteger(t)) throw new TypeError("signatureHeader(secrets, body, t): t is the signing time in unix seconds");
  const sigs = await Promise.all(secrets.map((s) => hmacHex(s, `${t}.${body}`)));
  return [`t=${t}`, ...sigs.map((s) => `v1=${s}`)].join(",");
}

/**
 * Checks a delivery: the header's timestamp within `toleranceS` of `nowMs` (the receiver's own
 * time in epoch ms, passed in, so this file reads no clock), and one of its v1
 * signatures made with `secret` (or any of `secret`, an array, during the shop's own rotation)
 * over the raw body, exactly as received. Answers `{ ok: true, event }` (the parsed body) or
 * `{ ok: false, reason }`; answer the sender 400 for the latter, 2xx once the event is stored.
 */
export async function verifyShopWebhook(secret, header, body, toleranceS, nowMs) {
  if (!Number.isFinite(nowMs))
    throw new TypeError("verifyShopWebhook(secret, header, body, toleranceS, nowMs): nowMs is the receiver's time in ms");
  if (!header) return { ok: false, reason: "no signature header" };
  const parts = header.split(",").map((p) => p.trim().split("="));
  const t = Number(parts.find(([k]) => k === "t")?.[1]);
  const given = parts.filter(([k, v]) => k === "v1" && v).map(([, v]) => v);
  if (!Number.isInteger(t) || given.length === 0) return { ok: false, reason: "malformed signature header" };
  if (Math.abs(nowMs / 1000 - t) > toleranceS) return { ok: false, reason: `timestamp outside the tolerance of ${toleranceS} s` };
  for (const s of Array.isArray(secret) ? secret : [secret]) {
    if (!s) continue;
    const expected = await hmacHex(s, `${t}.${body}`);
    if (given.some((g) => sameText(g, expected))) {
      try {
        return { ok: true, event: JSON.parse(body) };
      } catch {
        return { ok: false, reason: "the body is not JSON" };
      }
    }
  }
  return { ok: false, reason: "no signature matches (wrong secret, or an altered body)" };
}
