import { sign, verify } from "hono/jwt";
import { JwtTokenSignatureMismatched } from "hono/utils/jwt/types";
import type { z } from "zod";
import { Claims, TOKEN_TTL_S, type ClaimsOf, type TokenKind } from "../../domain/schemas/tokens";
import { usableSecret } from "../../domain/secrets";
import { LruMap } from "./lru";
import { register } from "./isolate-state";
import { ApiError } from "./api-error";

/**
 * The one signing module: session, challenge, ticket and pass (domain/schemas/tokens.ts) are
 * HS256 JWTs whose `aud` names their kind, so one kind can never be presented as another. Keys:
 * TOKEN_SECRET signs and verifies; TOKEN_SECRET_PREVIOUS (optional) only verifies, so a key can
 * be rotated without logging every shopper out.
 */

/** A key set: the signing key and the one still accepted during a rotation. */
type Keys = { id: number; current: CryptoKey; previous?: CryptoKey };

/**
 * Tokens this isolate has signed or verified, by their exact text, per key set
 * (`verified`): a shopper's session and pass are checked on every request, and an HMAC check
 * plus JSON decoding is most of an edge request's CPU. A hit is as good as the check it replaces
 * (same bytes, same keys) and is still refused once expired.
 */
const verified = new LruMap<string, { claims: unknown; exp: number }>(50_000);
register("tokens", () => verified.clear());
/** Imported signing keys, per TOKEN_SECRET / TOKEN_SECRET_PREVIOUS pair seen (one or two): kept across resets. */
const keySets = new Map<string, Promise<Keys>>();
const verifiedKey = (keys: Keys, kind: TokenKind, token: string) => `${keys.id}.${kind}.${token}`;

function importKey(secret: string): Promise<CryptoKey> {
  return crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
    "verify",
  ]);
}

function keysFor(env: TokenEnv): Promise<Keys> {
  const current = usableSecret("TOKEN_SECRET", env.TOKEN_SECRET);
  if (!current) {
    throw new ApiError("misconfigured", "the shop is not configured correctly (its signing key is missing or unsafe); the operator is told in the logs");
  }
  // A refused previous key is left out: tokens signed with it are not accepted.
  const previous = (env.TOKEN_SECRET_PREVIOUS && usableSecret("TOKEN_SECRET_PREVIOUS", env.TOKEN_SECRET_PREVIOUS)) || undefined;
  const id = `${current}\u0000${previous ?? ""}`;
  let keys = keySets.get(id);
  if (!keys) {
    const n = keySets.size;
    keys = Promise.all([importKey(current), previous ? importKey(previous) : undefined]).then(([c, p]) => ({
      id: n,
      current: c,
      ...(p ? { previous: p } : {}),
    }));
    keySets.set(id, keys);
  }
  return keys;
}

export type TokenEnv = { TOKEN_SECRET?: string; TOKEN_SECRET_PREVIOUS?: string };

/**
 * A token of `kind` for `claims`, valid for the kind's lifetime, or `ttlS` seconds, or until the
 * instant `until` (epoch ms, rounded down to the second: never valid longer than asked).
 */
export async function signToken<K extends TokenKind>(
  env: TokenEnv,
  kind: K,
  claims: Omit<ClaimsOf<K>, "iat" | "exp">,
  life: { ttlS?: number; until?: number } = {},
): Promise<{ token: string; expiresAt: number }> {
  const keys = await keysFor(env);
  const iat = Math.floor(Date.now() / 1000);
  const exp = life.until !== undefined ? Math.floor(life.until / 1000) : iat + (life.ttlS ?? TOKEN_TTL_S[kind]);
  const payload = { ...claims, iat, exp, aud: `flashsale:${kind}` };
  const token = await sign(payload, keys.current, "HS256");
  // Remembered only if verifying it would accept it (the claims pass the kind's schema).
  const parsed = Claims[kind].safeParse(payload);
  if (parsed.success) verified.set(verifiedKey(keys, kind, token), { claims: parsed.data, exp });
  return { token, expiresAt: exp * 1000 };
}

/** The token's claims, or null if it is malformed, forged, expired or of another kind. */
export async function verifyToken<K extends TokenKind>(env: TokenEnv, kind: K, token: string | undefined | null) {
  if (!token || token.length > 2048) return null;
  const keys = await keysFor(env);
  const hit = verified.get(verifiedKey(keys, kind, token));
  if (hit) return hit.exp * 1000 > Date.now() ? (hit.claims as ClaimsOf<K>) : null;
  const opts = { alg: "HS256" as const, aud: `flashsale:${kind}` };
  let payload: unknown;
  try {
    payload = await verify(token, keys.current, opts);
  } catch (e) {
    if (!(e instanceof JwtTokenSignatureMismatched) || !keys.previous) return null;
    try {
      payload = await verify(token, keys.previous, opts);
    } catch {
      return null;
    }
  }
  const parsed = (Claims[kind] as unknown as z.ZodType<ClaimsOf<K>>).safeParse(payload);
  if (!parsed.success) return null;
  verified.set(verifiedKey(keys, kind, token), { claims: parsed.data, exp: parsed.data.exp });
  return parsed.data;
}
